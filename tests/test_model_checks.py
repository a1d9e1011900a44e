"""model.* checks and the safetensors header reader, on real model directories written by the test kit.

Nothing is mocked: the directories, safetensors files, LFS pointers, permissions and Hugging Face cache layout
are real files on disk; the launch commands are parsed with the real flag tables. The tokenizer checks (slow:
they load transformers in a child process) are in test_tokenizer_checks.py; here only model.* run.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwen_doctor import safetensors_header as sh
from qwen_doctor.checks import model as mc
from qwen_doctor.context import RunOptions
from qwen_doctor.results import Status
from qwen_doctor.registry import Registry
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target
from tests.testkit import modeldirs as md

MODEL_IDS = ("model.directory", "model.permissions", "model.config", "model.weights", "model.tokenizer-files", "model.sentence-transformers")


def run(argv=None, *, model_path=None, server=None, server_version=None, ids=MODEL_IDS, extra_plugins=(), **opts):
    """Run the selected checks (and their hard dependencies) on one target; returns {id: Result}."""
    reg = Registry()
    mc.register(reg)
    for plugin in extra_plugins:
        plugin(reg)
    t = build_target(argv, model_path=str(model_path) if model_path else None, server=server, server_version=server_version)
    wanted = set(ids)
    results = Runner(reg, RunOptions(**opts), select=lambda c: c.id in wanted).run([t])
    return {r.id: r for r in results}


@pytest.fixture()
def tiny(tmp_path) -> Path:
    return md.build_tiny_model_dir(tmp_path, name="Qwen3-Embedding-tiny")


def _variant(tmp_path, variant, **kw) -> Path:
    return md.build_tiny_model_dir(tmp_path, name=f"tiny-{variant}", variant=variant, **kw)


def _write_config(d: Path, **changes) -> None:
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(changes)
    (d / "config.json").write_text(json.dumps(cfg))


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
# model.directory


def test_directory_passes_on_a_real_directory(tiny):
    r = run(model_path=tiny)["model.directory"]
    assert r.status is Status.PASS and r.evidence["model_dir"] == str(tiny)


def test_directory_missing_and_file_and_empty(tmp_path, tiny):
    res = run(model_path=tmp_path / "nope")
    assert res["model.directory"].status is Status.FAIL
    assert "does not exist" in res["model.directory"].summary
    # everything else is skipped, naming the blocker
    assert res["model.config"].status is Status.SKIP and res["model.config"].blocked_by == ("model.directory",)
    r = run(model_path=tiny / "config.json")["model.directory"]
    assert r.status is Status.FAIL and "is a file, not a directory" in r.summary
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run(model_path=empty)["model.directory"]
    assert r.status is Status.FAIL and "empty" in r.summary


def test_hub_id_without_local_copy_is_skipped_and_says_so(tmp_path):
    res = run(["env", f"HF_HUB_CACHE={tmp_path}", f"HF_HOME={tmp_path}", "vllm", "serve", "Qwen/Qwen3-Embedding-0.6B"], server_version="0.33.0")
    for cid in MODEL_IDS:
        assert res[cid].status is Status.SKIP
        assert "Hugging Face repo id with no local copy" in res[cid].summary


def test_hub_id_found_in_the_hub_cache_is_checked(tmp_path):
    """The real cache layout: models--ORG--NAME/refs/main -> snapshots/<sha>/ with files as symlinks into blobs/."""
    src = md.build_tiny_model_dir(tmp_path / "src")
    sha = "0123456789abcdef0123456789abcdef01234567"
    base = tmp_path / "hub" / "models--Qwen--Qwen3-Embedding-0.6B"
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(sha)
    snap = base / "snapshots" / sha
    blobs = base / "blobs"
    blobs.mkdir()
    for f in src.rglob("*"):
        if f.is_file():
            blob = blobs / f"blob{abs(hash(str(f)))}"
            shutil.copyfile(f, blob)
            link = snap / f.relative_to(src)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(blob, link.parent))
    res = run(["env", f"HF_HUB_CACHE={tmp_path / 'hub'}", "vllm", "serve", "Qwen/Qwen3-Embedding-0.6B", "--runner", "pooling"], server_version="0.33.0")
    assert res["model.directory"].status is Status.PASS
    assert "Hugging Face cache snapshot" in res["model.directory"].summary
    assert res["model.weights"].status is Status.PASS  # headers read through the symlinks
    assert res["model.weights"].evidence["weight_key_prefix"] == "layers"


# =============================================================================================
# model.permissions


@pytest.fixture()
def open_tmp():
    """A temp dir that other users can search (pytest's own tmp_path lives under a 0700 directory, which would,
    correctly, make every file unreadable to 'nobody')."""
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="qd-perm-"))
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        for p in d.rglob("*"):
            if not p.is_symlink():
                os.chmod(p, 0o755 if p.is_dir() else 0o644)
        shutil.rmtree(d, ignore_errors=True)


def _nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user on this machine")


def test_permissions_name_the_file_and_the_missing_permission(open_tmp):
    nobody = _nobody()
    d = _variant(open_tmp, "unreadable")  # chmod 000 model.safetensors
    res = run(model_path=d, as_user="nobody")
    r = res["model.permissions"]
    assert r.status is Status.FAIL
    assert str(d / "model.safetensors") in r.summary and "read permission" in r.summary
    (problem,) = r.evidence["problems"]
    assert problem["path"] == str(d / "model.safetensors") and problem["mode"] == "0000" and problem["class"] == "other"
    assert r.evidence["uid"] == nobody.pw_uid
    assert any(c.startswith("chmod o+r ") and c.endswith("model.safetensors") for c in r.fix.commands)



def test_permissions_pytest_tmp_dir_is_really_closed_to_others(tiny):
    """pytest's tmp root is 0700: the check finds the blocking ancestor directory, not the files."""
    _nobody()
    r = run(model_path=tiny, as_user="nobody")["model.permissions"]
    closed_dirs = [p for p in r.evidence["problems"] if os.path.isdir(p["path"])]
    assert r.status is Status.FAIL and closed_dirs
    assert all("search (x)" in p["missing"] and int(p["mode"], 8) & 0o001 == 0 for p in closed_dirs)


