"""Server releases: the one version comparator, and version-dependent behaviour as tables of ranges.

Every check that depends on a server release reads it from a :class:`Behaviour` table (rows of
``(range, value, source)``) through :class:`qwen_doctor.facts.ServerFacts`; no check compares
versions inline. Ordering is PEP 440 (``0.5.9rc1 < 0.5.9 < 0.5.9.post1``, ``0.11.1.dev5 < 0.11.1rc1``,
``1.9 == 1.9.0``); a leading ``v`` and a local suffix (``+cpu``) are ignored. Stdlib only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, Iterator, TypeVar

_VERSION_RE = re.compile(
    r"""
    ^\s*[vV]?
    (?P<release>\d+(?:\.\d+)*)
    (?:[-_.]?(?P<pre>a|alpha|b|beta|c|rc|pre|preview)[-_.]?(?P<pre_n>\d*))?
    (?:[-_.]?(?P<post>post|rev|r)[-_.]?(?P<post_n>\d*))?
    (?:[-_.]?(?P<dev>dev)[-_.]?(?P<dev_n>\d*))?
    (?:\+(?P<local>[0-9A-Za-z.\-_]*))?
    \s*$
    """,
    re.VERBOSE,
)
_PRE_RANK = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}
_RELEASE_WIDTH = 6


@lru_cache(maxsize=4096)
def parse_version(v: str) -> tuple:
    """Sortable PEP 440 key for a release string. Raises ValueError for strings that are not versions."""
    m = _VERSION_RE.match(v or "")
    if not m:
        raise ValueError(f"not a version: {v!r}")
    nums = tuple(int(x) for x in m.group("release").split("."))
    release = nums + (0,) * max(0, _RELEASE_WIDTH - len(nums))
    pre, post, dev = m.group("pre"), m.group("post"), m.group("dev")
    if pre:
        pre_key = (_PRE_RANK[pre.lower()], int(m.group("pre_n") or 0))
    elif dev and not post:
        pre_key = (-1, 0)  # 1.0.dev1 sorts before 1.0a1
    else:
        pre_key = (3, 0)  # final release
    post_key = int(m.group("post_n") or 0) if post else -1
    dev_key = (0, int(m.group("dev_n") or 0)) if dev else (1, 0)
    return (release, pre_key, post_key, dev_key)


def is_version(v: Any) -> bool:
    try:
        parse_version(str(v))
        return True
    except ValueError:
        return False


def version_at_least(v: str, floor: str) -> bool:
    """True when release ``v`` is ``floor`` or newer (PEP 440 ordering)."""
    return parse_version(v) >= parse_version(floor)


_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*([^\s,]+)\s*$")


@dataclass(frozen=True)
class Range:
    """A release range written as specifier clauses, e.g. ``">=0.4.7,<0.5.9"``; ``""`` or ``"*"`` is every release."""

    spec: str = ""

    def __post_init__(self) -> None:
        for clause in self._clauses():
            m = _CLAUSE.match(clause)
            if not m:
                raise ValueError(f"bad version range clause {clause!r} in {self.spec!r}")
            parse_version(m.group(2))

    def _clauses(self) -> list[str]:
        s = self.spec.strip()
        return [] if s in ("", "*") else [c for c in s.split(",") if c.strip()]

    def __contains__(self, version: object) -> bool:
        if not isinstance(version, str):
            return False
        try:
            key = parse_version(version)
        except ValueError:
            return False
        for clause in self._clauses():
            op, ref = _CLAUSE.match(clause).groups()  # type: ignore[union-attr]
            r = parse_version(ref)
            ok = {">=": key >= r, "<=": key <= r, "==": key == r, "!=": key != r, ">": key > r, "<": key < r}[op]
            if not ok:
                return False
        return True

    def __str__(self) -> str:
        return self.spec.strip() or "every release"


V = TypeVar("V")

#: the server of a row that holds whatever the server and its release (facts about the GPU, driver, model, tokenizer)
ANY_SERVER = "*"


@dataclass(frozen=True)
class Row(Generic[V]):
    """One version-dependent behaviour: what holds for ``server`` releases in ``range``, and where that is written."""

    server: str
    range: Range
    value: V
    source: str

    def holds(self, server: str | None, version: str | None) -> bool:
        if self.server == ANY_SERVER:  # a server-independent fact (GPU, driver, model, tokenizer, library)
            return True
        return server == self.server and version is not None and version in self.range


@dataclass(frozen=True)
class Behaviour(Generic[V]):
    """A named table of rows. :meth:`at` gives the value for a server release (first matching row)."""

    id: str
    doc: str
    rows: tuple[Row[V], ...]

    def __post_init__(self) -> None:
        for r in self.rows:
            if not r.source.strip():
                raise ValueError(f"behaviour {self.id}: a row for {r.server} {r.range} has no source")
            if r.server == ANY_SERVER and r.range.spec.strip() not in ("", "*"):
                raise ValueError(f"behaviour {self.id}: a row for every server ('*') holds for every release, not {r.range}")

    def row(self, server: str | None, version: str | None) -> Row[V] | None:
        for r in self.rows:
            if r.holds(server, version):
                return r
        return None

    def at(self, server: str | None, version: str | None, default: Any = None) -> Any:
        r = self.row(server, version)
        return default if r is None else r.value

    def __iter__(self) -> Iterator[Row[V]]:
        return iter(self.rows)


def rows(server: str, source: str, *pairs: tuple[str, Any]) -> tuple[Row[Any], ...]:
    """Shorthand: several ranges of one server from one source."""
    return tuple(Row(server, Range(spec), value, source) for spec, value in pairs)
