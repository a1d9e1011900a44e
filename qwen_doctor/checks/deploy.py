"""Deployment-file checks (``deploy.*``): what a compose file or Kubernetes manifest does around the
launch command: the image's ENTRYPOINT, the probes, the port mapping.

They read ``Target.extra`` as filled in by :mod:`qwen_doctor.deployfiles` (targets from ``--from``).
Facts: SGLang binds its HTTP port only after the model has loaded and warmed up, and its ``/health``
runs a real 1-token engine probe with a 20 s timeout (>= 0.4.10; ``SGLANG_HEALTH_CHECK_TIMEOUT``);
vLLM binds its socket before loading the engine but serves nothing until it has loaded; default ports
SGLang 30000, vLLM 8000, TEI 3000 (80 in its Docker images through ``ENV PORT=80``)
(shared/reference/sglang.md §5, §8; vllm-tei-qwen3.md B, C.2). Kubernetes probe defaults:
timeoutSeconds 1, periodSeconds 10, failureThreshold 3, initialDelaySeconds 0.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Mapping

from ..flags import version_at_least
from ..results import Applicability, Fix, Outcome, Status

if TYPE_CHECKING:  # pragma: no cover
    from ..context import Context
    from ..registry import Registry
    from ..target import Target

SGLANG_HEALTH_TIMEOUT = 20  # s, SGLANG_HEALTH_CHECK_TIMEOUT default
MIN_STARTUP_S = 300  # the kubelet / compose should wait at least this long for the weight load
RECOMMENDED_STARTUP_FAILURES = 60  # x periodSeconds 10 = 10 minutes
K8S_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "failureThreshold": 3, "initialDelaySeconds": 0}
COMPOSE_DEFAULTS = {"interval": 30.0, "timeout": 30.0, "retries": 3, "start_period": 0.0}

# Routes that answer 200 once the server is up (shared/reference: sglang.md §5, vllm-tei-qwen3.md B.3, C.3)
HEALTH_ROUTES = {
    "sglang": {"/health": None, "/health_generate": None, "/ready": "0.5.20", "/model_info": "0.5.6", "/get_model_info": None, "/v1/models": None},
    "vllm": {"/health": None, "/v1/models": None, "/ping": None, "/version": None},
    # TEI: GET / and /ping run the same health handler as /health (router/src/http/server.rs, public routes)
    "tei": {"/health": None, "/": None, "/ping": None, "/info": None},
}
LOAD_BEHAVIOUR = {
    "sglang": "SGLang binds its port only after the weights have loaded and the server has warmed up",
    "vllm": "vLLM answers nothing until the engine has loaded the weights",
    "tei": "TEI serves nothing until it has downloaded and loaded the model",
}


def _from_file(*kinds: str):
    def applies(t: "Target") -> bool | str:
        kind = t.extra.get("deploy_kind")
        if kind is None:
            return "not read from a deployment file (use --from FILE)"
        if kind not in kinds:
            return f"does not apply to {kind} files"
        if t.server is None:
            return "server unknown"
        return True

    applies.__name__ = "applies_" + "_".join(kinds)
    return applies


def _port_source(t: "Target") -> str:
    if t.given("port"):
        return f"--port {t.port}"
    env = dict(t.env)
    if t.server == "tei" and env.get("PORT", "").strip() == str(t.port):
        return f"PORT={t.port}" + (" from the image" if t.extra.get("port_from_image") else "")
    return f"its default port {t.port}"


def _int(v: Any, default: int) -> int:
    if isinstance(v, bool):
        return default
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    return default


def _named_ports(t: "Target") -> dict[str, int]:
    return {p["name"]: p["container"] for p in t.extra.get("ports") or () if p.get("name")}


def _resolve_port(t: "Target", port: Any) -> tuple[int | None, str]:
    """(port number, how it was written) of a probe/Service port: an int or a named container port."""
    if isinstance(port, bool):
        return None, str(port)
    if isinstance(port, int):
        return port, str(port)
    if isinstance(port, str):
        if port.strip().isdigit():
            return int(port.strip()), port
        named = _named_ports(t)
        if port in named:
            return named[port], f"{port} ({named[port]})"
        return None, port
    return None, repr(port)


def _health_timeout(t: "Target") -> int | None:
    """Seconds SGLang's /health may legitimately take, or None when it answers at once."""
    if t.server != "sglang":
        return None
    env = dict(t.env)
    v = t.version_str
    if v is not None and not version_at_least(v, "0.4.10"):
        return None  # /health was a fake 200 before 0.4.10
    if env.get("SGLANG_ENABLE_HEALTH_ENDPOINT_GENERATION", "").lower() in ("0", "false", "no") and (v is None or version_at_least(v, "0.5.6")):
        return None
    try:
        return int(float(env.get("SGLANG_HEALTH_CHECK_TIMEOUT", SGLANG_HEALTH_TIMEOUT)))
    except ValueError:
        return SGLANG_HEALTH_TIMEOUT


