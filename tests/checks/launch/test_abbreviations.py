"""launch.abbreviations."""

from __future__ import annotations

from qwen_doctor.launch import split_command
from qwen_doctor.results import Applicability, Status
from tests.checks.launch import run


def test_abbreviation_with_equals_keeps_the_value():
    res, _ = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding --mem-frac=0.5", "0.5.23", ids={"launch.abbreviations"})
    r = res["launch.abbreviations"]
    assert r.status is Status.WARN and r.evidence["abbreviations"] == {"--mem-frac": "--mem-fraction-static"}
    assert "--mem-fraction-static=0.5" in split_command(r.fix.launch_command)
    assert r.fix.applicability is Applicability.SAFE


def test_full_names_pass():
    res, _ = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding", "0.5.23", ids={"launch.abbreviations"})
    assert res["launch.abbreviations"].status is Status.PASS
