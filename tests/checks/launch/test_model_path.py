"""launch.model-path."""

from __future__ import annotations

import pytest

from qwen_doctor.results import Status
from tests.checks.launch import run


def test_trailing_slash_warns_with_the_real_consequence():
    res, _ = run("vllm serve /models/Qwen3-Embedding-0.6B/ --runner pooling", "0.33.0")
    r = res["launch.model-path"]
    assert r.status is Status.WARN
    assert "served model name" in r.summary and "404" in r.summary
    assert "//tokenizer.json" not in r.summary + r.fix.text
    assert "/models/Qwen3-Embedding-0.6B " in r.fix.launch_command + " "
    res, _ = run("sglang serve --model-path /models/Qwen3-Embedding-0.6B/ --is-embedding --served-model-name qe", "0.5.23")
    assert res["launch.model-path"].status is Status.PASS


def test_trailing_slash_in_equals_form():
    res, _ = run("python -m sglang.launch_server --model-path=/models/Qwen3-Embedding-0.6B/ --is-embedding", "0.5.23", ids={"launch.model-path"})
    r = res["launch.model-path"]
    assert r.status is Status.WARN and "--model-path=/models/Qwen3-Embedding-0.6B " in r.fix.launch_command + " "


def test_no_model_on_vllm_serves_a_generator():
    res, _ = run("vllm serve --runner pooling", "0.33.0")
    r = res["launch.model-path"]
    assert r.status is Status.FAIL and "Qwen/Qwen3-0.6B" in r.summary


@pytest.mark.parametrize("version,default", [("0.8.5", "facebook/opt-125m"), ("0.10.0", "Qwen/Qwen3-0.6B"), (None, "Qwen/Qwen3-0.6B")])
def test_vllm_default_model_by_release(version, default):
    res, _ = run("vllm serve --task embed" if version == "0.8.5" else "vllm serve", version, ids={"launch.model-path"})
    r = res["launch.model-path"]
    assert r.status is Status.FAIL and default in r.summary


def test_vllm_older_than_every_known_release():
    res, _ = run("vllm serve --task embed", "0.6.0", ids={"launch.model-path"})
    r = res["launch.model-path"]
    assert r.status is Status.FAIL and "older than any release the doctor knows" in r.summary and "facebook/opt-125m" in r.summary


def test_tei_without_model_by_release():
    res, _ = run("text-embeddings-router --pooling last-token", "1.8.2", ids={"launch.model-path"})
    assert res["launch.model-path"].status is Status.FAIL and "bge-large" in res["launch.model-path"].summary
    res, _ = run("text-embeddings-router --pooling last-token", "1.9.2", ids={"launch.model-path"})
    r = res["launch.model-path"]
    assert r.status is Status.FAIL and "refuses to start" in r.summary


def test_sglang_without_model():
    res, _ = run("sglang serve --is-embedding", "0.5.23", ids={"launch.model-path"})
    assert res["launch.model-path"].status is Status.FAIL and "--model-path" in res["launch.model-path"].summary
