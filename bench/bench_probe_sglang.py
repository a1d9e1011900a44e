#!/usr/bin/env python3
"""Benchmark: the live check's overhead against a REAL SGLang 0.5.23 server (CPU, tiny Qwen3).

Runs the doctor's full `qwen-doctor check --url URL --model-path DIR --format json` (the real CLI, in a
subprocess, every check it selects by default) and, inside that process, records the start and end of every HTTP
request of the probe (qwen_doctor.probe.http.ProbeClient.request). Reports per run:

* process wall: from spawning `python -m qwen_doctor check ...` to its exit (interpreter start and imports included);
* main wall: the CLI's main() in that process (argument parsing, plugin loading, every check, rendering);
* in-flight: the time during which at least one probe request was in flight (union of intervals);
* ratio = main wall / in-flight (target <= 1.5), and process ratio = process wall / in-flight.

Servers:
  (default)   starts the real SGLang CPU server of the test kit (tests/testkit/sglang_server.py; needs .venv-sglang)
  --url URL   an SGLang server that already runs (loopback), with --model-path its model directory

    .venv/bin/python bench/bench_probe_sglang.py [--runs 5] [--requests 20] [--url URL --model-path DIR]

Writes bench/out/bench_probe_sglang.json (bench/out/ is git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET_RATIO = 1.5

# run inside the doctor's process: time every probe request, then run the real CLI
WRAPPER = r"""
import json, sys, threading, time
t_start = time.monotonic()
from qwen_doctor.probe import http as probe_http
intervals, lock = [], threading.Lock()
orig = probe_http.ProbeClient.request
def timed(self, method, path, **kw):
    t0 = time.monotonic()
    try:
        return orig(self, method, path, **kw)
    finally:
        t1 = time.monotonic()
        with lock:
            intervals.append((t0, t1, method, path))
probe_http.ProbeClient.request = timed
from qwen_doctor.entry import main
t0 = time.monotonic()
try:
    rc = main(sys.argv[2:])
except SystemExit as e:
    rc = e.code if isinstance(e.code, int) else 1
t1 = time.monotonic()
with open(sys.argv[1], "w") as f:
    json.dump({"main_s": t1 - t0, "imports_s": t0 - t_start, "intervals": intervals}, f)
sys.exit(rc)
"""


def union_length(iv: list[tuple[float, float]]) -> float:
    total, start, end = 0.0, None, None
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


def one_run(url: str, model_path: str, requests: int, cwd: Path) -> dict:
    fd, timing = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_DOCTOR_")}
    argv = [sys.executable, "-c", WRAPPER, timing, "check", "--url", url, "--model-path", model_path, "--requests", str(requests), "--format", "json"]
    t0 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=900)
    wall = time.monotonic() - t0
    data = json.loads(Path(timing).read_text())
    os.unlink(timing)
    report = json.loads(r.stdout)
    iv = [(a, b) for a, b, _, _ in data["intervals"]]
    inflight = union_length(iv)
    probe = {x["id"]: x["status"] for x in report["results"] if x["id"].startswith("probe.")}
    return {
        "rc": r.returncode,
        "process_wall_s": round(wall, 3),
        "main_wall_s": round(data["main_s"], 3),
        "imports_s": round(data["imports_s"], 3),
        "in_flight_s": round(inflight, 3),
        "sum_request_s": round(sum(b - a for a, b in iv), 3),
        "requests": len(iv),
        "ratio": round(data["main_s"] / inflight, 3) if inflight else None,
        "process_ratio": round(wall / inflight, 3) if inflight else None,
        "checks": len(report["results"]),
        "probe_statuses": probe,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url")
    ap.add_argument("--model-path")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "bench_probe_sglang.json"))
    args = ap.parse_args()

    cleanup = []
    url, model_path = args.url, args.model_path
    server = "url"
    start_s = None
    tmp = Path(tempfile.mkdtemp(prefix="bench-probe-sglang-"))
    if not url:
        from tests.testkit import modeldirs
        from tests.testkit import sglang_server as ss

        model_path = str(modeldirs.build_tiny_model_dir(tmp, name=ss.MODEL_DIR_NAME))
        srv = ss.start_sglang_server(model_path, ss.SglangConfig(name="bench", served_model_name="qwen3-tiny-embed"), log_path=tmp / "sglang.log")
        cleanup.append(srv.stop)
        url, start_s = srv.url, srv.start_seconds
        server = f"sglang {ss.SGLANG_VERSION} (real, CPU, tiny Qwen3, started in {start_s} s)"
    if not model_path:
        ap.error("--model-path is required with --url")
    try:
        one_run(url, model_path, args.requests, tmp)  # warm-up (page cache, server warm-up paths)
        runs = [one_run(url, model_path, args.requests, tmp) for _ in range(args.runs)]
    finally:
        for f in cleanup:
            try:
                f()
            except Exception:  # noqa: BLE001
                pass
    summary = {
        "server": server,
        "url": url,
        "command": f"qwen-doctor check --url {url} --model-path {model_path} --requests {args.requests} --format json",
        "runs": runs,
        "median_process_wall_s": statistics.median(r["process_wall_s"] for r in runs),
        "median_main_wall_s": statistics.median(r["main_wall_s"] for r in runs),
        "median_in_flight_s": statistics.median(r["in_flight_s"] for r in runs),
        "median_ratio": statistics.median(r["ratio"] for r in runs if r["ratio"]),
        "median_process_ratio": statistics.median(r["process_ratio"] for r in runs if r["process_ratio"]),
        "target_ratio": TARGET_RATIO,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    summary["within_target"] = summary["median_ratio"] <= TARGET_RATIO
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))
    for r in runs:
        print(
            f"process {r['process_wall_s']:.2f} s, main {r['main_wall_s']:.2f} s, in flight {r['in_flight_s']:.2f} s, "
            f"{r['requests']} requests, ratio {r['ratio']} (process {r['process_ratio']}), rc {r['rc']}"
        )
    return 0 if summary["within_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
