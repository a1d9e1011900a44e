"""launch.dtype."""

from __future__ import annotations

import json

from qwen_doctor.results import Status
from tests.checks.launch import real_file, run


def test_fp16_on_8b_warns():
    res, _ = run("vllm serve /models/Qwen3-Embedding-8B --runner pooling --dtype float16", "0.33.0")
    r = res["launch.dtype"]
    assert r.status is Status.WARN and "NaN" in r.summary and "--dtype bfloat16" in r.fix.launch_command
    res, _ = run("text-embeddings-router --model-id /models/Qwen3-Embedding-8B", "1.9.2")
    assert res["launch.dtype"].status is Status.WARN and "float32" in res["launch.dtype"].fix.launch_command
    res, _ = run("vllm serve /models/Qwen3-Embedding-0.6B --runner pooling --dtype float16", "0.33.0")
    assert res["launch.dtype"].status is Status.PASS


def test_variant_from_config_not_name(tmp_path):
    """A directory named 8B whose config.json is the 0.6B's: the config decides (no warning)."""
    d = tmp_path / "Qwen3-Embedding-8B"
    d.mkdir()
    (d / "config.json").write_text(real_file("config.json").read_text())
    res, _ = run(f"vllm serve {d} --runner pooling --dtype half", "0.33.0", ids={"launch.dtype"})
    assert res["launch.dtype"].status is Status.PASS and res["launch.dtype"].evidence["variant"] == "0.6B"
    cfg = json.loads(real_file("config.json").read_text())
    cfg.update(hidden_size=4096, num_hidden_layers=36)
    d8 = tmp_path / "fine-tune"
    d8.mkdir()
    (d8 / "config.json").write_text(json.dumps(cfg))
    res, _ = run(f"vllm serve {d8} --runner pooling --dtype half", "0.33.0", ids={"launch.dtype"})
    assert res["launch.dtype"].status is Status.WARN


def test_tei_8b_in_float32_passes():
    res, _ = run("text-embeddings-router --model-id /models/Qwen3-Embedding-8B --dtype float32", "1.9.2", ids={"launch.dtype"})
    assert res["launch.dtype"].status is Status.PASS
