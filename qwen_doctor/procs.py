"""Process and socket facts through psutil (read-only; every call bounded, AccessDenied handled)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from .redact import redact_argv


def describe_process(pid: int | None) -> dict[str, Any]:
    """pid, name, user, redacted cmdline of a process; fields this user may not read say so."""
    import psutil

    if pid is None:
        return {"pid": None, "note": "held by a process this user cannot see (run as root or as the owner to name it)"}
    info: dict[str, Any] = {"pid": pid}
    try:
        p = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return {"pid": pid, "note": "process exited"}
    except psutil.Error as exc:  # pragma: no cover
        return {"pid": pid, "note": f"cannot inspect: {exc}"}
    for key, getter in (("name", p.name), ("user", p.username), ("cmdline", p.cmdline)):
        try:
            value = getter()
            info[key] = " ".join(redact_argv(value)) if key == "cmdline" else value
        except psutil.AccessDenied:
            info[key] = "(access denied)"
        except psutil.NoSuchProcess:
            info["note"] = "process exited"
            break
        except Exception as exc:  # pragma: no cover
            info[key] = f"(unavailable: {type(exc).__name__})"
    return info


@dataclass(frozen=True)
class Listener:
    ip: str
    port: int
    pid: int | None
    family: int


def scan_connections() -> list:
    """The host's TCP sockets (psutil). A run scans once and hands the list to every check through its Context."""
    import psutil

    return psutil.net_connections(kind="tcp")


def listeners(port: int | None = None, conns: list | None = None) -> tuple[list[Listener], str | None]:
    """TCP sockets in LISTEN state (optionally on one port), from ``conns`` (a run's scan) or a fresh scan.
    Returns (listeners, note when incomplete)."""
    import psutil

    note = None
    try:
        conns = scan_connections() if conns is None else conns
    except (psutil.AccessDenied, PermissionError):
        return [], "this user may not list sockets (psutil AccessDenied); run as root to name holders"
    out = []
    for c in conns:
        if c.status != psutil.CONN_LISTEN or not c.laddr:
            continue
        if port is not None and c.laddr.port != port:
            continue
        out.append(Listener(c.laddr.ip, c.laddr.port, c.pid, c.family))
    if any(l.pid is None for l in out):
        note = "some listening sockets belong to processes this user cannot see"
    return out, note


def listening_ports(pid: int, conns: list | None = None) -> tuple[int, ...]:
    """Ports a process (and its children) listens on, from ``conns`` (one scan) or a fresh scan."""
    import psutil

    pids = {pid}
    try:
        pids.update(c.pid for c in psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        pass
    ls, _ = listeners(None, conns)
    return tuple(sorted({l.port for l in ls if l.pid in pids}))


def bind_family(host: str) -> int:
    """The address family uvicorn (SGLang, vLLM) uses for a host: AF_INET6 when the host contains ':'."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET
