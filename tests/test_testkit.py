"""The test kit builds real things: real tokenizer ids, parseable weights, really broken variants,
and real vLLM servers that answer like vLLM 0.32 does."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import unicodedata
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.testkit import modeldirs as md
from tests.testkit import vllm_server as vs

NON_LATIN = "Ελληνικά café naïve Ångström 한국어 ゔ Привет"


def _tok(d: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(d), local_files_only=True)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


# --- the real Qwen3-Embedding-0.6B tokenizer --------------------------------------------------


def test_real_tokenizer_appends_endoftext(real_tokenizer_dir):
    tok = _tok(real_tokenizer_dir)
    assert tok("test")["input_ids"] == [1944, 151643]
    assert tok("")["input_ids"] == [151643]
    assert len(tok) == 151669
    assert tok.convert_ids_to_tokens(151667) == "<think>"
    assert tok.pad_token_id == 151643 and tok.eos_token_id == 151645  # appended token is pad, not eos


def test_stale_tokenizer_appends_nothing(stale_tokenizer_dir):
    assert _tok(stale_tokenizer_dir)("test")["input_ids"] == [1944]
    for rel in md.ST_FILES:
        assert not (stale_tokenizer_dir / rel).exists()


def test_real_tokenizer_nfc_equals_nfd(real_tokenizer_dir):
    nfc, nfd = unicodedata.normalize("NFC", NON_LATIN), unicodedata.normalize("NFD", NON_LATIN)
    assert nfc != nfd  # the input really differs
    tok = _tok(real_tokenizer_dir)
    assert tok(nfc)["input_ids"] == tok(nfd)["input_ids"]
    assert tok.decode(tok(nfd)["input_ids"], skip_special_tokens=True) == nfc


def test_real_dir_files_are_the_upstream_ones(real_tokenizer_dir):
    src = md.real_files_dir()
    for rel in md.REAL_FILES:
        assert _sha(real_tokenizer_dir / rel) == _sha(src / rel), rel
    assert _sha(real_tokenizer_dir / "vocab.json") == "ca10d7e9fb3ed18575dd1e277a2579c16d108e32f27439684afa0e10b1440910"
    tj = json.loads((real_tokenizer_dir / "tokenizer.json").read_text())
    assert tj["normalizer"] == {"type": "NFC"}
    assert [t["id"] for t in tj["added_tokens"]] == list(range(151643, 151669))
    assert not (real_tokenizer_dir / "model.safetensors").exists()


def test_real_tokenizer_json_is_cached(real_tokenizer_dir):
    a = md.real_tokenizer_json(with_eos_postprocessor=True)
    mtime = a.stat().st_mtime_ns
    assert md.real_tokenizer_json(with_eos_postprocessor=True) == a and a.stat().st_mtime_ns == mtime
    assert md.real_tokenizer_json(with_eos_postprocessor=False) != a


# --- the tiny model -----------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "model."])
def test_tiny_safetensors_header_by_hand(tmp_path, prefix):
    d = md.build_tiny_model_dir(tmp_path, key_prefix=prefix)
    p = d / "model.safetensors"
    raw = p.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    assert header.pop("__metadata__") == {"format": "pt"}
    cfg = json.loads((d / "config.json").read_text())
    want = md.qwen3_weight_shapes(cfg, prefix)
    assert {k: tuple(v["shape"]) for k, v in header.items()} == want
    assert f"{prefix}embed_tokens.weight" in header and f"{prefix}layers.1.self_attn.q_norm.weight" in header
    assert "lm_head.weight" not in header  # tied
    spans = sorted(tuple(v["data_offsets"]) for v in header.values())
    assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # contiguous
    for v in header.values():
        assert v["dtype"] == "F32"
        assert v["data_offsets"][1] - v["data_offsets"][0] == 4 * int(np.prod(v["shape"]))
    assert len(raw) == 8 + n + spans[-1][1] == md.safetensors_expected_size(p)
    assert sum(int(np.prod(s)) for s in want.values()) == 162_752


def test_tiny_config_tokenizer_and_determinism(tmp_path, tiny_model_dir):
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(str(tiny_model_dir), local_files_only=True)
    assert cfg.model_type == "qwen3" and cfg.architectures == ["Qwen3ForCausalLM"]
    assert (cfg.vocab_size, cfg.hidden_size, cfg.num_hidden_layers, cfg.head_dim) == (1000, 64, 2, 32)
    assert (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.max_position_embeddings) == (4, 2, 2048)
    assert cfg.tie_word_embeddings and cfg.pad_token_id is None
    tok = _tok(tiny_model_dir)
    assert len(tok) == 1000 and tok("test")["input_ids"][-1] == 0  # appends <|endoftext|> (id 0)
    pooling = json.loads((tiny_model_dir / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_lasttoken"] and pooling["word_embedding_dimension"] == 64
    again = md.build_tiny_model_dir(tmp_path)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert _sha(again / name) == _sha(tiny_model_dir / name), name


def test_tiny_without_eos(tmp_path):
    d = md.build_tiny_model_dir(tmp_path, append_eos=False)
    assert _tok(d)("test")["input_ids"][-1] != 0


# --- broken variants ------------------------------------------------------------------------------


def test_variant_truncated(tmp_path):
    d = md.build_tiny_model_dir(tmp_path, variant="truncated")
    p = d / "model.safetensors"
    n, header = md.read_safetensors_header(p)  # header still intact
    assert "embed_tokens.weight" in header
    assert p.stat().st_size < md.safetensors_expected_size(p)
    from safetensors.numpy import load_file

    with pytest.raises(Exception, match="incomplete metadata|not fully covered"):
        load_file(str(p))


def test_variant_lfs_pointer(tmp_path):
    good = md.build_tiny_model_dir(tmp_path, name="good") / "model.safetensors"
    p = md.build_tiny_model_dir(tmp_path, name="lfs", variant="lfs-pointer") / "model.safetensors"
    text = p.read_text()
    m = re.fullmatch(r"version https://git-lfs\.github\.com/spec/v1\noid sha256:([0-9a-f]{64})\nsize (\d+)\n", text)
    assert m, text
    assert m.group(1) == _sha(good) and int(m.group(2)) == good.stat().st_size
    assert md.is_lfs_pointer(p) and not md.is_lfs_pointer(good)


def test_variant_sharded_missing_shard(tmp_path):
    d = md.build_tiny_model_dir(tmp_path, variant="sharded-missing-shard")
    index = json.loads((d / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert shards == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    assert (d / shards[0]).is_file() and not (d / shards[1]).exists()
    assert not (d / "model.safetensors").exists()
    assert set(index["weight_map"]) == set(md.qwen3_weight_shapes(md.tiny_config()))
    assert index["metadata"]["total_size"] == 162_752 * 4


def test_variant_unreadable(tmp_path):
    d = md.build_tiny_model_dir(tmp_path, variant="unreadable")
    p = d / "model.safetensors"
    try:
        assert stat.S_IMODE(p.stat().st_mode) == 0
        if md.can_simulate_unreadable():
            with pytest.raises(PermissionError):
                p.open("rb")
        else:  # root: chmod 000 does not block reads, and the helper says so
            assert os.geteuid() == 0
            p.read_bytes()
    finally:
        md.restore_readable(d)


def test_variant_missing_tokenizer(tmp_path):
    from transformers import AutoTokenizer

    d = md.build_tiny_model_dir(tmp_path, variant="missing-tokenizer")
    assert not any((d / f).exists() for f in md.TINY_TOKENIZER_FILES)
    assert (d / "config.json").is_file() and (d / "model.safetensors").is_file()
    try:
        tok = AutoTokenizer.from_pretrained(str(d), local_files_only=True)
    except (OSError, ValueError):
        return
    # transformers 5.24 does not raise: it returns an empty Qwen2Tokenizer (vocab 1) that encodes
    # everything to []. A doctor must not take "AutoTokenizer loaded" as "tokenizer present".
    assert len(tok) <= 1 and tok("test")["input_ids"] == []


def test_variant_stale(tmp_path):
    d = md.build_tiny_model_dir(tmp_path, variant="stale")
    for rel in md.ST_FILES:
        assert not (d / rel).exists()
    assert not (d / "1_Pooling").exists()
    assert _tok(d)("test")["input_ids"][-1] != 0
    # break_stale on a good directory gives the same tokenizer as variant="stale"
    again = md.break_stale(md.build_tiny_model_dir(tmp_path, name="b"))
    assert _tok(again)("test")["input_ids"] == _tok(d)("test")["input_ids"]


def test_unknown_variant_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown variant"):
        md.build_tiny_model_dir(tmp_path, variant="nope")


def test_cli_writes_all_dirs(tmp_path):
    assert md.main([str(tmp_path), "--only", "tiny-qwen3", "tiny-qwen3-truncated"]) == 0
    assert (tmp_path / "tiny-qwen3" / "model.safetensors").is_file()
    p = tmp_path / "tiny-qwen3-truncated" / "model.safetensors"
    assert p.stat().st_size < md.safetensors_expected_size(p)


# --- real vLLM servers ----------------------------------------------------------------------------


@pytest.mark.live_server
def test_embed_server_models(vllm_embed_server):
    srv = vllm_embed_server
    r = httpx.get(srv.url + "/v1/models", timeout=10)
    assert r.status_code == 200
    (model,) = r.json()["data"]
    assert model["id"] == "tiny-qwen3" and model["max_model_len"] == 512
    assert model["root"] == str(srv.model_dir)
    assert httpx.get(srv.url + "/version", timeout=10).json() == {"version": "0.32.0"}


@pytest.mark.live_server
def test_embed_server_embeddings(vllm_embed_server, tiny_model_dir):
    from tokenizers import Tokenizer

    srv = vllm_embed_server
    r = httpx.post(srv.url + "/v1/embeddings", timeout=60, json={"model": "tiny-qwen3", "input": ["hello world", "second"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [d["index"] for d in body["data"]] == [0, 1]
    vecs = np.array([d["embedding"] for d in body["data"]])
    assert vecs.shape == (2, 64)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    # the server really runs these weights: same vector as a numpy forward pass, same token count
    ids = Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json")).encode("hello world").ids
    assert ids[-1] == 0
    single = httpx.post(srv.url + "/v1/embeddings", timeout=60, json={"model": "tiny-qwen3", "input": "hello world"}).json()
    assert single["usage"]["prompt_tokens"] == len(ids)
    ref = md.reference_embedding(tiny_model_dir, ids)
    assert float(np.dot(vecs[0], ref)) > 0.9999


@pytest.mark.live_server
def test_embed_server_over_length_is_400(vllm_embed_server):
    r = httpx.post(vllm_embed_server.url + "/v1/embeddings", timeout=60, json={"model": "tiny-qwen3", "input": "hello " * 600})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "BadRequestError" and err["code"] == 400 and err["param"] == "input_tokens"
    assert err["message"].startswith("This model's maximum context length is 512 tokens. However, your prompt contains at least 513 input tokens")


@pytest.mark.live_server
def test_generate_server_has_no_embeddings_route(vllm_generate_server):
    srv = vllm_generate_server
    assert srv.mode == "generate"
    r = httpx.get(srv.url + "/v1/models", timeout=10)
    (model,) = r.json()["data"]
    assert model["id"] == "tiny-qwen3" and model["max_model_len"] == 512
    # vLLM >= 0.20 does not register the route at all: FastAPI's bare 404, not an OpenAI error
    r = httpx.post(srv.url + "/v1/embeddings", timeout=30, json={"model": "tiny-qwen3", "input": "hello"})
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    r = httpx.post(srv.url + "/v1/completions", timeout=60, json={"model": "tiny-qwen3", "prompt": "hello", "max_tokens": 2, "temperature": 0})
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 2


@pytest.mark.live_server
def test_generate_runner_cannot_load_embedding_key_layout(vllm_embed_server, tiny_model_dir, tmp_path):
    """vLLM 0.32 `--runner generate` fails to load Qwen3-Embedding's prefix-less keys (the pooling
    adapter maps them; the causal-LM loader does not), so the server dies during start-up."""
    with pytest.raises(vs.VllmServerError, match="exited with rc="):
        vs.start_vllm_server(tiny_model_dir, mode="generate", log_path=tmp_path / "gen.log", ready_timeout=240)
    log = (tmp_path / "gen.log").read_text(errors="replace")
    assert "There is no module or parameter named 'embed_tokens' in Qwen3ForCausalLM" in log
