"""The memory rules of qwen_doctor.gpu.memory against the worked numbers of shared/reference/sglang.md §9, the
released SGLang code, and the H200 measurements copied to tests/data/gpu/h200/h200_facts.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_doctor.gpu import memory as mem

DATA = Path(__file__).parent / "data" / "gpu" / "h200"
FACTS = json.loads((DATA / "h200_facts.json").read_text())

H100_MIB = 81559  # nvidia-smi memory.total of an 80 GB H100
H200_MIB = 143771  # nvidia_smi_csv.txt of the recorded H200


# --------------------------------------------------------------------------------------------
# SGLang's default --mem-fraction-static


def test_h100_default_is_0_874_under_the_0_4_9_to_0_5_1_rule():
    # sglang.md §9: "Example: 80 GB H100 -> ~0.874": reserved (9.5 + 1/2) GiB = 10 GiB for TP 1
    d = mem.sglang_default_mfs(H100_MIB, "0.5.1")
    assert d.rule == "0.5.1"
    assert d.value == 0.874
    assert d.reserved_mib == pytest.approx(10 * 1024)


def test_h100_default_under_the_0_5_3_rule_is_0_835_not_0_874():
    # _handle_gpu_memory_settings @ v0.5.3: chunked 8192, cuda_graph_max_bs 256 on < 90 GiB ->
    # reserved 512 + 1.5*8192 + 2*256 + 1/8*1024 = 13440 MiB (above the 10 GiB floor)
    d = mem.sglang_default_mfs(H100_MIB, "0.5.3")
    assert (d.chunked_prefill_size, d.cuda_graph_max_bs) == (8192, 256)
    assert d.reserved_mib == pytest.approx(13440)
    assert d.value == 0.835


def test_h100_default_under_the_0_5_23_rule_adds_the_prefill_graph_reserve():
    # memory_hook.py @ v0.5.23: + len(prefill capture sizes up to 8192) * 8 MiB = 58 * 8
    assert len(mem.prefill_graph_sizes(8192)) == 58
    d = mem.sglang_default_mfs(H100_MIB, "0.5.23")
    assert d.reserved_mib == pytest.approx(13440 + 58 * 8)
    assert d.value == 0.830
    assert mem.sglang_default_mfs(H100_MIB, None).value == 0.830  # unknown version -> newest rule


def test_0_4_7_rule_by_tp_and_large_gpus():
    assert mem.sglang_default_mfs(81559, "0.4.7", tp=1).value == 0.88
    assert mem.sglang_default_mfs(81559, "0.4.7", tp=2).value == 0.87
    assert mem.sglang_default_mfs(81559, "0.4.7", tp=8).value == 0.81
    assert mem.sglang_default_mfs(81559, "0.4.7", tp=16).value == 0.79
    # > 96 GiB: min(0.88 + 48 GiB * 0.12 / gpu_mem, (gpu_mem - 18 GiB) / gpu_mem)
    h200 = mem.sglang_default_mfs(H200_MIB, "0.4.7").value
    assert h200 == pytest.approx(min(0.88 + 48 * 1024 * 0.12 / H200_MIB, (H200_MIB - 18 * 1024) / H200_MIB))
    assert round(h200, 3) == 0.872
    assert mem.sglang_default_mfs(183359, "0.4.7").value == 0.79  # > 180000 MiB (B200-class)


def test_h200_defaults_per_rule():
    got = {r: mem.sglang_default_mfs(H200_MIB, rule=r).value for r in ("0.5.1", "0.5.3", "0.5.23")}
    assert got == {"0.5.1": 0.911, "0.5.3": 0.907, "0.5.23": 0.903}


def test_small_gpu_buckets_differ_by_release():
    # < 35 GiB: 0.5.3 uses chunked 2048 / graph bs 16, 0.5.10 2048 / 24, 0.5.23 4096 / 48
    a10 = 23028
    assert (mem.sglang_default_mfs(a10, "0.5.3").chunked_prefill_size, mem.sglang_default_mfs(a10, "0.5.3").cuda_graph_max_bs) == (2048, 16)
    assert mem.sglang_default_mfs(a10, "0.5.10").cuda_graph_max_bs == 24
    assert (mem.sglang_default_mfs(a10, "0.5.23").chunked_prefill_size, mem.sglang_default_mfs(a10, "0.5.23").cuda_graph_max_bs) == (4096, 48)
    # below 60 GiB there is no 10 GiB floor: 512 + 1.5*2048 + 2*16 + 128 = 3744 MiB
    assert mem.sglang_default_mfs(a10, "0.5.3").value == round((a10 - 3744) / a10, 3)


def test_explicit_chunked_prefill_and_dp_attention_change_the_reserve():
    base = mem.sglang_default_mfs(H200_MIB, "0.5.3")
    off = mem.sglang_default_mfs(H200_MIB, "0.5.3", chunked_prefill_size=-1)  # -1: max_prefill_tokens (16384) counts
    assert off.reserved_mib == pytest.approx(512 + 1.5 * 16384 + 2 * 256 + 128)
    assert off.value < base.value
    dpa = mem.sglang_default_mfs(H200_MIB, "0.5.3", tp=2, dp=2, enable_dp_attention=True)
    assert dpa.reserved_mib == pytest.approx(512 + 1.5 * 8192 + 2 * 256 + 2 / 8 * 1024 + 256 * 2 * 3)


@pytest.mark.parametrize(
    "version,rule",
    [
        ("0.4.6.post5", "0.4.7"),
        ("0.4.7", "0.4.7"),
        ("0.4.9.post6", "0.5.1"),
        ("0.5.1", "0.5.1"),
        ("0.5.3", "0.5.3"),
        ("0.5.8.post1", "0.5.3"),
        ("0.5.10", "0.5.10"),
        ("0.5.20", "0.5.10"),
        ("0.5.23", "0.5.23"),
        ("0.6.0", "0.5.23"),
        (None, "0.5.23"),
        ("garbage", "0.5.23"),
    ],
)
def test_rule_by_version(version, rule):
    assert mem.sglang_rule_for(version) == rule


# --------------------------------------------------------------------------------------------
# KV cache


def test_kv_cell_sizes_of_the_three_variants():
    # sglang.md §9: 0.6B (28 layers) 112 KiB/token; 4B/8B (36 layers) 144 KiB/token (8 KV heads, head_dim 128, bf16)
    assert mem.kv_cell_bytes(8, 128, 28, 2) == 112 * 1024
    assert mem.kv_cell_bytes(8, 128, 36, 2) == 144 * 1024
    assert mem.kv_cell_bytes(8, 128, 36, 2, tp=2) == 72 * 1024  # each TP rank holds half the KV heads
    assert mem.kv_cell_bytes(8, 128, 36, 2, tp=16) == 128 * 36 * 2 * 2  # at least one head per rank
    assert mem.kv_cell_bytes(8, 128, 28, mem.dtype_bytes("fp8_e4m3")) == 56 * 1024


def test_sglang_kv_formula():
    # rest = free_after_weights - pre * (1 - mfs); tokens = rest // cell
    pre, weights, mfs, cell = 100 * mem.GiB, 10 * mem.GiB, 0.9, 112 * 1024
    tokens = mem.sglang_kv_tokens(pre, pre - weights, mfs, cell)
    assert tokens == int((80 * mem.GiB) // cell)
    assert mem.sglang_kv_tokens(pre, pre - weights, 0.05, cell) == 0  # "Not enough memory"


@settings(max_examples=200, deadline=None)
@given(
    pre_gib=st.floats(min_value=8, max_value=180),
    weights_gib=st.floats(min_value=0.5, max_value=7),
    tokens=st.integers(min_value=1, max_value=200_000),
)
def test_mfs_for_tokens_inverts_the_kv_formula(pre_gib, weights_gib, tokens):
    pre = pre_gib * mem.GiB
    fa = pre - weights_gib * mem.GiB
    cell = 112 * 1024
    m = mem.sglang_mfs_for_tokens(pre, fa, tokens, cell)
    # at that fraction the pool holds the tokens (floating point may lose the last one)
    assert mem.sglang_kv_tokens(pre, fa, m + 1e-9, cell) >= tokens - 1
    # and the rounded-up suggestion is never smaller
    assert mem.ceil_to(m) >= m - 1e-12


def test_plan_sglang_on_the_recorded_idle_h200():
    idle = FACTS["nvml_idle"]["memory_info_v2"]
    mfs = mem.sglang_default_mfs(H200_MIB, "0.5.23").value
    plan = mem.plan_sglang(free=idle["free"], weights=FACTS["qwen3_0.6b"]["weights_bytes"], cell=112 * 1024, context_length=32768, mfs=mfs)
    assert plan.pre == idle["free"] - mem.CUDA_CONTEXT_BYTES
    assert plan.kv_tokens == int((plan.pre - 1191568384 - plan.pre * (1 - mfs)) // (112 * 1024))
    assert plan.kv_tokens > 1_000_000 and plan.kv_holds_context and plan.pool_ok


def test_cuda_context_overhead_is_the_recorded_one():
    probe = FACTS["cuda_ctypes_probe"]
    assert mem.CUDA_CONTEXT_BYTES == FACTS["nvml_idle"]["memory_info_v1"]["free"] - probe["free_after_ctx"]


# --------------------------------------------------------------------------------------------
# vLLM


@pytest.mark.parametrize("version,gmu", [("0.8.5", 0.9), ("0.13.0", 0.9), ("0.20.0", 0.92), ("0.33.0", 0.92), (None, 0.92)])
def test_vllm_default_gpu_memory_utilization(version, gmu):
    assert mem.vllm_default_gmu(version) == gmu


def test_plan_vllm_budget_is_a_fraction_of_total_not_of_free():
    total, free = 150754820096, 145537236992  # the recorded busy H200
    p = mem.plan_vllm(total=total, free=free, gmu=0.99, weights=1.2e9, cell=112 * 1024, context_length=32768, activation=10**9)
    assert p.budget == pytest.approx(0.99 * total)
    assert not p.budget_fits_free  # 0.99 of total > what is free with a holder on the card
    assert p.gmu_max_free == 0.96  # floor(145537236992 / 150754820096, 2)
    ok = mem.plan_vllm(total=total, free=free, gmu=p.gmu_max_free, weights=1.2e9, cell=112 * 1024, context_length=32768, activation=10**9)
    assert ok.budget_fits_free and ok.kv_holds_context
    assert ok.gmu_needed <= ok.gmu_max_free


# --------------------------------------------------------------------------------------------
# measured activation peaks


def test_embedded_table_matches_the_recorded_fixture():
    for key, attn in (("qwen3_0.6b", "sdpa"), ("qwen3_0.6b_eager", "eager"), ("qwen3_4b", "sdpa"), ("qwen3_8b", "sdpa")):
        rec = FACTS[key]
        w, runs = mem.H200_MEASURED[(rec["config"], attn)]
        assert w == rec["weights_bytes"]
        assert runs == tuple((r["batch"], r["seq"], r["peak_bytes"]) for r in rec["runs"])


def test_measured_points_come_back_exactly():
    for (variant, attn), (w, runs) in mem.H200_MEASURED.items():
        for b, s, peak in runs:
            if attn == "sdpa" and (variant, b * s) == ("0.6B", 65536):
                continue  # two runs with 65536 tokens: the larger peak is kept
            a = mem.activation_peak(variant, s, b, attn)
            assert a is not None and a.bytes == peak - w, (variant, attn, b, s)
            assert a.source == "measured"


def test_eager_is_five_times_sdpa_at_8192_tokens():
    # pitfalls.md #5: 0.6B at 8192 tokens peaks at 2.4 GB with SDPA but 13.2 GB with eager attention
    sdpa = FACTS["qwen3_0.6b"]["runs"][1]
    eager = FACTS["qwen3_0.6b_eager"]["runs"][0]
    assert (sdpa["seq"], eager["seq"]) == (8192, 8192)
    assert 5 <= eager["peak_bytes"] / sdpa["peak_bytes"] < 6
    a = mem.activation_peak("0.6B", 8192, 1, "eager").bytes
    b = mem.activation_peak("0.6B", 8192, 1, "sdpa").bytes
    assert a / b > 9  # activations alone (weights excluded) differ by an order of magnitude


def test_eager_fit_is_about_ten_bytes_per_head_per_token_pair():
    assert 9.5 < mem.EAGER_BYTES_PER_HEAD_PAIR < 10.5
    # between the two measured eager runs the estimate interpolates and stays between them
    est = mem.activation_peak("0.6B", 12000, 1, "eager")
    assert mem.activation_peak("0.6B", 8192, 1, "eager").bytes < est.bytes < mem.activation_peak("0.6B", 16384, 1, "eager").bytes
    assert est.source == "interpolated"
    assert mem.activation_peak("4B", 8192, 1, "eager").source == "extrapolated"


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["0.6B", "4B", "8B"]),
    st.integers(min_value=1, max_value=60000),
    st.integers(min_value=1, max_value=60000),
    st.sampled_from(["sdpa", "eager"]),
)
def test_activation_grows_with_tokens(variant, a, b, attn):
    lo, hi = sorted((a, b))
    assert mem.activation_peak(variant, lo, 1, attn).bytes <= mem.activation_peak(variant, hi, 1, attn).bytes


def test_unknown_variant_has_no_estimate():
    assert mem.activation_peak(None, 8192) is None
    assert mem.activation_peak("70B", 8192) is None


def test_forward_tokens_follow_chunked_prefill():
    assert mem.sglang_forward_tokens(8192, 32768) == 8192
    assert mem.sglang_forward_tokens(-1, 32768) == 32768
    assert mem.sglang_forward_tokens(-1, 4096, 16384) == 16384
    assert mem.vllm_forward_tokens(mem.vllm_chunks_pooling("0.33.0"), 32768, None, 150 * mem.GiB) == 8192
    assert mem.vllm_forward_tokens(mem.vllm_chunks_pooling("0.33.0"), 32768, None, 22 * mem.GiB) == 2048
    assert mem.vllm_forward_tokens(mem.vllm_chunks_pooling("0.8.5"), 32768, None, 150 * mem.GiB) == 32768


def test_dtype_helpers():
    assert mem.dtype_bytes("bfloat16") == 2 and mem.dtype_bytes("torch.float32") == 4 and mem.dtype_bytes(None) == 2
    assert mem.served_dtype_bytes("auto", "bfloat16") == 2
    assert mem.served_dtype_bytes("auto", "float32") == 2  # auto: fp16 for fp32 checkpoints
    assert mem.served_dtype_bytes("float32", "bfloat16") == 4


# --------------------------------------------------------------------------------------------
# the version-dependent rules are tables with sources


@pytest.mark.parametrize("table,server", [(mem.SGLANG_MFS_RULE, "sglang"), (mem.VLLM_GMU_DEFAULT, "vllm"), (mem.VLLM_CHUNKED_POOLING, "vllm")])
def test_every_known_release_has_exactly_one_row_with_a_source(table, server):
    from qwen_doctor.flags import table_versions

    for r in table:
        assert r.server == server and r.source.strip()
    for v in table_versions(server):
        assert sum(1 for r in table if r.holds(server, v)) == 1, (table.id, v)


def test_the_tables_are_read_through_the_server_facts():
    from qwen_doctor.facts import server_facts
    from qwen_doctor.target import build_target

    def facts(argv, version):
        return server_facts(build_target(argv.split(), server_version=version))

    sg = "python -m sglang.launch_server --model-path m --is-embedding"
    assert facts(sg, "0.5.8").at(mem.SGLANG_MFS_RULE) == "0.5.3"
    assert facts(sg, None).at(mem.SGLANG_MFS_RULE) == "0.5.23"  # unknown: the newest known release is assumed
    assert facts(sg, "0.4.5").at(mem.SGLANG_MFS_RULE) is None  # older than every known release: no row
    assert facts("vllm serve m", "0.13.0").at(mem.VLLM_GMU_DEFAULT) == 0.9
    assert facts("vllm serve m", "0.33.0").at(mem.VLLM_GMU_DEFAULT) == 0.92
    assert facts("vllm serve m", "0.10.0").at(mem.VLLM_CHUNKED_POOLING) is False
