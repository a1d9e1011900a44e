"""launch.deprecated-flags (and vLLM's --task through its removal in 0.13.0)."""

from __future__ import annotations

from qwen_doctor.launch import split_command
from qwen_doctor.results import Status
from tests.checks.launch import QWEN_VLLM_147, run


def test_qwen_vllm_command_on_old_and_new_vllm():
    res, t = run(QWEN_VLLM_147, "0.11.0")
    assert t.server == "vllm" and t.model_path == "Qwen/Qwen3-Embedding-4B"
    assert res["launch.unknown-flags"].status is Status.PASS
    assert res["launch.embedding-mode"].status is Status.PASS
    assert res["launch.deprecated-flags"].status is Status.WARN  # --task deprecated in 0.10.1.1-0.12.0
    assert "--runner pooling" in res["launch.deprecated-flags"].fix.launch_command
    res, _ = run(QWEN_VLLM_147, "0.13.0")
    r = res["launch.unknown-flags"]
    assert r.status is Status.FAIL and "--task" in r.summary
    assert "removed in vLLM 0.13.0" in r.fix.text
    fixed = r.fix.launch_command
    assert "--task" not in fixed and "--runner pooling" in fixed and "--convert embed" in fixed
    # the corrected command parses cleanly on the same version
    res2, _ = run(split_command(fixed), "0.13.0")
    assert res2["launch.unknown-flags"].status is Status.PASS
    assert res2["launch.embedding-mode"].status is Status.PASS


def test_deprecated_task_fix_drops_task():
    res, _ = run(QWEN_VLLM_147, "0.12.0", ids={"launch.deprecated-flags"})
    toks = split_command(res["launch.deprecated-flags"].fix.launch_command)
    assert "--task" not in toks and "--convert" in toks


def test_no_deprecated_options_passes():
    res, _ = run("vllm serve /m/Qwen3-Embedding-0.6B --runner pooling", "0.33.0", ids={"launch.deprecated-flags"})
    assert res["launch.deprecated-flags"].status is Status.PASS
