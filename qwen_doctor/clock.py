"""The run's one deadline clock.

It starts when the command starts (:func:`start`, called first thing by ``cli.main``) and ``--deadline``
counts from there: config loading, building the targets, importing drop-ins, the checks and rendering all
spend the same budget. What runs before the deadline is known (config loading) is bounded by the readers'
caps; everything after asks :func:`expired` / :func:`remaining` before each unit of work and, past the
deadline, stops and says in the report what was not done. The runner gets :func:`deadline_at`, so its
checks end at the same instant. Stdlib only (``qwen-doctor --version`` stays light).
"""

from __future__ import annotations

import time

_start = time.monotonic()
_seconds: float | None = None


def start(at: float | None = None) -> None:
    """Start the clock (again): the command begins now; no deadline until :func:`set_deadline`."""
    global _start, _seconds
    _start = time.monotonic() if at is None else at
    _seconds = None


def set_deadline(seconds: float | None) -> None:
    """``--deadline`` in seconds from :func:`start` (None: no deadline)."""
    global _seconds
    _seconds = float(seconds) if seconds else None


def seconds() -> float | None:
    """The --deadline as given (None: none)."""
    return _seconds


def deadline_at() -> float | None:
    """The ``time.monotonic()`` of the deadline, or None."""
    return None if _seconds is None else _start + _seconds


def remaining() -> float | None:
    """Seconds left (never negative), or None without a deadline."""
    at = deadline_at()
    return None if at is None else max(0.0, at - time.monotonic())


def expired() -> bool:
    at = deadline_at()
    return at is not None and time.monotonic() >= at


def elapsed() -> float:
    return time.monotonic() - _start


def bound(timeout: float) -> float:
    """``timeout`` cut to the time left before the deadline."""
    left = remaining()
    return timeout if left is None else min(timeout, left)


def not_done(what: str) -> str:
    """The note a report carries for work the deadline cut off."""
    return f"{what}: not done, the --deadline of {_seconds:g} s had passed ({elapsed():.1f} s after the start)"


__all__ = ["bound", "deadline_at", "elapsed", "expired", "not_done", "remaining", "seconds", "set_deadline", "start"]