def _probe_timeout_needed(t: "Target") -> int:
    ht = _health_timeout(t)
    return ht + 10 if ht is not None else 10


def recommended_probes(t: "Target") -> str:
    """Kubernetes probes for this server, as YAML text."""
    named = {v: k for k, v in _named_ports(t).items()}
    port = named.get(t.port, t.port)
    timeout = _probe_timeout_needed(t)
    why = f"  # above SGLang's {_health_timeout(t)} s engine probe" if _health_timeout(t) else ""
    return (
        f"startupProbe:\n  httpGet: {{path: /health, port: {port}}}\n  periodSeconds: 10\n"
        f"  failureThreshold: {RECOMMENDED_STARTUP_FAILURES}  # up to {RECOMMENDED_STARTUP_FAILURES * 10 // 60} min for the weight load\n"
        f"  timeoutSeconds: {timeout}\n"
        f"readinessProbe:\n  httpGet: {{path: /health, port: {port}}}\n  periodSeconds: 10\n  timeoutSeconds: {timeout}{why}\n"
        f"livenessProbe:\n  httpGet: {{path: /health, port: {port}}}\n  periodSeconds: 30\n  timeoutSeconds: {timeout}\n  failureThreshold: 5\n"
    )


def _one_line_probe(t: "Target") -> str:
    named = {v: k for k, v in _named_ports(t).items()}
    port = named.get(t.port, t.port)
    return f"httpGet: {{path: /health, port: {port}}}, timeoutSeconds: {_probe_timeout_needed(t)}, periodSeconds: 10"


def _path_problem(t: "Target", what: str, path: str) -> tuple[Status, str] | None:
    server = t.server or ""
    path = (path or "/").split("?", 1)[0] or "/"
    routes = HEALTH_ROUTES.get(server, {})
    if path in ("/", "") and server != "tei":
        return Status.WARN, (
            f"{what} requests '/', which is not one of {_name(server)}'s health routes ({', '.join(routes)}): "
            "it does not tell whether the engine can serve"
        )
    if path not in routes:
        return Status.WARN, f"{what} requests '{path}', which is not a health route of {_name(server)} ({', '.join(routes)})"
    since = routes[path]
    v = t.version_str
    if since is not None and v is not None and not version_at_least(v, since):
        return Status.FAIL, f"{what} requests '{path}', which SGLang has only since {since}: SGLang {v} answers 404 and the probe never succeeds"
    if server == "sglang" and path == "/health" and v is not None and not version_at_least(v, "0.4.10"):
        return Status.WARN, f"{what}: /health of SGLang {v} always answers 200 without probing the engine (it does since 0.4.10); /health_generate probes it"
    return None


def _name(server: str) -> str:
    return {"sglang": "SGLang", "vllm": "vLLM", "tei": "TEI"}.get(server, server)


