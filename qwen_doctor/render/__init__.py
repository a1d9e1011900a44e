"""Renderers: turn a Report into text in one output format.

Each format is a member of :class:`OutputFormat`; :func:`renderer_for` maps every member to a renderer
(a test asserts the mapping is exhaustive). Renderers import what they need lazily, so only the text
renderer imports rich.

Formats: ``text`` (terminal), ``json`` (schema_version 1), ``junit`` (JUnit XML for CI servers),
``markdown`` (tickets and PR comments), ``prometheus`` (text exposition format, for node_exporter's
textfile collector and ``qwen-doctor serve``'s /metrics). Every format shows "ignored by ..." on results
that ``--ignore`` demoted.
"""

from __future__ import annotations

import enum
import functools
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from .. import __version__
from ..results import Result, counts
from ..target import Target

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Report:
    """Everything a renderer needs: the targets and the results of one run."""

    targets: tuple[Target, ...]
    results: tuple[Result, ...]
    started_at: float = field(default_factory=time.time)
    duration_s: float = 0.0
    tool_version: str = __version__
    notes: tuple[str, ...] = ()  # run-level notes (e.g. discovery found nothing)
    corrected: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # label -> (command, check IDs)

    @property
    def counts(self) -> dict[str, int]:
        return counts(self.results)

    def results_for(self, target: Target) -> list[Result]:
        return list(self._by_label.get(target.label, ()))

    @functools.cached_property
    def _by_label(self) -> dict[str, list[Result]]:
        """Results per target label, built once: rendering 10,000 targets stays linear."""
        out: dict[str, list[Result]] = {}
        for r in self.results:
            out.setdefault(r.target, []).append(r)
        return out

    def groups(self) -> list[tuple[str, Target | None, list[Result]]]:
        """(label, target, results) per target in order, then any result labels that name no target."""
        out: list[tuple[str, Target | None, list[Result]]] = []
        seen: set[str] = set()
        for t in self.targets:
            if t.label in seen:
                continue
            seen.add(t.label)
            out.append((t.label, t, self.results_for(t)))
        extra: dict[str, list[Result]] = {}
        for r in self.results:
            if r.target not in seen:
                extra.setdefault(r.target, []).append(r)
        out.extend((label, None, rs) for label, rs in extra.items())
        return out

    @property
    def finished_at(self) -> float:
        return self.started_at + self.duration_s


@dataclass(frozen=True)
class RenderOptions:
    verbose: bool = False
    color: bool = False
    width: int | None = None  # text: wrap prose at this many columns; None: never wrap (not a terminal, no COLUMNS)
    secrets: tuple[str, ...] = ()  # literal secret values to redact from target fields (results are redacted already)
    fail_on: str = "fail"  # for formats that state a verdict (markdown)
    ascii_only: bool = False  # the output stream cannot encode non-ASCII text (JSON: \u escapes, never a broken escape)


class OutputFormat(str, enum.Enum):
    TEXT = "text"
    JSON = "json"
    JUNIT = "junit"
    MARKDOWN = "markdown"
    PROMETHEUS = "prometheus"

    def renderer(self) -> Callable[[Report, RenderOptions], str]:
        return renderer_for(self)


def renderer_for(fmt: OutputFormat) -> Callable[[Report, RenderOptions], str]:
    if fmt is OutputFormat.TEXT:
        from .text import render_text

        return render_text
    if fmt is OutputFormat.JSON:
        from .json_format import render_json

        return render_json
    if fmt is OutputFormat.JUNIT:
        from .junit import render_junit

        return render_junit
    if fmt is OutputFormat.MARKDOWN:
        from .markdown import render_markdown

        return render_markdown
    if fmt is OutputFormat.PROMETHEUS:
        from .prometheus import render_prometheus

        return render_prometheus
    raise AssertionError(f"no renderer for {fmt!r}")  # pragma: no cover - the exhaustiveness test guards this


def target_facts(target: Target, secrets: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(name, value) facts about a target for report headers, secrets redacted."""
    from ..redact import redact_text

    facts: list[tuple[str, str]] = [("source", target.source)]
    if target.server:
        facts.append(("server", target.server))
    if target.version is not None:
        if target.version_str:
            facts.append(("server_version", target.version_str))
        if target.version.source:
            facts.append(("version_source", target.version.source))
    if target.launch is not None:
        facts.append(("launch_command", target.launch.display()))
    if target.model_path:
        facts.append(("model_path", target.model_path))
    if target.url:
        facts.append(("url", target.url))
    if target.pid is not None:
        facts.append(("pid", str(target.pid)))
    return [(k, redact_text(str(v), secrets)) for k, v in facts]


def evidence_lines(result: Result, limit: int = 40, width: int = 400) -> list[str]:
    """``key: value`` lines of a result's evidence, long values shortened."""
    out = []
    for k, v in list(result.evidence.items())[:limit]:
        text = str(v)
        if len(text) > width:
            text = text[: width - 3] + "..."
        out.append(f"{k}: {text}")
    if len(result.evidence) > limit:
        out.append(f"... {len(result.evidence) - limit} more")
    return out


def _words(text: str) -> str:
    return " ".join(text.lower().replace("`", "").rstrip(" .;:").split())


def fix_repeats_summary(result: Result) -> bool:
    """The fix text says nothing the summary does not (the same words, or a part of the summary): shown once."""
    fix = result.fix
    if fix is None or not fix.text.strip():
        return True
    f = _words(fix.text)
    return bool(f) and f in _words(result.summary)


def fix_lines(result: Result) -> list[str]:
    """The fix of a result as plain lines (text, commands, corrected launch command); a fix text that only repeats
    the summary is left out (its commands stay)."""
    fix = result.fix
    if fix is None:
        return []
    out = [] if fix_repeats_summary(result) else [f"fix ({fix.applicability.value}): {fix.text}"]
    out.extend(f"$ {c}" for c in fix.commands)
    if fix.launch_command:
        out.append(f"corrected launch command: {fix.launch_command}")
    return out
