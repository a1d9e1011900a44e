"""--select / --ignore: by check ID, ID prefix or category.

A pattern matches a check when it is
- the check's ID (``host.port``) or its category (``launch``),
- a prefix of the ID that ends at a word boundary: ``gpu`` and ``gpu.`` match ``gpu.memory-fit``;
  ``launch.embedding`` matches ``launch.embedding-mode`` but ``host.po`` does not match ``host.port``
  (so a new check never slips into a selection through half a word),
- or a glob with ``*``, ``?`` or ``[...]`` (``launch.*-flags``), matched against the ID and the category.
Patterns are case-insensitive; several may be given comma-separated.

``--ignore`` never hides a result: it demotes FAIL (and ERROR) to WARN and records "ignored by <origin>
<pattern>" on it, which every output format shows. A ``--select`` pattern that matches no registered check
is a usage error (a typo in a CI gate must not turn into a green run that checked nothing); an ``--ignore``
pattern that matches nothing is reported as a note.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from .registry import Check, Registry
from .results import Result, Status

_GLOB = set("*?[")


def _norm(pattern: str) -> str:
    return pattern.strip().lower()


def matches(pattern: str, check_id: str, category: str) -> bool:
    """Does ``pattern`` select the check ``check_id`` of ``category``? (See the module docstring.)"""
    p = _norm(pattern)
    if not p:
        return False
    if _GLOB & set(p):
        return fnmatch.fnmatchcase(check_id, p) or fnmatch.fnmatchcase(category, p)
    if p == category:
        return True
    if p.endswith("."):
        return check_id.startswith(p)
    if not check_id.startswith(p):
        return False
    return len(check_id) == len(p) or p.endswith("-") or check_id[len(p)] in ".-"


_matches = matches  # the old private name


def split_patterns(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend(x.strip() for x in str(v).split(",") if x.strip())
    return out


class SelectionError(ValueError):
    """A --select pattern that matches no check (a usage error)."""


@dataclass(frozen=True)
class Selector:
    select: tuple[str, ...] = ()
    ignore: tuple[tuple[str, str], ...] = ()  # (pattern, origin) e.g. ("gpu.memory-fit", "--ignore")
    select_origin: str = "--select"

    @classmethod
    def parse(
        cls,
        select: Iterable[str],
        ignore: Iterable[str],
        registry: Registry | None = None,
        origin: str = "--ignore",
        select_origin: str = "--select",
    ) -> "Selector":
        """Build a selector. With a registry, a select pattern matching no check raises SelectionError."""
        sel = cls(tuple(split_patterns(select)), tuple((p, origin) for p in split_patterns(ignore)), select_origin)
        if registry is not None:
            sel.validate(registry)
        return sel

    def validate(self, registry: Registry) -> None:
        checks = list(registry)
        for p in self.select:
            if not any(matches(p, c.id, c.category) for c in checks):
                raise SelectionError(f"{self.select_origin} {p!r} matches no check{_hint(p, checks)}")

    def unmatched_ignores(self, registry: Registry, extra_ids: Iterable[str] = ()) -> list[str]:
        """Notes for --ignore patterns that match no check (not an error: nothing is hidden either way)."""
        checks = list(registry)
        extra = list(extra_ids)
        notes = []
        for p, origin in self.ignore:
            if not any(matches(p, c.id, c.category) for c in checks) and not any(matches(p, i, i.split(".", 1)[0]) for i in extra):
                notes.append(f"{origin} {p!r} matches no check{_hint(p, checks)}")
        return notes

    def selects(self, check: Check) -> bool:
        if not self.select:
            return True
        return any(matches(p, check.id, check.category) for p in self.select)

    def ignored_by(self, result: Result) -> str | None:
        for p, origin in self.ignore:
            if matches(p, result.id, result.category):
                return f"ignored by {origin} {p}"
        return None


def _hint(pattern: str, checks: Sequence[Check]) -> str:
    names = sorted({c.id for c in checks} | {c.category for c in checks})
    near = difflib.get_close_matches(_norm(pattern), names, n=3, cutoff=0.6)
    return f"; did you mean {', '.join(near)}?" if near else "; run 'qwen-doctor checks' for the list"


def apply_ignores(results: Sequence[Result], selector: Selector) -> list[Result]:
    out = []
    for r in results:
        why = selector.ignored_by(r)
        if why is None:
            out.append(r)
        elif r.status in (Status.FAIL, Status.ERROR):
            out.append(replace(r, status=Status.WARN, ignored_by=why, summary=f"{r.summary} [was {r.status.value.upper()}]"))
        else:
            out.append(replace(r, ignored_by=why))
    return out