def _k8s_probe_problems(t: "Target", key: str, probe: Mapping[str, Any]) -> list[tuple[Status, str]]:
    out: list[tuple[Status, str]] = []
    server = _name(t.server or "")
    timeout = _int(probe.get("timeoutSeconds"), K8S_DEFAULTS["timeoutSeconds"])
    if isinstance(probe.get("httpGet"), dict):
        hg = probe["httpGet"]
        port, shown = _resolve_port(t, hg.get("port"))
        if port is None:
            out.append((Status.FAIL, f"{key} uses port '{shown}', which is not a port name declared by the container: the probe cannot run"))
        elif t.port is not None and port != t.port:
            out.append((Status.FAIL, f"{key} checks port {shown}, but {server} listens on {t.port} ({_port_source(t)}): the probe never succeeds"))
        p = _path_problem(t, key, str(hg.get("path") or "/"))
        if p:
            out.append(p)
        path = str(hg.get("path") or "/").split("?", 1)[0]
        ht = _health_timeout(t)
        if ht is not None and path in ("/health", "/health_generate") and timeout <= ht:
            out.append((Status.WARN, (
                f"{key} timeoutSeconds is {timeout}{' (the default)' if 'timeoutSeconds' not in probe else ''}, but SGLang's {path} waits up to {ht} s "
                "for a 1-token engine probe: under load the kubelet counts slow answers as failures"
                + (" and restarts a healthy server" if key != "readinessProbe" else " and takes the pod out of the Service")
            )))
    elif isinstance(probe.get("tcpSocket"), dict):
        port, shown = _resolve_port(t, probe["tcpSocket"].get("port"))
        if port is None:
            out.append((Status.FAIL, f"{key} uses port '{shown}', which is not a port name declared by the container: the probe cannot run"))
        elif t.port is not None and port != t.port:
            out.append((Status.FAIL, f"{key} connects to port {shown}, but {server} listens on {t.port} ({_port_source(t)}): the probe never succeeds"))
        if t.server == "vllm":
            why = "vLLM binds its socket before it loads the engine, so the TCP connect succeeds while the model is still loading and after the engine has died"
        else:
            why = f"a TCP connect only shows that the HTTP listener is up, not that the {server} engine can serve"
        out.append((Status.WARN, f"{key} is a bare TCP probe: {why}; probe HTTP /health"))
    elif isinstance(probe.get("exec"), dict):
        cmd = probe["exec"].get("command")
        text = " ".join(str(x) for x in cmd) if isinstance(cmd, list) else str(cmd or "")
        m = re.search(r"https?://[^/\s:'\"]+(?::(\d+))?(/[^\s'\"]*)?", text)
        if m:
            if m.group(1) and t.port is not None and int(m.group(1)) != t.port:
                out.append((Status.FAIL, f"{key} requests port {m.group(1)}, but {server} listens on {t.port} ({_port_source(t)}): the probe never succeeds"))
            p = _path_problem(t, key, m.group(2) or "/")
            if p:
                out.append(p)
            ht = _health_timeout(t)
            if ht is not None and (m.group(2) or "").startswith("/health") and timeout <= ht:
                out.append((Status.WARN, f"{key} timeoutSeconds is {timeout}, but SGLang's /health waits up to {ht} s for a 1-token engine probe"))
    elif isinstance(probe.get("grpc"), dict):
        out.append((Status.WARN, f"{key} is a gRPC probe, but {server} serves HTTP: it never succeeds"))
    return out


def _budget(probe: Mapping[str, Any]) -> int:
    return _int(probe.get("initialDelaySeconds"), 0) + _int(probe.get("failureThreshold"), 3) * _int(probe.get("periodSeconds"), 10)


