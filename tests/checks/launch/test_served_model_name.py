"""launch.served-model-name."""

from __future__ import annotations

from qwen_doctor.results import Status
from tests.checks.launch import run


def test_colon_in_served_name():
    res, _ = run("sglang serve --model-path /models/qwen3:0.6b-Embedding --is-embedding", "0.5.6")
    r = res["launch.served-model-name"]
    assert r.status is Status.FAIL and "--served-model-name" in r.fix.launch_command
    res, _ = run("sglang serve --model-path /models/qwen3:0.6b-Embedding --is-embedding", "0.5.5")
    assert res["launch.served-model-name"].status is Status.PASS


def test_colon_fix_and_explicit_name():
    res, _ = run("sglang serve --model-path /models/qwen3:0.6b-Embedding --is-embedding", None, ids={"launch.served-model-name"})
    r = res["launch.served-model-name"]
    assert r.status is Status.FAIL and "defaults to --model-path" in r.summary  # unknown release: the newest is assumed
    assert "--served-model-name qwen3-0.6b-Embedding" in r.fix.launch_command
    res, _ = run("sglang serve --model-path /models/qwen3:0.6b-Embedding --is-embedding --served-model-name qe", "0.5.23", ids={"launch.served-model-name"})
    assert res["launch.served-model-name"].status is Status.PASS
