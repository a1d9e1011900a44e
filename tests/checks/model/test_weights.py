"""model.weights and the safetensors header reader it is built on; the scan is shared by targets serving one directory."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwen_doctor import safetensors_header as sh
from qwen_doctor.results import Status
from tests.testkit import modeldirs as md

from .conftest import run, variant, write_config

# =============================================================================================
# the safetensors header reader


def test_header_of_tiny_model_matches_safetensors_library(tiny):
    from safetensors import safe_open
    from safetensors.numpy import load_file

    h = sh.read_header(tiny / "model.safetensors")
    arrays = load_file(str(tiny / "model.safetensors"))
    assert {t.name for t in h.tensors} == set(arrays)
    with safe_open(str(tiny / "model.safetensors"), "np") as f:
        for t in h.tensors:
            sl = f.get_slice(t.name)
            assert list(t.shape) == sl.get_shape()
            assert t.dtype == sl.get_dtype()
    assert h.weight_bytes == sum(a.nbytes for a in arrays.values())
    assert h.complete and h.expected_size == (tiny / "model.safetensors").stat().st_size
    assert h.metadata == {"format": "pt"}
    assert sh.key_prefix(t.name for t in h.tensors) == "layers"
    assert sh.main_dtype([h]) == "F32"


_NP_DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "I8": np.int8, "U8": np.uint8, "I32": np.int32, "I64": np.int64, "BOOL": np.bool_}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    spec=st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_.]{0,20}", fullmatch=True),
        st.tuples(st.sampled_from(sorted(_NP_DTYPES)), st.lists(st.integers(0, 5), max_size=3)),
        min_size=1,
        max_size=6,
    ),
    cut=st.floats(0.0, 0.999),
)
def test_header_reader_agrees_with_writer_and_catches_any_truncation(tmp_path_factory, spec, cut):
    from safetensors.numpy import save_file

    d = tmp_path_factory.mktemp("st")
    arrays = {k: np.zeros(tuple(shape), dtype=_NP_DTYPES[dt]) for k, (dt, shape) in spec.items()}
    p = d / "x.safetensors"
    save_file(arrays, str(p))
    h = sh.read_header(p)
    assert {t.name: (t.dtype, t.shape) for t in h.tensors} == {k: (dt, tuple(s)) for k, (dt, s) in spec.items()}
    assert h.weight_bytes == sum(a.nbytes for a in arrays.values())
    assert h.complete
    data = p.read_bytes()
    keep = int(len(data) * cut)
    if keep == len(data):
        return
    p.write_bytes(data[:keep])
    if h.data_bytes == 0 and keep >= 8 + h.header_len:
        return  # only empty tensors and the header is intact: nothing was lost
    try:
        h2 = sh.read_header(p)
    except sh.HeaderError:
        return
    assert not h2.complete and h2.file_size < h2.expected_size


def test_header_errors_on_garbage_and_absurd_lengths(tmp_path):
    p = tmp_path / "a.safetensors"
    p.write_bytes(b"\x01\x02")
    with pytest.raises(sh.HeaderError, match="shorter than the 8-byte"):
        sh.read_header(p)
    p.write_bytes((2**40).to_bytes(8, "little") + b"{}")
    with pytest.raises(sh.HeaderError, match="not a safetensors file"):
        sh.read_header(p)
    body = b'{"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}}'
    p.write_bytes(len(body).to_bytes(8, "little") + body + b"\0" * 12)
    with pytest.raises(sh.HeaderError, match="needs 16 bytes"):
        sh.read_header(p)
    body = b'{"w": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 1]}}'
    p.write_bytes(len(body).to_bytes(8, "little") + body + b"\0")
    with pytest.raises(sh.HeaderError, match="unknown dtype"):
        sh.read_header(p)
    p.write_bytes((5).to_bytes(8, "little") + b"nope!")
    with pytest.raises(sh.HeaderError, match="not valid JSON"):
        sh.read_header(p)


def test_sub_byte_dtypes_are_sized_in_bits(tmp_path):
    body = json.dumps({"q": {"dtype": "F4", "shape": [3, 3], "data_offsets": [0, 5]}}).encode()
    p = tmp_path / "f4.safetensors"
    p.write_bytes(len(body).to_bytes(8, "little") + body + b"\0" * 5)
    h = sh.read_header(p)
    assert h.complete and h.weight_bytes == 5  # 9 elements x 4 bits = 36 bits -> 5 bytes


def test_lfs_pointer_detection(tiny):
    assert sh.lfs_pointer(tiny / "model.safetensors") is None
    real_size = (tiny / "model.safetensors").stat().st_size
    md.break_lfs_pointer(tiny)
    ptr = sh.lfs_pointer(tiny / "model.safetensors")
    assert ptr is not None and ptr.size == real_size and len(ptr.oid) == 64
    assert md.is_lfs_pointer(tiny / "model.safetensors")  # agrees with the test kit's own detector


def test_key_prefix():
    assert sh.key_prefix(["embed_tokens.weight", "layers.0.mlp.up_proj.weight"]) == "layers"
    assert sh.key_prefix(["model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight", "lm_head.weight"]) == "model.layers"
    assert sh.key_prefix(["layers.0.x", "model.layers.1.x"]) == "mixed"
    assert sh.key_prefix(["encoder.block.0"]) is None


# =============================================================================================
# model.weights


def test_weights_tiny_pass_with_exact_bytes_and_prefix(tiny):
    from safetensors.numpy import load_file

    r = run(model_path=tiny, ids=("model.weights",))["model.weights"]
    assert r.status is Status.PASS
    assert r.evidence["weight_bytes"] == sum(a.nbytes for a in load_file(str(tiny / "model.safetensors")).values())
    assert r.evidence["weight_key_prefix"] == "layers" and r.evidence["dtype"] == "float32"


def test_weights_model_prefix_feeds_the_sglang_weight_loading_check(tmp_path):
    """The evidence contract with the launch checks: prefix 'model.layers' + a path without 'Embedding' loads on 0.5.8."""
    from qwen_doctor.checks import launch

    d = md.build_tiny_model_dir(tmp_path, name="qwen3-emb", key_prefix="model.")
    argv = ["sglang", "serve", "--model-path", str(d), "--is-embedding"]
    res = run(argv, server_version="0.5.8", ids=("model.weights", "launch.sglang-weight-loading"), extra_plugins=(launch.register,))
    assert res["model.weights"].evidence["weight_key_prefix"] == "model.layers"
    assert res["launch.sglang-weight-loading"].status is Status.PASS
    plain = md.build_tiny_model_dir(tmp_path, name="qwen3-emb-plain")
    res = run(
        ["sglang", "serve", "--model-path", str(plain), "--is-embedding"],
        server_version="0.5.8",
        ids=("model.weights", "launch.sglang-weight-loading"),
        extra_plugins=(launch.register,),
    )
    assert res["model.weights"].evidence["weight_key_prefix"] == "layers"
    assert res["launch.sglang-weight-loading"].status is Status.FAIL


def test_weights_truncated(tmp_path):
    r = run(model_path=variant(tmp_path, "truncated"), ids=("model.weights",))["model.weights"]
    assert r.status is Status.FAIL and "model.safetensors is truncated" in r.summary
    assert r.evidence["weight_bytes"] is None  # not exported from a broken checkpoint


def test_weights_lfs_pointer(tmp_path):
    r = run(model_path=variant(tmp_path, "lfs-pointer"), ids=("model.weights",))["model.weights"]
    assert r.status is Status.FAIL
    assert "this is an LFS pointer; run git lfs pull" in r.summary
    assert any("lfs pull" in c for c in r.fix.commands)


def test_weights_missing_shard(tmp_path):
    r = run(model_path=variant(tmp_path, "sharded-missing-shard"), ids=("model.weights",))["model.weights"]
    assert r.status is Status.FAIL and "model-00002-of-00002.safetensors is missing" in r.summary


def test_weights_complete_shards_sum_up(tmp_path):
    from safetensors.numpy import load_file, save_file

    d = md.build_tiny_model_dir(tmp_path, name="sharded")
    tensors = load_file(str(d / "model.safetensors"))
    names = list(tensors)
    wm = {}
    for i, part in enumerate((names[:10], names[10:])):
        shard = f"model-0000{i + 1}-of-00002.safetensors"
        save_file({k: tensors[k] for k in part}, str(d / shard))
        wm.update({k: shard for k in part})
    (d / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 1}, "weight_map": wm}))
    (d / "model.safetensors").unlink()
    r = run(model_path=d, ids=("model.weights",))["model.weights"]
    assert r.status is Status.PASS and "2 shards" in r.summary
    assert r.evidence["weight_bytes"] == sum(a.nbytes for a in tensors.values())
    # an index that places a tensor in the wrong shard
    wm[names[0]] = "model-00002-of-00002.safetensors"
    (d / "model.safetensors.index.json").write_text(json.dumps({"weight_map": wm}))
    r = run(model_path=d, ids=("model.weights",))["model.weights"]
    assert r.status is Status.FAIL and "not in it" in r.summary


def test_weights_disagreeing_with_config(tiny):
    write_config(tiny, num_hidden_layers=3)
    r = run(model_path=tiny, ids=("model.weights",))["model.weights"]
    assert r.status is Status.FAIL and "2 layers but config.json says 3" in r.summary


def test_weights_absent_or_garbage(tmp_path, real_tokenizer_dir):
    r = run(model_path=real_tokenizer_dir, ids=("model.weights",))["model.weights"]
    assert r.status is Status.FAIL and "no weights" in r.summary
    assert r.fix.commands and "Qwen/Qwen3-Embedding-0.6B" in r.fix.commands[0]  # the real 0.6B config names its repo
    d = md.build_tiny_model_dir(tmp_path, name="garbage")
    (d / "model.safetensors").write_bytes(os.urandom(4096))
    r = run(model_path=d, ids=("model.weights",))["model.weights"]
    assert r.status is Status.FAIL and r.fix.commands == ()  # unknown repo for a tiny model: no guessed download


def test_targets_sharing_a_directory_scan_it_once(tiny, monkeypatch):
    """Fifty targets serving one directory read its safetensors headers once per run (not once per target)."""
    from qwen_doctor.checks import model as mc
    from qwen_doctor.checks.model import weights
    from qwen_doctor.context import RunOptions
    from qwen_doctor.registry import Registry
    from qwen_doctor.runner import Runner
    from qwen_doctor.target import build_target

    calls = []
    real = weights.scan_weights
    monkeypatch.setattr(weights, "scan_weights", lambda d, cfg: calls.append(d) or real(d, cfg))
    reg = Registry()
    mc.register(reg)
    targets = [
        build_target(["sglang", "serve", "--model-path", str(tiny), "--is-embedding", "--port", str(30000 + i)], label=f"t{i}", server_version="0.5.23")
        for i in range(20)
    ]
    runner = Runner(reg, RunOptions(), select=lambda c: c.id == "model.weights")
    res = [r for r in runner.run(targets) if r.id == "model.weights"]
    assert len(res) == 20 and all(r.status is Status.PASS for r in res)
    assert len(calls) == 1
    runner.run(targets)  # a new run reads the files again (nothing is kept between runs)
    assert len(calls) == 2