def test_permissions_safetensors_save_file_writes_0600(open_tmp):
    """A real pitfall: safetensors' save_file creates the weights with mode 0600 whatever the umask (seen with
    safetensors 0.8), so a checkpoint saved by root is unreadable to an unprivileged serving user."""
    _nobody()
    tiny = md.build_tiny_model_dir(open_tmp, name="fresh")
    r = run(model_path=tiny, as_user="nobody")["model.permissions"]
    assert r.status is Status.FAIL
    assert [p["path"] for p in r.evidence["problems"]] == [str(tiny / "model.safetensors")]
    assert r.fix.commands == (f"chmod o+r {tiny / 'model.safetensors'}",)
    os.chmod(tiny / "model.safetensors", 0o644)
    assert run(model_path=tiny, as_user="nobody")["model.permissions"].status is Status.PASS


def test_permissions_directory_search_bit(open_tmp):
    _nobody()
    tiny = md.build_tiny_model_dir(open_tmp, name="tiny")
    os.chmod(tiny / "model.safetensors", 0o644)
    sub = tiny / "1_Pooling"
    os.chmod(sub, 0o700)
    try:
        r = run(model_path=tiny, as_user="nobody")["model.permissions"]
        assert r.status is Status.FAIL
        assert any(p["path"] == str(sub) and "search (x)" in p["missing"] for p in r.evidence["problems"])
        # root is the owner: with the bits given to the owner only, root passes (and root always does)
        assert run(model_path=tiny, as_user="root")["model.permissions"].status is Status.PASS
    finally:
        os.chmod(sub, 0o755)


