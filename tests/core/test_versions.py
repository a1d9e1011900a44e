"""The one version comparator (PEP 440 order) and version behaviours as tables of ranges."""

from __future__ import annotations

import pytest

from qwen_doctor.facts import server_facts
from qwen_doctor.target import build_target
from qwen_doctor.versions import Behaviour, Range, Row, parse_version, rows, version_at_least


@pytest.mark.parametrize(
    "lower, higher",
    [
        ("0.5.9rc1", "0.5.9"),
        ("0.5.9", "0.5.9.post1"),
        ("0.5.8.post1", "0.5.9"),
        ("0.11.1.dev5", "0.11.1rc1"),
        ("0.11.1.dev5", "0.11.1"),
        ("0.10.1", "0.10.1.1"),
        ("1.8.2", "1.8.3"),
        ("0.9", "0.10"),
        ("v0.5.6", "0.5.7"),
    ],
)
def test_pep440_order(lower, higher):
    assert parse_version(lower) < parse_version(higher)
    assert not version_at_least(lower, higher) and version_at_least(higher, lower)


def test_equal_forms():
    assert parse_version("1.9") == parse_version("1.9.0") == parse_version("v1.9.0+cpu")


def test_rc_is_not_at_least_the_release():
    # the example: two comparators disagreed on this
    assert version_at_least("0.5.9rc1", "0.5.9") is False


def test_not_a_version():
    with pytest.raises(ValueError):
        parse_version("latest")


def test_range_contains():
    r = Range(">=0.4.7,<0.5.9")
    assert "0.4.7" in r and "0.5.8.post1" in r and "0.5.9rc1" in r
    assert "0.5.9" not in r and "0.4.6" not in r and "garbage" not in r and None not in r
    assert "0.1" in Range("") and "9.9" in Range("*")
    with pytest.raises(ValueError):
        Range("~=0.5")


def test_behaviour_rows_need_a_source():
    with pytest.raises(ValueError):
        Behaviour("x", "doc", (Row("sglang", Range(">=1"), True, " "),))


def test_behaviour_lookup_first_match():
    b = Behaviour("t", "doc", rows("sglang", "src", (">=0.5.1", "refuses"), ("<0.5.1", "warns")))
    assert b.at("sglang", "0.5.1") == "refuses" and b.at("sglang", "0.5.0") == "warns"
    assert b.at("vllm", "0.5.1") is None and b.at("sglang", None, "dflt") == "dflt"


def test_server_facts_assume_newest_when_unknown_and_name_below_known():
    b = Behaviour("t", "doc", rows("vllm", "src", (">=0.10.1", "runner"), ("<0.10.1", "task")))
    unknown = server_facts(build_target(["vllm", "serve", "m"]))
    # the installed vllm distribution (if any) or the newest table
    assert unknown.assumed is not None and unknown.at(b) in ("runner", "task")
    old = server_facts(build_target(["vllm", "serve", "m"], server_version="0.11.0"))
    assert old.version == "0.11.0" and old.version_source == "flag" and old.at(b) == "runner"
    assert old.describe().startswith("vLLM 0.11.0")
    ancient = server_facts(build_target(["vllm", "serve", "m"], server_version="0.1.0"))
    assert ancient.below_known and ancient.at(b, "unknown") == "unknown" and not ancient.in_range(">=0")
