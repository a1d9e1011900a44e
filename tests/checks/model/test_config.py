"""model.config: reads ctx.model.config (the facts layer), the variant from its shape, the serving dtype."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qwen_doctor.results import Status
from tests.testkit import modeldirs as md

from .conftest import run


def test_config_of_the_real_0_6b(real_tokenizer_dir):
    r = run(model_path=real_tokenizer_dir, ids=("model.config",))["model.config"]
    assert r.status is Status.PASS
    ev = r.evidence
    assert ev["variant"] == "0.6B" and ev["embedding_dim"] == 1024 and ev["max_position_embeddings"] == 32768
    assert ev["architectures"] == ["Qwen3ForCausalLM"] and ev["torch_dtype"] == "bfloat16"
    assert ev["num_key_value_heads"] == 8 and ev["head_dim"] == 128 and ev["num_hidden_layers"] == 28
    assert ev["context_length"] == 32768


def _fake_8b(tmp_path, dtype) -> Path:
    d = tmp_path / "Qwen3-Embedding-8B"
    d.mkdir()
    try:
        cfg = json.loads((md.real_files_dir() / "config.json").read_text())
    except md.SharedFilesMissing as e:
        pytest.skip(str(e))
    cfg.update(
        hidden_size=4096,
        num_hidden_layers=36,
        num_attention_heads=32,
        intermediate_size=12288,
        max_position_embeddings=40960,
        vocab_size=151665,
        torch_dtype=dtype,
    )
    (d / "config.json").write_text(json.dumps(cfg))
    return d


def test_config_8b_float16_warns_nan_and_bf16_override_passes(tmp_path):
    d = _fake_8b(tmp_path, "float16")
    r = run(model_path=d, ids=("model.config",))["model.config"]
    assert r.status is Status.WARN and "NaN" in r.summary and r.evidence["variant"] == "8B"
    assert "bfloat16" in r.fix.text
    ok = run(["sglang", "serve", "--model-path", str(d), "--is-embedding", "--dtype", "bfloat16"], server_version="0.5.23", ids=("model.config",))[
        "model.config"
    ]
    assert ok.status is Status.PASS and ok.evidence["serving_dtype"] == "bfloat16"
    (tmp_path / "b").mkdir()
    bf16 = _fake_8b(tmp_path / "b", "bfloat16")
    auto = run(["vllm", "serve", str(bf16), "--runner", "pooling"], server_version="0.33.0", ids=("model.config",))["model.config"]
    assert auto.status is Status.PASS and auto.evidence["serving_dtype"] == "bfloat16"  # --dtype auto takes the config's
    half = run(["vllm", "serve", str(bf16), "--dtype", "half"], server_version="0.33.0", ids=("model.config",))["model.config"]
    assert half.status is Status.WARN and half.evidence["serving_dtype"] == "float16"


def test_config_8b_on_tei_defaults_to_float16(tmp_path):
    d = _fake_8b(tmp_path, "bfloat16")
    r = run(["text-embeddings-router", "--model-id", str(d)], ids=("model.config",))["model.config"]
    assert r.status is Status.WARN and "NaN" in r.summary and "--dtype float32" in r.fix.text
    ok = run(["text-embeddings-router", "--model-id", str(d), "--dtype", "float32"], ids=("model.config",))["model.config"]
    assert ok.status is Status.PASS


def test_config_broken_missing_and_foreign(tmp_path, tiny):
    r = run(model_path=tiny, ids=("model.config",))["model.config"]
    assert r.status is Status.WARN and "fine-tune or another model" in r.summary and r.evidence["variant"] is None and r.evidence["embedding_dim"] == 64
    (tiny / "config.json").write_text('{"hidden_size": 64,,}')
    r = run(model_path=tiny, ids=("model.config",))["model.config"]
    assert r.status is Status.FAIL and "not valid JSON" in r.summary and "line 1" in r.summary
    (tiny / "config.json").unlink()
    r = run(model_path=tiny, ids=("model.config",))["model.config"]
    assert r.status is Status.FAIL and "config.json is missing" in r.summary
    (tiny / "config.json").write_text(
        json.dumps({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 768, "num_hidden_layers": 12, "max_position_embeddings": 512})
    )
    r = run(model_path=tiny, ids=("model.config",))["model.config"]
    assert r.status is Status.WARN and "not Qwen3" in r.summary
    assert "BertModel" in r.evidence["identity"]


def test_config_variant_is_the_shape_not_the_name(tmp_path):
    """A directory named like the 8B whose config has another shape: the size warning stands (the name is not proof)."""
    d = _fake_8b(tmp_path, "bfloat16")
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(hidden_size=2048, num_hidden_layers=20)
    (d / "config.json").write_text(json.dumps(cfg))
    r = run(model_path=d, ids=("model.config",))["model.config"]
    assert r.status is Status.WARN and r.evidence["variant"] is None and "match no Qwen3-Embedding size" in r.summary
