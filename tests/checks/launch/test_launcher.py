"""launch.launcher."""

from __future__ import annotations

from qwen_doctor.results import Status
from tests.checks.launch import run


def test_sglang_cli_main_does_nothing_and_old_sglang_serve():
    res, _ = run("python -m sglang.cli.main serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding", "0.5.23")
    r = res["launch.launcher"]
    assert r.status is Status.FAIL and r.fix.launch_command.startswith("sglang serve")
    res, _ = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding", "0.5.4")
    assert res["launch.launcher"].status is Status.FAIL
    res, _ = run("sglang serve --model-pa /m/Qwen3-Embedding-0.6B --is-embedding", "0.5.23")
    assert res["launch.launcher"].status is Status.FAIL and "--model-path is required" in res["launch.launcher"].summary


def test_old_sglang_serve_fix_uses_launch_server_and_keeps_env():
    res, _ = run("CUDA_VISIBLE_DEVICES=0 sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding", "0.5.4", ids={"launch.launcher"})
    r = res["launch.launcher"]
    assert r.fix.launch_command == "CUDA_VISIBLE_DEVICES=0 python -m sglang.launch_server --model-path /m/Qwen3-Embedding-0.6B --is-embedding"
    res, _ = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding", "0.5.5", ids={"launch.launcher"})
    assert res["launch.launcher"].status is Status.PASS
    res, _ = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding", None, ids={"launch.launcher"})
    assert res["launch.launcher"].status is Status.PASS  # unknown release: the newest is assumed


def test_vllm_api_server_needs_model_option():
    res, _ = run("python -m vllm.entrypoints.openai.api_server --runner pooling", "0.33.0", ids={"launch.launcher"})
    assert res["launch.launcher"].status is Status.FAIL and "--model" in res["launch.launcher"].summary
