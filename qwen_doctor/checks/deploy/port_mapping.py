"""deploy.port-mapping: the container port a compose mapping or a Kubernetes containerPort (and the Services aimed
at it) points to is the port the server listens on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...facts import as_int
from ...results import Applicability, Fix, Outcome
from ...spec import check
from ._common import deployment, from_file, named_ports, port_source, server_name

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...target import PortMapping


def _mapped(p: "PortMapping") -> str:
    return f"{p.published}:{p.container}" if p.published else str(p.container)


@check(
    "deploy.port-mapping",
    "Mapped container port is the server's port",
    applies=from_file("compose", "kubernetes", "docker-run"),
    reads=("deployment", "server"),
)
def check_port_mapping(ctx: "Context") -> Outcome:
    """What it checks: that the container port a compose `ports:` mapping, a `docker run -p HOST:CONTAINER` (podman,
    nerdctl) or a Kubernetes `containerPort` (and the Services aimed at it) points to is the port the server really
    listens on: its `--port`, else its default
    (SGLang 30000, vLLM 8000, TEI 3000 as a binary but 80 in its Docker images, which set `PORT=80`: TEI Dockerfile,
    Dockerfile-cuda; shared/reference/vllm-tei-qwen3.md C).

    Why it matters: a mapping such as `8080:8000` for an SGLang container that listens on 30000 publishes a port
    where nothing answers: clients get "connection refused" or "connection reset" although the server runs fine.
    Mixing up the servers' defaults (vLLM 8000, SGLang 30000, TEI 80 in its images) is the usual cause.

    How to fix: map to the port the server listens on (e.g. `8080:30000`), or pass `--port` (TEI: `--port` or
    `PORT`) so the server listens on the mapped container port.
    """
    t = ctx.target
    d = deployment(ctx)
    port = t.port
    ports = list(d.ports)
    cports = sorted({p.container for p in ports})
    src = port_source(t)
    name = server_name(t.server)
    published = d.kind in ("compose", "docker-run")  # ports published on the host (compose ports:, docker run -p)
    if d.host_network:
        how = {"compose": "network_mode: host", "docker-run": "--network host"}.get(d.kind, "hostNetwork: true")
        what = "the -p mappings are" if d.kind == "docker-run" else "the ports: list is"
        ignored = f"; {what} ignored with {how}" if ports and published else ""
        return Outcome.passed(f"{how}: {name} listens on the host's port {port} ({src}){ignored}", server_port=port)
    if not cports:
        if d.kind == "compose":
            return Outcome.passed(f"port {port} is not published: only containers on the same compose network reach {name} (at {port})", server_port=port)
        if d.kind == "docker-run":
            return Outcome.passed(f"port {port} is not published (no -p): only containers on the same network reach {name} (at {port})", server_port=port)
        return Outcome.passed(f"no containerPort declared; Services must target port {port} ({src})", server_port=port)
    if port in cports:
        shown = ", ".join(f"{p.host_ip + ':' if p.host_ip else ''}{p.published}->{port}" if p.published else f"{port}" for p in ports if p.container == port)
        what = {"compose": "ports", "docker-run": "-p"}.get(d.kind, "containerPort")
        return Outcome.passed(f"{what} {shown} reach {name} on {port} ({src})", server_port=port, container_ports=cports)
    others = [p for p in ports if p.container != port]
    mapped = ", ".join(_mapped(p) for p in others)
    target_port = others[0].container
    edit = {"--port": str(target_port)}
    cmd = ctx.relaunch.command(set_options=edit) if len(cports) == 1 else None
    listen_there = f", or make the server listen on {target_port}" + (" (corrected command below)." if cmd else ".")

    def fix(text: str) -> Fix:
        return ctx.relaunch.fix(text, set_options=edit) if cmd else Fix(text, applicability=Applicability.DISPLAY_ONLY)

    if published:
        if d.kind == "docker-run":
            suggested = " ".join(f"-p {p.host_ip + ':' if p.host_ip else ''}{p.published}:{port}" if p.published else f"-p {port}" for p in others)
            how_map, how_fix = f"-p maps {mapped}", f"Publish the server's port ({suggested})"
        else:
            suggested = ", ".join(f'"{p.published}:{port}"' if p.published else f'"{port}"' for p in others)
            how_map, how_fix = f"ports maps {mapped}", f"Map the published port to {port} (ports: [{suggested}])"
        return Outcome.fail(
            f"{how_map}, but {name} listens on {port} ({src}) inside the container: nothing answers on the published port",
            fix(how_fix + listen_there),
            server_port=port,
            container_ports=cports,
        )
    named = named_ports(d)
    aimed = []
    for s in d.service_ports:
        tp = s.target_port
        if tp is None:
            continue
        tp_num = named.get(tp) if isinstance(tp, str) and not tp.isdigit() else as_int(tp, -1)
        if tp_num in cports and tp_num != port:
            aimed.append(f"Service {s.name} (targetPort {tp})")
    k8s_fix = fix(f"Declare containerPort {port} and aim the Services at it" + listen_there)
    if aimed:
        return Outcome.fail(
            f"{', '.join(aimed)} sends traffic to container port {target_port}, but {name} listens on {port} ({src}): nothing answers",
            k8s_fix,
            server_port=port,
            container_ports=cports,
        )
    return Outcome.warn(
        f"containerPort {mapped} does not match the port {name} listens on ({port}, {src}): Services and probes aimed at the declared port reach nothing",
        k8s_fix,
        server_port=port,
        container_ports=cports,
    )
