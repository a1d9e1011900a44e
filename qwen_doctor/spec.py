"""A check's spec, declared right beside its function.

``@check(...)`` attaches a frozen :class:`CheckSpec` to the function and returns the function unchanged: nothing
is registered at import time. A plugin's ``register(registry)`` hands its functions to the registry instance it
is given (``registry.add_checks(*functions)``, or :func:`collect` over modules).

The category is the ID's first word (``launch.context-length`` -> ``launch``). Built-in timeouts live in one
table, :data:`qwen_doctor.checks.timeouts.TIMEOUTS`; a third-party spec may carry its own.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from .results import Outcome, Status

if TYPE_CHECKING:  # pragma: no cover
    from .context import Context
    from .target import Target

SPEC_ATTR = "__qwen_doctor_check__"
ID_RE = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$")
#: the facts a check may declare it reads (documentation and scheduling hints)
READS = ("server", "model", "tokenizer", "gpu", "deployment", "sockets", "http", "host")

CheckFunc = Callable[["Context"], Outcome]
Applies = Callable[["Context"], "bool | str"]


def always(ctx: Any) -> bool | str:
    return True


def on_target(applies: Callable[["Target"], "bool | str"]) -> Applies:
    """Adapt an ``applies(target)`` test (the registry's legacy ``check()`` form) to ``applies(ctx)``."""
    if applies is always:
        return always

    def adapted(ctx: "Context") -> bool | str:
        return applies(ctx.target)

    adapted.__wrapped__ = applies  # type: ignore[attr-defined]
    return adapted


class SpecError(ValueError):
    pass


@dataclass(frozen=True)
class CheckSpec:
    id: str  # stable dotted ID, e.g. "launch.embedding-mode"
    title: str
    severity: Status = Status.FAIL  # the worst status this check gives (WARN: a FAIL is reported as WARN)
    applies: Applies = always  # applies(ctx): True, or a reason why it does not apply (-> SKIP)
    requires: tuple[str, ...] = ()  # hard: SKIP when any of these did not PASS/WARN
    uses: tuple[str, ...] = ()  # soft: wait for these and read their evidence when present
    reads: tuple[str, ...] = ()  # facts it reads
    timeout: float | None = None  # None: the built-in table, else the default
    claims: tuple[Any, ...] = ()  # claim IDs (qwen_doctor.claims) or Behaviour tables: what it can say, with sources

    @property
    def category(self) -> str:
        return self.id.split(".", 1)[0]

    def validate(self) -> None:
        if not ID_RE.match(self.id):
            raise SpecError(f"invalid check ID {self.id!r}: use lower-case dotted words like 'site.port-range'")
        if self.id in self.requires or self.id in self.uses:
            raise SpecError(f"check {self.id!r} depends on itself")
        if self.timeout is not None:
            t = self.timeout
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0 or t > 3600:
                raise SpecError(f"check {self.id!r}: timeout must be a finite number of seconds in (0, 3600], not {t!r}")
        if not isinstance(self.severity, Status) or self.severity not in (Status.FAIL, Status.WARN):
            raise SpecError(f"check {self.id!r}: severity must be Status.FAIL or Status.WARN")
        if not callable(self.applies):
            raise SpecError(f"check {self.id!r}: applies must be callable")
        from .versions import Behaviour

        for c in self.claims:
            if not (isinstance(c, Behaviour) or (isinstance(c, str) and ID_RE.match(c))):
                raise SpecError(f"check {self.id!r}: a claim is a claim ID (e.g. 'sglang.context-length-over-model') or a Behaviour table, not {c!r}")


def check(
    id: str,
    title: str,
    *,
    severity: Status = Status.FAIL,
    applies: Applies = always,
    requires: Sequence[str] = (),
    uses: Sequence[str] = (),
    reads: Sequence[str] = (),
    timeout: float | None = None,
    claims: Sequence[Any] = (),
) -> Callable[[CheckFunc], CheckFunc]:
    """Declare a check: attaches a frozen :class:`CheckSpec` to the function (no registration).

    ``claims``: the claims (IDs in :mod:`qwen_doctor.claims`, or Behaviour tables) whose statements it can print
    with ``ctx.claim(ID)``; ``qwen-doctor explain ID`` shows each with its source and release range."""
    spec = CheckSpec(id, title, severity, applies, tuple(requires), tuple(uses), tuple(reads), timeout, tuple(claims))
    spec.validate()

    def deco(func: CheckFunc) -> CheckFunc:
        setattr(func, SPEC_ATTR, spec)
        return func

    return deco


def spec_of(func: Any) -> CheckSpec | None:
    s = getattr(func, SPEC_ATTR, None)
    return s if isinstance(s, CheckSpec) else None


def collect(modules: Iterable[ModuleType]) -> list[CheckFunc]:
    """The check functions declared in ``modules``, in module order then source order."""
    out: list[CheckFunc] = []
    for m in modules:
        funcs = [v for v in vars(m).values() if callable(v) and spec_of(v) is not None and getattr(v, "__module__", None) == m.__name__]
        funcs.sort(key=lambda f: getattr(getattr(f, "__code__", None), "co_firstlineno", 0))
        out.extend(funcs)
    return out
