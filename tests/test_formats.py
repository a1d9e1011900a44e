"""Output formats (junit, markdown, prometheus, json), --select/--ignore/--fail-on, and --output.

Reports come from real runs: a Registry of small real checks run by the real Runner on real targets
(no hand-made Result lists), and the real CLI in a subprocess. JUnit is checked against the structure CI
servers read (the Jenkins xUnit plugin's junit-10 schema: testsuites/testsuite/testcase with
failure/error/skipped, and where each attribute and child may appear); Prometheus text is parsed with
prometheus-client's own parser.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from prometheus_client.parser import text_string_to_metric_families

from qwen_doctor.context import RunOptions
from qwen_doctor.registry import Registry
from qwen_doctor.render import OutputFormat, RenderOptions, Report, renderer_for
from qwen_doctor.results import Applicability, Fix, Outcome, Status
from qwen_doctor.runner import Runner
from qwen_doctor.selection import Selector, apply_ignores, matches
from qwen_doctor.target import build_target

SECRET = "sk-formatstest0123456789"
NASTY = 'quote " backslash \\ pipe | <b>tag</b> & amp `tick` ctrl\x01\x07 bell *star* _under_ [link](x)\nsecond line'
ODD_LABEL = 'pod "a\\b"\nnext'


# ------------------------------------------------------------------------------------------------
# a real run with every status


def _registry() -> Registry:
    reg = Registry()

    @reg.check("demo.pass", "Passes", "demo")
    def _p(ctx):
        """What it checks: x.\n\nWhy it matters: y.\n\nHow to fix: z."""
        return Outcome.passed("all good", answer=42)

    @reg.check("demo.warn", "Warns", "demo", severity=Status.WARN)
    def _w(ctx):
        return Outcome.warn("served name keeps the trailing slash", Fix("Drop the slash.", launch_command="sglang serve --model-path /m/x"), model_path="/m/x/")

    @reg.check("demo.fail", "Fails", "demo")
    def _f(ctx):
        fix = Fix(
            f"Add --is-embedding (key {SECRET}).",
            commands=("echo one", "echo two"),
            launch_command="sglang serve --model-path /m --is-embedding",
            applicability=Applicability.SAFE,
        )
        return Outcome.fail("no --is-embedding: /v1/embeddings answers 400", fix, flags=["--model-path"], api_key=SECRET)

    @reg.check("demo.crash", "Crashes", "demo")
    def _c(ctx):
        raise RuntimeError("kaboom")

    @reg.check("demo.skip", "Skips", "demo", applies=lambda t: "applies to tei only")
    def _s(ctx):  # pragma: no cover - never runs
        return Outcome.passed("unreachable")

    @reg.check("demo.ignored", "Fails but is ignored", "demo")
    def _i(ctx):
        return Outcome.fail("a known problem", Fix("Live with it."))

    @reg.check("odd.nasty", "Nasty text", "odd")
    def _n(ctx):
        return Outcome.fail(NASTY, Fix(NASTY, commands=(NASTY,)), text=NASTY)

    return reg


@pytest.fixture(scope="module")
def report() -> Report:
    targets = [
        build_target(["sglang", "serve", "--model-path", "/m/Qwen3-Embedding-0.6B", "--is-embedding", "--api-key", SECRET], server_version="0.5.23"),
        build_target(None, server="vllm", server_version="0.11.0", url="http://127.0.0.1:9", label=ODD_LABEL, source="test"),
    ]
    reg = _registry()
    results = Runner(reg, RunOptions(api_key=SECRET)).run(targets)
    selector = Selector.parse((), ("demo.ignored",), reg)
    results = apply_ignores(results, selector)
    return Report(tuple(targets), tuple(results), started_at=1_700_000_000.0, duration_s=0.25, notes=("a run-level note",))


def _render(report: Report, fmt: OutputFormat, **kw) -> str:
    return renderer_for(fmt)(report, RenderOptions(secrets=(SECRET,), **kw))


def test_the_report_has_every_status(report):
    statuses = {r.status for r in report.results}
    assert statuses == {Status.PASS, Status.WARN, Status.FAIL, Status.ERROR, Status.SKIP}
    ignored = [r for r in report.results if r.ignored_by]
    assert ignored and all(r.status is Status.WARN and r.id == "demo.ignored" for r in ignored)


# ------------------------------------------------------------------------------------------------
# JUnit

# What the Jenkins xUnit plugin's junit-10.xsd allows (the structure Jenkins, GitLab and the GitHub
# report actions read): attributes and children per element, and the attributes it requires.
_ALLOWED_ATTRS = {
    "testsuites": {"name", "time", "tests", "failures", "errors"},
    "testsuite": {"name", "tests", "failures", "errors", "group", "time", "skipped", "timestamp", "hostname", "id", "package", "file", "log", "url"},
    "testcase": {"name", "time", "classname", "group"},
    "failure": {"type", "message"},
    "error": {"type", "message"},
    "skipped": {"type", "message"},
    "properties": set(),
    "property": {"name", "value"},
    "system-out": set(),
    "system-err": set(),
}
_REQUIRED_ATTRS = {"testsuite": {"name", "tests", "failures", "errors"}, "testcase": {"name"}, "property": {"name", "value"}}
_ALLOWED_CHILDREN = {
    "testsuites": {"testsuite"},
    "testsuite": {"testsuite", "properties", "testcase", "system-out", "system-err"},
    "testcase": {"skipped", "error", "failure", "system-out", "system-err"},
    "properties": {"property"},
    "property": set(),
    "failure": set(),
    "error": set(),
    "skipped": set(),
    "system-out": set(),
    "system-err": set(),
}
_SUREFIRE_TIME = re.compile(r"^(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?$")


def _check_junit_schema(root: ET.Element) -> None:
    assert root.tag == "testsuites"
    for el in root.iter():
        assert el.tag in _ALLOWED_ATTRS, f"element <{el.tag}> is not in the JUnit schema"
        assert set(el.attrib) <= _ALLOWED_ATTRS[el.tag], f"<{el.tag}> has attributes {set(el.attrib) - _ALLOWED_ATTRS[el.tag]}"
        assert _REQUIRED_ATTRS.get(el.tag, set()) <= set(el.attrib), f"<{el.tag}> lacks {_REQUIRED_ATTRS[el.tag] - set(el.attrib)}"
        for child in el:
            assert child.tag in _ALLOWED_CHILDREN[el.tag], f"<{child.tag}> inside <{el.tag}>"
        if el.tag in ("testsuites", "testsuite") and "time" in el.attrib:
            assert _SUREFIRE_TIME.match(el.attrib["time"]), el.attrib["time"]


def test_junit_structure_as_ci_servers_read_it(report):
    text = _render(report, OutputFormat.JUNIT)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(text.encode("utf-8"))  # control characters were dropped: it parses
    _check_junit_schema(root)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [t.label for t in report.targets]  # one suite per target, named by it
    assert suites[1].get("name") == ODD_LABEL  # quotes, backslash and newline survive the attribute
    checks = len(_registry())
    for suite in suites:
        cases = suite.findall("testcase")
        assert len(cases) == checks  # a testcase per check and target
        assert int(suite.get("tests")) == checks
        assert int(suite.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
        assert int(suite.get("errors")) == sum(1 for c in cases if c.find("error") is not None)
        assert int(suite.get("skipped")) == sum(1 for c in cases if c.find("skipped") is not None)
        by = {c.get("name"): c for c in cases}
        assert by["demo.pass"].get("classname") == "qwen_doctor.demo" and by["odd.nasty"].get("classname") == "qwen_doctor.odd"
        assert list(by["demo.pass"]) == []  # a pass is a bare testcase
        fail = by["demo.fail"].find("failure")
        assert fail.get("type") == "fail" and fail.get("message") == "no --is-embedding: /v1/embeddings answers 400"
        assert (
            "Add --is-embedding" in fail.text
            and "$ echo one" in fail.text
            and "corrected launch command: sglang serve --model-path /m --is-embedding" in fail.text
        )
        assert "flags: ['--model-path']" in fail.text  # evidence
        err = by["demo.crash"].find("error")
        assert err.get("type") == "error" and "kaboom" in err.get("message")
        assert by["demo.skip"].find("skipped").get("message") == "applies to tei only"
        warn = by["demo.warn"]
        assert warn.find("failure") is None and warn.find("error") is None  # a WARN passes ...
        assert "served name keeps the trailing slash" in warn.find("system-out").text  # ... and says so
        props = {p.get("name"): p.get("value") for p in suite.find("properties")}
        assert props["warning:demo.warn"] == "served name keeps the trailing slash"
        # --ignore: demoted to WARN, never hidden, and says by what
        ign = by["demo.ignored"]
        assert ign.find("failure") is None and "ignored by --ignore demo.ignored" in ign.find("system-out").text
        assert props["ignored:demo.ignored"] == "ignored by --ignore demo.ignored"
        assert "[was FAIL]" in props["warning:demo.ignored"]
        nasty = by["odd.nasty"].find("failure")
        assert nasty.get("message").startswith('quote " backslash \\ pipe | <b>tag</b> & amp `tick` ctrl')
        assert "\x01" not in nasty.get("message")
    props0 = {p.get("name"): p.get("value") for p in suites[0].find("properties")}
    assert props0["server"] == "sglang" and props0["server_version"] == "0.5.23"
    assert props0["note"] == "a run-level note"
    assert (
        int(root.get("tests")) == len(report.results)
        and int(root.get("failures")) == report.counts["fail"]
        and int(root.get("errors")) == report.counts["error"]
    )
    assert SECRET not in text


def test_junit_of_an_empty_report_is_valid():
    root = ET.fromstring(_render(Report((), ()), OutputFormat.JUNIT))
    _check_junit_schema(root)
    assert root.get("tests") == "0" and root.findall("testsuite") == []


# ------------------------------------------------------------------------------------------------
# Prometheus


def _families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_prometheus_parses_and_encodes_every_status(report):
    text = _render(report, OutputFormat.PROMETHEUS)
    fams = _families(text)
    assert {
        "qwen_doctor_check_status",
        "qwen_doctor_check_duration_seconds",
        "qwen_doctor_last_run_timestamp_seconds",
        "qwen_doctor_checks_total",
        "qwen_doctor_check_ignored",
    } <= set(fams)
    for name in ("qwen_doctor_check_status", "qwen_doctor_check_duration_seconds", "qwen_doctor_last_run_timestamp_seconds", "qwen_doctor_checks_total"):
        assert fams[name].type == "gauge"
    status = fams["qwen_doctor_check_status"].samples
    # one series per (check, target, status): value 1 for the current status, 0 for the four others
    assert len(status) == len(report.results) * 5
    for r in report.results:
        mine = {s.labels["status"]: s.value for s in status if s.labels["id"] == r.id and s.labels["target"] == r.target}
        assert mine == {st.value: (1.0 if st is r.status else 0.0) for st in Status}, r.id
        assert all(s.labels["category"] == r.category for s in status if s.labels["id"] == r.id)
    assert {s.labels["target"] for s in status} == {t.label for t in report.targets}  # escaped label round-trips
    totals = {s.labels["status"]: s.value for s in fams["qwen_doctor_checks_total"].samples}
    assert totals == {k: float(v) for k, v in report.counts.items()}
    (ts,) = fams["qwen_doctor_last_run_timestamp_seconds"].samples
    assert ts.value == pytest.approx(1_700_000_000.25)
    ignored = fams["qwen_doctor_check_ignored"].samples
    assert {(s.labels["id"], s.labels["ignored_by"]) for s in ignored} == {("demo.ignored", "ignored by --ignore demo.ignored")}
    durations = {(s.labels["id"], s.labels["target"]) for s in fams["qwen_doctor_check_duration_seconds"].samples}
    assert len(durations) == len(report.results)
    assert all(s.timestamp is None for f in fams.values() for s in f.samples)  # textfile collector: no timestamps
    assert text.endswith("\n") and SECRET not in text


def test_prometheus_never_repeats_a_series(report):
    # the same check twice for one target (e.g. two plugin problems with one slug) must stay one series:
    # node_exporter rejects a textfile with duplicate series as a whole
    dup = Report(report.targets, report.results + report.results[:2], started_at=report.started_at)
    fams = _families(_render(dup, OutputFormat.PROMETHEUS))
    keys = [(s.labels["id"], s.labels["target"], s.labels["status"]) for s in fams["qwen_doctor_check_status"].samples]
    assert len(keys) == len(set(keys))


# ------------------------------------------------------------------------------------------------
# Markdown and JSON


def _table_rows(md: str) -> list[str]:
    return [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| status")]


def test_markdown_for_tickets_and_pr_comments(report):
    md = _render(report, OutputFormat.MARKDOWN)
    assert md.startswith("## qwen-doctor report")
    assert "❌ **qwen-doctor found problems**" in md
    for label in ("### command line",):
        assert label in md
    rows = _table_rows(md)
    for row in rows:  # pipes in text are escaped: every row keeps exactly three cells
        assert len(re.findall(r"(?<!\\)\|", row)) == 4, row
    assert any("`demo.fail`" in r and "FAIL" in r for r in rows)
    assert any("`demo.ignored`" in r and "ignored by --ignore demo.ignored" in r for r in rows)
    outside_code = "".join(md.split("```")[0::2])
    assert "&lt;b&gt;tag&lt;/b&gt;" in outside_code and "<b>tag</b>" not in outside_code  # no markup injected
    assert "```bash\necho one\necho two\n```" in md  # fix commands in a code block
    assert "sglang serve --model-path /m --is-embedding" in md
    assert "<details><summary>" in md and "</details>" in md  # passes folded away
    assert "a run-level note" in md and SECRET not in md
    clean = Report(report.targets[:1], tuple(r for r in report.results if r.status in (Status.PASS, Status.SKIP)), started_at=report.started_at)
    assert "✅ **qwen-doctor: no problems" in _render(clean, OutputFormat.MARKDOWN)


def test_json_carries_ignored_by(report):
    data = json.loads(_render(report, OutputFormat.JSON))
    by = {(r["id"], r["target"]): r for r in data["results"]}
    assert by[("demo.ignored", "command line")]["ignored_by"] == "ignored by --ignore demo.ignored"
    assert by[("demo.ignored", "command line")]["status"] == "warn"
    assert by[("demo.pass", "command line")]["ignored_by"] is None


def test_json_timestamps_are_iso_8601_with_a_time_zone(report):
    from datetime import datetime, timezone

    data = json.loads(_render(report, OutputFormat.JSON))
    assert data["schema_version"] == 1
    for key in ("started_at", "finished_at"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", data[key]), data[key]
        assert datetime.fromisoformat(data[key]).tzinfo is not None
    assert data["started_at"] == "2023-11-14T22:13:20.000+00:00"  # started_at=1_700_000_000.0
    assert datetime.fromisoformat(data["finished_at"]) == datetime.fromtimestamp(1_700_000_000.25, timezone.utc)
    assert data["started_at_unix"] == 1_700_000_000.0


def test_every_format_shows_ignored_by(report):
    for fmt in OutputFormat:
        assert "ignored by --ignore demo.ignored" in _render(report, fmt), fmt


def test_every_format_renders_an_empty_report():
    for fmt in OutputFormat:
        assert renderer_for(fmt)(Report((), ()), RenderOptions()).strip(), fmt


# ------------------------------------------------------------------------------------------------
# selection


@pytest.mark.parametrize(
    "pattern,check_id,category,expected",
    [
        ("host.port", "host.port", "host", True),
        ("host", "host.port", "host", True),  # category / first segment
        ("launch", "launch.embedding-mode", "launch", True),
        ("launch.embedding", "launch.embedding-mode", "launch", True),  # prefix at a word boundary
        ("launch.embedding-", "launch.embedding-mode", "launch", True),
        ("host.po", "host.port", "host", False),  # half a word never matches
        ("launch.embed", "launch.embedding-mode", "launch", False),
        ("gpu", "gpus.x", "gpus", False),
        ("launch.*-flags", "launch.unknown-flags", "launch", True),
        ("launch.*-flags", "launch.bind-host", "launch", False),
        ("LAUNCH", "launch.bind-host", "launch", True),
        ("site", "x.y", "site", True),  # category of a differently named check
    ],
)
def test_select_patterns(pattern, check_id, category, expected):
    assert matches(pattern, check_id, category) is expected


def cli(*args, cwd, env=None, timeout=120):
    e = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_DOCTOR_") and k != "NO_COLOR"}
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "qwen_doctor", *args], capture_output=True, text=True, timeout=timeout, env=e, cwd=cwd)


BAD = ["--", "sglang", "serve", "--model-path", "/m/Qwen3-Embedding-0.6B/", "--port", "30999"]  # no --is-embedding (FAIL), trailing slash (WARN)


def test_cli_ignore_demotes_and_records_in_every_format(tmp_path):
    base = ["check", "--offline", "--server-version", "0.5.23", "--select", "launch"]
    r = cli(*base, "--format", "json", *BAD, cwd=tmp_path)
    assert r.returncode == 1
    r = cli(*base, "--ignore", "launch.embedding-mode", "--format", "json", *BAD, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    res = {x["id"]: x for x in json.loads(r.stdout)["results"]}
    assert res["launch.embedding-mode"]["status"] == "warn" and res["launch.embedding-mode"]["ignored_by"] == "ignored by --ignore launch.embedding-mode"
    assert "--is-embedding" in res["launch.embedding-mode"]["summary"]  # never hidden: the finding is all there
    for fmt in ("text", "junit", "markdown", "prometheus"):
        out = cli(*base, "--ignore", "launch.embedding-mode", "--format", fmt, *BAD, cwd=tmp_path)
        assert out.returncode == 0 and "ignored by --ignore launch.embedding-mode" in out.stdout, fmt
    # --fail-on warn: the demoted result (and the trailing-slash WARN) fail the gate again
    r = cli(*base, "--ignore", "launch.embedding-mode", "--fail-on", "warn", *BAD, cwd=tmp_path)
    assert r.returncode == 1


def test_cli_select_by_category_prefix_and_unknown_pattern(tmp_path):
    r = cli("check", "--offline", "--format", "json", "--select", "launch.embedding,host", "--server-version", "0.5.23", *BAD, cwd=tmp_path)
    ids = {x["id"] for x in json.loads(r.stdout)["results"]}
    assert ids == {"launch.embedding-mode", "host.port"}
    r = cli("check", "--offline", "--select", "lauch", *BAD, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == "qwen-doctor: error: --select 'lauch' matches no check; did you mean launch?"
    r = cli("check", "--offline", "--format", "json", "--select", "launch", "--ignore", "nosuch.check", "--server-version", "0.5.23", *BAD, cwd=tmp_path)
    # a warning, on stderr only: stdout is the report alone
    assert "qwen-doctor: warning: --ignore 'nosuch.check' matches no check" in r.stderr
    assert "nosuch.check" not in r.stdout and json.loads(r.stdout)["results"]


# ------------------------------------------------------------------------------------------------
# --output


def test_output_junit_file_atomic_and_exit_code(tmp_path):
    out = tmp_path / "reports" / "qwen-doctor.xml"
    out.parent.mkdir()
    r = cli("check", "--offline", "--select", "launch", "--format", "junit", "--output", str(out), *BAD, cwd=tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    root = ET.parse(out).getroot()
    _check_junit_schema(root)
    case = [c for c in root.iter("testcase") if c.get("name") == "launch.embedding-mode"][0]
    assert case.find("failure") is not None and "--is-embedding" in case.find("failure").text
    assert sorted(p.name for p in out.parent.iterdir()) == ["qwen-doctor.xml"]  # no temp file left


def test_output_prometheus_replaces_the_file_keeping_its_mode(tmp_path):
    out = tmp_path / "qwen_doctor.prom"
    out.write_text("stale\n")
    os.chmod(out, 0o644)
    r = cli("check", "--offline", "--select", "launch", "--format", "prometheus", "--output", str(out), *BAD, cwd=tmp_path)
    assert r.returncode == 1
    fams = _families(out.read_text())
    assert "qwen_doctor_last_run_timestamp_seconds" in fams
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # node_exporter (another user) can still read it
    assert [p.name for p in tmp_path.iterdir()] == ["qwen_doctor.prom"]


def test_output_dash_is_stdout(tmp_path):
    r = cli("check", "--offline", "--select", "launch", "--format", "json", "--output", "-", *BAD, cwd=tmp_path)
    assert json.loads(r.stdout)["schema_version"] == 1 and list(tmp_path.iterdir()) == []


def test_output_to_a_missing_directory_is_a_usage_error(tmp_path):
    r = cli("check", "--offline", "--select", "launch", "--format", "json", "--output", str(tmp_path / "no" / "such" / "r.json"), *BAD, cwd=tmp_path)
    assert r.returncode == 2 and "cannot write --output" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_output_formats_on_stdout_are_only_that_format(tmp_path):
    r = cli("check", "--offline", "--select", "launch", "--format", "prometheus", *BAD, cwd=tmp_path)
    assert _families(r.stdout)["qwen_doctor_check_status"]
    r = cli("check", "--offline", "--select", "launch", "--format", "junit", *BAD, cwd=tmp_path)
    _check_junit_schema(ET.fromstring(r.stdout))
    r = cli("check", "--offline", "--select", "launch", "--format", "markdown", *BAD, cwd=tmp_path)
    assert r.stdout.startswith("## qwen-doctor report") and "\x1b[" not in r.stdout
