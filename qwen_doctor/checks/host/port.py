"""host.port: the port the server will bind is free on its bind address, and if not, who holds it.

Reads the run's one socket scan (``ctx.facts.sockets()``); never kills or signals anything.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import TYPE_CHECKING

from ...procs import Listener, bind_family, describe_process, listeners
from ...results import Applicability, Fix, Outcome
from ...spec import check

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...target import Target

#: what each server does when its port is taken. SGLang: no pre-flight port check in any release, uvicorn binds
#: after the model load (shared/reference/sglang.md §5 and "ports"; python/sglang/srt/entrypoints/http_server.py).
#: vLLM: create_server_socket binds before the engine loads (vllm/entrypoints/openai/api_server.py at v0.8.5, v0.11.0).
CONSEQUENCE = {
    "sglang": "SGLang does not check the port first: it loads the whole model (minutes on a big GPU), then uvicorn fails with "
    "'[Errno 98] error while attempting to bind on address ... address already in use' and the launcher exits",
    "vllm": "vLLM binds its port before loading the engine and exits at once with 'address already in use'",
    "tei": "TEI fails to bind the port and exits",
}


def _norm_host(host: str) -> str:
    h = host.strip("[]")
    if h == "localhost":
        return "127.0.0.1"
    if h in ("", "*"):
        return "0.0.0.0"
    return h


def _bind_host(host: str) -> str:
    h = host.strip("[]")
    return "0.0.0.0" if h in ("", "*") else h


def conflicts(bind_host: str, listener_ip: str) -> bool:
    """Would binding bind_host:P fail because of a listener on listener_ip:P (Linux semantics, dual-stack ::)?"""
    try:
        b = ipaddress.ip_address(bind_host)
        lst = ipaddress.ip_address(listener_ip.split("%")[0])
    except ValueError:
        return bind_host == listener_ip
    if isinstance(lst, ipaddress.IPv6Address) and lst.ipv4_mapped:
        lst = lst.ipv4_mapped
    if isinstance(b, ipaddress.IPv6Address) and b.ipv4_mapped:
        b = b.ipv4_mapped
    if b.version == lst.version:
        return b.is_unspecified or lst.is_unspecified or b == lst
    # across families only the dual-stack wildcard '::' overlaps IPv4
    if b.version == 6 and b.is_unspecified:
        return True
    if lst.version == 6 and lst.is_unspecified:
        return True  # a dual-stack [::] listener (the Linux default, bindv6only=0) holds every IPv4 address too
    return False


def bind_test(host: str, port: int) -> tuple[bool, int | None, str]:
    """Try the bind the server will do (SO_REUSEADDR, like uvicorn), closing at once. (ok, errno, message)."""
    s = socket.socket(bind_family(host), socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(2.0)
        s.bind((host, port))
        return True, None, ""
    except OSError as exc:
        return False, exc.errno, exc.strerror or str(exc)
    finally:
        s.close()


def port_holders(host: str, port: int, conns: list | None) -> tuple[list[Listener], list[Listener], str | None]:
    """(conflicting listeners, other listeners on the port, note), from the run's socket scan ``conns``."""
    ls, note = listeners(port, conns)
    h = _norm_host(host)
    conflicting = [x for x in ls if conflicts(h, x.ip)]
    others = [x for x in ls if x not in conflicting]
    return conflicting, others, note


def port_free(host: str, port: int, conns: list | None) -> bool:
    conflicting, _, _ = port_holders(host, port, conns)
    if conflicting:
        return False
    ok, _, _ = bind_test(_bind_host(host), port)
    return ok


def next_free_port(host: str, port: int, conns: list | None, span: int = 200) -> int | None:
    for p in range(port + 1, min(port + 1 + span, 65536)):
        if port_free(host, p, conns):
            return p
    return None


def _sockets(ctx: "Context") -> list | None:
    """The run's one socket scan; None when this user may not list sockets (``listeners`` then says so)."""
    try:
        return ctx.facts.sockets()
    except Exception:  # noqa: BLE001 - psutil.AccessDenied / PermissionError
        return None


def _is_self(t: "Target", holder_pids: set[int]) -> int | None:
    """The holder pid when the examined server itself holds the port."""
    import psutil

    if t.pid is not None:
        family = {t.pid}
        try:
            p = psutil.Process(t.pid)
            family.update(c.pid for c in p.children(recursive=True))
            family.update(a.pid for a in p.parents())
        except psutil.Error:
            pass
        hit = family & holder_pids
        if hit:
            return min(hit)
    if t.launch is None:
        return None
    from ...launch import split_launch

    for pid in holder_pids:
        try:
            other = split_launch(psutil.Process(pid).cmdline())
        except Exception:  # noqa: BLE001 - psutil.Error, LaunchError: not the examined server
            continue
        if other.server == t.launch.server and list(other.args) == list(t.launch.args):
            return pid
    return None


