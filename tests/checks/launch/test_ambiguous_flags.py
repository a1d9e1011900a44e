"""launch.ambiguous-flags."""

from __future__ import annotations

from qwen_doctor.launch import split_command
from qwen_doctor.results import Status
from tests.checks.launch import run


def test_ambiguous_prefix_fails_and_abbreviation_warns():
    res, _ = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embed --disable-flash", "0.5.8")
    assert res["launch.ambiguous-flags"].status is Status.FAIL
    assert "--disable-flashinfer-autotune" in res["launch.ambiguous-flags"].summary
    ab = res["launch.abbreviations"]
    assert ab.status is Status.WARN and "--is-embed = --is-embedding" in ab.summary
    assert "--is-embedding" in split_command(ab.fix.launch_command)
    assert res["launch.embedding-mode"].status is Status.PASS  # the abbreviation does work


def test_ambiguous_evidence_names_the_candidates():
    res, _ = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding --disable-flash", "0.5.8", ids={"launch.ambiguous-flags"})
    r = res["launch.ambiguous-flags"]
    assert "--disable-flashinfer-autotune" in r.evidence["ambiguous"]["--disable-flash"]
    assert r.fix.launch_command is None  # which option was meant is the user's call