def test_permissions_group_and_owner_classes(open_tmp):
    nobody = _nobody()
    tiny = md.build_tiny_model_dir(open_tmp, name="tiny")
    os.chmod(tiny / "model.safetensors", 0o644)
    f = tiny / "config.json"
    os.chown(f, 0, nobody.pw_gid)
    os.chmod(f, 0o640)  # group may read: nobody is in its primary group
    assert run(model_path=tiny, as_user="nobody")["model.permissions"].status is Status.PASS
    os.chmod(f, 0o604)  # only 'other' may read, but nobody is matched as 'group' first and the group may not
    r = run(model_path=tiny, as_user="nobody")["model.permissions"]
    assert r.status is Status.FAIL and r.evidence["problems"][0]["class"] == "group"
    assert any(c.startswith("chmod g+r") for c in r.fix.commands)
    os.chown(f, nobody.pw_uid, 0)
    os.chmod(f, 0o044)  # the owner class decides even though group and other may read
    r = run(model_path=tiny, as_user=f"{nobody.pw_uid}")["model.permissions"]
    assert r.status is Status.FAIL and r.evidence["problems"][0]["class"] == "owner"
    os.chown(f, 0, 0)
    os.chmod(f, 0o644)


def test_permissions_unknown_user_is_an_error(tiny):
    r = run(model_path=tiny, as_user="no-such-user-qd")["model.permissions"]
    assert r.status is Status.ERROR and "no user named" in r.summary


def test_may_follows_kernel_class_order():
    def st_(mode, uid, gid):
        return os.stat_result((stat.S_IFREG | mode, 0, 0, 1, uid, gid, 0, 0, 0, 0))

    u = mc.UserSpec("user u (uid 1000", 1000, frozenset({100, 200}), "--as-user")
    assert mc.may(u, st_(0o400, 1000, 0), 4) == (True, "owner")
    assert mc.may(u, st_(0o044, 1000, 200), 4) == (False, "owner")
    assert mc.may(u, st_(0o040, 0, 200), 4) == (True, "group")
    assert mc.may(u, st_(0o004, 0, 200), 4) == (False, "group")
    assert mc.may(u, st_(0o004, 0, 300), 4) == (True, "other")
    assert mc.may(u, st_(0o750, 0, 100), 1) == (True, "group")
    root = mc.UserSpec("user root (uid 0", 0, frozenset({0}), "--as-user")
    assert mc.may(root, st_(0o000, 5, 5), 4) == (True, "root")


def test_server_files_lists_what_servers_read(tiny):
    (tiny / "README.md").write_text("docs")
    (tiny / ".git").mkdir()
    (tiny / ".git" / "config").write_text("x")
    names = {str(p.relative_to(tiny)) for p in mc.server_files(tiny)}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "modules.json", "1_Pooling/config.json"} <= names
    assert "README.md" not in names and not any(n.startswith(".git") for n in names)


# =============================================================================================
# model.config


def test_config_of_the_real_0_6b(real_tokenizer_dir):
    r = run(model_path=real_tokenizer_dir, ids=("model.config",))["model.config"]
    assert r.status is Status.PASS
    ev = r.evidence
    assert ev["variant"] == "0.6B" and ev["embedding_dim"] == 1024 and ev["max_position_embeddings"] == 32768
    assert ev["architectures"] == ["Qwen3ForCausalLM"] and ev["torch_dtype"] == "bfloat16"
    assert ev["num_key_value_heads"] == 8 and ev["head_dim"] == 128 and ev["num_hidden_layers"] == 28


def _fake_8b(tmp_path, dtype) -> Path:
    d = tmp_path / "Qwen3-Embedding-8B"
    d.mkdir()
    cfg = json.loads((md.real_files_dir() / "config.json").read_text())
    cfg.update(hidden_size=4096, num_hidden_layers=36, num_attention_heads=32, intermediate_size=12288, max_position_embeddings=40960, vocab_size=151665, torch_dtype=dtype)
    (d / "config.json").write_text(json.dumps(cfg))
    return d


