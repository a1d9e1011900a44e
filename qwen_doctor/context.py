"""What a check sees: the target, the run's options, the run's facts, and the results of the checks it waits for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .facts import FactsStore, ModelFacts, ServerFacts
from .results import Result
from .target import Target

if TYPE_CHECKING:  # pragma: no cover
    from .registry import Check
    from .relaunch import Relaunch


@dataclass(frozen=True)
class RunOptions:
    """Run-wide settings that are not part of the deployment itself."""

    api_key: str | None = None  # for the live probe; redacted everywhere
    model_name: str | None = None  # the model name clients send
    expect_dim: int | None = None
    samples: str | None = None  # --samples FILE
    as_user: str | None = None  # the user the server runs as (file permission checks)
    deep: bool = False  # allow expensive checks (GPU trial allocation)
    reference_python: str | None = None  # --reference-python: the interpreter of probe.parity's reference process
    requests: int = 20  # latency probe request count
    concurrency: int = 1
    load: int | None = None  # --load N: the opt-in bounded load probe's request cap (None: off)
    metrics_interval: float = 1.5  # seconds between the two reads of the server's /metrics
    probe_timeout: float = 10.0  # per HTTP request read timeout (seconds)
    connect_timeout: float = 3.0
    offline: bool = False  # never touch the network (live probe -> SKIP)
    progress: bool = False  # show progress bars (TTY only)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.api_key,) if s)


class Context:
    """Handed to each check function.

    ``ctx.server`` and ``ctx.model`` are the run's facts for this target (computed once, shared by every check and,
    for the model, by every target with the same model location); ``ctx.facts`` has the per-run services.
    """

    def __init__(self, target: Target, options: RunOptions, deps: Mapping[str, Result], facts: FactsStore | None = None, check: "Check | None" = None) -> None:
        self.target = target
        self.options = options
        self._deps = dict(deps)
        self.facts = facts if facts is not None else FactsStore()
        self.check = check  # the check being run (None outside the runner)

    def claim(self, claim_id: str, *, server: ServerFacts | None = None, **values: Any) -> str | None:
        """The statement of claim ``claim_id`` for this target's server release (or ``server``, e.g. one the probe
        saw), its ``{fields}`` filled from ``values``; None when no row holds: a claim outside its range is never
        printed. A check prints only the claims it declared (``@check(..., claims=(...))``)."""
        from .claims import ClaimError, resolve, statement
        from .claims import claim_id as _id

        own: tuple[Any, ...] = self.check.claims if self.check is not None else ()
        if self.check is not None and claim_id not in {_id(c) for c in own}:
            raise ClaimError(f"check {self.check.id} prints claim {claim_id!r} but does not declare it in @check(claims=...)")
        return statement(resolve(claim_id, own), self.server if server is None else server, **values)

    def result(self, check_id: str) -> Result | None:
        """The result of a check listed in requires/uses (None if it did not run)."""
        return self._deps.get(check_id)

    def evidence(self, check_id: str, key: str, default: Any = None) -> Any:
        r = self._deps.get(check_id)
        if r is None:
            return default
        return r.evidence.get(key, default)

    @property
    def server(self) -> ServerFacts | None:
        return self.facts.server(self.target)

    @property
    def model(self) -> ModelFacts | None:
        return self.facts.model(self.target)

    def tokenizer_model(self) -> tuple[ModelFacts | None, str]:
        return self.facts.tokenizer_model(self.target)

    @property
    def relaunch(self) -> "Relaunch":
        from .relaunch import Relaunch

        return Relaunch(self.target)

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """Compute once per target and run, shared across this target's checks."""
        return self.facts.memo.get(("target", id(self.target), key), compute)
