"""Shared by the model.* check tests: run checks on real model directories written by the test kit.

Nothing is mocked: the directories, safetensors files, LFS pointers, permissions and Hugging Face cache layout
are real files on disk; the launch commands are parsed with the real flag tables.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
from pathlib import Path

import pytest

from qwen_doctor.checks import model as mc
from qwen_doctor.context import RunOptions
from qwen_doctor.registry import Registry
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target
from tests.testkit import modeldirs as md

MODEL_IDS = ("model.directory", "model.permissions", "model.config", "model.weights", "model.tokenizer-files", "model.sentence-transformers")


def run(argv=None, *, model_path=None, server=None, server_version=None, ids=MODEL_IDS, extra_plugins=(), **opts):
    """Run the selected checks (and their hard dependencies) on one target; returns {id: Result}."""
    reg = Registry()
    mc.register(reg)
    for plugin in extra_plugins:
        plugin(reg)
    t = build_target(argv, model_path=str(model_path) if model_path else None, server=server, server_version=server_version)
    wanted = set(ids)
    results = Runner(reg, RunOptions(**opts), select=lambda c: c.id in wanted).run([t])
    return {r.id: r for r in results}


def variant(tmp_path, name, **kw) -> Path:
    return md.build_tiny_model_dir(tmp_path, name=f"tiny-{name}", variant=name, **kw)


def write_config(d: Path, **changes) -> None:
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(changes)
    (d / "config.json").write_text(json.dumps(cfg))


def nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user on this machine")


@pytest.fixture()
def tiny(tmp_path) -> Path:
    return md.build_tiny_model_dir(tmp_path, name="Qwen3-Embedding-tiny")


@pytest.fixture()
def open_tmp():
    """A temp dir that other users can search (pytest's own tmp_path lives under a 0700 directory, which would,
    correctly, make every file unreadable to 'nobody')."""
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="qd-perm-"))
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        for p in d.rglob("*"):
            if not p.is_symlink():
                os.chmod(p, 0o755 if p.is_dir() else 0o644)
        shutil.rmtree(d, ignore_errors=True)
