"""launch.embedding-mode."""

from __future__ import annotations

import json
import shutil

from qwen_doctor.results import Status
from tests.checks.launch import hf_cache, real_file, run


def test_missing_is_embedding_quotes_the_real_400():
    res, _ = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B", "0.5.23")
    r = res["launch.embedding-mode"]
    assert r.status is Status.FAIL
    assert "HTTP 400" in r.summary and "does not appear to be an embedding model" in r.summary
    assert "500" not in r.summary and "No embedding handler" not in r.summary  # pitfall 1's wrong symptom
    assert r.fix.launch_command.endswith("--is-embedding")


def test_vllm_auto_detection_by_version(model_dir, tmp_path):
    res, _ = run(f"vllm serve {model_dir}", "0.33.0")
    assert res["launch.embedding-mode"].status is Status.PASS and "auto-detects" in res["launch.embedding-mode"].summary
    res, _ = run(f"vllm serve {model_dir}", "0.10.0")
    assert res["launch.embedding-mode"].status is Status.FAIL
    assert "--task embed" in res["launch.embedding-mode"].fix.launch_command
    stale = tmp_path / "stale-Embedding"
    stale.mkdir()
    shutil.copy(model_dir / "config.json", stale / "config.json")
    res, _ = run(f"vllm serve {stale}", "0.33.0")
    r = res["launch.embedding-mode"]
    assert r.status is Status.FAIL and "modules.json" in r.summary and "404" in r.summary
    assert "--runner pooling" in r.fix.launch_command
    res, _ = run("vllm serve Qwen/Qwen3-Embedding-0.6B", "0.33.0")
    assert res["launch.embedding-mode"].status is Status.WARN
    res, _ = run("vllm serve Qwen/Qwen3-Embedding-0.6B --runner generate", "0.33.0")
    assert res["launch.embedding-mode"].status is Status.FAIL


def test_vllm_stale_copy_before_020_answers_400(tmp_path):
    stale = tmp_path / "stale-Embedding"
    stale.mkdir()
    shutil.copy(real_file("config.json"), stale / "config.json")
    res, _ = run(f"vllm serve {stale}", "0.11.0", ids={"launch.embedding-mode"})
    r = res["launch.embedding-mode"]
    assert r.status is Status.FAIL and "does not support Embeddings API" in r.summary
    toks = r.fix.launch_command.split()
    assert "--runner" in toks  # 0.11.0 takes --runner pooling --convert embed


def test_vllm_auto_detection_reads_the_hf_cache_snapshot(tmp_path, monkeypatch):
    """A repo id whose snapshot (with modules.json) is in HF_HOME: vLLM >= 0.10.1 finds modules.json there."""
    home = tmp_path / "hf-home"
    hf_cache(home, "Qwen/Qwen3-Embedding-0.6B", {"config.json": real_file("config.json"), "modules.json": real_file("modules.json")})
    monkeypatch.setenv("HF_HOME", str(home))
    res, _ = run("vllm serve Qwen/Qwen3-Embedding-0.6B", "0.33.0", ids={"launch.embedding-mode"})
    r = res["launch.embedding-mode"]
    assert r.status is Status.PASS and "auto-detects" in r.summary


def test_vllm_older_than_every_known_release_is_said(model_dir):
    res, _ = run(f"vllm serve {model_dir}", "0.6.0", ids={"launch.embedding-mode"})
    r = res["launch.embedding-mode"]
    assert r.status is Status.WARN and "older than any release the doctor knows" in r.summary
    assert r.fix.launch_command is not None


def test_sglang_qwen3model_auto_detected_from_0520(tmp_path):
    d = tmp_path / "Qwen3-Embedding-bare"
    d.mkdir()
    cfg = json.loads(real_file("config.json").read_text())
    cfg["architectures"] = ["Qwen3Model"]
    (d / "config.json").write_text(json.dumps(cfg))
    res, _ = run(f"sglang serve --model-path {d}", "0.5.20", ids={"launch.embedding-mode"})
    assert res["launch.embedding-mode"].status is Status.PASS
    res, _ = run(f"sglang serve --model-path {d}", "0.5.16", ids={"launch.embedding-mode"})
    assert res["launch.embedding-mode"].status is Status.FAIL


def test_vllm_partial_cache_snapshot_warns(tmp_path, monkeypatch):
    """A cached snapshot without modules.json: vLLM would still ask the hub for it, so this is a warning, not a FAIL."""
    home = tmp_path / "hf-home"
    hf_cache(home, "Qwen/Qwen3-Embedding-0.6B", {"config.json": real_file("config.json")})
    monkeypatch.setenv("HF_HOME", str(home))
    res, _ = run("vllm serve Qwen/Qwen3-Embedding-0.6B", "0.33.0", ids={"launch.embedding-mode"})
    r = res["launch.embedding-mode"]
    assert r.status is Status.WARN and "cached snapshot has no modules.json" in r.summary
    assert "--runner pooling" in r.fix.launch_command
