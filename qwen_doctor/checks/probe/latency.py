"""probe.latency: p50 / p95 / max latency and throughput of small embedding requests."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from ...probe import percentile
from ...results import Fix, Outcome
from ...spec import check
from ._common import REACHABLE, Budget, applies, client, embed_body, embeddings_work, halted
from ._load import Progress

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

SLOW_P95_S = 2.0
MAX_LATENCY_REQUESTS = 1000
MAX_CONCURRENCY = 64


@check(
    "probe.latency",
    "Latency of small requests",
    applies=applies,
    requires=REACHABLE,
    uses=("probe.embeddings", "probe.content-type"),
    reads=("http",),
)
def check_latency(ctx: "Context") -> Outcome:
    """What it checks: how fast the server answers: N small embedding requests (--requests, default 20) at --concurrency C, reported as p50 / p95 / max latency and throughput, with a progress bar on a terminal.

    Why it matters: on call, "up and correct but taking 8 s per request" is a different incident from "down". Small requests should take milliseconds on a GPU; a high p95 means queueing behind long prefills, an overloaded server, or a server that shares its GPU. Failed requests under concurrency show limits (--max-running-requests, --max-num-seqs, TEI --max-concurrent-requests) being hit.

    How to fix: compare with the server's own metrics (/metrics); reduce concurrent long inputs, add replicas, or raise the server's concurrency limits; the request count and concurrency are bounded (at most 1000 requests, 64 in flight).
    """
    stop = halted(ctx)  # the server stalled (consecutive timeouts) or the deadline is near
    if stop is not None:
        return stop
    skip = embeddings_work(ctx)
    if skip:
        return Outcome.skip(skip)
    o = ctx.options
    n = max(1, min(int(o.requests), MAX_LATENCY_REQUESTS))
    conc = max(1, min(int(o.concurrency), MAX_CONCURRENCY, n))
    budget = Budget("probe.latency")
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    done = 0
    stopped: str | bool = False  # why the remaining requests were not sent
    progress = Progress(n, enabled=bool(o.progress), label="probe.latency")
    t0 = time.monotonic()
    with client(ctx, max_connections=conc) as c:

        def one(i: int) -> None:
            nonlocal done, stopped
            why = "time limit" if budget.left() < 1 else (c.guard.halted() if c.guard is not None else None)
            if why:
                with lock:
                    stopped = stopped or why
                return
            r = c.post_json("/v1/embeddings", embed_body(ctx, f"latency probe {i}: a short sentence."), read_timeout=budget.read(o.probe_timeout))
            with lock:
                done += 1
                if r.answered and r.status == 200:
                    lat.append(r.elapsed_s)
                else:
                    errors.append(r.describe() if r.failure else f"HTTP {r.status}: {r.message(80)}")
            progress.advance()

        with progress:
            if conc == 1:
                for i in range(n):
                    one(i)
            else:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=conc, thread_name_prefix="qwen-doctor-latency") as pool:
                    list(pool.map(one, range(n)))
    wall = time.monotonic() - t0
    ev: dict[str, Any] = {"requests": n, "concurrency": conc, "ok": len(lat), "errors": len(errors), "total_s": round(wall, 3)}
    if errors:
        ev["first_error"] = errors[0]
    if stopped:
        ev["stopped_early"] = stopped
    if not lat:
        return Outcome.fail(
            f"all {done} latency requests failed: {errors[0] if errors else 'no request completed in time'}",
            Fix("See probe.embeddings and the server log."),
            **ev,
        )
    p50, p95, mx = percentile(lat, 50), percentile(lat, 95), max(lat)
    ev.update(
        p50_ms=round(p50 * 1000, 1),
        p95_ms=round(p95 * 1000, 1),
        max_ms=round(mx * 1000, 1),
        mean_ms=round(sum(lat) / len(lat) * 1000, 1),
        rps=round(len(lat) / wall, 1) if wall > 0 else None,
    )
    text = f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {mx * 1000:.0f} ms over {len(lat)} requests (concurrency {conc}, {ev['rps']} req/s)"
    if stopped:
        text += f"; stopped after {done} of {n} requests ({stopped})"
    if errors:
        return Outcome.warn(f"{len(errors)} of {done} requests failed ({errors[0]}); {text}", Fix("Check the server's concurrency limits and log."), **ev)
    if p95 > SLOW_P95_S:
        return Outcome.warn(
            f"slow: {text}; small requests should take milliseconds",
            Fix("Check the server's load (/metrics), long prefills sharing the engine, and GPU contention."),
            **ev,
        )
    return Outcome.passed(text, **ev)
