"""probe.load (opt-in, --load N): a bounded load probe that steps concurrency up until the server's knee."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ...results import Fix, Outcome, Status
from ...spec import check
from . import _load as L
from ._common import REACHABLE, Budget, applies, client, embeddings_work, halted, kind
from ._metrics import NAMES, TEI_OVERLOADED
from .metrics import GOVERN

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

MAX_LOAD_REQUESTS = 10_000  # whatever --load says
MAX_CONCURRENCY = 64
P95_KNEE_FACTOR = 2.0  # a step whose p95 is at least this times the first step's is past the knee ...
P95_KNEE_MIN_RISE_S = 0.05  # ... and at least this much higher (5 ms -> 12 ms is noise, not a knee)


def applies_load(ctx: "Context") -> bool | str:
    if not ctx.options.load:
        return "not requested: the load probe runs only with --load N"
    base = applies(ctx)
    if base is not True:
        return base
    t = ctx.target
    if not (t.url_source == "url" or (t.url_source == "launch" and t.deployment is None and t.pid is None)):
        return "the load probe goes only to a server named with --url or a launch command, never to one discovered or read from a file"
    return True


def steps_for(concurrency: int) -> list[int]:
    """1, 2, 4, ... up to ``concurrency`` (included)."""
    top = max(1, min(int(concurrency), MAX_CONCURRENCY))
    out, c = [], 1
    while c < top:
        out.append(c)
        c *= 2
    return out + [top]


@check(
    "probe.load",
    "Bounded load: where the server's latency knees or errors start",
    applies=applies_load,
    requires=(*REACHABLE, "probe.identity"),  # the server's own context length bounds the long inputs
    uses=("probe.embeddings", "probe.metrics", "model.config", "tokenizer.load"),
    reads=("http", "server", "model"),
    severity=Status.WARN,
    claims=(NAMES, TEI_OVERLOADED.id),
)
def check_load(ctx: "Context") -> Outcome:
    """What it checks: only with `--load N` (never by default), it sends at most N embedding requests to the server named with `--url` or the launch command (never a discovered one), with concurrency stepping 1, 2, 4, ... up to `--concurrency`, using the `--samples` texts or else a mix of lengths that includes long inputs (up to ~3/4 of the context length). It stops at the first step where errors appear or p95 latency doubles against the first step (and rises by 50 ms at least), and reports per step requests/s, tokens/s, p50/p95/p99 latency and the error rate, with the server's own metrics deltas during the step (see probe.metrics). Hard caps: N requests (at most 10000), 64 in flight, and the check's time limit.

    Why it matters: "how much can this replica take before latency doubles or requests fail" is the on-call question behind every autoscaling and rate-limit setting. The knee sits where the engine's batch is full: `--max-num-seqs` / `--max-num-batched-tokens` (vLLM), `--max-running-requests` / `--chunked-prefill-size` (SGLang), `--max-batch-requests` / `--max-batch-tokens` (TEI; `--max-concurrent-requests` answers 429 past it, router/src/http/server.rs). Long inputs move the knee down.

    How to fix: size clients' concurrency and the autoscaler's target below the knee; to move it, raise the settings above where memory allows (probe.metrics names the one in effect), or add replicas. The probe is load: run it against a server you may load, not production at peak.
    """
    stop = halted(ctx)
    if stop is not None:
        return stop
    skip = embeddings_work(ctx)
    if skip:
        return Outcome.skip(skip)
    o = ctx.options
    cap = max(1, min(int(o.load or 0), MAX_LOAD_REQUESTS))
    steps = steps_for(o.concurrency)
    texts, source = L.inputs(ctx)
    budget = Budget("probe.load")
    sampler = _sampler(ctx)
    ev: dict[str, Any] = {"cap_requests": cap, "steps_planned": steps, "inputs": source, "metrics_url": sampler.base + "/metrics" if sampler else None}
    done: list[L.Step] = []
    reason: str | None = None
    sent = 0
    progress = L.Progress(cap, enabled=bool(o.progress))
    with progress, client(ctx, max_connections=steps[-1]) as c:
        for conc in steps:
            left_req = cap - sent
            n = min(max(2 * conc, cap // len(steps)), left_req)
            if n < conc:
                reason = f"request cap --load {cap} reached"
                break
            if budget.left() < 3:
                reason = "time limit"
                break
            progress.describe(f"concurrency {conc}")
            step = L.Step(conc, n)
            L.run_step(ctx, c, step, texts, sent, budget.left, progress.advance, sampler)
            sent += step.sent
            done.append(step)
            if step.errors:
                reason = f"errors at concurrency {conc}: {step.errors} of {step.sent} failed ({step.first_error})"
                break
            base = done[0].p(95)
            p95 = step.p(95)
            if len(done) > 1 and base and p95 and p95 >= P95_KNEE_FACTOR * base and p95 - base >= P95_KNEE_MIN_RISE_S:
                reason = f"p95 latency doubled at concurrency {conc}: {p95 * 1000:.0f} ms against {base * 1000:.0f} ms at concurrency {done[0].concurrency}"
                break
            if step.stopped:
                reason = step.stopped
                break
            time.sleep(0.2)  # let the server drain between steps
    ev["steps"] = [s.row() for s in done]
    ev["requests_sent"] = sent
    ev["stopped"] = reason or f"every step up to --concurrency {steps[-1]} done"
    good = [s for s in done if not s.errors and s.latencies]
    if reason and reason.startswith("p95") and good:
        good = good[:-1] or good[:1]
    knee = good[-1] if good else None
    if knee is not None:
        ev["knee"] = {k: v for k, v in knee.row().items() if k in ("concurrency", "rps", "tokens_per_s", "p50_ms", "p95_ms", "p99_ms", "error_rate")}
    table = "; ".join(f"c={s.concurrency}: {s.row()['rps']} req/s, p95 {s.row()['p95_ms']} ms, {s.errors} errors" for s in done)
    rejected = sum(s.rejected for s in done)
    if rejected:  # the client's input, not the load: said, never counted as errors
        ev["rejected_too_long"] = rejected
        first = next(s.first_rejected for s in done if s.first_rejected)
        table += f"; {rejected} inputs refused as longer than the server's context length ({first})"
    ev["table"] = table
    if not done:
        return Outcome.warn(f"no load step ran ({reason})", None, **ev)
    settings = _settings(ctx)
    errors = sum(s.errors for s in done)
    if knee is None:
        return Outcome.warn(
            f"requests fail under the lightest load: {reason}",
            Fix(f"See probe.embeddings and the server log; the concurrency limits are {settings}."),
            **ev,
        )
    k = ev["knee"]
    head = f"knee at concurrency {k['concurrency']}: {k['rps']} req/s, {k['tokens_per_s']} tokens/s, p95 {k['p95_ms']} ms"
    if errors:
        return Outcome.warn(
            f"{head}; then {reason}",
            Fix(f"Keep clients below concurrency {k['concurrency']} or raise the server's limits ({settings}); see probe.metrics for the one in effect."),
            **ev,
        )
    if reason and reason.startswith("p95"):
        return Outcome.passed(f"{head}; {reason} ({table})", **ev)
    return Outcome.passed(f"no knee up to concurrency {done[-1].concurrency} ({ev['stopped']}): {head} ({table})", **ev)


def _sampler(ctx: "Context") -> "L.MetricsSampler | None":
    url = ctx.evidence("probe.metrics", "metrics_url")
    dialect = ctx.evidence("probe.metrics", "dialect")
    if not url or dialect not in GOVERN:
        return None
    return L.MetricsSampler(ctx, url, dialect, min(0.5, float(ctx.options.metrics_interval)))  # gauges during a step


def _settings(ctx: "Context") -> str:
    k = ctx.evidence("probe.metrics", "dialect") or kind(ctx)
    g = GOVERN.get(k or "")
    if not g:
        return "--max-num-seqs (vLLM), --max-running-requests (SGLang), --max-batch-tokens / --max-concurrent-requests (TEI)"
    return ", ".join(opt for opt, _ in g.values())
