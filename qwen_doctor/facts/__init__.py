"""Facts, computed once per run and read by many checks: the model, the server, and per-run services.

A :class:`FactsStore` lives for one run (the runner makes it; ``serve`` makes a new one per run, so nothing
grows run after run). It hands out :class:`ModelFacts` once per distinct model location, :class:`ServerFacts`
once per target, and the run's shared services: one socket scan, one GPU snapshot, one tokenizer load per
distinct tokenizer directory.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable

from .model import Identity, ModelFacts, ModelLocation, hf_cache_roots, locate, model_facts, target_env, tokenizer_written
from .server import ServerFacts, as_float, as_int, server_facts

if TYPE_CHECKING:  # pragma: no cover
    from ..target import Target

__all__ = [
    "FactsStore",
    "Identity",
    "ModelFacts",
    "ModelLocation",
    "ServerFacts",
    "as_float",
    "as_int",
    "hf_cache_roots",
    "locate",
    "target_env",
    "tokenizer_written",
]


class Memo:
    """Thread-safe compute-once map: concurrent askers of one key wait for the first computation."""

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
                self._locks.pop(key, None)
            return value

    def __len__(self) -> int:
        return len(self._values)


def _location_key(t: "Target", written: str) -> tuple:
    """What decides where a model path resolves: the path, the revision, and the hub-cache settings."""
    rev = t.option("revision") if t.server else None
    dl = t.option("huggingface_hub_cache") if t.server == "tei" else (t.option("download_dir") if t.server == "vllm" else None)
    env = tuple(target_env(t, n) for n in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"))
    return (written, str(rev), str(dl), env)


class FactsStore:
    """The facts of one run."""

    def __init__(self) -> None:
        self.memo = Memo()
        self.deadline_at: float | None = None  # time.monotonic() of the run's --deadline (set by the runner)

    # -- model ------------------------------------------------------------------------------------
    def location(self, t: "Target", written: str | None = None) -> ModelLocation:
        w = written if written is not None else (t.model_path or "")
        return self.memo.get(("location", _location_key(t, w)), lambda: locate(t, w))

    def model(self, t: "Target", written: str | None = None) -> ModelFacts | None:
        """The facts of the target's model (or of ``written``, e.g. a --tokenizer path); None without a model path."""
        w = written if written is not None else t.model_path
        if not w:
            return None
        return self.memo.get(("model-of", id(t), w), lambda: self._model_at(self.location(t, w)))  # checks ask often

    def _model_at(self, loc: ModelLocation) -> ModelFacts:
        return self.memo.get(("model", loc.key), lambda: model_facts(loc))

    def tokenizer_model(self, t: "Target") -> tuple[ModelFacts | None, str]:
        """(facts of the directory the tokenizer is read from, where it comes from)."""
        tw = tokenizer_written(t)
        if tw is not None:
            mf = self.model(t, tw)
            if mf is not None and mf.directory is not None:
                opt = "--tokenizer-path" if t.server == "sglang" else "--tokenizer"
                return mf, f"{opt} {tw}"
        return self.model(t), "the model directory"

    # -- server -----------------------------------------------------------------------------------
    def server(self, t: "Target") -> ServerFacts | None:
        return self.memo.get(("server", id(t)), lambda: server_facts(t))

    # -- per-run services -------------------------------------------------------------------------
    def once(self, key: Any, compute: Callable[[], Any]) -> Any:
        """A run-wide value computed once (socket scan, GPU snapshot, a parsed --samples file, ...)."""
        return self.memo.get(("service", key), compute)

    def sockets(self) -> list:
        """The host's TCP sockets, scanned once per run."""
        from ..procs import scan_connections

        return self.once("sockets", scan_connections)
