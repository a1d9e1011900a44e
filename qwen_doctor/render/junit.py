"""``--format junit``: JUnit XML, as CI servers read it (Jenkins, GitLab, GitHub Actions report actions).

Structure (valid against the Jenkins xUnit plugin's junit-10 schema):

    <testsuites name="qwen-doctor" tests failures errors time>
      <testsuite name="<target label>" tests failures errors skipped time timestamp hostname id package>
        <properties>   target facts; "warning:<id>" for each WARN; "ignored:<id>" for each --ignore'd result
        <testcase classname="qwen_doctor.<category>" name="<check id>" time="<seconds>">
          FAIL  -> <failure message="<summary>" type="fail">evidence and fix</failure>
          ERROR -> <error message="<summary>" type="error">evidence and fix</error>
          SKIP  -> <skipped message="<reason>"/>
          WARN  -> no failure (the case passes); the warning, evidence and fix in <system-out>
          ignored results carry "ignored by ..." in the message and in <system-out>

One testsuite per target, one testcase per check and target. Characters XML 1.0 cannot carry are dropped.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

from ..results import Result, Status
from . import RenderOptions, Report, evidence_lines, fix_lines, target_facts

# XML 1.0 forbids most C0 controls, lone surrogates and U+FFFE/U+FFFF.


def _x(text: object) -> str:
    """Valid XML whatever the text: what XML 1.0 forbids, and terminal controls, as backslash escapes."""
    from ..sanitize import xml_safe

    return xml_safe(text)


def _secs(ms: float) -> str:
    return f"{ms / 1000:.3f}"


def _body(r: Result, headline: str | None = None) -> str:
    lines = [headline] if headline else []
    lines.append(f"{r.id}: {r.title}")
    lines.append(r.summary)
    if r.ignored_by:
        lines.append(r.ignored_by)
    if r.blocked_by:
        lines.append("blocked by: " + ", ".join(r.blocked_by))
    ev = evidence_lines(r)
    if ev:
        lines.append("evidence:")
        lines.extend("  " + e for e in ev)
    lines.extend(fix_lines(r))
    return "\n".join(lines) + "\n"


def _message(r: Result) -> str:
    return f"{r.summary} [{r.ignored_by}]" if r.ignored_by else r.summary


def render_junit(report: Report, options: RenderOptions) -> str:
    totals = report.counts
    root = ET.Element(
        "testsuites",
        name="qwen-doctor",
        tests=str(len(report.results)),
        failures=str(totals["fail"]),
        errors=str(totals["error"]),
        time=f"{report.duration_s:.3f}",
    )
    stamp = datetime.fromtimestamp(report.started_at, timezone.utc).isoformat(timespec="seconds")
    try:
        hostname = socket.gethostname()
    except OSError:  # pragma: no cover
        hostname = "localhost"
    for i, (label, target, results) in enumerate(report.groups()):
        c = {s: sum(1 for r in results if r.status is s) for s in Status}
        suite = ET.SubElement(
            root,
            "testsuite",
            name=_x(label),
            tests=str(len(results)),
            failures=str(c[Status.FAIL]),
            errors=str(c[Status.ERROR]),
            skipped=str(c[Status.SKIP]),
            time=_secs(sum(r.duration_ms for r in results)),
            timestamp=stamp,
            hostname=_x(hostname),
            id=str(i),
            package="qwen_doctor",
        )
        props = ET.SubElement(suite, "properties")

        def prop(name: str, value: str) -> None:
            ET.SubElement(props, "property", name=_x(name), value=_x(value))

        prop("qwen_doctor.version", report.tool_version)
        if target is not None:
            for k, v in target_facts(target, options.secrets):
                prop(k, v)
        for note in report.notes:
            prop("note", note)
        for r in results:
            if r.status is Status.WARN:
                prop(f"warning:{r.id}", _message(r))
            if r.ignored_by:
                prop(f"ignored:{r.id}", r.ignored_by)
        for r in results:
            case = ET.SubElement(suite, "testcase", classname=_x(f"qwen_doctor.{r.category}"), name=_x(r.id), time=_secs(r.duration_ms))
            if r.status is Status.FAIL:
                el = ET.SubElement(case, "failure", message=_x(_message(r)), type="fail")
                el.text = _x(_body(r))
            elif r.status is Status.ERROR:
                el = ET.SubElement(case, "error", message=_x(_message(r)), type="error")
                el.text = _x(_body(r))
            elif r.status is Status.SKIP:
                ET.SubElement(case, "skipped", message=_x(_message(r)))
                if r.ignored_by:
                    ET.SubElement(case, "system-out").text = _x(r.ignored_by + "\n")
            elif r.status is Status.WARN:
                ET.SubElement(case, "system-out").text = _x(_body(r, "WARN"))
            elif r.ignored_by or options.verbose:
                ET.SubElement(case, "system-out").text = _x(_body(r, "PASS"))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
