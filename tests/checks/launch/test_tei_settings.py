"""launch.tei-settings (and TEI's options read from its environment)."""

from __future__ import annotations

from qwen_doctor.launch import split_command
from qwen_doctor.results import Status
from qwen_doctor.target import build_target
from tests.checks.launch import run


def test_tei_pooling_truncation_and_env_model():
    res, t = run("text-embeddings-router --model-id /models/Qwen3-Embedding-0.6B --pooling mean --port 8080", "1.9.2")
    assert t.server == "tei" and t.port == 8080
    r = res["launch.tei-settings"]
    assert r.status is Status.FAIL and "last-token" in r.summary and "silently truncated" in r.summary
    toks = split_command(r.fix.launch_command)
    assert toks[toks.index("--pooling") + 1] == "last-token" and toks[toks.index("--max-batch-tokens") + 1] == "32768"
    # TEI reads options from env vars too (MODEL_ID, PORT, MAX_BATCH_TOKENS) as its Docker images do
    t = build_target(["text-embeddings-router"], server_version="1.9.2", env={"MODEL_ID": "/models/Qwen3-Embedding-0.6B", "PORT": "80"})
    assert t.model_path == "/models/Qwen3-Embedding-0.6B" and t.port == 80
    res, _ = run("text-embeddings-router --model-id Qwen/Qwen3-Embedding-0.6B --max-batch-tokens 32768", "1.9.2")
    assert res["launch.tei-settings"].status is Status.PASS
    res, _ = run("text-embeddings-router --pooling last-token", "1.8.2")
    assert res["launch.model-path"].status is Status.FAIL and "bge-large" in res["launch.model-path"].summary
    # TEI (clap) takes no abbreviations
    res, _ = run("text-embeddings-router --model-id Qwen/Qwen3-Embedding-0.6B --max-batch 32768", "1.9.2")
    assert res["launch.unknown-flags"].status is Status.FAIL


def test_short_batch_without_truncation_by_release():
    res, _ = run("text-embeddings-router --model-id /models/Qwen3-Embedding-0.6B", "1.8.0", ids={"launch.tei-settings"})
    r = res["launch.tei-settings"]
    assert r.status is Status.WARN and "hangs" in r.summary and "#723" in r.summary
    res, _ = run("text-embeddings-router --model-id /models/Qwen3-Embedding-0.6B --auto-truncate false", "1.9.2", ids={"launch.tei-settings"})
    r = res["launch.tei-settings"]
    assert r.status is Status.WARN and "refuses to start" in r.summary


def test_tei_172_is_inconsistent_and_older_releases_are_named():
    res, _ = run("text-embeddings-router --model-id /models/Qwen3-Embedding-0.6B --max-batch-tokens 32768", "1.7.2", ids={"launch.tei-settings"})
    r = res["launch.tei-settings"]
    assert r.status is Status.WARN and "non-deterministic" in r.summary and r.fix.launch_command is None
    res, _ = run("text-embeddings-router --model-id /models/Qwen3-Embedding-0.6B --max-batch-tokens 32768", "1.6.0", ids={"launch.tei-settings"})
    r = res["launch.tei-settings"]
    assert r.status is Status.WARN and "older than any release the doctor knows" in r.summary