def check_probes(ctx: "Context") -> Outcome:
    """What it checks: the liveness, readiness and startup probes of a Kubernetes container (and a compose
    healthcheck) that runs the server: that they request an HTTP health route on the port the server really
    listens on, that their timeout leaves room for SGLang's own engine probe, and that the container is given
    long enough to load the model before the kubelet restarts it.

    Why it matters: a probe on `/` does not tell whether the engine can serve (`/` is not one of SGLang's or vLLM's
    health routes; on TEI `GET /` runs the same health handler as `/health`, so it is fine there), and a bare TCP
    probe only shows a listening socket (vLLM binds it before loading the model). SGLang does have `/health`: since 0.4.10 it runs a real 1-token probe of the
    engine and waits up to 20 s (`SGLANG_HEALTH_CHECK_TIMEOUT`), so the Kubernetes default `timeoutSeconds: 1`
    fails it under load and a liveness probe then restarts a healthy server. SGLang binds its port only after the
    weights have loaded and the server has warmed up, so a liveness probe without a startup probe (by default the
    kubelet gives up after 3 x 10 s) kills it in a restart loop before it ever serves (vLLM's docs: "KeyboardInterrupt:
    terminated" in the log).

    How to fix: probe HTTP `/health` on the server's port with `timeoutSeconds` above 20 s for SGLang (e.g. 30),
    `periodSeconds: 10`, and a `startupProbe` allowing the weight load (e.g. `failureThreshold: 60` x 10 s). For a
    compose healthcheck use `curl -f http://localhost:PORT/health` with `timeout: 30s` and `start_period: 300s`.
    """
    t = ctx.target
    probes: Mapping[str, Any] = t.extra.get("probes") or {}
    kind = t.extra.get("deploy_kind")
    recommended = recommended_probes(t)
    problems: list[tuple[Status, str]] = []
    if kind == "compose":
        return _check_compose_healthcheck(t, probes.get("healthcheck"))
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(probes.get(key), Mapping):
            problems.extend(_k8s_probe_problems(t, key, probes[key]))
    load = LOAD_BEHAVIOUR.get(t.server or "", "the server loads the model before it answers")
    startup = probes.get("startupProbe")
    liveness = probes.get("livenessProbe")
    budget = None
    if isinstance(startup, Mapping):
        budget = _budget(startup)
        if budget < MIN_STARTUP_S:
            problems.append((Status.WARN, f"startupProbe allows only {budget} s (initialDelaySeconds + failureThreshold x periodSeconds) before the kubelet restarts the container; {load}, which can take minutes (longer when the weights download at start)"))
    elif isinstance(liveness, Mapping):
        budget = _budget(liveness)
        if budget < MIN_STARTUP_S:
            problems.append((Status.WARN, f"no startupProbe, and the livenessProbe gives up after {budget} s (initialDelaySeconds + failureThreshold x periodSeconds): {load}, so a load that takes longer ends in a restart loop"))
    if not isinstance(probes.get("readinessProbe"), Mapping) and not isinstance(startup, Mapping):
        problems.append((Status.WARN, "no readinessProbe: the pod counts as ready as soon as the container starts, so a Service sends it requests while the model is still loading"))
    evidence = {"probes": {k: dict(v) for k, v in probes.items() if isinstance(v, Mapping)}, "server_port": t.port, "startup_budget_s": budget, "recommended": recommended}
    if not problems:
        return Outcome.passed(f"probes request HTTP health routes on port {t.port} and allow {budget if budget is not None else 'unlimited'} s for the start-up", **evidence)
    worst = Status.FAIL if any(s is Status.FAIL for s, _ in problems) else Status.WARN
    evidence["problems"] = [m for _, m in problems]
    summary = "; ".join(m for _, m in sorted(problems, key=lambda p: p[0] is not Status.FAIL))
    fix = Fix(
        f"Use HTTP probes on /health: readinessProbe/livenessProbe {{{_one_line_probe(t)}}}, and a startupProbe with failureThreshold: {RECOMMENDED_STARTUP_FAILURES} "
        f"(periodSeconds: 10) for the weight load (full YAML in the evidence: recommended).",
        applicability=Applicability.DISPLAY_ONLY,
    )
    return Outcome(worst, summary, evidence, fix)


def _duration(v: Any, default: float) -> float:
    """A compose duration ("1m30s", "30s", "500ms", 30) in seconds."""
    if v is None:
        return default
    if isinstance(v, bool):
        return default
    if isinstance(v, (int, float)):
        return float(v)
    text = str(v).strip()
    total = 0.0
    found = False
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", text):
        found = True
        total += float(num) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
    return total if found else default


