"""launch.sglang-weight-loading."""

from __future__ import annotations

import pytest

from qwen_doctor.results import Status
from tests.checks.launch import run


@pytest.mark.parametrize("version,path,status", [
    ("0.4.6.post5", "/models/Qwen3-Embedding-0.6B", Status.FAIL),
    ("0.5.8", "/models/qwen3-embedding-0.6b", Status.FAIL),
    ("0.5.8.post1", "/srv/checkpoint-8000", Status.FAIL),
    ("0.5.8", "/models/Qwen3-Embedding-0.6B", Status.PASS),
    ("0.4.7", "Qwen/Qwen3-Embedding-0.6B", Status.PASS),
    ("0.5.9", "/models/qwen3-embedding-0.6b", Status.PASS),
    ("0.5.9rc1", "/models/qwen3-embedding-0.6b", Status.FAIL),  # PEP 440: 0.5.9rc1 < 0.5.9
    ("0.4.0", "/models/Qwen3-Embedding-0.6B", Status.FAIL),  # older than every known release
])  # fmt: skip
def test_sglang_weight_loading_by_version_and_path(version, path, status):
    res, _ = run(f"python -m sglang.launch_server --model-path {path} --is-embedding", version)
    r = res["launch.sglang-weight-loading"]
    assert r.status is status, r.summary
    if status is Status.FAIL:
        assert "KeyError" in r.summary or "cannot load" in r.summary
        assert "0.5.9" in r.fix.text


def test_below_every_known_release_is_named():
    res, _ = run("python -m sglang.launch_server --model-path /models/Qwen3-Embedding-0.6B --is-embedding", "0.4.0", ids={"launch.sglang-weight-loading"})
    assert "older than any release the doctor knows" in res["launch.sglang-weight-loading"].summary


def test_unknown_version_warns_without_embedding_in_the_path():
    res, _ = run("python -m sglang.launch_server --model-path /models/qwen3-emb --is-embedding", None, ids={"launch.sglang-weight-loading"})
    r = res["launch.sglang-weight-loading"]
    assert r.status is Status.WARN and "version unknown" in r.summary
    res, _ = run("python -m sglang.launch_server --model-path /models/Qwen3-Embedding-0.6B --is-embedding", None, ids={"launch.sglang-weight-loading"})
    assert res["launch.sglang-weight-loading"].status is Status.PASS


def test_lowercase_embedding_is_named():
    res, _ = run("python -m sglang.launch_server --model-path /models/qwen3-embedding-0.6b --is-embedding", "0.5.8", ids={"launch.sglang-weight-loading"})
    assert "case-sensitive" in res["launch.sglang-weight-loading"].summary and "qwen3-embedding-0.6b" in res["launch.sglang-weight-loading"].summary
