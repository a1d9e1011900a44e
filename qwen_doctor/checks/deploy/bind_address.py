"""deploy.bind-address: a server in a container binds an address its published port, Service or probes can reach."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from ...results import Applicability, Outcome, Status
from ...spec import check
from ...urls import is_loopback_host
from ._common import container_word, containerised, deployment, server_name

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...target import Deployment


def _network_probes(d: "Deployment") -> list[str]:
    """Kubernetes probes the kubelet sends to the pod IP (httpGet without a host, tcpSocket, grpc)."""
    out = []
    for key, p in (d.probes or {}).items():
        if not isinstance(p, Mapping) or key == "healthcheck":
            continue
        hg: Any = p.get("httpGet")
        if isinstance(hg, Mapping) and not hg.get("host"):
            out.append(f"{key} (httpGet)")
        elif isinstance(p.get("tcpSocket"), Mapping) and not p["tcpSocket"].get("host"):
            out.append(f"{key} (tcpSocket)")
        elif isinstance(p.get("grpc"), Mapping):
            out.append(f"{key} (grpc)")
    return out


def _published(d: "Deployment") -> list[str]:
    return [f"{p.host_ip + ':' if p.host_ip else ''}{p.published}:{p.container}" for p in d.ports if p.published]


@check(
    "deploy.bind-address",
    "The server in the container binds an address clients outside it can reach",
    applies=containerised(),
    reads=("deployment", "server", "host"),
)
def check_bind_address(ctx: "Context") -> Outcome:
    """What it checks: the address the server binds inside a container (its `--host`, TEI's `--hostname`, else the
    server's default), against how clients reach the container: a published port (`docker run -p`, compose
    `ports:`), a Kubernetes Service, or kubelet probes on the pod IP.

    Why it matters: a server bound to 127.0.0.1 (or ::1) inside a container accepts connections only from inside that
    container. Docker forwards a published port to the container's own network interface, a Service sends traffic to
    the pod IP and the kubelet probes the pod IP, so every one of them gets "connection refused" although the server
    runs fine: readiness never passes and liveness restarts the pod. SGLang binds 127.0.0.1 unless `--host` is given
    (ServerArgs.host default, shared/reference/sglang.md §2); vLLM binds every interface by default (host None) and TEI
    binds 0.0.0.0 or the container's hostname (shared/reference/vllm-tei-qwen3.md C.2), so those fail only when told
    to bind loopback. With host networking (`--network host`, `network_mode: host`) a loopback bind is reachable from
    the host itself; a Kubernetes probe still goes to the node IP and fails. Plain commands on a host are checked by
    launch.bind-host instead.

    How to fix: add `--host 0.0.0.0` (SGLang, vLLM) or `--hostname 0.0.0.0` (TEI) to the server's arguments.
    """
    t = ctx.target
    d = deployment(ctx)
    host = t.host or ""
    name = server_name(t.server)
    opt = "--hostname" if t.server == "tei" else "--host"
    how = f"set by {opt}" if (t.given("host") or t.given("hostname")) else f"{name}'s default"
    if not is_loopback_host(host):
        return Outcome.passed(f"binds {host} ({how}): reachable through the container's network", host=host)
    probes = _network_probes(d) if d.kind == "kubernetes" else []
    fix = ctx.relaunch.fix(f"Add {opt} 0.0.0.0 so connections from outside the container reach {name}.", set_options={opt: "0.0.0.0"})
    ev = {"host": host}
    if d.host_network:
        if probes:
            return Outcome(
                Status.FAIL,
                f"binds {host} ({how}) with hostNetwork: the kubelet sends {', '.join(probes)} to the node IP, where nothing listens: the probe never succeeds",
                ev,
                fix,
            )
        return Outcome.passed(f"binds {host} ({how}) on the host's network: reachable from this host only", **ev)
    reached_by: list[str] = []
    published = _published(d)
    if published:
        reached_by.append(f"the published port{'s' if len(published) > 1 else ''} {', '.join(published)}")
    if d.kind == "kubernetes":
        if d.service_ports:
            reached_by.append(f"Service{'s' if len(d.service_ports) > 1 else ''} {', '.join(s.name for s in d.service_ports)}")
        reached_by.extend(probes)
    if reached_by:
        return Outcome(
            Status.FAIL,
            f"binds {host} ({how}) inside the container, so {', '.join(reached_by)} reach nothing: every connection from outside the container is refused",
            ev,
            fix,
        )
    return Outcome(
        Status.WARN,
        f"binds {host} ({how}): only processes inside {container_word(d)} can connect; other containers and pods cannot",
        ev,
        ctx.relaunch.fix(fix.text, set_options={opt: "0.0.0.0"}, applicability=Applicability.UNSAFE),
    )