def _applies(ctx: "Context") -> bool | str:
    t = ctx.target
    if t.port is None:
        return "no port known (give a launch command, --port or --host)"
    if t.deployment is not None and t.deployment.in_container:
        return "the server runs in a container from a deployment file; its port is checked inside the container, not on this host"
    if t.launch is None and t.pid is None:
        return "no server to start here (a URL or model path alone); the port check is for a server about to start on this host"
    return True


@check("host.port", "Server port is free (and who holds it)", applies=_applies, reads=("sockets", "host"))
def check_port(ctx: "Context") -> Outcome:
    """What it checks: the port the server will listen on is free on its bind address (IPv4 and IPv6, with Linux's
    wildcard semantics: 0.0.0.0 collides with any IPv4 listener on that port, 127.0.0.1 collides with 127.0.0.1 and
    0.0.0.0, and a dual-stack [::] listener collides with both), and if not, which process holds it.

    Why it matters: a busy port does not make SGLang hang: SGLang never checks the port before it starts, loads the whole
    model (minutes), and only then fails with `[Errno 98] ... address already in use` and exits (no pre-flight port
    check in any release: shared/reference/sglang.md §5). vLLM binds its socket before it loads the engine
    (`create_server_socket`, vllm/entrypoints/openai/api_server.py at v0.11.0), so it fails at once. Finding it before
    the load saves the wait, and naming the holder (pid, name, user, command line) tells whether it is a stale copy of
    the same server or something else.

    How to fix: stop the process that holds the port yourself (the doctor never kills anything), or start the server
    on the free port suggested (the corrected launch command is printed). When the examined server itself holds the
    port, the check passes.
    """
    t = ctx.target
    host, port = t.host or "127.0.0.1", t.port
    assert port is not None
    conns = _sockets(ctx)
    conflicting, others, note = port_holders(host, port, conns)
    ok, err, _msg = (True, None, "") if conflicting else bind_test(_bind_host(host), port)
    if not conflicting and ok:
        ev = {"host": host, "port": port}
        if others:
            ev["other_listeners"] = [f"{x.ip}:{x.port} pid {x.pid}" for x in others]
        return Outcome.passed(f"port {port} is free on {host}", **ev)
    if err == errno.EADDRNOTAVAIL:
        return Outcome.fail(
            f"{host} is not an address of this host: the server will fail with '[Errno 99] cannot assign requested address'",
            Fix("Bind 0.0.0.0 (all interfaces) or an address this host has.", applicability=Applicability.UNSAFE),
            host=host,
        )
    if err == errno.EACCES:
        return Outcome.fail(
            f"port {port} is privileged (< 1024): binding it needs root or CAP_NET_BIND_SERVICE",
            Fix("Use a port >= 1024 (and map it in the container/service if needed)."),
            host=host,
            port=port,
        )
    holder_pids = {x.pid for x in conflicting if x.pid is not None}
    self_pid = _is_self(t, holder_pids)
    if self_pid is not None:
        return Outcome.passed(f"port {port} is held by the server under examination itself (pid {self_pid})", host=host, port=port, pid=self_pid)
    holders = [describe_process(pid) for pid in sorted(holder_pids)] or [describe_process(None)]
    desc = "; ".join(
        f"pid {h['pid']} ({h.get('name', '?')}, user {h.get('user', '?')}): {h.get('cmdline', '')}".strip() if h.get("pid") else h["note"] for h in holders
    )
    where = ", ".join(sorted({f"{x.ip}:{x.port}" for x in conflicting})) or f"{host}:{port}"
    free = next_free_port(host, port, conns)
    consequence = CONSEQUENCE.get(t.server or "", "the server will fail to bind")
    cmd = ctx.relaunch.command(set_options={"--port": str(free)}) if free is not None else None
    if cmd is not None:
        fix = ctx.relaunch.fix(
            f"Stop the holder yourself if it is a stale copy, or use port {free} (corrected launch command below).",
            set_options={"--port": str(free)},
        )
    else:
        fix = Fix("Stop the holder yourself if it is a stale copy, or choose another port" + (f" (e.g. {free})" if free else "") + ".")
    return Outcome.fail(
        f"port {port} is already in use on {where}, held by {desc}. {consequence}",
        fix,
        host=host,
        port=port,
        holders=holders,
        suggested_port=free,
        note=note,
    )
