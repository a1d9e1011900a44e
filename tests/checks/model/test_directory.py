"""model.directory: a local directory, a Hugging Face cache snapshot, or a hub id with no local copy."""

from __future__ import annotations

import os
import shutil

from qwen_doctor.results import Status
from tests.testkit import modeldirs as md

from .conftest import MODEL_IDS, run


def test_directory_passes_on_a_real_directory(tiny):
    r = run(model_path=tiny)["model.directory"]
    assert r.status is Status.PASS and r.evidence["model_dir"] == str(tiny)


def test_directory_missing_and_file_and_empty(tmp_path, tiny):
    res = run(model_path=tmp_path / "nope")
    assert res["model.directory"].status is Status.FAIL
    assert "does not exist" in res["model.directory"].summary
    # everything else is skipped, naming the blocker
    assert res["model.config"].status is Status.SKIP and res["model.config"].blocked_by == ("model.directory",)
    r = run(model_path=tiny / "config.json")["model.directory"]
    assert r.status is Status.FAIL and "is a file, not a directory" in r.summary
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run(model_path=empty)["model.directory"]
    assert r.status is Status.FAIL and "empty" in r.summary


def test_missing_path_inside_a_container_is_skipped(tmp_path):
    """A path that only exists inside a compose/kubernetes container is not a defect of this machine."""
    from qwen_doctor.checks import model as mc
    from qwen_doctor.context import RunOptions
    from qwen_doctor.registry import Registry
    from qwen_doctor.runner import Runner
    from qwen_doctor.target import build_target

    reg = Registry()
    mc.register(reg)
    t = build_target(model_path=str(tmp_path / "in-container"), deployment={"kind": "compose"})
    (r,) = Runner(reg, RunOptions(), select=lambda c: c.id == "model.directory").run([t])
    assert r.status is Status.SKIP and "inside the compose container" in r.summary


def test_hub_id_without_local_copy_is_skipped_and_says_so(tmp_path):
    res = run(["env", f"HF_HUB_CACHE={tmp_path}", f"HF_HOME={tmp_path}", "vllm", "serve", "Qwen/Qwen3-Embedding-0.6B"], server_version="0.33.0")
    for cid in MODEL_IDS:
        assert res[cid].status is Status.SKIP
        assert "Hugging Face repo id with no local copy" in res[cid].summary


def test_hub_id_found_in_the_hub_cache_is_checked(tmp_path):
    """The real cache layout: models--ORG--NAME/refs/main -> snapshots/<sha>/ with files as symlinks into blobs/."""
    src = md.build_tiny_model_dir(tmp_path / "src")
    sha = "0123456789abcdef0123456789abcdef01234567"
    base = tmp_path / "hub" / "models--Qwen--Qwen3-Embedding-0.6B"
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(sha)
    snap = base / "snapshots" / sha
    blobs = base / "blobs"
    blobs.mkdir()
    for f in src.rglob("*"):
        if f.is_file():
            blob = blobs / f"blob{abs(hash(str(f)))}"
            shutil.copyfile(f, blob)
            link = snap / f.relative_to(src)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(blob, link.parent))
    res = run(["env", f"HF_HUB_CACHE={tmp_path / 'hub'}", "vllm", "serve", "Qwen/Qwen3-Embedding-0.6B", "--runner", "pooling"], server_version="0.33.0")
    assert res["model.directory"].status is Status.PASS
    assert "Hugging Face cache snapshot" in res["model.directory"].summary
    assert res["model.weights"].status is Status.PASS  # headers read through the symlinks
    assert res["model.weights"].evidence["weight_key_prefix"] == "layers"
