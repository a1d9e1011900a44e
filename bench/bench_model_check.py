"""How long `qwen-doctor check --model-path DIR` takes on the real Qwen3-Embedding-0.6B tokenizer (issue 3).

Run: .venv/bin/python bench/bench_model_check.py [--runs 3] [--dir MODEL_DIR] [--samples FILE] [--json]

Each run is a NEW Python process (cold: transformers has never been imported in it, and the doctor's
process never imports it at all: the tokenizer loads in a child process), doing what `qwen-doctor check
--model-path DIR --format json` does: the default registry (plus the model/tokenizer plugin if the registry
does not load it yet), one target, the Runner, the JSON renderer. Without --dir it examines the real 0.6B
files written by the test kit (config, tokenizer, sentence-transformers files; no weights, so model.weights
fails: that does not change the timing). The OS page cache is not dropped: the first run reads the files
from disk only if they were not read recently.

Prints, per run: the process wall time, the time to the last check, tokenizer.load's duration (and the child's
import / load split), and the slowest other check, i.e. what the tokenizer load did not hold up. Also runs
`check` without a model path once and reports whether transformers / torch were imported (they must not be).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

DRIVER = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {repo!r})
from qwen_doctor.context import RunOptions
from qwen_doctor.registry import default_registry
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target
from qwen_doctor.render import OutputFormat, RenderOptions, Report
reg = default_registry(use_default_dirs=False)
if reg.get("tokenizer.load") is None:
    from qwen_doctor.checks import model
    reg.load_plugin("builtin", model.register, "qwen_doctor.checks.model:register")
model_path = {model_path!r}
target = build_target(None, model_path=model_path)
t1 = time.perf_counter()
results = Runner(reg, RunOptions(samples={samples!r})).run([target])
t2 = time.perf_counter()
text = OutputFormat("json").renderer()(Report((target,), tuple(results), started_at=time.time(), duration_s=t2 - t1), RenderOptions())
t3 = time.perf_counter()
heavy = [m for m in ("transformers", "torch", "pynvml", "tokenizers") if m in sys.modules]
print("BENCH " + json.dumps({{
    "startup_s": t1 - t0, "run_s": t2 - t1, "render_s": t3 - t2,
    "results": [{{"id": r.id, "status": r.status.value, "ms": r.duration_ms, "evidence": {{k: r.evidence.get(k) for k in ("import_s", "load_s")}}}} for r in results],
    "heavy_modules_imported": heavy,
}}))
"""


def one_run(model_path: str | None, samples: str | None) -> dict:
    code = DRIVER.format(repo=str(REPO), model_path=model_path, samples=samples)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=str(REPO))
    wall = time.perf_counter() - t0
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise SystemExit(f"driver failed (exit {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
    out = json.loads(line[6:])
    out["wall_s"] = wall
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", help="model directory to examine (default: the real 0.6B files from the test kit)")
    ap.add_argument("--samples", help="a --samples file to include")
    ap.add_argument("--json", action="store_true", help="print the raw measurements as JSON")
    args = ap.parse_args()

    tmp = None
    if args.dir:
        model_dir = args.dir
    else:
        sys.path.insert(0, str(REPO))
        from tests.testkit.modeldirs import build_real_tokenizer_dir

        tmp = tempfile.TemporaryDirectory(prefix="qd-bench-")
        model_dir = str(build_real_tokenizer_dir(tmp.name, name="Qwen3-Embedding-0.6B"))
    runs = [one_run(model_dir, args.samples) for _ in range(args.runs)]
    bare = one_run(None, None)
    if args.json:
        print(json.dumps({"model_dir": model_dir, "runs": runs, "no_model_path": bare}, indent=2))
        return 0

    print(f"model directory: {model_dir}")
    print(f"{'run':>3}  {'process':>8}  {'checks':>7}  {'tokenizer.load':>15}  {'(import+load in child)':>22}  slowest other check")
    for i, r in enumerate(runs, 1):
        by = {x["id"]: x for x in r["results"]}
        tl = by.get("tokenizer.load", {})
        ev = tl.get("evidence", {})
        others = [x for x in r["results"] if x["id"] != "tokenizer.load" and not x["id"].startswith("tokenizer.")]
        slow = max(others, key=lambda x: x["ms"]) if others else {"id": "-", "ms": 0}
        child = f"{ev.get('import_s') or 0:.2f}+{ev.get('load_s') or 0:.2f} s"
        print(f"{i:>3}  {r['wall_s']:7.2f}s  {r['run_s']:6.2f}s  {tl.get('ms', 0) / 1000:14.2f}s  {child:>22}  {slow['id']} {slow['ms']} ms")
    walls = [r["wall_s"] for r in runs]
    print(f"median process wall time: {statistics.median(walls):.2f} s (first/cold run {walls[0]:.2f} s)")
    print(f"statuses: " + ", ".join(f"{x['id']}={x['status']}" for x in runs[0]["results"] if x["id"].startswith(("model.", "tokenizer."))))
    heavy = set().union(*(r["heavy_modules_imported"] for r in runs))
    print(f"heavy modules imported by the doctor's own process with --model-path: {sorted(heavy) or 'none'}")
    print(f"`check` without a model path: {bare['wall_s']:.2f} s, heavy modules imported: {bare['heavy_modules_imported'] or 'none'}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
