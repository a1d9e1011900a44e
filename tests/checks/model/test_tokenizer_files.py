"""model.tokenizer-files: tokenizer.json or vocab.json + merges.txt, none an LFS pointer; TEI needs tokenizer.json."""

from __future__ import annotations

import shutil

from qwen_doctor.results import Status
from tests.testkit import modeldirs as md

from .conftest import run, variant


def test_tokenizer_files_missing_lfs_and_vocab_merges_only(tmp_path, real_tokenizer_dir):
    r = run(model_path=variant(tmp_path, "missing-tokenizer"), ids=("model.tokenizer-files",))["model.tokenizer-files"]
    assert r.status is Status.FAIL and "no tokenizer" in r.summary
    d = tmp_path / "lfs-tok"
    shutil.copytree(real_tokenizer_dir, d)
    md.break_lfs_pointer(d, filename="tokenizer.json")
    r = run(model_path=d, ids=("model.tokenizer-files",))["model.tokenizer-files"]
    assert r.status is Status.FAIL and "this is an LFS pointer; run git lfs pull" in r.summary
    (d / "tokenizer.json").unlink()
    r = run(model_path=d, ids=("model.tokenizer-files",))["model.tokenizer-files"]
    assert r.status is Status.WARN and "vocab.json + merges.txt" in r.summary
    tei = run(["text-embeddings-router", "--model-id", str(d)], ids=("model.tokenizer-files",))["model.tokenizer-files"]
    assert tei.status is Status.FAIL and "only supports fast tokenizers" in tei.summary


def test_tokenizer_from_a_separate_directory(tmp_path, tiny, real_tokenizer_dir):
    """--tokenizer names another directory: its files are the ones checked, and the evidence says where they came from."""
    r = run(
        ["vllm", "serve", str(tiny), "--runner", "pooling", "--tokenizer", str(real_tokenizer_dir)], server_version="0.33.0", ids=("model.tokenizer-files",)
    )["model.tokenizer-files"]
    assert r.status is Status.PASS
    assert r.evidence["directory"] == str(real_tokenizer_dir) and r.evidence["source"] == f"--tokenizer {real_tokenizer_dir}"
