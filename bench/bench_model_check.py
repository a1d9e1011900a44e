"""Side by side, in one run (issue 16): the doctor's model check against `python -m torch.utils.collect_env`, the
doctor's peak memory, and `qwen-doctor --version` against `python -c pass`.

Run: .venv/bin/python bench/bench_model_check.py [--runs 5] [--dir MODEL_DIR] [--json]

1. `qwen-doctor check -- sglang serve --model-path DIR --is-embedding` on the real Qwen3-Embedding-0.6B files (no
   weights) in a directory written by the test kit (tests/testkit/modeldirs.build_real_tokenizer_dir; needs
   shared/), against `python -m torch.utils.collect_env` run by an interpreter that has torch (.venv-vllm's if
   present, else this one). The two alternate run by run, so a busy machine slows both alike. Target: the
   check's median wall time at most 1/3 of collect_env's.
2. The peak memory of that check: the resident set of the doctor and all its descendants (the tokenizer-loading
   child included) summed, sampled from /proc every few milliseconds; also the largest single process's own
   peak (ru_maxrss). Target: under 120 MB.
3. `qwen-doctor --version` (the console script) against `python -c pass` (the same interpreter). Target: at most
   1.5x.

The OS page cache is not dropped; the first run of each is shown apart (cold), the target uses the median.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return out


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measure(argv: list[str], *, cwd: str = "/tmp", env: dict | None = None, sample: bool = False) -> dict:
    """Run argv to completion: wall seconds, exit code, and (``sample``) the peak summed RSS of its process tree."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        p = subprocess.Popen(argv, stdout=fo, stderr=fe, cwd=cwd, env=env)
        peak_tree = 0
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if sample and os.path.isdir("/proc"):
                peak_tree = max(peak_tree, sum(_rss(x) for x in _descendants(p.pid)))
            time.sleep(0.003)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read(), fe.read()
    # ru_maxrss of wait4: the largest resident set of the process or of any descendant it waited for (KiB on Linux)
    return {"wall_s": wall, "rc": p.returncode, "peak_tree_bytes": peak_tree, "maxrss_children_bytes": ru.ru_maxrss * 1024, "stdout": out, "stderr": err}


def _torch_python() -> str | None:
    for cand in (str(REPO / ".venv-vllm" / "bin" / "python"), sys.executable):
        if os.path.exists(cand):
            r = subprocess.run([cand, "-c", "import torch"], capture_output=True, timeout=120)
            if r.returncode == 0:
                return cand
    return None


def _doctor() -> list[str]:
    script = Path(sys.executable).with_name("qwen-doctor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "qwen_doctor"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--version-runs", type=int, default=20)
    ap.add_argument("--dir", help="model directory to examine (default: the real 0.6B files written by the test kit)")
    ap.add_argument("--json", action="store_true", help="print the measurements as JSON")
    args = ap.parse_args()

    tmp = None
    if args.dir:
        model_dir = args.dir
    else:
        sys.path.insert(0, str(REPO))
        from tests.testkit.modeldirs import build_real_tokenizer_dir

        tmp = tempfile.mkdtemp(prefix="qd-bench-")
        model_dir = str(build_real_tokenizer_dir(tmp, name="Qwen3-Embedding-0.6B"))
    doctor = _doctor()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_DOCTOR_")}
    check_argv = [*doctor, "check", "--", "sglang", "serve", "--model-path", model_dir, "--is-embedding"]
    torch_py = _torch_python()
    collect_argv = [torch_py, "-m", "torch.utils.collect_env"] if torch_py else None

    checks, collects = [], []
    for _ in range(args.runs):  # alternate, so load on the machine hits both alike
        checks.append(measure(check_argv, env=env, sample=True))
        if collect_argv:
            collects.append(measure(collect_argv, env=env))
    versions, bare = [], []
    for _ in range(args.version_runs):
        versions.append(measure([*doctor, "--version"])["wall_s"])
        bare.append(measure([sys.executable, "-c", "pass"])["wall_s"])
    # the check's JSON, once, for the tokenizer path taken and the statuses
    js = json.loads(measure([*check_argv[:2], "--format", "json", *check_argv[2:]], env=env)["stdout"] or b"{}")
    load = next((r for r in js.get("results", []) if r["id"] == "tokenizer.load"), {})

    med = statistics.median
    c_med = med(x["wall_s"] for x in checks)
    e_med = med(x["wall_s"] for x in collects) if collects else None
    peak = max(x["peak_tree_bytes"] for x in checks)
    single = max(x["maxrss_children_bytes"] for x in checks)
    v_med, b_med = med(versions), med(bare)
    res = {
        "model_dir": model_dir,
        "check_argv": check_argv,
        "check_exit_codes": sorted({x["rc"] for x in checks}),
        "check_wall_s": [round(x["wall_s"], 3) for x in checks],
        "collect_env_python": torch_py,
        "collect_env_wall_s": [round(x["wall_s"], 3) for x in collects],
        "check_median_s": round(c_med, 3),
        "collect_env_median_s": round(e_med, 3) if e_med else None,
        "ratio_check_to_collect_env": round(c_med / e_med, 3) if e_med else None,
        "peak_tree_rss_mb": round(peak / MB, 1),
        "largest_single_process_maxrss_mb": round(single / MB, 1),
        "version_median_s": round(v_med, 4),
        "python_c_pass_median_s": round(b_med, 4),
        "ratio_version_to_python": round(v_med / b_med, 3),
        "tokenizer_load": {k: load.get(k) for k in ("status", "summary", "duration_ms")} | {"library": (load.get("evidence") or {}).get("library")},
    }
    res["targets"] = {
        "check <= 1/3 collect_env": (res["ratio_check_to_collect_env"] is not None and res["ratio_check_to_collect_env"] <= 1 / 3),
        "peak memory < 120 MB": res["peak_tree_rss_mb"] < 120,
        "--version <= 1.5x python -c pass": res["ratio_version_to_python"] <= 1.5,
    }
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"model directory: {model_dir}")
    print(f"check:        {' '.join(check_argv)}")
    print(f"  wall s per run: {res['check_wall_s']}  (exit codes {res['check_exit_codes']})")
    if collects:
        print(f"collect_env:  {' '.join(collect_argv)}")
        print(f"  wall s per run: {res['collect_env_wall_s']}")
        print(f"median: check {c_med:.2f} s vs collect_env {e_med:.2f} s -> ratio {c_med / e_med:.2f} (target <= 0.33)")
    else:
        print("collect_env: no interpreter with torch found; ratio not measured")
    print(f"peak RSS of the doctor + its children (summed, sampled): {peak / MB:.1f} MB (target < 120 MB); largest single process: {single / MB:.1f} MB")
    print(f"--version: median {v_med * 1000:.1f} ms vs python -c pass {b_med * 1000:.1f} ms -> ratio {v_med / b_med:.2f} (target <= 1.5)")
    print(f"tokenizer.load: {res['tokenizer_load']}")
    for name, ok in res["targets"].items():
        print(f"  {'MET ' if ok else 'MISS'}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
