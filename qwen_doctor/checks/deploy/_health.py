"""What each server's health routes do, per release: read by deploy.probes (tables with their sources).

Kubernetes probe defaults: timeoutSeconds 1, periodSeconds 10, failureThreshold 3, initialDelaySeconds 0; compose
healthcheck defaults: interval 30 s, timeout 30 s, retries 3, start_period 0.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

from ...facts import as_float
from ...results import Status
from ...versions import Behaviour, rows
from ._common import server_name, shown_port

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

SGLANG_HEALTH_TIMEOUT = 20  # s, SGLANG_HEALTH_CHECK_TIMEOUT default (python/sglang/srt/environ.py at v0.5.23)
MIN_STARTUP_S = 300  # the kubelet / compose should wait at least this long for the weight load
RECOMMENDED_STARTUP_FAILURES = 60  # x periodSeconds 10 = 10 minutes

_SGLANG_ROUTES = ("/health", "/health_generate", "/ready", "/model_info", "/get_model_info", "/v1/models", "/ping")

#: the HTTP GET routes each server release answers (a probe on any other path gets 404 forever)
HEALTH_ROUTES: Behaviour[tuple[str, ...]] = Behaviour(
    "deploy.health-routes",
    "The HTTP GET routes of each server that a probe can use (any other path answers 404).",
    rows(
        "sglang",
        "python/sglang/srt/entrypoints/http_server.py at v0.5.20 (GET /ready) and v0.5.23 (GET /ping, SageMaker); shared/reference/sglang.md §5",
        (">=0.5.20", _SGLANG_ROUTES),
    )
    + rows(
        "sglang",
        "python/sglang/srt/entrypoints/http_server.py at v0.5.6 (GET /model_info; /get_model_info its alias)",
        (">=0.5.6,<0.5.20", tuple(r for r in _SGLANG_ROUTES if r != "/ready")),
    )
    + rows(
        "sglang",
        "python/sglang/srt/entrypoints/http_server.py at v0.4.6.post5 and v0.5.5 (no /ready, no /model_info; GET /ping under "
        "'## SageMaker API' answers 200 from the HTTP server)",
        ("<0.5.6", ("/health", "/health_generate", "/get_model_info", "/v1/models", "/ping")),
    )
    + rows(
        "vllm",
        "vllm/entrypoints/openai/api_server.py at v0.8.5 (/health, /v1/models, /version; no GET /); /ping: "
        "entrypoints/serve/sagemaker/api_router.py at v0.32.0 and v0.33.0 (earlier in api_server.py beside /invocations, "
        "'Ping check. Endpoint required for SageMaker'); shared/reference/vllm-tei-qwen3.md B.4",
        ("*", ("/health", "/v1/models", "/ping", "/version")),
    )
    + rows(
        "tei",
        "router/src/http/server.rs (TEI HEAD): GET / and /ping run the same handler as /health (public routes); /info; shared/reference/vllm-tei-qwen3.md C.3",
        ("*", ("/health", "/", "/ping", "/info")),
    ),
)

#: the routes whose answer says whether the engine can serve (the others answer from the HTTP server alone)
ENGINE_ROUTES: Behaviour[tuple[str, ...]] = Behaviour(
    "deploy.engine-routes",
    "The routes of each server whose status reflects whether the engine can serve (503 when it cannot).",
    rows(
        "sglang",
        "python/sglang/srt/entrypoints/http_server.py at v0.5.20 (/ready: 200/503 from tokenizer_manager.is_ready()); "
        "/health and /health_generate probe the engine (shared/reference/sglang.md §5); /ping, /v1/models and /model_info "
        "answer from the HTTP server",
        (">=0.5.20", ("/health", "/health_generate", "/ready")),
        ("<0.5.20", ("/health", "/health_generate")),
    )
    + rows(
        "vllm",
        "vllm/entrypoints/serve/instrumentator/health.py at v0.33.0 (/health: 503 on EngineDeadError) and "
        "serve/sagemaker/api_router.py (/ping calls health); /v1/models and /version answer from the API server",
        ("*", ("/health", "/ping")),
    )
    + rows(
        "tei",
        "router/src/http/server.rs (TEI HEAD): /, /health and /ping share the health handler; /info is static",
        ("*", ("/health", "/", "/ping")),
    ),
)

#: whether SGLang's GET /health runs a real 1-token engine probe (waiting up to SGLANG_HEALTH_CHECK_TIMEOUT)
HEALTH_PROBES_ENGINE: Behaviour[bool] = Behaviour(
    "sglang.health-probes-engine",
    "Whether SGLang's /health runs a 1-token engine probe (up to SGLANG_HEALTH_CHECK_TIMEOUT, 20 s) or answers 200 at once.",
    rows(
        "sglang",
        "python/sglang/srt/entrypoints/http_server.py at v0.4.10.post2 (/health shares /health_generate's handler; PR #8115, #8444)",
        (">=0.4.10", True),
    )
    + rows("sglang", "python/sglang/srt/entrypoints/http_server.py at v0.4.9.post6 (/health always answers 200)", ("<0.4.10", False)),
)

#: whether SGLANG_ENABLE_HEALTH_ENDPOINT_GENERATION=false turns the engine probe of /health off
HEALTH_GENERATION_SWITCH: Behaviour[bool] = Behaviour(
    "sglang.health-generation-switch",
    "Whether SGLANG_ENABLE_HEALTH_ENDPOINT_GENERATION=false makes SGLang's /health answer 200 without probing the engine.",
    rows(
        "sglang",
        "python/sglang/srt/environ.py at v0.5.6 (SGLANG_ENABLE_HEALTH_ENDPOINT_GENERATION, default True); shared/reference/sglang.md §5",
        (">=0.5.6", True),
    )
    + rows("sglang", "shared/reference/sglang.md §5 (the variable first appears in 0.5.6)", ("<0.5.6", False)),
)

#: what the server does between its start and its first answer (the reason a probe must allow for the load)
LOAD_BEHAVIOUR: Behaviour[str] = Behaviour(
    "deploy.load-behaviour",
    "What each server does on the network between its start and its first healthy answer.",
    rows(
        "sglang",
        "python/sglang/srt/entrypoints/http_server.py at v0.5.20 (uvicorn binds once the weights are loaded; the warm-up thread "
        "then requests the server over HTTP, and /health answers 503 while the status is Starting); v0.5.1 (503 while Starting)",
        (">=0.5.1", "SGLang binds its port only after the weights have loaded, and its /health answers 503 until its warm-up request has finished"),
    )
    + rows(
        "sglang",
        "python/sglang/srt/entrypoints/http_server.py at v0.4.10.post2 (uvicorn binds once the weights are loaded; the warm-up "
        "thread then requests the server over its own HTTP port)",
        ("<0.5.1", "SGLang binds its port only after the weights have loaded, and then warms up through that port"),
    )
    + rows(
        "vllm",
        "vllm/entrypoints/openai/api_server.py at v0.8.5 and v0.11.0 (create_server_socket only binds; uvicorn serves after build_async_engine_client)",
        ("*", "vLLM answers nothing until the engine has loaded the weights"),
    )
    + rows(
        "tei",
        "router/src/lib.rs run() (TEI HEAD): the model is downloaded and the backend started before the HTTP server",
        ("*", "TEI serves nothing until it has downloaded and loaded the model"),
    ),
)

#: why a bare TCP probe does not tell whether the server can serve
TCP_PROBE: Behaviour[str] = Behaviour(
    "deploy.tcp-probe",
    "What a bare TCP connect to the server's port shows.",
    rows(
        "vllm",
        "vllm/entrypoints/openai/api_server.py at v0.11.0 (create_server_socket only binds; uvicorn listens after the engine "
        "has loaded) and v0.8.5; a connect to a bound socket that is not listening is refused (tests/checks/deploy/test_probes.py)",
        (
            "*",
            "vLLM binds its socket before it loads the engine but listens on it only once the engine has loaded (create_server_socket "
            "only binds, and a connect to a socket that is bound but not listening is refused), so a TCP connect shows only that "
            "the HTTP listener is up, not that the engine can serve (its /health answers 503 when the engine is dead)",
        ),
    ),
)


def load_behaviour(ctx: "Context") -> str:
    srv = ctx.server
    return (srv.at(LOAD_BEHAVIOUR) if srv is not None else None) or "the server loads the model before it answers"


def tcp_reason(ctx: "Context") -> str:
    srv = ctx.server
    why = srv.at(TCP_PROBE) if srv is not None else None
    return why or f"a TCP connect only shows that the HTTP listener is up, not that the {server_name(ctx.target.server)} engine can serve"


def health_timeout(ctx: "Context") -> int | None:
    """Seconds SGLang's /health may legitimately take, or None when it answers at once."""
    srv = ctx.server
    if srv is None or srv.kind != "sglang" or not srv.at(HEALTH_PROBES_ENGINE, False):
        return None  # not SGLang, or a /health that answers 200 without probing
    env = dict(ctx.target.env)
    if env.get("SGLANG_ENABLE_HEALTH_ENDPOINT_GENERATION", "").lower() in ("0", "false", "no") and srv.at(HEALTH_GENERATION_SWITCH, False):
        return None
    v = as_float(env.get("SGLANG_HEALTH_CHECK_TIMEOUT"))
    return int(v) if v is not None and math.isfinite(v) else SGLANG_HEALTH_TIMEOUT


