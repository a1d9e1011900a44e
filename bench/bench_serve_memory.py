"""serve memory benchmark (issue 11): `qwen-doctor serve` must not grow run after run.

Run: .venv/bin/python bench/bench_serve_memory.py [--runs 200] [--model-dir DIR]

Starts the real `qwen-doctor serve --cache 0 --offline` in front of a static SGLang launch command over a tiny
real model directory (test kit), asks /readyz --runs times (each one a full run of every check, since the
cache is 0 s), and prints the server's RSS and thread count after run 10, every 50 runs, and at the end.
Each run has its own FactsStore, so nothing may accumulate. Prints the growth from run 10 to the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--model-dir")
    a = ap.parse_args()
    import psutil

    from tests.testkit import modeldirs

    tmp = tempfile.mkdtemp(prefix="bench-serve-")
    model = a.model_dir or str(modeldirs.build_tiny_model_dir(Path(tmp) / "tiny"))
    exe = Path(sys.executable).with_name("qwen-doctor")
    cmd = [
        str(exe),
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--cache",
        "0",
        "--offline",
        "--",
        "sglang",
        "serve",
        "--model-path",
        model,
        "--is-embedding",
        "--port",
        "31999",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        t0 = time.monotonic()
        while url is None and time.monotonic() - t0 < 30:
            line = proc.stderr.readline()
            if "listening on" in line:
                url = line.split("listening on", 1)[1].split()[0]
        if url is None:
            print("serve did not start")
            return 1
        p = psutil.Process(proc.pid)
        samples = []
        for i in range(1, a.runs + 1):
            try:
                urllib.request.urlopen(url + "/readyz", timeout=60).read()
            except urllib.error.HTTPError as e:  # 503 is a fine answer here
                e.read()
            if i == 10 or i % 50 == 0 or i == a.runs:
                rss = sum(x.memory_info().rss for x in [p, *p.children(recursive=True)])
                samples.append((i, rss, p.num_threads()))
                print(f"run {i:4d}: RSS {rss / 2**20:7.1f} MiB, threads {p.num_threads()}")
        first, last = samples[0], samples[-1]
        print(f"growth from run {first[0]} to run {last[0]}: {(last[1] - first[1]) / 2**20:+.1f} MiB, threads {first[2]} -> {last[2]}")
        return 0
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
