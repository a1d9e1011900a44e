"""launch.context-length, including a model found in the Hugging Face cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qwen_doctor.launch import split_command
from qwen_doctor.results import Status
from tests.checks.launch import hf_cache, real_file, run
from tests.testkit import modeldirs

REPO_ID = "Qwen/Qwen3-Embedding-0.6B"


def test_context_length_against_real_config(model_dir):
    cmd = f"sglang serve --model-path {model_dir} --is-embedding --context-length 40960"
    res, _ = run(cmd, "0.5.23")
    r = res["launch.context-length"]
    assert r.status is Status.FAIL and "32768" in r.summary
    assert "--context-length 32768" in r.fix.launch_command
    res, _ = run(cmd, "0.4.10.post2")
    assert res["launch.context-length"].status is Status.WARN
    res, _ = run(f"sglang serve --model-path {model_dir} --is-embedding --context-length 32k", "0.5.23")
    assert res["launch.context-length"].status is Status.PASS  # human_readable_int: 32k = 32000
    res, _ = run(f"vllm serve {model_dir} --runner pooling --max-model-len 65536", "0.33.0")
    assert res["launch.context-length"].status is Status.FAIL


def _config_file(tmp_path: Path) -> Path:
    """The real config.json of Qwen/Qwen3-Embedding-0.6B, else the testkit's Qwen3 config with the real 32768."""
    try:
        return modeldirs.real_files_dir() / "config.json"
    except modeldirs.SharedFilesMissing:
        cfg = dict(modeldirs.tiny_config(), max_position_embeddings=32768)
        p = tmp_path / "config.json"
        p.write_text(json.dumps(cfg))
        return p


@pytest.mark.parametrize("where", ["launch-env", "doctor-env"])
def test_hf_cache_model_fails_with_its_real_maximum(tmp_path, monkeypatch, where):
    """The issue's case: Qwen/Qwen3-Embedding-0.6B in the HF cache (HF_HOME -> hub/models--.../refs/main ->
    snapshots/<sha>/config.json) and vLLM with --max-model-len 99999: FAIL with the model's 32768, not a SKIP."""
    home = tmp_path / "hf-home"
    hf_cache(home, REPO_ID, {"config.json": _config_file(tmp_path)})
    cmd = f"vllm serve {REPO_ID} --runner pooling --max-model-len 99999"
    if where == "launch-env":
        cmd = f"HF_HOME={home} " + cmd
    else:
        monkeypatch.setenv("HF_HOME", str(home))
    res, _ = run(cmd, "0.33.0", ids={"launch.context-length"})
    r = res["launch.context-length"]
    assert r.status is Status.FAIL, r.summary
    assert "32768" in r.summary and "99999" in r.summary and "Hugging Face cache" in r.summary
    assert r.evidence["max_position_embeddings"] == 32768
    toks = split_command(r.fix.launch_command)
    assert toks[toks.index("--max-model-len") + 1] == "32768"


def test_hf_cache_by_hub_cache(tmp_path):
    snap = hf_cache(tmp_path / "home", REPO_ID, {"config.json": _config_file(tmp_path)})
    # HF_HUB_CACHE points at the hub folder itself
    cmd = f"HF_HUB_CACHE={snap.parents[2]} sglang serve --model-path {REPO_ID} --is-embedding --context-length 40960"
    res, _ = run(cmd, "0.5.23", ids={"launch.context-length"})
    assert res["launch.context-length"].status is Status.FAIL and "32768" in res["launch.context-length"].summary


def test_hub_id_not_downloaded_skips_with_the_reason():
    res, _ = run(f"vllm serve {REPO_ID} --runner pooling --max-model-len 99999", "0.33.0", ids={"launch.context-length"})
    r = res["launch.context-length"]
    assert r.status is Status.SKIP and "not downloaded" in r.summary


def test_allow_long_env_warns(model_dir):
    res, _ = run(f"VLLM_ALLOW_LONG_MAX_MODEL_LEN=1 vllm serve {model_dir} --runner pooling --max-model-len 65536", "0.33.0", ids={"launch.context-length"})
    assert res["launch.context-length"].status is Status.WARN
    res, _ = run(
        f"SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1 sglang serve --model-path {model_dir} --is-embedding --context-length 40960",
        "0.5.23",
        ids={"launch.context-length"},
    )
    assert res["launch.context-length"].status is Status.WARN


def test_not_set_or_within_passes(model_dir):
    res, _ = run(f"vllm serve {model_dir} --runner pooling", "0.33.0", ids={"launch.context-length"})
    assert res["launch.context-length"].status is Status.PASS
    res, _ = run(f"vllm serve {model_dir} --runner pooling --max-model-len 8192", "0.33.0", ids={"launch.context-length"})
    assert res["launch.context-length"].status is Status.PASS


def test_sglang_older_than_every_known_release_only_warns(model_dir):
    res, _ = run(f"python -m sglang.launch_server --model-path {model_dir} --is-embedding --context-length 40960", "0.4.0", ids={"launch.context-length"})
    r = res["launch.context-length"]
    assert r.status is Status.WARN and "older than any release the doctor knows" in r.summary


def test_real_config_is_used_when_present(tmp_path):
    # the real file, when shared is present (skips otherwise)
    real = real_file("config.json")
    assert json.loads(real.read_text())["max_position_embeddings"] == 32768
