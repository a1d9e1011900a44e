"""ModelFacts / ServerFacts: computed once per run, from real model directories and a real HF cache layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qwen_doctor.context import Context, RunOptions
from qwen_doctor.facts import FactsStore, as_int
from qwen_doctor.target import build_target
from tests.testkit import modeldirs

REPO = "Qwen/Qwen3-Embedding-0.6B"
SHA = "c54f2e6e80b2d7b7de06f51cec4959f9b3e03418"


def hf_cache(root: Path, model_dir: Path, *, ref: str = "main", sha: str = SHA) -> Path:
    """A real Hugging Face cache layout: models--Qwen--Qwen3-Embedding-0.6B/{refs/main, snapshots/<sha>/...}."""
    base = root / "hub" / ("models--" + REPO.replace("/", "--"))
    snap = base / "snapshots" / sha
    shutil.copytree(model_dir, snap)
    (base / "refs").mkdir(parents=True, exist_ok=True)
    (base / "refs" / ref).write_text(sha)
    return snap


@pytest.fixture()
def tiny(tmp_path_factory):
    return modeldirs.build_tiny_model_dir(tmp_path_factory.mktemp("tiny"))


def test_hf_cache_snapshot_is_located_through_hf_home(tmp_path, tiny):
    snap = hf_cache(tmp_path, tiny)
    t = build_target(["vllm", "serve", REPO], env={"HF_HOME": str(tmp_path)})
    mf = FactsStore().model(t)
    assert mf is not None and mf.directory == snap and mf.location.hub_id
    assert "cache snapshot" in mf.location.how and mf.config is not None


def test_revision_selects_a_ref(tmp_path, tiny):
    hf_cache(tmp_path, tiny, ref="v2", sha="a" * 40)
    t = build_target(["vllm", "serve", REPO, "--revision", "v2"], env={"HF_HUB_CACHE": str(tmp_path / "hub")})
    mf = FactsStore().model(t)
    assert mf.directory is not None and mf.directory.name == "a" * 40
    t2 = build_target(["vllm", "serve", REPO], env={"HF_HUB_CACHE": str(tmp_path / "hub")})
    assert FactsStore().model(t2).directory is None  # no refs/main: not downloaded


def test_hub_id_without_local_copy(tmp_path):
    t = build_target(["vllm", "serve", REPO], env={"HF_HOME": str(tmp_path)})
    mf = FactsStore().model(t)
    assert mf.directory is None and mf.location.hub_id and mf.location.how == "not downloaded"
    assert mf.identity.qwen3_embedding is True and mf.identity.variant == "0.6B"  # from the name


def test_identity_and_context_of_the_real_config(real_tokenizer_dir):
    t = build_target(["sglang", "serve", "--model-path", str(real_tokenizer_dir), "--context-length", "4096"])
    store = FactsStore()
    mf = store.model(t)
    assert mf.identity.qwen3_embedding is True and mf.identity.variant == "0.6B"
    assert mf.max_context == json.loads((real_tokenizer_dir / "config.json").read_text())["max_position_embeddings"]
    assert mf.context_length(store.server(t)) == (4096, "--context-length")
    dtype, src = mf.serving_dtype(store.server(t))
    assert dtype == mf.config_dtype and "auto" in src


def test_other_model_is_not_qwen3(tmp_path):
    d = tmp_path / "llama"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "max_position_embeddings": 8192}))
    mf = FactsStore().model(build_target(["vllm", "serve", str(d)]))
    assert mf.identity.qwen3_embedding is False and not mf.qwen3_rules_apply()
    assert "LlamaForCausalLM" in mf.identity.describe() and mf.max_context == 8192


def test_fifty_targets_share_one_model_facts(tiny, monkeypatch):
    from qwen_doctor.facts import model as fm

    calls = []
    real = fm.model_facts
    monkeypatch.setattr(fm, "model_facts", lambda loc: calls.append(loc) or real(loc))
    import qwen_doctor.facts as facts_pkg

    monkeypatch.setattr(facts_pkg, "model_facts", fm.model_facts)
    store = FactsStore()
    targets = [build_target(["sglang", "serve", "--model-path", str(tiny), "--port", str(30000 + i)], label=f"t{i}") for i in range(50)]
    facts = {id(store.model(t)) for t in targets}
    assert len(facts) == 1 and len(calls) == 1


def test_context_exposes_facts(tiny):
    t = build_target(["vllm", "serve", str(tiny), "--max-model-len", "99999"], server_version="0.11.0")
    ctx = Context(t, RunOptions(), {}, FactsStore())
    assert ctx.server.kind == "vllm" and ctx.server.version == "0.11.0"
    assert ctx.model.context_length(ctx.server) == (99999, "--max-model-len")
    assert ctx.relaunch.command(set_options={"--max-model-len": "2048"}).endswith("--max-model-len 2048")


@pytest.mark.parametrize("raw, want", [(5, 5), ("7", 7), (" 8 ", 8), ("-3", -3), (2.0, 2), (2.5, None), ("8k", None), (True, None), (None, None), ("", None)])
def test_one_int_coercer(raw, want):
    assert as_int(raw) == want
