"""Start-up benchmark: `qwen-doctor --version` and a static `qwen-doctor check -- <command>` vs `python -c pass`.

Run: .venv/bin/python bench/bench_startup.py [--runs N]
Targets (issue 2): --version within 3x a bare interpreter start; the static check under 0.5 s.
Prints a table and the modules that each path imports (transformers, torch, pynvml must be absent).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timeit(argv: list[str], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/tmp", check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    a = ap.parse_args()
    py = sys.executable
    port = _free_port()
    static = [
        py,
        "-m",
        "qwen_doctor",
        "check",
        "--offline",
        "--",
        "sglang",
        "serve",
        "--model-path",
        "/models/Qwen3-Embedding-0.6B",
        "--is-embedding",
        "--port",
        str(port),
    ]
    cases = {
        "python -c pass": [py, "-c", "pass"],
        "qwen-doctor --version": [py, "-m", "qwen_doctor", "--version"],
        "check -- sglang serve ... (static)": static,
    }
    base = None
    print(f"{'case':40} {'median s':>9} {'min s':>7} {'x python':>9}")
    for name, argv in cases.items():
        med, mn = timeit(argv, a.runs)
        base = base or med
        print(f"{name:40} {med:9.3f} {mn:7.3f} {med / base:9.1f}")
    probe = "import sys,runpy; sys.argv=['qwen-doctor','--version']\nfrom qwen_doctor.entry import main; main(['--version'])\nprint(sorted(m for m in ('transformers','torch','pynvml','rich','typer','httpx') if m in sys.modules))"
    out = subprocess.run([py, "-c", probe], capture_output=True, text=True, cwd="/tmp").stdout.strip().splitlines()[-1]
    print("heavy modules imported by --version:", out)


if __name__ == "__main__":
    main()
