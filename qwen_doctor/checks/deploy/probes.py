"""deploy.probes: the Kubernetes probes (or compose healthcheck) request a health route on the server's port, give
SGLang's engine probe time to answer, and allow for the model load before the container is restarted."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Mapping

from ...facts import as_int
from ...results import Applicability, Fix, Outcome, Status
from ...spec import check
from ._common import deployment, from_file, port_source, resolve_port, server_name
from ._health import (
    MIN_STARTUP_S,
    RECOMMENDED_STARTUP_FAILURES,
    health_timeout,
    load_behaviour,
    one_line_probe,
    path_problem,
    probe_timeout_needed,
    recommended_probes,
    tcp_reason,
)

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

K8S_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "failureThreshold": 3, "initialDelaySeconds": 0}
COMPOSE_DEFAULTS = {"interval": 30.0, "timeout": 30.0, "retries": 3, "start_period": 0.0}
_URL = re.compile(r"https?://[^/\s:'\"]+(?::(\d+))?(/[^\s'\"]*)?")

Problems = list[tuple[Status, str]]


def _port_problem(ctx: "Context", key: str, verb: str, port: Any) -> Problems:
    t = ctx.target
    n, shown = resolve_port(t.deployment, port)
    if n is None:
        return [(Status.FAIL, f"{key} uses port '{shown}', which is not a port name declared by the container: the probe cannot run")]
    if t.port is not None and n != t.port:
        return [(Status.FAIL, f"{key} {verb} port {shown}, but {server_name(t.server)} listens on {t.port} ({port_source(t)}): the probe never succeeds")]
    return []


def _k8s_probe_problems(ctx: "Context", key: str, probe: Mapping[str, Any]) -> Problems:
    t = ctx.target
    out: Problems = []
    timeout = as_int(probe.get("timeoutSeconds"), K8S_DEFAULTS["timeoutSeconds"])
    ht = health_timeout(ctx)
    if isinstance(probe.get("httpGet"), Mapping):
        hg = probe["httpGet"]
        out.extend(_port_problem(ctx, key, "checks", hg.get("port")))
        p = path_problem(ctx, key, str(hg.get("path") or "/"))
        if p:
            out.append(p)
        path = str(hg.get("path") or "/").split("?", 1)[0]
        if ht is not None and path in ("/health", "/health_generate") and timeout <= ht:
            default = " (the default)" if "timeoutSeconds" not in probe else ""
            then = " and restarts a healthy server" if key != "readinessProbe" else " and takes the pod out of the Service"
            out.append(
                (
                    Status.WARN,
                    (
                        f"{key} timeoutSeconds is {timeout}{default}, but SGLang's {path} waits up to {ht} s "
                        f"for a 1-token engine probe: under load the kubelet counts slow answers as failures{then}"
                    ),
                )
            )
    elif isinstance(probe.get("tcpSocket"), Mapping):
        out.extend(_port_problem(ctx, key, "connects to", probe["tcpSocket"].get("port")))
        out.append((Status.WARN, f"{key} is a bare TCP probe: {tcp_reason(ctx)}; probe HTTP /health"))
    elif isinstance(probe.get("exec"), Mapping):
        cmd = probe["exec"].get("command")
        text = " ".join(str(x) for x in cmd) if isinstance(cmd, (list, tuple)) else str(cmd or "")
        m = _URL.search(text)
        if m:
            if m.group(1) and t.port is not None and int(m.group(1)) != t.port:
                out.append(
                    (
                        Status.FAIL,
                        f"{key} requests port {m.group(1)}, but {server_name(t.server)} listens on {t.port} ({port_source(t)}): the probe never succeeds",
                    )
                )
            p = path_problem(ctx, key, m.group(2) or "/")
            if p:
                out.append(p)
            if ht is not None and (m.group(2) or "").startswith("/health") and timeout <= ht:
                out.append((Status.WARN, f"{key} timeoutSeconds is {timeout}, but SGLang's /health waits up to {ht} s for a 1-token engine probe"))
    elif isinstance(probe.get("grpc"), Mapping):
        out.append((Status.FAIL, f"{key} is a gRPC probe, but {server_name(t.server)} serves HTTP: it never succeeds"))
    return out


def _budget(probe: Mapping[str, Any]) -> int:
    return as_int(probe.get("initialDelaySeconds"), 0) + as_int(probe.get("failureThreshold"), 3) * as_int(probe.get("periodSeconds"), 10)  # type: ignore[operator]


def _worst(problems: Problems) -> Status:
    return Status.FAIL if any(s is Status.FAIL for s, _ in problems) else Status.WARN


def _summary(problems: Problems) -> str:
    return "; ".join(m for _, m in sorted(problems, key=lambda p: p[0] is not Status.FAIL))


@check(
    "deploy.probes",
    "Health probes reach the server and allow for the model load",
    applies=from_file("compose", "kubernetes"),
    reads=("deployment", "server"),
    claims=("deploy.health-routes", "deploy.engine-routes", "deploy.load-behaviour", "deploy.tcp-probe"),
)
def check_probes(ctx: "Context") -> Outcome:
    """What it checks: the liveness, readiness and startup probes of a Kubernetes container (and a compose
    healthcheck) that runs the server: that they request an HTTP health route on the port the server really
    listens on, that their timeout leaves room for SGLang's own engine probe, and that the container is given
    long enough to load the model before the kubelet restarts it.

    Why it matters: a probe on `/` does not tell whether the engine can serve (`/` is not one of SGLang's or vLLM's
    health routes; on TEI `GET /` runs the same health handler as `/health`, so it is fine there: router/src/http/server.rs).
    A bare TCP probe only shows that the HTTP listener is up, not that the engine can serve (vLLM binds its socket
    before it loads the engine but listens only once it has loaded: `create_server_socket` only binds,
    vllm/entrypoints/openai/api_server.py at v0.11.0). SGLang does have `/health`: since 0.4.10 it runs a real 1-token
    probe of the engine and waits up to 20 s (`SGLANG_HEALTH_CHECK_TIMEOUT`; http_server.py at v0.4.10.post2), so the
    Kubernetes default `timeoutSeconds: 1` fails it under load and a liveness probe then restarts a healthy server.
    SGLang binds its port only after the weights have loaded; its warm-up thread then requests the server over HTTP,
    and `/health` answers 503 until the warm-up has finished (python/sglang/srt/entrypoints/http_server.py at v0.5.20;
    503 while starting since 0.5.1). So a liveness probe without a startup probe (by default the kubelet gives up after
    3 x 10 s) kills it in a restart loop before it ever serves (the kubelet's defaults: failureThreshold 3,
    periodSeconds 10; Kubernetes "Configure Liveness, Readiness and Startup Probes").

    How to fix: probe HTTP `/health` on the server's port with `timeoutSeconds` above 20 s for SGLang (e.g. 30),
    `periodSeconds: 10`, and a `startupProbe` allowing the weight load (e.g. `failureThreshold: 60` x 10 s). For a
    compose healthcheck use `curl -f http://localhost:PORT/health` with `timeout: 30s` and `start_period: 300s`.
    """
    t = ctx.target
    d = deployment(ctx)
    probes: Mapping[str, Any] = d.probes or {}
    if d.kind == "compose":
        return _check_compose_healthcheck(ctx, probes.get("healthcheck"))
    recommended = recommended_probes(ctx)
    problems: Problems = []
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(probes.get(key), Mapping):
            problems.extend(_k8s_probe_problems(ctx, key, probes[key]))
    load = load_behaviour(ctx)
    startup = probes.get("startupProbe")
    liveness = probes.get("livenessProbe")
    budget = None
    if isinstance(startup, Mapping):
        budget = _budget(startup)
        if budget < MIN_STARTUP_S:
            problems.append(
                (
                    Status.WARN,
                    (
                        f"startupProbe allows only {budget} s (initialDelaySeconds + failureThreshold x periodSeconds) before the kubelet "
                        f"restarts the container; {load}, which can take minutes (longer when the weights download at start)"
                    ),
                )
            )
    elif isinstance(liveness, Mapping):
        budget = _budget(liveness)
        if budget < MIN_STARTUP_S:
            problems.append(
                (
                    Status.WARN,
                    (
                        f"no startupProbe, and the livenessProbe gives up after {budget} s (initialDelaySeconds + failureThreshold x periodSeconds): "
                        f"{load}, so a load that takes longer ends in a restart loop"
                    ),
                )
            )
    if not isinstance(probes.get("readinessProbe"), Mapping) and not isinstance(startup, Mapping):
        problems.append(
            (
                Status.WARN,
                "no readinessProbe: the pod counts as ready as soon as the container starts, so a Service sends it requests while the model is still loading",
            )
        )
    evidence = {
        "probes": {k: dict(v) for k, v in probes.items() if isinstance(v, Mapping)},
        "server_port": t.port,
        "startup_budget_s": budget,
        "recommended": recommended,
    }
    if not problems:
        allowed = budget if budget is not None else "unlimited"
        return Outcome.passed(f"probes request HTTP health routes on port {t.port} and allow {allowed} s for the start-up", **evidence)
    evidence["problems"] = [m for _, m in problems]
    fix = Fix(
        f"Use HTTP probes on /health: readinessProbe/livenessProbe {{{one_line_probe(ctx)}}}, and a startupProbe with failureThreshold: "
        f"{RECOMMENDED_STARTUP_FAILURES} (periodSeconds: 10) for the weight load (full YAML in the evidence: recommended).",
        applicability=Applicability.DISPLAY_ONLY,
    )
    return Outcome(_worst(problems), _summary(problems), evidence, fix)


def _duration(v: Any, default: float) -> float:
    """A compose duration ("1m30s", "30s", "500ms", 30) in seconds."""
    if v is None or isinstance(v, bool):
        return default
    if isinstance(v, (int, float)):
        return float(v)
    total = 0.0
    found = False
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", str(v).strip()):
        found = True
        total += float(num) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
    return total if found else default


def _check_compose_healthcheck(ctx: "Context", hc: Any) -> Outcome:
    t = ctx.target
    if not isinstance(hc, Mapping):
        return Outcome.passed("no healthcheck (compose does not require one; services that depend_on it with condition: service_healthy would need one)")
    if hc.get("disable") is True:
        return Outcome.passed("healthcheck disabled")
    test = hc.get("test")
    text = " ".join(str(x) for x in test) if isinstance(test, (list, tuple)) else str(test or "")
    if isinstance(test, (list, tuple)) and list(test[:1]) == ["NONE"]:
        return Outcome.passed("healthcheck disabled (NONE)")
    problems: Problems = []
    m = _URL.search(text)
    path = None
    if m:
        path = (m.group(2) or "/").split("?", 1)[0]
        port = int(m.group(1)) if m.group(1) else 80
        if t.port is not None and port != t.port:
            problems.append(
                (
                    Status.FAIL,
                    f"healthcheck requests port {port}, but {server_name(t.server)} listens on {t.port} ({port_source(t)}) inside the container: it never succeeds",
                )
            )
        p = path_problem(ctx, "healthcheck", path)
        if p:
            problems.append(p)
    timeout = _duration(hc.get("timeout"), COMPOSE_DEFAULTS["timeout"])
    ht = health_timeout(ctx)
    if ht is not None and path in ("/health", "/health_generate") and timeout <= ht:
        problems.append((Status.WARN, f"healthcheck timeout is {timeout:g} s, but SGLang's {path} waits up to {ht} s for a 1-token engine probe"))
    interval = _duration(hc.get("interval"), COMPOSE_DEFAULTS["interval"])
    retries = as_int(hc.get("retries"), int(COMPOSE_DEFAULTS["retries"]))
    start_period = _duration(hc.get("start_period"), COMPOSE_DEFAULTS["start_period"])
    budget = start_period + interval * retries  # type: ignore[operator]
    if budget < MIN_STARTUP_S:
        problems.append(
            (
                Status.WARN,
                (
                    f"the container is marked unhealthy after about {budget:g} s (start_period + interval x retries) while {load_behaviour(ctx)}; "
                    "services that depend_on it with condition: service_healthy then fail to start"
                ),
            )
        )
    evidence = {"healthcheck": dict(hc), "server_port": t.port, "startup_budget_s": budget}
    if not problems:
        return Outcome.passed(f"healthcheck requests {path or 'a command'} and allows {budget:g} s for the start-up", **evidence)
    evidence["problems"] = [m_ for _, m_ in problems]
    fix = Fix(
        f'healthcheck: {{test: ["CMD-SHELL", "curl -f http://localhost:{t.port}/health || exit 1"], interval: 10s, '
        f"timeout: {probe_timeout_needed(ctx)}s, retries: 3, start_period: {MIN_STARTUP_S}s}}",
        applicability=Applicability.DISPLAY_ONLY,
    )
    return Outcome(_worst(problems), _summary(problems), evidence, fix)
