"""What a check sees: the target, the run's options, and the results of the checks it waits for."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .model import Result
from .target import Target


@dataclass(frozen=True)
class RunOptions:
    """Run-wide settings that are not part of the deployment itself."""

    api_key: str | None = None  # for the live probe; redacted everywhere
    model_name: str | None = None  # the model name clients send
    expect_dim: int | None = None
    samples: str | None = None  # --samples FILE
    as_user: str | None = None  # the user the server runs as (file permission checks)
    deep: bool = False  # allow expensive checks (GPU trial allocation)
    requests: int = 20  # latency probe request count
    concurrency: int = 1
    probe_timeout: float = 10.0  # per HTTP request read timeout (seconds)
    connect_timeout: float = 3.0
    offline: bool = False  # never touch the network (live probe -> SKIP)
    progress: bool = False  # show progress bars (TTY only)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.api_key,) if s)


class Context:
    """Handed to each check function. Thread-safe memo for expensive shared loads (config.json, ...)."""

    def __init__(self, target: Target, options: RunOptions, deps: Mapping[str, Result], memo: "Memo") -> None:
        self.target = target
        self.options = options
        self._deps = dict(deps)
        self._memo = memo

    def result(self, check_id: str) -> Result | None:
        """The result of a check listed in depends_on/uses (None if it did not run)."""
        return self._deps.get(check_id)

    def evidence(self, check_id: str, key: str, default: Any = None) -> Any:
        r = self._deps.get(check_id)
        if r is None:
            return default
        return r.evidence.get(key, default)

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """Compute once per target and run (e.g. the parsed config.json), shared across checks."""
        return self._memo.get((self.target.label, key), compute)


class Memo:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[Any, Any] = {}
        self._locks: dict[Any, threading.Lock] = {}

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._values:
                return self._values[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._values:
                    return self._values[key]
            value = compute()
            with self._lock:
                self._values[key] = value
            return value
