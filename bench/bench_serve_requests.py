"""serve under many requests (issue 13): memory and thread count stay flat over 10,000 requests.

Run: .venv/bin/python bench/bench_serve_requests.py [--requests 10000] [--concurrency 16] [--idle 8] [--model-dir DIR]

Starts the real `qwen-doctor serve --offline --cache 60 --listen 127.0.0.1:0 -- sglang serve --model-path DIR
--is-embedding` over a tiny real model directory (test kit), then fires --requests GETs at /livez, /readyz and
/metrics (in turn) from --concurrency client threads, while --idle connections sit open sending nothing and
one slowloris client trickles a header byte every 0.5 s (each is re-opened when the server cuts it off).
Samples the server's RSS (with its children) and thread count before, every 1,000 requests and at the end;
prints the answers by status code, the latency percentiles, and the growth from the first sample after
warm-up (request 1,000) to the end.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PATHS = ("/livez", "/readyz", "/metrics")


def one(host: str, port: int, path: str) -> tuple[int, float]:
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        busy = resp.status == 503 and body.startswith(b"busy")  # over the connection cap
        return -503 if busy else resp.status, time.monotonic() - t0
    except OSError:
        return -1, time.monotonic() - t0
    finally:
        conn.close()


class Pests:
    """Idle connections and a slowloris client, re-opened whenever the server cuts them off."""

    def __init__(self, host: str, port: int, idle: int) -> None:
        self.host, self.port, self.idle = host, port, idle
        self.stop = threading.Event()
        self.cut = 0  # connections the server closed
        self.threads = [threading.Thread(target=self._idle, daemon=True) for _ in range(idle)]
        self.threads.append(threading.Thread(target=self._slowloris, daemon=True))

    def start(self) -> "Pests":
        for t in self.threads:
            t.start()
        return self

    def _idle(self) -> None:
        while not self.stop.is_set():
            try:
                with socket.create_connection((self.host, self.port), timeout=30) as s:
                    s.recv(65536)  # returns when the server closes it (head timeout, or 503 busy)
                self.cut += 1
            except OSError:
                self.cut += 1
            self.stop.wait(0.05)

    def _slowloris(self) -> None:
        while not self.stop.is_set():
            try:
                with socket.create_connection((self.host, self.port), timeout=30) as s:
                    s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
                    while not self.stop.wait(0.5):
                        s.sendall(b"X")
            except OSError:
                self.cut += 1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--idle", type=int, default=8)
    ap.add_argument("--model-dir")
    a = ap.parse_args()
    import psutil

    from tests.testkit import modeldirs

    tmp = tempfile.mkdtemp(prefix="bench-serve-req-")
    model = a.model_dir or str(modeldirs.build_tiny_model_dir(Path(tmp) / "tiny"))
    exe = Path(sys.executable).with_name("qwen-doctor")
    cmd = [str(exe), "serve", "--offline", "--cache", "60", "--listen", "127.0.0.1:0", "--", "sglang", "serve", "--model-path", model, "--is-embedding"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp)
    pests = None
    try:
        url = None
        t0 = time.monotonic()
        while url is None and time.monotonic() - t0 < 60:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            if "listening on" in line:
                url = line.split("listening on", 1)[1].split()[0]
        if url is None:
            print("serve did not start")
            return 1
        threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # drain its log
        host, port = url.split("//", 1)[1].rsplit(":", 1)
        port = int(port)
        p = psutil.Process(proc.pid)

        def sample(label: str) -> tuple[int, int]:
            rss = sum(x.memory_info().rss for x in [p, *p.children(recursive=True)])
            n = p.num_threads()
            print(f"{label:>14}: RSS {rss / 2**20:7.1f} MiB, threads {n:3d}, open connections {len(p.net_connections(kind='tcp'))}", flush=True)
            return rss, n

        sample("before")
        pests = Pests(host, port, a.idle).start()
        codes: dict[tuple[str, int], int] = {}
        lat: list[float] = []
        samples: list[tuple[int, int, int]] = []
        lock = threading.Lock()
        done = 0
        t_start = time.monotonic()

        def work(i: int) -> None:
            nonlocal done
            path = PATHS[i % len(PATHS)]
            code, s = one(host, port, path)
            with lock:
                codes[(path, code)] = codes.get((path, code), 0) + 1
                lat.append(s)
                done += 1
                mark = done % 1000 == 0
            if mark:
                rss, n = sample(f"request {done}")
                with lock:
                    samples.append((done, rss, n))

        with ThreadPoolExecutor(max_workers=a.concurrency) as pool:
            list(pool.map(work, range(a.requests)))
        wall = time.monotonic() - t_start
        pests.stop.set()
        rss, n = sample("end")
        samples.append((a.requests, rss, n))
        lat.sort()
        q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] * 1000  # noqa: E731
        print(
            f"{a.requests} requests in {wall:.1f} s ({a.requests / wall:.0f} req/s) at concurrency {a.concurrency}, {a.idle} idle + 1 slowloris connections (cut/re-opened {pests.cut} times)"
        )
        print(
            f"answers (path, status): {dict(sorted(codes.items()))} (-1: connection error; -503: busy, over the connection cap; /readyz 503: the run has a FAIL); latency p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, max {lat[-1] * 1000:.0f} ms"
        )
        first = min(samples)
        print(
            f"growth from request {first[0]} to the end: RSS {(rss - first[1]) / 2**20:+.1f} MiB, threads {first[2]} -> {n}; max threads seen {max(s[2] for s in samples)}"
        )
        return 0
    finally:
        if pests is not None:
            pests.stop.set()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
