"""launch.flag-values."""

from __future__ import annotations

from qwen_doctor.launch import split_command
from qwen_doctor.results import Status
from qwen_doctor.target import Deployment, build_target
from tests.checks.launch import run


def test_sglang_serve_positional_model_since_0516():
    t = build_target(["sglang", "serve", "/m/Qwen3-Embedding-0.6B", "--is-embedding"], server_version="0.5.16")
    assert t.model_path == "/m/Qwen3-Embedding-0.6B"
    res, _ = run(["sglang", "serve", "/m/Qwen3-Embedding-0.6B", "--is-embedding"], "0.5.10", ids={"launch.flag-values"})
    assert res["launch.flag-values"].status is Status.FAIL  # no positional before 0.5.16


def test_store_true_with_value_is_a_stray_argument():
    res, _ = run("python -m sglang.launch_server --model-path /m/Qwen3-Embedding-0.6B --is-embedding true", "0.5.23")
    r = res["launch.flag-values"]
    assert r.status is Status.FAIL and "true" in r.summary
    assert "true" not in split_command(r.fix.launch_command)


def test_runtime_variables_of_a_deployment_are_not_judged():
    cmd = "python -m sglang.launch_server --model-path /m/Qwen3-Embedding-0.6B --is-embedding --port $PORT"
    res, _ = run(cmd, "0.5.23", ids={"launch.flag-values"})
    assert res["launch.flag-values"].status is Status.FAIL  # a plain command: '$PORT' is not an int
    dep = Deployment(kind="kubernetes", runtime_vars=("PORT",))
    res, _ = run(cmd, "0.5.23", ids={"launch.flag-values"}, deployment=dep)
    assert res["launch.flag-values"].status is Status.PASS
