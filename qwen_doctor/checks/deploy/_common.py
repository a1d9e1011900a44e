"""Helpers shared by the deploy.* checks: when they apply, and the ports a deployment file names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ...facts import as_int

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...target import Deployment, Target

SERVER_NAMES = {"sglang": "SGLang", "vllm": "vLLM", "tei": "TEI"}


def server_name(server: str | None) -> str:
    return SERVER_NAMES.get(server or "", server or "")


def from_file(*kinds: str) -> Callable[["Context"], "bool | str"]:
    """``applies``: the target was read from a deployment file of one of ``kinds`` and its server is known."""

    def applies(ctx: "Context") -> bool | str:
        d = ctx.target.deployment
        if d is None or not d.from_file:
            return "not read from a deployment file (use --from FILE)"
        if d.kind not in kinds:
            return f"does not apply to {d.kind} files"
        if ctx.target.server is None:
            return "server unknown"
        return True

    applies.__name__ = "applies_" + "_".join(kinds)
    return applies


def deployment(ctx: "Context") -> "Deployment":
    """The target's deployment facts (the deploy.* checks apply only to targets that have them)."""
    d = ctx.target.deployment
    assert d is not None, "deploy.* checks apply only to targets read from a deployment file"
    return d


def port_source(t: "Target") -> str:
    """How the server's port was decided: ``--port 30000``, ``PORT=80 from the image``, ``its default port 8000``."""
    if t.given("port"):
        return f"--port {t.port}"
    if t.server == "tei" and dict(t.env).get("PORT", "").strip() == str(t.port):
        from_image = t.deployment is not None and t.deployment.port_from_image
        return f"PORT={t.port}" + (" from the image" if from_image else "")
    return f"its default port {t.port}"


def named_ports(d: "Deployment | None") -> dict[str, int]:
    """Kubernetes container port names -> numbers."""
    return {p.name: p.container for p in (d.ports if d is not None else ()) if p.name}


def resolve_port(d: "Deployment | None", port: Any) -> tuple[int | None, str]:
    """(port number, how it was written) of a probe/Service port: a number or a named container port."""
    if isinstance(port, bool):
        return None, str(port)
    n = as_int(port) if isinstance(port, (int, str)) else None
    if n is not None and (isinstance(port, int) or (port.strip().isascii() and port.strip().isdigit())):
        return n, str(port)
    if isinstance(port, str):
        named = named_ports(d)
        if port in named:
            return named[port], f"{port} ({named[port]})"
        return None, port
    return None, repr(port)


def shown_port(t: "Target") -> int | str | None:
    """The server's port as a probe should name it: its container port name when it has one."""
    by_number = {v: k for k, v in named_ports(t.deployment).items()}
    return by_number.get(t.port, t.port) if t.port is not None else None


#: deployment kinds whose server runs in a container: compose, Kubernetes, and a docker/podman/nerdctl run line
CONTAINER_KINDS = ("compose", "kubernetes", "docker-run")


def in_container(d: "Deployment | None") -> bool:
    """The server runs in a container (a compose service, a Kubernetes container, a ``docker run`` line)."""
    return d is not None and (d.kind in CONTAINER_KINDS or d.runtime is not None or d.in_container)


def containerised(*servers: str) -> Callable[["Context"], "bool | str"]:
    """``applies``: the target runs in a container and its server is known (and one of ``servers``, when given)."""

    def applies(ctx: "Context") -> bool | str:
        d = ctx.target.deployment
        if not in_container(d):
            return "not a container deployment (a compose file, a Kubernetes manifest or a docker/podman run line)"
        if ctx.target.server is None:
            return "server unknown"
        if servers and ctx.target.server not in servers:
            return f"does not apply to {server_name(ctx.target.server)}"
        return True

    applies.__name__ = "applies_container" + ("_" + "_".join(servers) if servers else "")
    return applies


def container_word(d: "Deployment") -> str:
    """How the report names where the container is declared: ``the compose service``, ``the docker run line``."""
    if d.kind == "kubernetes":
        return "the Kubernetes container"
    if d.kind == "compose":
        return "the compose service"
    return f"the {d.runtime or 'docker'} run line"
