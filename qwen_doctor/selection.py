"""--select / --ignore: by check ID, ID prefix (``gpu``, ``launch.embedding``) or category.

``--ignore`` never hides a result: it demotes FAIL (and ERROR) to WARN and records "ignored by ..." on it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from .model import Result, Status
from .registry import Check, Registry


def _matches(pattern: str, check_id: str, category: str) -> bool:
    p = pattern.strip().rstrip(".")
    return check_id == p or check_id.startswith(p + ".") or check_id.startswith(p) and p.endswith("-") or category == p


@dataclass(frozen=True)
class Selector:
    select: tuple[str, ...] = ()
    ignore: tuple[tuple[str, str], ...] = ()  # (pattern, origin) e.g. ("gpu.memory-fit", "--ignore")

    @classmethod
    def parse(cls, select: Iterable[str], ignore: Iterable[str], registry: Registry | None = None, origin: str = "--ignore") -> "Selector":
        def split(values: Iterable[str]) -> list[str]:
            out: list[str] = []
            for v in values:
                out.extend(x.strip() for x in v.split(",") if x.strip())
            return out

        return cls(tuple(split(select)), tuple((p, origin) for p in split(ignore)))

    def selects(self, check: Check) -> bool:
        if not self.select:
            return True
        return any(_matches(p, check.id, check.category) for p in self.select)

    def ignored_by(self, result: Result) -> str | None:
        for p, origin in self.ignore:
            if _matches(p, result.id, result.category):
                return f"ignored by {origin} {p}"
        return None


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