def test_config_8b_float16_warns_nan_and_bf16_override_passes(tmp_path):
    d = _fake_8b(tmp_path, "float16")
    r = run(model_path=d, ids=("model.config",))["model.config"]
    assert r.status is Status.WARN and "NaN" in r.summary and r.evidence["variant"] == "8B"
    assert "bfloat16" in r.fix.text
    ok = run(["sglang", "serve", "--model-path", str(d), "--is-embedding", "--dtype", "bfloat16"], server_version="0.5.23", ids=("model.config",))["model.config"]
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
    (tiny / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 768, "num_hidden_layers": 12, "max_position_embeddings": 512}))
    r = run(model_path=tiny, ids=("model.config",))["model.config"]
    assert r.status is Status.WARN and "not Qwen3" in r.summary


# =============================================================================================
# model.weights


def test_weights_tiny_pass_with_exact_bytes_and_prefix(tiny):
    from safetensors.numpy import load_file

    r = run(model_path=tiny, ids=("model.weights",))["model.weights"]
    assert r.status is Status.PASS
    assert r.evidence["weight_bytes"] == sum(a.nbytes for a in load_file(str(tiny / "model.safetensors")).values())
    assert r.evidence["weight_key_prefix"] == "layers" and r.evidence["dtype"] == "float32"


def test_weights_model_prefix_feeds_the_sglang_weight_loading_check(tmp_path):
    """The evidence contract with checks/launch.py: prefix 'model.layers' + a path without 'Embedding' loads on 0.5.8."""
    from qwen_doctor.checks import launch

    d = md.build_tiny_model_dir(tmp_path, name="qwen3-emb", key_prefix="model.")
    argv = ["sglang", "serve", "--model-path", str(d), "--is-embedding"]
    res = run(argv, server_version="0.5.8", ids=("model.weights", "launch.sglang-weight-loading"), extra_plugins=(launch.register,))
    assert res["model.weights"].evidence["weight_key_prefix"] == "model.layers"
    assert res["launch.sglang-weight-loading"].status is Status.PASS
    plain = md.build_tiny_model_dir(tmp_path, name="qwen3-emb-plain")
    res = run(["sglang", "serve", "--model-path", str(plain), "--is-embedding"], server_version="0.5.8", ids=("model.weights", "launch.sglang-weight-loading"), extra_plugins=(launch.register,))
    assert res["model.weights"].evidence["weight_key_prefix"] == "layers"
    assert res["launch.sglang-weight-loading"].status is Status.FAIL


def test_weights_truncated(tmp_path):
    r = run(model_path=_variant(tmp_path, "truncated"), ids=("model.weights",))["model.weights"]
    assert r.status is Status.FAIL and "model.safetensors is truncated" in r.summary
    assert r.evidence["weight_bytes"] is None  # not exported from a broken checkpoint


def test_weights_lfs_pointer(tmp_path):
    r = run(model_path=_variant(tmp_path, "lfs-pointer"), ids=("model.weights",))["model.weights"]
    assert r.status is Status.FAIL
    assert "this is an LFS pointer; run git lfs pull" in r.summary
    assert any("lfs pull" in c for c in r.fix.commands)


def test_weights_missing_shard(tmp_path):
    r = run(model_path=_variant(tmp_path, "sharded-missing-shard"), ids=("model.weights",))["model.weights"]
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
    _write_config(tiny, num_hidden_layers=3)
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


# =============================================================================================
# model.tokenizer-files and model.sentence-transformers


def test_tokenizer_files_missing_lfs_and_vocab_merges_only(tmp_path, real_tokenizer_dir):
    r = run(model_path=_variant(tmp_path, "missing-tokenizer"), ids=("model.tokenizer-files",))["model.tokenizer-files"]
    assert r.status is Status.FAIL and "no tokenizer" in r.summary
    d = tmp_path / "lfs-tok"
    shutil.copytree(real_tokenizer_dir, d)
    md.break_lfs_pointer(d, filename="tokenizer.json")
    r = run(model_path=d, ids=("model.tokenizer-files",))["model.tokenizer-files"]
    assert r.status is Status.FAIL and "this is an LFS pointer; run git lfs pull" in r.summary
    (d / "tokenizer.json").unlink()
    r = run(model_path=d, ids=("model.tokenizer-files",))["model.tokenizer-files"]
    assert r.status is Status.WARN and "vocab.json + merges.txt" in r.summary
    tei = run(["text-embeddings-router", "--model-id", str(d)], ids=("model.tokenizer-files",))["model.tokenizer-files"]
    assert tei.status is Status.FAIL and "only supports fast tokenizers" in tei.summary


