"""Plain data of a doctor run: statuses, fixes, outcomes, results.

Everything here is a frozen dataclass or an enum: checks return an :class:`Outcome`,
the runner wraps it into a :class:`Result`, renderers read results. Stdlib only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping


class Status(str, enum.Enum):
    """The verdict of one check on one target."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """Badness order used for exit codes and sorting (higher is worse)."""
        return _RANK[self]


_RANK = {Status.PASS: 0, Status.SKIP: 0, Status.WARN: 1, Status.FAIL: 2, Status.ERROR: 3}


class Applicability(str, enum.Enum):
    """How safe a fix is to apply blindly (after ruff's fix safety)."""

    SAFE = "safe"  # changes nothing but the launch command / a name; no behaviour loss
    UNSAFE = "unsafe"  # changes behaviour (memory, truncation, ...) or affects other processes
    DISPLAY_ONLY = "display-only"  # advice for a human; nothing to paste


@dataclass(frozen=True)
class Fix:
    """What to do about a problem."""

    text: str
    commands: tuple[str, ...] = ()
    launch_command: str | None = None  # the corrected full launch command, where one exists
    applicability: Applicability = Applicability.DISPLAY_ONLY

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "commands": list(self.commands),
            "launch_command": self.launch_command,
            "applicability": self.applicability.value,
        }


@dataclass(frozen=True)
class Outcome:
    """What a check function returns. Use the constructors below."""

    status: Status
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    fix: Fix | None = None
    blocked_by: tuple[str, ...] = ()  # for SKIP caused by other checks

    @classmethod
    def passed(cls, summary: str, **evidence: Any) -> "Outcome":
        return cls(Status.PASS, summary, evidence)

    @classmethod
    def warn(cls, summary: str, fix: Fix | None = None, **evidence: Any) -> "Outcome":
        return cls(Status.WARN, summary, evidence, fix)

    @classmethod
    def fail(cls, summary: str, fix: Fix | None = None, **evidence: Any) -> "Outcome":
        return cls(Status.FAIL, summary, evidence, fix)

    @classmethod
    def skip(cls, reason: str, blocked_by: tuple[str, ...] = (), **evidence: Any) -> "Outcome":
        return cls(Status.SKIP, reason, evidence, None, tuple(blocked_by))

    @classmethod
    def error(cls, reason: str, **evidence: Any) -> "Outcome":
        return cls(Status.ERROR, reason, evidence)


@dataclass(frozen=True)
class Result:
    """One check's outcome on one target, as reported."""

    id: str
    title: str
    category: str
    status: Status
    summary: str
    evidence: Mapping[str, Any]
    fix: Fix | None
    duration_ms: int
    target: str  # the target's label
    plugin: str = "builtin"
    blocked_by: tuple[str, ...] = ()
    ignored_by: str | None = None  # set when --ignore demoted this result

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "title": self.title,
            "category": self.category,
            "summary": self.summary,
            "evidence": _jsonable(self.evidence),
            "fix": self.fix.to_dict() if self.fix else None,
            "duration_ms": self.duration_ms,
            "target": self.target,
            "plugin": self.plugin,
            "blocked_by": list(self.blocked_by),
            "ignored_by": self.ignored_by,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if value is None or isinstance(value, (str, int, float, bool)):
        if isinstance(value, float) and value != value:  # NaN is not JSON
            return None
        return value
    return str(value)


def counts(results: "list[Result] | tuple[Result, ...]") -> dict[str, int]:
    """Number of results per status, every status present."""
    out = {s.value: 0 for s in Status}
    for r in results:
        out[r.status.value] += 1
    return out


class ExitCode(enum.IntEnum):
    """The documented exit codes."""

    OK = 0  # no FAIL or ERROR (and no WARN with --fail-on warn)
    PROBLEMS = 1  # at least one FAIL or ERROR (or WARN with --fail-on warn)
    USAGE = 2  # bad command line, bad input, bad config
    INTERNAL = 3  # the doctor itself broke
    OUTPUT = 4  # the report could not be written: stdout closed or full, or a broken pipe (e.g. piped into head)


def exit_code_for(results: "list[Result] | tuple[Result, ...]", fail_on: str = "fail") -> ExitCode:
    worst = max((r.status.rank for r in results), default=0)
    threshold = Status.WARN.rank if fail_on == "warn" else Status.FAIL.rank
    return ExitCode.PROBLEMS if worst >= threshold else ExitCode.OK
