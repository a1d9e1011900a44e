"""gpu.memory-fit by each server's own rule, over the recorded H200 readings (idle and busy) and synthetic hosts
made from the recorded device with its memory changed (said per case). Model shapes, weights and context lengths
come from the run's model facts: real 0.6B files from the test kit, the tiny Qwen3, or a Qwen3-Embedding name."""

from __future__ import annotations

import tempfile
from pathlib import Path

from qwen_doctor.gpu import memory as mem
from qwen_doctor.modelfiles import PARAMS
from qwen_doctor.results import Status

from .helpers import BUSY, FACTS, GPU_IDS, IDLE, RESET_REFUSED, device, four_gpus, relaunch, write_replay


def test_idle_h200_all_pass_and_the_kv_pool_follows_sglangs_formula(run, real_tokenizer_dir):
    res = run(IDLE, model_path=str(real_tokenizer_dir))
    assert [res[i].status for i in GPU_IDS] == [Status.PASS] * 6 + [Status.SKIP]
    assert "--deep" in res["gpu.trial-allocation"].summary
    assert res["gpu.driver"].evidence["driver_version"] == "580.159.04"
    assert res["gpu.devices"].evidence["selected_indices"] == [0]
    ev = res["gpu.memory-fit"].evidence
    assert "SGLang defaults assumed" in ev["server_rules"]
    assert ev["sglang_rule"] == "0.5.23" and ev["mem_fraction_static"] == 0.903
    assert ev["context_length"] == 32768 and ev["context_length_source"] == "max_position_embeddings"
    assert ev["kv_cell_bytes"] == 112 * 1024
    assert ev["weight_bytes"] == 595_776_512 * 2  # the real 0.6B files without weights: bf16 parameter count
    # independent recomputation from the raw recorded numbers
    pre = FACTS["nvml_idle"]["memory_info_v2"]["free"] - (150109880320 - FACTS["cuda_ctypes_probe"]["free_after_ctx"])
    want = int((pre - ev["weight_bytes"] - pre * (1 - 0.903)) // (112 * 1024))
    assert ev["kv_capacity"] == want
    # SGLang chunks prefill: activations are sized for the 8192-token chunk of an H200-class GPU
    assert ev["activation_batch_len"] == 8192
    assert ev["activation_bytes"] == FACTS["qwen3_0.6b"]["runs"][1]["peak_bytes"] - FACTS["qwen3_0.6b"]["weights_bytes"]


def test_unbalanced_tp_gpus_fail_like_sglang(run, tmp_path):
    rp = four_gpus(tmp_path, **{"2": {"free": 100 << 30}})
    res = run(rp, "env CUDA_VISIBLE_DEVICES=1,2 sglang serve --model-path /m/Qwen3-Embedding-8B --is-embedding --tp-size 2")
    r = res["gpu.memory-fit"]
    assert r.status is Status.FAIL
    assert "The memory capacity is unbalanced. Some GPUs may be occupied by other processes." in r.summary
    assert res["gpu.other-processes"].status is Status.WARN  # 40 GiB used by nothing visible


def test_sglang_not_enough_memory_names_the_value_that_fits(run):
    argv = "python -m sglang.launch_server --model-path Qwen/Qwen3-Embedding-8B --is-embedding --mem-fraction-static 0.1"
    res = run(BUSY, argv, server_version="0.5.13")  # the text changed in 0.5.16 (tests/claims)
    r = res["gpu.memory-fit"]
    assert r.status is Status.FAIL
    assert "Not enough memory. Please try to increase --mem-fraction-static" in r.summary
    suggested = r.evidence["suggested"]["--mem-fraction-static"]
    assert 0.1 < float(suggested) < 0.5
    assert f"--mem-fraction-static {suggested}" in r.fix.launch_command
    # the printed command fits
    again = run(BUSY, relaunch(r))["gpu.memory-fit"]
    assert again.status is Status.PASS and again.evidence["kv_capacity"] >= 40960


def test_kv_pool_below_context_length_warns_about_the_hang(run):
    argv = "sglang serve --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding --max-total-tokens 4096"
    r = run(IDLE, argv)["gpu.memory-fit"]
    assert r.status is Status.WARN
    assert "sglang#40459" in r.summary and "4096 tokens" in r.summary
    assert "--max-total-tokens 32768" in r.fix.launch_command
    assert run(IDLE, relaunch(r))["gpu.memory-fit"].status is Status.PASS


def test_no_kv_pool_with_prefill_only_disable_kv_cache(run):
    argv = (
        "sglang serve --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding --max-total-tokens 4096 --prefill-only-disable-kv-cache "
        "--chunked-prefill-size -1 --disable-radix-cache"
    )
    r = run(IDLE, argv, server_version="0.5.23")["gpu.memory-fit"]
    assert r.status is Status.PASS and "no KV pool" in r.summary


def test_small_mem_fraction_warns_and_suggests_one_that_holds_the_context(run):
    # synthetic 24 GB GPU (the recorded H200 with 23028 MiB): 4B at --mem-fraction-static 0.4
    r = run(IDLE, "sglang serve --model-path Qwen/Qwen3-Embedding-4B --is-embedding --mem-fraction-static 0.4")["gpu.memory-fit"]
    assert r.status is Status.PASS  # plenty on an H200
    with tempfile.TemporaryDirectory() as d:
        rp = write_replay(Path(d), [device(0, total_mib=23028, name="NVIDIA A10", cuda_compute_capability=[8, 6])])
        r = run(rp, "sglang serve --model-path Qwen/Qwen3-Embedding-4B --is-embedding --mem-fraction-static 0.4")["gpu.memory-fit"]
        assert r.status is Status.WARN and "sglang#40459" in r.summary
        fixed = run(rp, relaunch(r))["gpu.memory-fit"]
        assert fixed.status is Status.PASS and fixed.evidence["kv_capacity"] >= 40960


def test_weights_that_do_not_fit_fail_without_suggesting_a_reset(run, tmp_path):
    rp = write_replay(tmp_path, [device(0, total_mib=16384, free=10 << 30, name="Small GPU")])
    r = run(rp, model_path="Qwen/Qwen3-Embedding-8B")["gpu.memory-fit"]
    assert r.status is Status.FAIL and "CUDA out of memory while loading" in r.summary
    assert RESET_REFUSED in r.fix.text and "kills every process" not in r.fix.text


def test_vllm_utilization_above_free_memory(run):
    argv = "vllm serve Qwen/Qwen3-Embedding-0.6B --runner pooling --gpu-memory-utilization 0.99"
    r = run(BUSY, argv, server_version="0.33.0")["gpu.memory-fit"]
    assert r.status is Status.FAIL and "vLLM refuses to start" in r.summary
    assert r.evidence["suggested"] == {"--gpu-memory-utilization": "0.96"}  # floor(145.5 / 150.75 GB, 2)
    assert run(BUSY, relaunch(r), server_version="0.33.0")["gpu.memory-fit"].status is Status.PASS


def test_vllm_default_utilization_comes_from_the_release(run):
    r = run(IDLE, "vllm serve Qwen/Qwen3-Embedding-0.6B --task embed", server_version="0.13.0")["gpu.memory-fit"]
    assert r.status is Status.PASS and r.evidence["gpu_memory_utilization"] == 0.9
    r = run(IDLE, "vllm serve Qwen/Qwen3-Embedding-0.6B --runner pooling", server_version="0.33.0")["gpu.memory-fit"]
    assert r.evidence["gpu_memory_utilization"] == 0.92


def test_vllm_kv_cache_too_small_for_max_model_len(run, tmp_path):
    # synthetic 24 GB GPU: 8B (16.4 GB bf16) leaves too little KV cache for 40960 tokens at the default 0.92
    rp = write_replay(tmp_path, [device(0, total_mib=23028, name="NVIDIA A10", cuda_compute_capability=[8, 6])])
    r = run(rp, "vllm serve Qwen/Qwen3-Embedding-8B --runner pooling", server_version="0.33.0")["gpu.memory-fit"]
    assert r.status is Status.FAIL and "fewer than one 40960-token request" in r.summary
    sug = r.evidence["suggested"]
    assert "--max-model-len" in sug and int(sug["--max-model-len"]) < 40960
    assert run(rp, relaunch(r), server_version="0.33.0")["gpu.memory-fit"].status is Status.PASS


def test_vllm_releases_before_chunked_pooling_size_activations_for_a_whole_request(run):
    # VLLM_CHUNKED_POOLING: 0.8.5 runs one --max-model-len request whole, 0.33.0 chunks it to 8192 tokens on an H200
    old = run(IDLE, "vllm serve Qwen/Qwen3-Embedding-0.6B --task embed", server_version="0.8.5")["gpu.memory-fit"]
    new = run(IDLE, "vllm serve Qwen/Qwen3-Embedding-0.6B --runner pooling", server_version="0.33.0")["gpu.memory-fit"]
    assert old.evidence["activation_batch_len"] == 32768 and new.evidence["activation_batch_len"] == 8192


def test_tei_with_eager_attention_on_an_old_gpu(run, tmp_path):
    # synthetic T4 (compute capability 7.5): TEI runs Qwen3 without flash attention there -> eager-like memory
    rp = write_replay(tmp_path, [device(0, total_mib=15360, name="Tesla T4", cuda_compute_capability=[7, 5])])
    r = run(rp, "text-embeddings-router --model-id Qwen/Qwen3-Embedding-0.6B")["gpu.memory-fit"]
    assert r.evidence["attention"] == "eager"
    assert r.status is Status.FAIL  # 16384 tokens of eager attention need ~45 GB
    assert "truncate" in r.fix.text
    fit = int(r.evidence["suggested"]["--max-batch-tokens"])
    assert 0 < fit < 16384
    ok = run(rp, relaunch(r))["gpu.memory-fit"]
    assert ok.status is Status.PASS and ok.evidence["context_length"] == fit


def test_no_model_known_skips_memory_fit(run):
    r = run(IDLE)["gpu.memory-fit"]
    assert r.status is Status.SKIP and "cannot size the model" in r.summary


def test_tiny_model_weights_from_safetensors_headers(run, tiny_model_dir):
    from qwen_doctor.facts.model import weight_bytes_of

    st = tiny_model_dir / "model.safetensors"
    raw = st.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert weight_bytes_of(tiny_model_dir) == (len(raw) - 8 - n, "safetensors headers")
    r = run(IDLE, model_path=str(tiny_model_dir))["gpu.memory-fit"]
    assert r.status is Status.PASS
    assert r.evidence["weight_bytes"] == len(raw) - 8 - n and r.evidence["weights_source"] == "safetensors headers"
    assert r.evidence["activation_bytes"] is None  # not a Qwen3-Embedding variant: not estimated


def test_the_model_facts_are_used_without_the_model_checks(run):
    # no model.* check runs and nothing is on disk: the run's model facts name the 8B variant, whose published
    # shape and parameter count size it
    r = run(IDLE, model_path="/nonexistent/Qwen3-Embedding-8B")["gpu.memory-fit"]
    assert r.status is Status.PASS
    assert r.evidence["weight_bytes"] == PARAMS["8B"] * 2 and r.evidence["weights_source"].startswith("the 8B parameter count")
    assert r.evidence["kv_cell_bytes"] == 144 * 1024 and r.evidence["context_length"] == 40960


def test_the_context_length_given_to_the_server_is_sized(run, real_tokenizer_dir):
    r = run(IDLE, f"vllm serve {real_tokenizer_dir} --runner pooling --max-model-len 8192", server_version="0.33.0")["gpu.memory-fit"]
    assert r.evidence["context_length"] == 8192 and r.evidence["context_length_source"] == "--max-model-len"


def test_the_sglang_rule_is_read_from_the_release(run):
    # SGLANG_MFS_RULE: each sampled release follows its rule; releases between samples follow the nearest older one
    argv = "python -m sglang.launch_server --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding"
    for version, rule in (("0.4.7", "0.4.7"), ("0.5.1", "0.5.1"), ("0.5.3", "0.5.3"), ("0.5.16", "0.5.10"), ("0.5.23", "0.5.23")):
        r = run(IDLE, argv, server_version=version)["gpu.memory-fit"]
        assert r.evidence["sglang_rule"] == rule, version
        assert r.evidence["mem_fraction_static"] == round(mem.sglang_default_mfs(143771, rule=rule).value, 4)


def test_a_release_older_than_any_known_is_named_not_sized_by_the_oldest_rule(run):
    r = run(IDLE, "python -m sglang.launch_server --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding", server_version="0.4.5")["gpu.memory-fit"]
    assert r.status is Status.SKIP
    assert "older than any release the doctor knows" in r.summary and "0.4.6.post5" in r.summary
