"""gpu.capability on the recorded H200 (compute capability 9.0) and a synthetic T4 (the recorded device with 7.5)."""

from __future__ import annotations

from qwen_doctor.results import Status

from .helpers import IDLE, device, write_replay


def test_old_gpu_bf16_and_fa3(run, tmp_path):
    rp = write_replay(tmp_path, [device(0, total_mib=15360, name="Tesla T4", cuda_compute_capability=[7, 5])])
    r = run(rp, "sglang serve --model-path Qwen/Qwen3-Embedding-8B --is-embedding --dtype bfloat16 --attention-backend fa3")["gpu.capability"]
    assert r.status is Status.FAIL
    assert "FlashAttention v3 Backend requires SM>=80 and SM<=90" in r.summary and "bfloat16 needs 8.0" in r.summary
    assert "--dtype float32" in r.fix.launch_command and "--attention-backend flashinfer" in r.fix.launch_command
    r = run(rp, "sglang serve --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding")["gpu.capability"]
    assert r.status is Status.WARN and "--dtype float16" in r.fix.launch_command
    # trtllm_mha on an H200 (SM90): SM100 only before SGLang 0.5.20, SM90/SM100/SM120 from 0.5.20 (issue 14; tests/claims)
    r = run(IDLE, "sglang serve --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding --attention-backend trtllm_mha", server_version="0.5.16")[
        "gpu.capability"
    ]
    assert r.status is Status.FAIL and "SM100" in r.summary
    r = run(IDLE, "sglang serve --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding --attention-backend fa3")["gpu.capability"]
    assert r.status is Status.PASS


def test_a_fix_without_a_launch_command_is_display_only(run, tmp_path):
    # no launch command to correct: the dtype advice is printed, no corrected command is claimed
    rp = write_replay(tmp_path, [device(0, total_mib=15360, name="Tesla T4", cuda_compute_capability=[7, 5])])
    r = run(rp, model_path="Qwen/Qwen3-Embedding-0.6B")["gpu.capability"]
    assert r.status is Status.WARN and "bf16" in r.summary
    assert r.fix.launch_command is None and r.fix.applicability.value == "display-only"
