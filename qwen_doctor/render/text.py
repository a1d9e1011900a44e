"""The terminal report: grouped by target and category, fixes under each problem, passes collapsed
unless verbose. Colour only on a TTY without NO_COLOR and TERM=dumb; otherwise plain text with the same content.

Wrapping: prose wraps at ``options.width`` (the terminal's width or COLUMNS, chosen by the CLI) and only between
words (a word or a path longer than the line overflows it rather than being cut); with no width (not a terminal,
no COLUMNS: CI logs, pipes) nothing is wrapped. Commands, corrected launch commands and paths are never wrapped,
whatever the width: they are printed whole on one line, so a paste runs what the doctor meant."""

from __future__ import annotations

import io
import re
from collections import OrderedDict
from typing import TYPE_CHECKING

from ..results import Result, Status
from ..sanitize import printable
from . import RenderOptions, Report, fix_repeats_summary

if TYPE_CHECKING:  # pragma: no cover
    from rich.text import Text

NO_WRAP_WIDTH = 1_000_000  # the console's width when nothing may wrap

_MARK = {Status.PASS: "✓", Status.WARN: "!", Status.FAIL: "✗", Status.SKIP: "-", Status.ERROR: "E"}
_STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.SKIP: "dim", Status.ERROR: "bold magenta"}
_ORDER = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2, Status.SKIP: 3, Status.PASS: 4}


def _evidence_lines(r: Result, limit: int = 8) -> list[str]:
    out = []
    for k, v in list(r.evidence.items())[:limit]:
        if isinstance(v, (dict, list)) and len(str(v)) > 160:
            v = str(v)[:157] + "..."
        out.append(f"{printable(k)}: {printable(v)}")
    return out


def wrap_words(t: "Text", width: int) -> "list[Text]":
    """``t`` cut into lines of at most ``width`` columns at spaces only (a longer word, e.g. a path, keeps its own
    line whole); continuation lines are indented two more columns than the first. Styles are kept."""
    from rich.text import Text

    plain = t.plain
    lead = len(plain) - len(plain.lstrip(" "))
    hang = lead + 2 if lead + 2 < width // 2 else 0
    offsets: list[int] = []
    start = 0  # where the current line starts in ``plain``
    for m in re.finditer(r"\S+", plain):
        s, e = m.span()
        col = (hang if offsets else 0) + (e - start)
        first_word = s <= start + (0 if offsets else lead)
        if col > width and not first_word:
            offsets.append(s)
            start = s
    if not offsets:
        return [t]
    out = []
    for i, part in enumerate(t.divide(offsets)):
        part.rstrip()
        out.append(part if i == 0 else Text(" " * hang) + part)
    return out


