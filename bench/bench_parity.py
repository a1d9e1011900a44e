#!/usr/bin/env python3
"""Benchmark: probe.parity's time on the tiny model, and its reference's cost on the real 0.6B architecture.

1. tiny: a real vLLM CPU server (tests/testkit/vllm_server.py) serves the tiny random Qwen3; probe.parity runs
   through Registry -> Runner (with the checks it needs: reachable, identity, embeddings) as `qwen-doctor check`
   does, with the vLLM venv's python as --reference-python. Reported: the check's own duration on a cold run (the
   reference process starts, imports torch, loads the weights) and on a warm run (the same process again: the
   reference is cached per model files, as `serve` re-runs it).
2. 0.6B: a model directory with the real Qwen3-Embedding-0.6B config.json and tokenizer files
   (shared/reference/qwen3-embedding-0.6b-files via tests/testkit/modeldirs.py) and random bf16 weights made by
   transformers in the vLLM venv (Qwen3Model from that config, save_pretrained: 1.19 GB of safetensors, as the real
   checkpoint). The reference process (qwen_doctor/parity_ref.py) is run on it directly: wall time, the child's
   peak RSS (ru_maxrss), import / load / forward times.

    .venv/bin/python bench/bench_parity.py [--skip-0.6b] [--keep DIR]

Writes bench/out/bench_parity.json (bench/out/ is git-ignored). Needs .venv-vllm (scripts/install_vllm_cpu.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qwen_doctor.checks import probe as probe_checks  # noqa: E402
from qwen_doctor.checks.probe import parity  # noqa: E402
from qwen_doctor.context import RunOptions  # noqa: E402
from qwen_doctor.parity_ref import run_reference  # noqa: E402
from qwen_doctor.registry import Registry  # noqa: E402
from qwen_doctor.runner import Runner  # noqa: E402
from qwen_doctor.target import build_target  # noqa: E402
from tests.testkit import modeldirs as md  # noqa: E402
from tests.testkit import vllm_server as vs  # noqa: E402

WANT = {"probe.reachable", "probe.identity", "probe.embeddings", "probe.parity"}

# random bf16 weights of the real architecture, made by transformers (run by the vLLM venv's python)
MAKE_06B = r"""
import json, sys, torch
from transformers import AutoConfig, AutoModel
out = sys.argv[1]
cfg = AutoConfig.from_pretrained(out)
torch.manual_seed(0)
torch.set_default_dtype(torch.bfloat16)  # initialise in bf16: 1.2 GB, not 2.4 GB of fp32 first
model = AutoModel.from_config(cfg)
model.save_pretrained(out, safe_serialization=True)
print(json.dumps({"params": sum(p.numel() for p in model.parameters())}))
"""


def bench_tiny(py: str, runs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        d = md.build_tiny_model_dir(tmp, name="tiny")
        srv = vs.start_vllm_server(d, log_path=Path(tmp) / "vllm.log")
        try:
            reg = Registry()
            probe_checks.register(reg)
            out = []
            for _ in range(runs):
                t = build_target(url=srv.url, model_path=str(d))
                res = Runner(reg, RunOptions(probe_timeout=60.0, reference_python=py, model_name="tiny-qwen3"), select=lambda c: c.id in WANT).run([t])
                r = next(x for x in res if x.id == "probe.parity")
                out.append(
                    {
                        "status": r.status.value,
                        "check_s": round(r.duration_ms / 1000, 2),
                        "reference_s": r.evidence.get("reference_s"),
                        "reference_cached": r.evidence.get("reference_cached"),
                        "summary": r.summary,
                    }
                )
            return {"server_start_s": srv.start_seconds, "runs": out, "cold_s": out[0]["check_s"], "warm_s": [o["check_s"] for o in out[1:]]}
        finally:
            srv.stop()


def bench_06b(py: str, keep: str | None) -> dict:
    tmp = keep or tempfile.mkdtemp(prefix="parity-0.6b-")
    try:
        d = Path(tmp) / "Qwen3-Embedding-0.6B-random"
        t0 = time.monotonic()
        if not (d / "model.safetensors").is_file():
            md.build_real_tokenizer_dir(tmp, name=d.name)
            p = subprocess.run([py, "-c", MAKE_06B, str(d)], capture_output=True, text=True, timeout=1200, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            if p.returncode != 0:
                raise SystemExit(f"could not build the 0.6B model: {p.stderr[-2000:]}")
        build_s = round(time.monotonic() - t0, 1)
        stored = sum(f.stat().st_size for f in d.glob("*.safetensors"))
        fp32 = stored * 2
        res = run_reference(
            py, str(d), str(d), parity.TEXTS, timeout=900, memory_limit=fp32 + stored + parity.ADDRESS_SPACE_EXTRA, threads=max(1, min(4, os.cpu_count() or 1))
        )
        if not res.ok:
            raise SystemExit(f"reference failed: {res.stage}: {res.error}")
        keys = ("versions", "import_s", "load_s", "forward_s", "peak_rss_mb", "lengths", "tokenizer_appends", "end_id")
        return {
            "build_s": build_s,
            "safetensors_bytes": stored,
            "fp32_gib": round(fp32 / 1024**3, 2),
            "reference_wall_s": round(res.wall_s, 1),
            "dim": len(res.vectors["last"][0]),
            **{k: res.data.get(k) for k in keys},
        }
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="probe.parity runs on the tiny model (the first is cold)")
    ap.add_argument("--skip-0.6b", dest="skip_06b", action="store_true")
    ap.add_argument("--keep", metavar="DIR", help="build the 0.6B model in DIR and keep it (reused when present)")
    args = ap.parse_args()
    py = vs.vllm_python()
    if py is None:
        print("error: .venv-vllm not found (scripts/install_vllm_cpu.sh)", file=sys.stderr)
        return 2
    report: dict = {"cpus": os.cpu_count(), "tiny": bench_tiny(str(py), args.runs)}
    print(json.dumps(report["tiny"], indent=2))
    if not args.skip_06b:
        report["qwen3-0.6b-random"] = bench_06b(str(py), args.keep)
        print(json.dumps(report["qwen3-0.6b-random"], indent=2))
    out = ROOT / "bench" / "out" / "bench_parity.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