def probe_timeout_needed(ctx: "Context") -> int:
    ht = health_timeout(ctx)
    return ht + 10 if ht is not None else 10


def recommended_probes(ctx: "Context") -> str:
    """Kubernetes probes for this server, as YAML text."""
    port = shown_port(ctx.target)
    timeout = probe_timeout_needed(ctx)
    ht = health_timeout(ctx)
    why = f"  # above SGLang's {ht} s engine probe" if ht else ""
    return (
        f"startupProbe:\n  httpGet: {{path: /health, port: {port}}}\n  periodSeconds: 10\n"
        f"  failureThreshold: {RECOMMENDED_STARTUP_FAILURES}  # up to {RECOMMENDED_STARTUP_FAILURES * 10 // 60} min for the weight load\n"
        f"  timeoutSeconds: {timeout}\n"
        f"readinessProbe:\n  httpGet: {{path: /health, port: {port}}}\n  periodSeconds: 10\n  timeoutSeconds: {timeout}{why}\n"
        f"livenessProbe:\n  httpGet: {{path: /health, port: {port}}}\n  periodSeconds: 30\n  timeoutSeconds: {timeout}\n  failureThreshold: 5\n"
    )


def one_line_probe(ctx: "Context") -> str:
    return f"httpGet: {{path: /health, port: {shown_port(ctx.target)}}}, timeoutSeconds: {probe_timeout_needed(ctx)}, periodSeconds: 10"