def _check_compose_healthcheck(t: "Target", hc: Any) -> Outcome:
    if not isinstance(hc, Mapping):
        return Outcome.passed("no healthcheck (compose does not require one; services that depend_on it with condition: service_healthy would need one)")
    if hc.get("disable") is True:
        return Outcome.passed("healthcheck disabled")
    test = hc.get("test")
    text = " ".join(str(x) for x in test) if isinstance(test, list) else str(test or "")
    if isinstance(test, list) and test[:1] == ["NONE"]:
        return Outcome.passed("healthcheck disabled (NONE)")
    problems: list[tuple[Status, str]] = []
    m = re.search(r"https?://[^/\s:'\"]+(?::(\d+))?(/[^\s'\"]*)?", text)
    path = None
    if m:
        path = (m.group(2) or "/").split("?", 1)[0]
        port = int(m.group(1)) if m.group(1) else 80
        if t.port is not None and port != t.port:
            problems.append((Status.FAIL, f"healthcheck requests port {port}, but {_name(t.server or '')} listens on {t.port} ({_port_source(t)}) inside the container: it never succeeds"))
        p = _path_problem(t, "healthcheck", path)
        if p:
            problems.append(p)
    timeout = _duration(hc.get("timeout"), COMPOSE_DEFAULTS["timeout"])
    ht = _health_timeout(t)
    if ht is not None and path in ("/health", "/health_generate") and timeout <= ht:
        problems.append((Status.WARN, f"healthcheck timeout is {timeout:g} s, but SGLang's {path} waits up to {ht} s for a 1-token engine probe"))
    interval = _duration(hc.get("interval"), COMPOSE_DEFAULTS["interval"])
    retries = _int(hc.get("retries"), COMPOSE_DEFAULTS["retries"])
    start_period = _duration(hc.get("start_period"), COMPOSE_DEFAULTS["start_period"])
    budget = start_period + interval * retries
    if budget < MIN_STARTUP_S:
        load = LOAD_BEHAVIOUR.get(t.server or "", "the server loads the model first")
        problems.append((Status.WARN, f"the container is marked unhealthy after about {budget:g} s (start_period + interval x retries) while {load}; services that depend_on it with condition: service_healthy then fail to start"))
    evidence = {"healthcheck": dict(hc), "server_port": t.port, "startup_budget_s": budget}
    if not problems:
        return Outcome.passed(f"healthcheck requests {path or 'a command'} and allows {budget:g} s for the start-up", **evidence)
    worst = Status.FAIL if any(s is Status.FAIL for s, _ in problems) else Status.WARN
    evidence["problems"] = [m_ for _, m_ in problems]
    fix = Fix(
        f"healthcheck: {{test: [\"CMD-SHELL\", \"curl -f http://localhost:{t.port}/health || exit 1\"], interval: 10s, timeout: {_probe_timeout_needed(t)}s, retries: 3, start_period: {MIN_STARTUP_S}s}}",
        applicability=Applicability.DISPLAY_ONLY,
    )
    return Outcome(worst, "; ".join(m_ for _, m_ in sorted(problems, key=lambda p: p[0] is not Status.FAIL)), evidence, fix)


def check_port_mapping(ctx: "Context") -> Outcome:
    """What it checks: that the container port a compose `ports:` mapping (or a Kubernetes `containerPort`, and
    the Services aimed at it) points to is the port the server really listens on: its `--port`, else its default
    (SGLang 30000, vLLM 8000, TEI 3000 as a binary but 80 in its Docker images, which set `PORT=80`).

    Why it matters: a mapping such as `8080:8000` for an SGLang container that listens on 30000 publishes a port
    where nothing answers: clients get "connection refused" or "connection reset" although the server runs fine.
    Mixing up the servers' defaults (vLLM 8000, SGLang 30000, TEI 80 in its images) is the usual cause.

    How to fix: map to the port the server listens on (e.g. `8080:30000`), or pass `--port` (TEI: `--port` or
    `PORT`) so the server listens on the mapped container port.
    """
    t = ctx.target
    port = t.port
    kind = t.extra.get("deploy_kind")
    ports = list(t.extra.get("ports") or ())
    cports = sorted({p["container"] for p in ports})
    src = _port_source(t)
    name = _name(t.server or "")
    if t.extra.get("host_network"):
        how = "network_mode: host" if kind == "compose" else "hostNetwork: true"
        extra_note = f"; the ports: list is ignored with {how}" if ports and kind == "compose" else ""
        return Outcome.passed(f"{how}: {name} listens on the host's port {port} ({src}){extra_note}", server_port=port)
    if not cports:
        if kind == "compose":
            return Outcome.passed(f"port {port} is not published: only containers on the same compose network reach {name} (at {port})", server_port=port)
        return Outcome.passed(f"no containerPort declared; Services must target port {port} ({src})", server_port=port)
    if port in cports:
        pub = [p for p in ports if p["container"] == port]
        shown = ", ".join(f"{p['host_ip'] + ':' if p.get('host_ip') else ''}{p['published']}->{port}" if p.get("published") else f"{port}" for p in pub)
        return Outcome.passed(f"{'ports' if kind == 'compose' else 'containerPort'} {shown} reach {name} on {port} ({src})", server_port=port, container_ports=cports)
    others = [p for p in ports if p["container"] != port]
    mapped = ", ".join(f"{p['published']}:{p['container']}" if p.get("published") else str(p["container"]) for p in others)
    target_port = others[0]["container"]
    fix_cmd = None
    if t.launch is not None and len(cports) == 1:
        opt = "--port"
        fix_cmd = t.launch.edited(set_options={opt: str(target_port)})
    if kind == "compose":
        suggested = ", ".join(f"\"{p['published']}:{port}\"" if p.get("published") else f"\"{port}\"" for p in others)
        return Outcome.fail(
            f"ports maps {mapped}, but {name} listens on {port} ({src}) inside the container: nothing answers on the published port",
            Fix(f"Map the published port to {port} (ports: [{suggested}]), or make the server listen on {target_port}" + (" (corrected command below)." if fix_cmd else "."),
                launch_command=fix_cmd, applicability=Applicability.SAFE if fix_cmd else Applicability.DISPLAY_ONLY),
            server_port=port, container_ports=cports,
        )
    services = [s for s in t.extra.get("service_ports") or () if s.get("targetPort") is not None]
    named = _named_ports(t)
    aimed = []
    for s in services:
        tp = s["targetPort"]
        tp_num = named.get(tp) if isinstance(tp, str) and not tp.isdigit() else _int(tp, -1)
        if tp_num in cports and tp_num != port:
            aimed.append(f"Service {s['name']} (targetPort {tp})")
    fix = Fix(f"Declare containerPort {port} and aim the Services at it, or make the server listen on {target_port}" + (" (corrected command below)." if fix_cmd else "."),
              launch_command=fix_cmd, applicability=Applicability.SAFE if fix_cmd else Applicability.DISPLAY_ONLY)
    if aimed:
        return Outcome.fail(f"{', '.join(aimed)} sends traffic to container port {target_port}, but {name} listens on {port} ({src}): nothing answers", fix, server_port=port, container_ports=cports)
    return Outcome.warn(
        f"containerPort {mapped} does not match the port {name} listens on ({port}, {src}): Services and probes aimed at the declared port reach nothing",
        fix, server_port=port, container_ports=cports,
    )


