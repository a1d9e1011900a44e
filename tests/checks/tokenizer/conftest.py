"""Shared by the tokenizer.* check tests: run checks on the REAL Qwen3-Embedding-0.6B tokenizer (rebuilt by the
test kit from the upstream vocab/merges, with and without the end-token post-processor) and on the tiny model's.

The tokenizer is loaded by the doctor in a child process, as in production, once per run for each distinct tokenizer.
Several targets are examined in one Runner run where possible, so their loads run side by side.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from qwen_doctor.checks import model as mc
from qwen_doctor.checks import tokenizer as tc
from qwen_doctor.context import RunOptions
from qwen_doctor.registry import Registry
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target

DATA = Path(__file__).resolve().parents[2] / "data" / "samples"
TOK_IDS = ("model.tokenizer-files", "tokenizer.load", "tokenizer.end-token", "tokenizer.normalizer", "tokenizer.samples")
TASK = "Given a web search query, retrieve relevant passages that answer the query"


def registry() -> Registry:
    reg = Registry()
    mc.register(reg)
    tc.register(reg)
    return reg


def run_many(specs, ids=TOK_IDS, on_finish=None, **opts):
    """specs: {label: dict(argv=..., model_path=..., server_version=...)} -> {label: {check id: Result}}, one Runner run."""
    targets = []
    for label, spec in specs.items():
        mp = spec.get("model_path")
        targets.append(build_target(spec.get("argv"), model_path=str(mp) if mp else None, server_version=spec.get("server_version"), label=label))
    wanted = set(ids)
    results = Runner(registry(), RunOptions(**opts), select=lambda c: c.id in wanted, on_finish=on_finish).run(targets)
    out: dict[str, dict] = {}
    for r in results:
        out.setdefault(r.target, {})[r.id] = r
    return out


def run(model_path=None, argv=None, server_version=None, ids=TOK_IDS, **opts):
    return run_many({"t": {"model_path": model_path, "argv": argv, "server_version": server_version}}, ids, **opts)["t"]


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