def render_text(report: Report, options: RenderOptions) -> str:
    from rich.console import Console
    from rich.text import Text

    buf = io.StringIO()
    width = options.width if options.width and options.width > 0 else None
    # the console never wraps or crops by itself (rich would cut long words, and paths with them): prose is
    # wrapped here, between words only, and every line goes out whole
    console = Console(
        file=buf,
        force_terminal=options.color,
        no_color=not options.color,
        color_system="standard" if options.color else None,
        width=NO_WRAP_WIDTH,
        highlight=False,
        emoji=False,
        soft_wrap=True,
        legacy_windows=False,
    )

    def emit(t: Text, whole: bool = False) -> None:
        """Print one logical line: prose wraps between words (when there is a width); ``whole`` lines never wrap."""
        for piece in [t] if whole or width is None else wrap_words(t, width):
            console.print(piece, soft_wrap=True, no_wrap=True, overflow="ignore", crop=False)

    def line(text: str, style: str | None = None, indent: int = 0, whole: bool = False) -> None:
        """One line; foreign text in it (names, commands, file contents) is made printable: a control character
        or an escape sequence is shown as a backslash escape, and a newline cannot start a fake report line."""
        emit(Text(" " * indent + printable(text), style=style or ""), whole)

    def block(first: str, text: str, style: str, indent: int) -> None:
        """A fix text, which may hold lines of its own (a YAML snippet): ``first`` + its first line, then each
        further line behind a "│ " gutter two columns deeper, so that no newline in it (its own, or one in a
        value it quotes) can start a line that reads like a report line. Each line is made printable."""
        lines = str(text).split("\n") or [""]
        line(first + lines[0], style, indent)
        for more in lines[1:]:
            line("│ " + more, style, indent + 2, True)

    many = len(report.targets) > 1
    for note in report.notes:
        line(note, "italic")
    for target in report.targets:
        results = report.results_for(target)
        head = f"{target.label}"
        if target.server:
            ver = target.version_str or "unknown version"
            head += f": {target.server} {ver}"
        line(head, "bold underline" if many else "bold")
        if target.version is not None:
            line(f"version: {target.version.source}", "dim", 2)
        if target.launch is not None:
            line(f"command: {target.launch.display()}", "dim", 2, whole=True)
        elif target.url:
            from ..redact import redact_text

            line(f"url: {redact_text(target.url, options.secrets)}", "dim", 2, whole=True)
        if target.model_path:
            line(f"model: {target.model_path}", "dim", 2, whole=True)
        groups: "OrderedDict[str, list[Result]]" = OrderedDict()
        for r in results:
            groups.setdefault(r.category, []).append(r)
        for category, rs in groups.items():
            console.print()
            line(category, "bold")
            # without -v: passes are counted, not listed; SKIPs that only say "not applicable" or "blocked by X"
            # are folded into a count on X's line, so one missing driver reads as one line, not seven
            folded: dict[str, int] = {}
            quiet = 0
            shown = []
            for r in rs:
                if options.verbose:
                    shown.append(r)
                elif r.status is Status.PASS:
                    continue
                elif r.status is Status.SKIP and r.blocked_by:
                    folded[r.blocked_by[0]] = folded.get(r.blocked_by[0], 0) + 1
                elif r.status is Status.SKIP and r.evidence.get("not_applicable"):
                    quiet += 1
                else:
                    shown.append(r)
            shown_ids = {r.id for r in shown}
            for root in [k for k in folded if k not in shown_ids]:
                quiet += folded.pop(root)
            shown.sort(key=lambda r: _ORDER[r.status])
            for r in shown:
                label = f"{_MARK[r.status]} {r.status.value.upper():5} {r.id}"
                t = Text("  ")
                t.append(printable(label), style=_STYLE[r.status])
                t.append("  " + printable(r.summary))
                if folded.get(r.id):
                    t.append(f"  (+{folded[r.id]} dependent check{'s' if folded[r.id] > 1 else ''} skipped)", style="dim")
                if r.ignored_by:
                    t.append(f"  [{printable(r.ignored_by)}]", style="italic")
                emit(t)
                if r.status in (Status.FAIL, Status.WARN, Status.ERROR) or options.verbose:
                    for ev in _evidence_lines(r) if options.verbose else ():
                        line(ev, "dim", 6, whole=True)
                if r.fix is not None and r.status in (Status.FAIL, Status.WARN, Status.ERROR):
                    if not fix_repeats_summary(r):
                        block("fix: ", r.fix.text, "cyan", 6)
                    for cmd in r.fix.commands:  # one line each: a newline in an argument is written \n
                        line(f"$ {cmd}", "cyan", 8, whole=True)
                    if r.fix.launch_command:
                        line("corrected launch command:", "cyan", 8)
                        line(r.fix.launch_command, "bold cyan", 10, whole=True)
            passed = sum(1 for r in rs if r.status is Status.PASS)
            if (passed or quiet) and not options.verbose:
                bits = [f"✓ {passed} passed"] if passed else []
                if quiet:
                    bits.append(f"{quiet} not applicable or skipped")
                line(", ".join(bits) + " (use -v to list)", "green" if passed else "dim", 2)
        fixed = report.corrected.get(target.label)
        if fixed:
            console.print()
            line(f"corrected launch command with every safe fix applied ({', '.join(fixed[1])}):", "bold cyan")
            line(fixed[0], "bold cyan", 2, whole=True)
        console.print()
    c = report.counts
    summary = ", ".join(f"{c[s.value]} {s.value}" for s in (Status.FAIL, Status.ERROR, Status.WARN, Status.PASS, Status.SKIP))
    worst = Status.FAIL if c["fail"] else Status.ERROR if c["error"] else Status.WARN if c["warn"] else Status.PASS
    line(f"Summary: {summary}  ({report.duration_s:.2f} s)", _STYLE[worst])
    return buf.getvalue()
