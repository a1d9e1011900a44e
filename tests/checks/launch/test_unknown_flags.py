"""launch.unknown-flags."""

from __future__ import annotations

import pytest

from qwen_doctor.launch import split_command
from qwen_doctor.results import Status
from tests.checks.launch import run


def test_api_key_redacted_in_display_and_fix():
    res, t = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --api-key s3cr3t-value --embedding", "0.5.23")
    r = res["launch.unknown-flags"]
    assert "s3cr3t-value" not in r.fix.launch_command and "--api-key ***" in r.fix.launch_command
    assert "s3cr3t-value" not in t.launch.display()


@pytest.mark.parametrize("flag", ["--embedding", "--enable-embedding"])
def test_folklore_embedding_flags(flag):
    res, _ = run(f"sglang serve --model-path /m/Qwen3-Embedding-0.6B {flag}", "0.5.23")
    r = res["launch.unknown-flags"]
    assert r.status is Status.FAIL and "unrecognized arguments" in r.summary
    assert "--is-embedding" in r.fix.text
    assert flag not in r.fix.launch_command.split() and "--is-embedding" in r.fix.launch_command.split()
    assert res["launch.embedding-mode"].status is Status.FAIL


def test_vllm_folklore_flag_gets_the_releases_embedding_options():
    res, _ = run("vllm serve /m/Qwen3-Embedding-0.6B --is-embedding", "0.33.0", ids={"launch.unknown-flags"})
    toks = split_command(res["launch.unknown-flags"].fix.launch_command)
    assert "--is-embedding" not in toks and toks[toks.index("--runner") + 1] == "pooling" and toks[toks.index("--convert") + 1] == "embed"
    res, _ = run("vllm serve /m/Qwen3-Embedding-0.6B --is-embedding", "0.10.0", ids={"launch.unknown-flags"})
    toks = split_command(res["launch.unknown-flags"].fix.launch_command)
    assert toks[toks.index("--task") + 1] == "embed" and "--runner" not in toks


def test_disable_flash_attn_is_not_a_flag_and_not_about_fragmentation():
    res, _ = run("python -m sglang.launch_server --model-path /m/Qwen3-Embedding-0.6B --is-embedding --disable-flash-attn", "0.5.23")
    r = res["launch.unknown-flags"]
    assert r.status is Status.FAIL
    assert "does not exist" in r.fix.text and "--attention-backend triton" in r.fix.text
    assert "--disable-flash-attn" not in r.fix.launch_command
    assert "fragment" not in (r.summary + r.fix.text).lower()


def test_max_num_seqs_on_sglang_maps_value():
    res, _ = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding --max-num-seqs 128", "0.5.23")
    r = res["launch.unknown-flags"]
    assert r.status is Status.FAIL and "--max-running-requests" in r.fix.text
    toks = split_command(r.fix.launch_command)
    assert toks[toks.index("--max-running-requests") + 1] == "128" and "--max-num-seqs" not in toks


def test_doctor_option_after_the_double_dash_is_explained():
    res, t = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding --server-version 0.5.23", "0.5.23")
    assert t.model_path == "/m/Qwen3-Embedding-0.6B"  # '0.5.23' is not taken as the positional model
    r = res["launch.unknown-flags"]
    assert r.status is Status.FAIL and "qwen-doctor option" in r.fix.text and "before the --" in r.fix.text


def test_option_of_other_releases_names_them():
    # --stream-output is in older SGLang flag tables but not in 0.5.23's
    res, _ = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding --stream-output", "0.5.23", ids={"launch.unknown-flags"})
    r = res["launch.unknown-flags"]
    assert r.status is Status.FAIL and "is not accepted by sglang 0.5.23 (exists in " in r.fix.text
    assert "--stream-output" not in split_command(r.fix.launch_command)