def first_release(table: Behaviour, server: str, holds: Callable[[object], bool]) -> str | None:
    """The release from which ``holds(value)`` is true, read from the table's rows (newest first): the lower bound
    of the oldest of the newest rows that hold. Used for wording only ("since 0.5.20"), never to decide."""
    since = None
    for row in table:
        if row.server != server:
            continue
        if not holds(row.value):
            break
        lower = [c.strip()[2:] for c in row.range.spec.split(",") if c.strip().startswith(">=")]
        since = lower[0] if lower else None
    return since


def path_problem(ctx: "Context", what: str, path: str) -> tuple[Status, str] | None:
    """What is wrong with a probe requesting ``path`` of this server (None: nothing)."""
    srv = ctx.server
    server = ctx.target.server or ""
    name = server_name(server)
    path = (path or "/").split("?", 1)[0] or "/"
    by_release = [r.value for r in HEALTH_ROUTES if r.server == server]
    ever = list(dict.fromkeys(p for routes in by_release for p in routes))
    always = set.intersection(*(set(r) for r in by_release)) if by_release else set()
    health = "/health"
    if path == "/" and server == "sglang":
        return Status.WARN, (
            f"{what} requests '/', which does not tell whether the engine can serve (SGLang 0.5.23 answers 'SGLang is running' "
            f"from the HTTP server alone; whether older releases route '/' at all is not settled): probe {health}"
        )
    if path not in ever:
        if by_release and srv is not None and not srv.below_known:
            routes = srv.at(HEALTH_ROUTES, ())
            return Status.FAIL, (
                f"{what} requests '{path}', which {srv.describe()} does not route ({', '.join(routes)}): it answers 404 and the probe never "
                "succeeds (readiness never passes; a liveness probe restarts the container in a loop)"
            )
        return Status.WARN, f"{what} requests '{path}', which is not a health route of {name} ({', '.join(ever)})"
    if srv is None:
        return None
    if srv.below_known and (path not in always or (server == "sglang" and path == "/health")):
        return Status.WARN, (
            f"{what} requests '{path}', but {srv.describe()} is older than any release the doctor knows (the oldest is {srv.oldest_known}): "
            "whether that route exists and probes the engine there is not known"
        )
    routes = srv.at(HEALTH_ROUTES, ())
    if path not in routes:
        since = first_release(HEALTH_ROUTES, server, lambda routes: path in routes)
        return Status.FAIL, (
            f"{what} requests '{path}', which {name} has only since {since}: {name} {srv.version} answers 404 and the probe never succeeds "
            "(readiness never passes; a liveness probe restarts the container in a loop)"
        )
    if server == "sglang" and path == "/health" and srv.at(HEALTH_PROBES_ENGINE) is False:
        since = first_release(HEALTH_PROBES_ENGINE, server, bool)
        return (
            Status.WARN,
            f"{what}: /health of SGLang {srv.version} always answers 200 without probing the engine (it does since {since}); /health_generate probes it",
        )
    if path not in srv.at(ENGINE_ROUTES, ()):
        return Status.WARN, (
            f"{what} requests '{path}', which {name} answers from its HTTP server alone: it does not tell whether the engine can serve; probe {health}"
        )
    return None