def test_sentence_transformers_present_and_stale(tmp_path, tiny):
    r = run(model_path=tiny, ids=("model.sentence-transformers",))["model.sentence-transformers"]
    assert r.status is Status.PASS and r.evidence["pooling_mode"] == "lasttoken"
    stale = _variant(tmp_path, "stale")
    r = run(model_path=stale, ids=("model.sentence-transformers",))["model.sentence-transformers"]
    assert r.status is Status.WARN and "stale snapshot" in r.summary and "0.10.0 never auto-detects" in r.summary


def test_sentence_transformers_absence_by_server(tmp_path):
    stale = _variant(tmp_path, "stale")
    ids = ("model.sentence-transformers",)
    v101 = run(["vllm", "serve", str(stale)], server_version="0.10.1.1", ids=ids)[ids[0]]
    assert v101.status is Status.WARN and "runs a generator" in v101.summary
    v100 = run(["vllm", "serve", str(stale), "--task", "embed"], server_version="0.10.0", ids=ids)[ids[0]]
    assert v100.status is Status.WARN and "because the launch command says so" in v100.summary
    v100_auto = run(["vllm", "serve", str(stale)], server_version="0.10.0", ids=ids)[ids[0]]
    assert "never auto-detects" in v100_auto.summary
    tei = run(["text-embeddings-router", "--model-id", str(stale)], ids=ids)[ids[0]]
    assert tei.status is Status.FAIL and "could not find a pooling configuration" in tei.summary
    tei_ok = run(["text-embeddings-router", "--model-id", str(stale), "--pooling", "last-token"], ids=ids)[ids[0]]
    assert tei_ok.status is Status.WARN
    sg = run(["sglang", "serve", "--model-path", str(stale), "--is-embedding"], server_version="0.5.23", ids=ids)[ids[0]]
    assert sg.status is Status.WARN and "SGLang does not read these files" in sg.summary


def test_sentence_transformers_wrong_pooling(tiny):
    pool = tiny / "1_Pooling" / "config.json"
    cfg = json.loads(pool.read_text())
    cfg.update(pooling_mode_lasttoken=False, pooling_mode_mean_tokens=True)
    pool.write_text(json.dumps(cfg))
    ids = ("model.sentence-transformers",)
    r = run(["vllm", "serve", str(tiny), "--runner", "pooling"], server_version="0.33.0", ids=ids)[ids[0]]
    assert r.status is Status.FAIL and "mean_tokens pooling" in r.summary
    r = run(["sglang", "serve", "--model-path", str(tiny), "--is-embedding"], server_version="0.5.23", ids=ids)[ids[0]]
    assert r.status is Status.WARN and "SGLang ignores it" in r.summary
    r = run(["text-embeddings-router", "--model-id", str(tiny), "--pooling", "mean"], ids=ids)[ids[0]]
    assert r.status is Status.FAIL and "--pooling mean" in r.summary


# =============================================================================================
# import discipline and docs


def test_module_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys; import qwen_doctor.checks.model, qwen_doctor.safetensors_header, qwen_doctor.tokenizer_tools;"
        "bad = [m for m in ('transformers', 'torch', 'pynvml', 'tokenizers', 'numpy', 'safetensors') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr


def test_every_check_has_the_three_paragraph_doc():
    reg = Registry()
    mc.register(reg)
    assert len(reg) == 10
    for c in reg:
        paras = [p.strip() for p in c.doc.split("\n\n") if p.strip()]
        assert [p.split(":")[0] for p in paras] == ["What it checks", "Why it matters", "How to fix"], c.id
        assert c.category in ("model", "tokenizer")
