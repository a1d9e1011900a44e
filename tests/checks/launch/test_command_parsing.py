"""Launch-command splitting and parsing, as the launch checks see it."""

from __future__ import annotations

import pytest

from qwen_doctor.launch import LaunchError
from qwen_doctor.results import Status
from qwen_doctor.target import build_target
from tests.checks.launch import RECIPE_VLLM, SGLANG_QUICKSTART, run


def test_quickstart_parses_and_passes():
    res, t = run(SGLANG_QUICKSTART, "0.5.23")
    assert t.server == "sglang" and t.launch.launcher == "python -m sglang.launch_server"
    assert t.model_path == "Qwen/Qwen3-Embedding-4B" and t.host == "0.0.0.0" and t.port == 30000
    assert res["launch.embedding-mode"].status is Status.PASS
    assert res["launch.unknown-flags"].status is Status.PASS
    assert res["launch.abbreviations"].status is Status.PASS


def test_recipe_command_is_clean_on_vllm_033():
    res, t = run(RECIPE_VLLM, "0.33.0")
    assert t.port == 8123 and t.url == "http://127.0.0.1:8123"
    for cid in ("launch.unknown-flags", "launch.ambiguous-flags", "launch.flag-values", "launch.embedding-mode"):
        assert res[cid].status is Status.PASS, (cid, res[cid].summary)


def test_env_prefixes_and_wrappers():
    t = build_target(
        [
            "env",
            "CUDA_VISIBLE_DEVICES=1,2",
            "HF_TOKEN=hf_abcdefghijklmnopqrst",
            "nohup",
            "/opt/venv/bin/python3.11",
            "-u",
            "-m",
            "sglang.launch_server",
            "--model-path",
            "/m/Qwen3-Embedding-0.6B",
            "--is-embedding",
        ],
        server_version="0.5.23",
    )
    assert t.env["CUDA_VISIBLE_DEVICES"] == "1,2"
    assert t.launch.args[:2] == ("--model-path", "/m/Qwen3-Embedding-0.6B")
    shown = t.launch.display()
    assert "hf_abcdefghijklmnopqrst" not in shown and "HF_TOKEN=***" in shown


@pytest.mark.parametrize("bad,msg", [
    (["sglang serve --model-path 'unterminated"], "no closing quotation"),
    (["   "], "empty launch command"),
    (["ls", "-la"], "not a known server launch command"),
    (["sglang", "serve", "--model-path", "/m/\udcff"], "not valid UTF-8"),
    (["sglang", "serve", "--x", "y" * (1 << 20)], "bytes long"),
])  # fmt: skip
def test_bad_launch_commands_raise_one_line_errors(bad, msg):
    with pytest.raises(LaunchError) as exc:
        build_target(bad)
    assert msg in str(exc.value) and "\n" not in str(exc.value)


def test_server_option_must_match_command():
    with pytest.raises(LaunchError, match="contradicts"):
        build_target(["vllm", "serve", "x/y"], server="sglang")
    with pytest.raises(LaunchError, match="unknown server"):
        build_target(None, server="ollama")


def test_model_alias_and_equals_form():
    t = build_target(["python", "-m", "sglang.launch_server", "--model=/m/Qwen3-Embedding-0.6B", "--port=30001", "--is-embedding"], server_version="0.5.23")
    assert t.model_path == "/m/Qwen3-Embedding-0.6B" and t.port == 30001


@pytest.mark.parametrize("text", [
    "CUDA_VISIBLE_DEVICES=0 nohup python3 -m sglang.launch_server --model-path /m/Qwen3-Embedding-0.6B --is-embedding --tp-size 2 > /var/log/sglang.log 2>&1 &",
    "cd /srv && source .venv/bin/activate && python3 -m sglang.launch_server --model-path /m/Qwen3-Embedding-0.6B --is-embedding --tp-size 2 | tee log",
    "python3 -m sglang.launch_server --model-path /m/Qwen3-Embedding-0.6B --is-embedding --tp-size 2 --json-model-override-args '{\"is_matryoshka\": true}' >>log 2>&1",
])  # fmt: skip
def test_shell_operators_in_a_pasted_command(text):
    res, t = run(text, "0.5.23")
    assert res["launch.flag-values"].status is Status.PASS, res["launch.flag-values"].summary
    assert res["launch.unknown-flags"].status is Status.PASS
    assert t.option("tp_size") == 2 and t.model_path == "/m/Qwen3-Embedding-0.6B"


def test_quoted_command_followed_by_more_arguments():
    t = build_target(["sglang serve --model-path /m/Qwen3-Embedding-0.6B", "--is-embedding", "--port", "30001"], server_version="0.5.23")
    assert t.model_path == "/m/Qwen3-Embedding-0.6B" and t.port == 30001 and t.option("is_embedding") is True


def test_registration_order_and_specs():
    """The package registers the fourteen checks in the old report order, each spec beside its function."""
    from qwen_doctor.checks import launch
    from qwen_doctor.registry import Registry

    reg = Registry()
    launch.register(reg)
    assert reg.ids() == [
        "launch.launcher", "launch.unknown-flags", "launch.ambiguous-flags", "launch.flag-values",
        "launch.abbreviations", "launch.deprecated-flags", "launch.embedding-mode", "launch.model-path",
        "launch.sglang-weight-loading", "launch.context-length", "launch.served-model-name", "launch.bind-host",
        "launch.dtype", "launch.tei-settings",
    ]  # fmt: skip
    warn = {c.id for c in reg if c.severity is Status.WARN}
    assert warn == {"launch.abbreviations", "launch.deprecated-flags", "launch.bind-host", "launch.dtype"}
    assert reg.get("launch.sglang-weight-loading").uses == ("model.weights",)
    assert all(c.category == "launch" for c in reg)
