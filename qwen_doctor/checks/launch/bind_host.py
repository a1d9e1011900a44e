"""launch.bind-host: the address the server binds, and who can reach it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ...results import Applicability, Outcome, Status
from ...spec import check
from ...urls import is_loopback_host
from ._common import ANY_SERVER

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


def _applies(ctx: "Context") -> bool | str:
    from ..deploy._common import in_container

    if in_container(ctx.target.deployment):
        return "the server runs in a container: deploy.bind-address examines its bind address"
    return ANY_SERVER(ctx)


def _in_container(ctx: "Context") -> bool:
    """The doctor itself runs in a container, beside a plain command (containers it reads are deploy.bind-address's)."""
    t = ctx.target
    if t.deployment is not None or t.pid is not None:
        return False  # a systemd unit or a process seen on this host
    return os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")


@check(
    "launch.bind-host",
    "Bind address reachable by clients",
    severity=Status.WARN,
    applies=_applies,
    reads=("server", "deployment", "host"),
    claims=("launch.default-host",),
)
def check_bind_host(ctx: "Context") -> Outcome:
    """What it checks: the address the server binds, and who can reach it.

    Why it matters: SGLang binds 127.0.0.1 by default, so a server in a container or a pod is unreachable from outside
    (connection refused from the host, failing readiness probes) although it runs fine. vLLM binds every interface by
    default; TEI binds 0.0.0.0 (the --host/--hostname defaults of each parser: sglang.md §2, vllm-tei-qwen3.md C.2).

    A server in a compose service, a Kubernetes container or a `docker run` line is examined by deploy.bind-address
    instead (a FAIL there when a published port, Service or probe cannot reach it), so the two never report one cause.

    How to fix: add `--host 0.0.0.0` (SGLang/vLLM) or `--hostname 0.0.0.0` (TEI) when clients are elsewhere.
    """
    t = ctx.target
    host = t.host or ""
    if not is_loopback_host(host):
        return Outcome.passed(f"binds {host}", host=host)
    given = t.given("host") or t.given("hostname")
    how = "set by --host" if given else f"the {t.server} default"
    opt = "--hostname" if t.server == "tei" else "--host"
    if _in_container(ctx):
        return Outcome.warn(
            f"binds {host} ({how}): reachable only from inside this container/pod, not from other hosts, the node or probes on the pod IP",
            ctx.relaunch.fix(
                f"Add {opt} 0.0.0.0 so clients outside the container can connect.", set_options={opt: "0.0.0.0"}, applicability=Applicability.UNSAFE
            ),
            host=host,
        )
    return Outcome.passed(f"binds {host} ({how}): reachable from this host only; use {opt} 0.0.0.0 for remote clients", host=host)
