"""probe.health: GET /health (status, latency) and GET /ready where the server has it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...results import Fix, Outcome
from ...spec import check
from ...versions import Behaviour, rows
from ._common import REACHABLE, Budget, applies, client, halted, kind, live_server, older_than_known
from ._diagnose import network_failure

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

SGLANG_HEALTH_TIMEOUT = 20.0  # SGLANG_HEALTH_CHECK_TIMEOUT default: /health waits this long for the engine
SLOW_HEALTH_S = 5.0

_HTTP_SERVER = "python/sglang/srt/entrypoints/http_server.py"
#: what SGLang's GET /health does
SGLANG_HEALTH: Behaviour[str] = Behaviour(
    "sglang.health",
    "SGLang's GET /health: a fake 200, then a real 1-token engine probe (20 s timeout), then also 503 while starting and shutting down.",
    rows("sglang", f"{_HTTP_SERVER} health_generate at v0.5.1 (503 while status Starting; shared/reference/sglang.md 5)", (">=0.5.1", "probe+starting"))
    + rows("sglang", f"{_HTTP_SERVER} at v0.4.10.post2 (/health = /health_generate, PR #8115/#8444)", (">=0.4.10,<0.5.1", "probe"))
    + rows("sglang", f"{_HTTP_SERVER} at v0.4.9.post6 (/health always 200)", ("<0.4.10", "always-200")),
)
#: whether SGLang has GET /ready
SGLANG_READY: Behaviour[bool] = Behaviour(
    "sglang.ready-route",
    "SGLang's GET /ready (200/503 from tokenizer_manager.is_ready()).",
    rows("sglang", f"{_HTTP_SERVER} at v0.5.20 (shared/reference/sglang.md 5)", (">=0.5.20", True), ("<0.5.20", False)),
)

_503_WHY = {
    "probe+starting": "SGLang (>= 0.5.1) answers 503 while starting (until warm-up has finished) and while shutting down, and when its engine gave no answer within 20 s",
    "probe": "SGLang (0.4.10 - 0.5.0) answers 503 when its engine gave no answer to the health probe within 20 s",
    "always-200": "SGLang before 0.4.10 always answers 200, so a 503 comes from something in front of it",
}


def _ready_missing() -> str:
    """Why /ready answers 404: the servers (and SGLang releases) without the route."""
    first = next(r for r in SGLANG_READY if r.value is True)
    return f"no /ready route (SGLang < {str(first.range).lstrip('>=')}, vLLM, TEI)"


@check(
    "probe.health",
    "Health endpoint answers 200",
    applies=applies,
    requires=REACHABLE,
    uses=("probe.identity",),
    reads=("http", "server"),
    claims=(
        SGLANG_HEALTH.id,
        SGLANG_READY.id,
    ),
)
def check_health(ctx: "Context") -> Outcome:
    """What it checks: GET /health (status, latency, body size) and GET /ready where the server has it (SGLang >= 0.5.20).

    Why it matters: load balancers and Kubernetes readiness probes use /health. SGLang has /health: from 0.4.10 it runs a real 1-token probe of the engine with a 20 s timeout (SGLANG_HEALTH_CHECK_TIMEOUT), from 0.5.1 it answers 503 while starting (until warm-up is done) and during shutdown, with an empty body (python/sglang/srt/entrypoints/http_server.py at those tags); vLLM answers 503 when its engine is dead; TEI has /health too. SGLang, vLLM and TEI exempt /health from --api-key. A probe timeout under 20 s marks a busy but healthy SGLang as down.

    How to fix: probe readiness with HTTP GET /health and a timeout above 20 s (not a TCP probe, not GET /); a 503 during start-up clears after warm-up; a persistent 503 or a hang needs the server log (engine stuck or crashed); raise SGLANG_HEALTH_CHECK_TIMEOUT when long prefills delay the probe.
    """
    stop = halted(ctx)  # the server stalled (consecutive timeouts) or the deadline is near
    if stop is not None:
        return stop
    o = ctx.options
    k = kind(ctx)
    sf = live_server(ctx)
    sglang = sf.at(SGLANG_HEALTH) if sf is not None and sf.kind == "sglang" else None
    if k == "sglang" and sglang is None:
        sglang = "probe+starting"  # a release older than every known one: assume the engine probe (the longer wait)
    budget = Budget("probe.health")
    want = max(o.probe_timeout, SGLANG_HEALTH_TIMEOUT + 2.0) if sglang in ("probe", "probe+starting") else o.probe_timeout
    with client(ctx) as c:
        r = c.get("/health", read_timeout=budget.read(want))
        # /ready only matters when /health answered (after a timeout it would only be another wait)
        ready = c.get("/ready", read_timeout=budget.read(o.probe_timeout)) if budget.left() > 1 and r.failure is None else None
    ev: dict[str, Any] = {"health_status": r.status, "health_ms": r.ms, "health_body_bytes": len(r.body)}
    ready_txt = ""
    if ready is not None and ready.answered:
        ev.update(ready_status=ready.status, ready_ms=ready.ms)
        if ready.status == 200:
            ready_txt = f"; /ready 200 in {ready.ms} ms"
        elif ready.status == 404:
            ready_txt = "; " + _ready_missing()
        else:
            ready_txt = f"; /ready {ready.status}"
    if r.failure is not None:
        from ...probe.http import Failure

        if r.failure.kind is Failure.READ_TIMEOUT:
            why = (
                f"SGLang's own engine probe gives up after {SGLANG_HEALTH_TIMEOUT:g} s and answers 503, so a longer silence means the HTTP server itself is stuck (or a proxy holds the request)"
                if k == "sglang"
                else "the server (or a proxy in front of it) holds the request: its HTTP loop is blocked or overloaded"
            )
            return Outcome.fail(
                f"GET /health: {r.failure.message}: {why}",
                Fix("Read the server log; readiness probes need a timeout above 20 s (periodSeconds/timeoutSeconds in Kubernetes)."),
                **ev,
                failure=r.failure.kind.value,
            )
        if r.failure.kind in (Failure.REDIRECT, Failure.STALLED):
            out = network_failure(ctx, r, "GET /health")
            return Outcome(out.status, out.summary, {**ev, **out.evidence}, out.fix)
        return Outcome.fail(f"GET /health: {r.failure}", Fix("See probe.reachable."), **ev, failure=r.failure.kind.value)
    st = r.status
    if st == 200:
        if ready is not None and ready.status == 503:
            return Outcome.warn(
                f"/health 200 in {r.ms} ms, but /ready 503: the server is not ready to take requests yet",
                Fix("Wait for start-up to finish; route traffic on /ready where the server has it."),
                **ev,
            )
        if r.elapsed_s > SLOW_HEALTH_S:
            return Outcome.warn(
                f"/health 200 but slow: {r.elapsed_s:.1f} s. SGLang's /health runs a real engine probe, so a busy engine (long prefills) delays it; at 20 s it answers 503",
                Fix("Give readiness probes a timeout above 20 s, or raise SGLANG_HEALTH_CHECK_TIMEOUT; check the load."),
                **ev,
            )
        return Outcome.passed(f"/health 200 in {r.ms} ms{ready_txt}", **ev)
    if st == 503:
        if k == "sglang":
            old = older_than_known(sf)
            why = _503_WHY[sglang or "probe+starting"] + (f" ({old})" if old else "")
        else:
            why = {
                "vllm": "vLLM answers 503 when its engine is dead (EngineDeadError): the server must be restarted; the cause is in its log",
                "tei": "TEI answers 503 when its backend is unhealthy",
            }.get(k or "", "the server says it is not healthy: starting, shutting down, or its engine is stuck")
        return Outcome.fail(
            f"/health 503 in {r.ms} ms: {why}",
            Fix("If the server is starting, wait for its ready line; otherwise read its log (engine crash, out of memory)."),
            **ev,
        )
    if st in (401, 403):
        return Outcome.warn(
            f"/health answers {st}: SGLang, vLLM and TEI exempt /health from --api-key, so something in front of the server (proxy, gateway) demands credentials; unauthenticated readiness probes will fail",
            Fix("Exempt /health from authentication in the proxy, or give the probes credentials."),
            **ev,
        )
    if st == 404:
        return Outcome.warn(
            "no /health route (404): SGLang, vLLM and TEI all have one; is this URL the embedding server itself?",
            Fix("Point --url at the server root; readiness probes need an HTTP route."),
            **ev,
        )
    return Outcome.fail(f"/health answers {st}: {r.message(160)}", Fix("Read the server log."), **ev)
