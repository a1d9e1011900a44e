"""Renderers: turn a Report into text in one output format.

Each format is a member of :class:`OutputFormat`; :func:`renderer_for` maps every member to a renderer
(a test asserts the mapping is exhaustive). Renderers import what they need lazily, so the JSON path
never imports rich.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .. import __version__
from ..model import Result, counts
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

    @property
    def counts(self) -> dict[str, int]:
        return counts(self.results)

    def results_for(self, target: Target) -> list[Result]:
        return [r for r in self.results if r.target == target.label]


@dataclass(frozen=True)
class RenderOptions:
    verbose: bool = False
    color: bool = False
    width: int = 100


class OutputFormat(str, enum.Enum):
    TEXT = "text"
    JSON = "json"

    def renderer(self) -> Callable[[Report, RenderOptions], str]:
        return renderer_for(self)


def renderer_for(fmt: OutputFormat) -> Callable[[Report, RenderOptions], str]:
    if fmt is OutputFormat.TEXT:
        from .text import render_text

        return render_text
    if fmt is OutputFormat.JSON:
        from .json_format import render_json

        return render_json
    raise AssertionError(f"no renderer for {fmt!r}")  # pragma: no cover - the exhaustiveness test guards this