def check_entrypoint(ctx: "Context") -> Outcome:
    """What it checks: that the container's command fits the image's ENTRYPOINT: `vllm/vllm-openai` images start
    `vllm serve` themselves and TEI images `text-embeddings-router`, so the command/args must hold only options;
    `lmsysorg/sglang` images have no server ENTRYPOINT, so the command must start the server.

    Why it matters: `command: ["serve", "Qwen/Qwen3-Embedding-0.6B"]` on vllm/vllm-openai runs `vllm serve serve
    Qwen/...` and vLLM exits with "unrecognized arguments"; `command: --model-path ...` on lmsysorg/sglang tries to
    run `--model-path` as a program. Either way the container exits at once and restarts in a loop.

    How to fix: for vLLM and TEI images give only the options (or override the entrypoint); for SGLang images start
    with `python3 -m sglang.launch_server` (or `sglang serve`).
    """
    t = ctx.target
    problem = t.extra.get("entrypoint_problem")
    notes = list(t.extra.get("notes") or ())
    if problem:
        return Outcome.fail(problem, Fix(t.extra.get("entrypoint_fix") or "Make the command fit the image's ENTRYPOINT."), image=t.extra.get("image"), image_entrypoint=t.extra.get("image_entrypoint"), notes=notes)
    src = t.extra.get("entrypoint_source")
    how = {"image": f"the image's ENTRYPOINT {' '.join(t.extra.get('image_entrypoint') or []) or '(none)'}", "file": "the file's own entrypoint/command"}.get(src or "", "the command as written")
    launcher = t.launch.launcher if t.launch else "?"
    return Outcome.passed(f"{how} starts {_name(t.server or '')} ({launcher})", image=t.extra.get("image"), notes=notes)


def register(registry: "Registry") -> None:
    """Built-in plugin: deployment-file checks."""
    registry.check("deploy.entrypoint", "Command fits the image's ENTRYPOINT", "deploy", applies=_from_file("compose", "kubernetes"))(check_entrypoint)
    registry.check("deploy.probes", "Health probes reach the server and allow for the model load", "deploy", applies=_from_file("compose", "kubernetes"))(check_probes)
    registry.check("deploy.port-mapping", "Mapped container port is the server's port", "deploy", applies=_from_file("compose", "kubernetes"))(check_port_mapping)
