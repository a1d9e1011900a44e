"""``--format markdown``: a report for tickets and PR comments (GitHub-flavoured Markdown).

A verdict line, then per target: the facts, a table of the problems (FAIL, ERROR, WARN), each problem's
fix with its commands in code blocks, and the passing and skipped checks folded in a <details> block.
Text from results is escaped so that a summary cannot break the table or inject markup.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from ..results import Result, Status, exit_code_for
from ..sanitize import printable
from . import RenderOptions, Report, evidence_lines, fix_repeats_summary, target_facts

_ICON = {Status.FAIL: "❌", Status.ERROR: "💥", Status.WARN: "⚠️", Status.PASS: "✅", Status.SKIP: "⏭️"}
_ORDER = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2, Status.SKIP: 3, Status.PASS: 4}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_BLOCK_START = re.compile(r"^(\s*)([#+=-])")
_ORDERED_START = re.compile(r"^(\s*\d+)([.)])")


def _esc(text: object) -> str:
    """Inline text: HTML-escaped, Markdown punctuation backslashed, one line."""
    s = printable(" ".join(str(text).splitlines())).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _MD_SPECIAL.sub(r"\\\1", " ".join(s.splitlines()))
    s = _BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), s)
    return _ORDERED_START.sub(lambda m: m.group(1) + "\\" + m.group(2), s)


def _code(text: object, table: bool = False) -> str:
    """An inline code span that survives backticks inside (and pipes, in a table cell)."""
    s = printable(" ".join(str(text).splitlines()))
    n = 1
    while "`" * n in s:
        n += 1
    fence = "`" * n
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    span = f"{fence}{pad}{s}{pad}{fence}"
    return span.replace("|", "\\|") if table else span


def _block(text: str, lang: str = "") -> list[str]:
    text = printable(text, keep_newlines=True)
    n = 3
    while "`" * n in text:
        n += 1
    fence = "`" * n
    return [fence + lang, text.rstrip("\n"), fence]


def _status(r: Result) -> str:
    return f"{_ICON[r.status]} {r.status.value.upper()}"


def _row(r: Result) -> str:
    summary = _esc(r.summary)
    if r.ignored_by:
        summary += f" *({_esc(r.ignored_by)})*"
    return f"| {_status(r)} | {_code(r.id, table=True)} | {summary} |"


def render_markdown(report: Report, options: RenderOptions) -> str:
    c = report.counts
    failed = exit_code_for(report.results, options.fail_on) != 0
    verdict = "❌ **qwen-doctor found problems**" if failed else "✅ **qwen-doctor: no problems at --fail-on " + options.fail_on + "**"
    when = datetime.fromtimestamp(report.started_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    out: list[str] = ["## qwen-doctor report", ""]
    out.append(verdict)
    out.append("")
    out.append(
        " · ".join(f"{c[s.value]} {s.value}" for s in (Status.FAIL, Status.ERROR, Status.WARN, Status.PASS, Status.SKIP))
        + f" — qwen-doctor {_esc(report.tool_version)}, {when}, {report.duration_s:.2f} s"
    )
    for note in report.notes:
        out += ["", f"> {_esc(note)}"]
    for label, target, results in report.groups():
        out += ["", f"### {_esc(label)}", ""]
        if target is not None:
            for k, v in target_facts(target, options.secrets):
                out.append(f"- {k.replace('_', ' ')}: {_code(v)}")
            out.append("")
        problems = sorted((r for r in results if r.status in (Status.FAIL, Status.ERROR, Status.WARN)), key=lambda r: _ORDER[r.status])
        rest = sorted((r for r in results if r.status in (Status.PASS, Status.SKIP)), key=lambda r: _ORDER[r.status])
        if problems:
            out += ["| status | check | summary |", "|---|---|---|"]
            out += [_row(r) for r in problems]
            for r in problems:
                out += ["", f"#### {_ICON[r.status]} {_code(r.id)} — {_esc(r.title)}", "", _esc(r.summary)]
                if r.ignored_by:
                    out += ["", f"*{_esc(r.ignored_by)}*"]
                if options.verbose and r.evidence:
                    out += [""] + _block("\n".join(printable(e) for e in evidence_lines(r)))
                if r.fix is not None:
                    if not fix_repeats_summary(r):
                        out += ["", f"**Fix** ({_esc(r.fix.applicability.value)}): {_esc(r.fix.text)}"]
                    if r.fix.commands:
                        out += [""] + _block("\n".join(printable(c) for c in r.fix.commands), "bash")
                    if r.fix.launch_command:
                        out += ["", "Corrected launch command:", ""] + _block(printable(r.fix.launch_command), "bash")
        else:
            out.append("No problems found.")
        if rest:
            passed = sum(1 for r in rest if r.status is Status.PASS)
            skipped = len(rest) - passed
            out += ["", f"<details><summary>{passed} passed, {skipped} skipped</summary>", "", "| status | check | summary |", "|---|---|---|"]
            out += [_row(r) for r in rest]
            out += ["", "</details>"]
        from .onduty import load_table  # probe.load's steps (--load), whatever its status

        out += load_table(results, _esc)
    if not report.groups():
        out += ["", "No targets were examined."]
    return "\n".join(out) + "\n"
