"""probe.reachable: something answers HTTP at the server URL, and when not, which step failed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ...results import Fix, Outcome, Status
from ...spec import check
from ...urls import is_loopback_host
from ._common import Budget, applies, client

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...target import Target

#: processes that hold a published port for a container: the server may be behind them
CONTAINER_PROXIES = ("docker-proxy", "rootlesskit", "slirp4netns", "pasta", "conmon", "podman", "containerd", "dockerd")


def _launch_derived(t: "Target") -> bool:
    """Whether the URL was derived from a launch command for a server that may not be started yet
    (as opposed to an explicit --url, or a discovered running process)."""
    if t.url_source:
        return t.url_source == "launch"
    if t.launch is None or t.pid is not None or not t.port:
        return False
    host = t.host or "127.0.0.1"
    connect = host if host not in ("0.0.0.0", "::", "[::]") else "127.0.0.1"
    if ":" in connect and not connect.startswith("["):
        connect = f"[{connect}]"
    return (t.url or "").rstrip("/") == f"http://{connect}:{t.port}"


def _local_listeners(ctx: "Context", host: str, port: int) -> list[str] | None:
    if not is_loopback_host(host):
        return None
    try:
        from ...procs import listeners

        ls, _ = listeners(port, ctx.facts.sockets())
    except Exception:  # noqa: BLE001 - best effort
        return None
    return sorted({f"{li.ip}:{li.port}" + (f" (pid {li.pid})" if li.pid else "") for li in ls})


def _holder_text(h: Any) -> str:
    if not isinstance(h, dict):
        return str(h)
    if not h.get("pid"):
        return str(h.get("note") or "a process this user cannot see")
    return f"pid {h['pid']} ({h.get('name', '?')}, user {h.get('user', '?')}): {h.get('cmdline', '')}".strip()


def port_held_by_another(ctx: "Context") -> tuple[str, list[Any]] | None:
    """(who, holders) when host.port found the probed port held by a process other than the examined server.

    The probe would then talk to that other program and report its answers as the server's."""
    r = ctx.result("host.port")
    if r is None or r.status is Status.PASS:
        return None
    holders = r.evidence.get("holders")
    port = r.evidence.get("port")
    if not holders or not isinstance(holders, (list, tuple)):
        return None
    t = ctx.target
    try:
        parts = urlsplit(t.url or "")
        url_host, url_port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if url_port != port:
        return None
    if t.url_source == "url" and not (is_loopback_host(url_host) or url_host == t.host):
        return None  # an explicit URL on another host: not the port host.port examined
    names = [str(h.get("name") or "") for h in holders if isinstance(h, dict)]
    if names and all(n in CONTAINER_PROXIES for n in names):
        return None  # a published container port: the server may well be behind it
    return "; ".join(_holder_text(h) for h in holders), list(holders)


@check(
    "probe.reachable",
    "Server answers HTTP at its URL",
    applies=applies,
    uses=("host.port",),
    reads=("http", "sockets", "host"),
)
def check_reachable(ctx: "Context") -> Outcome:
    """What it checks: that something answers HTTP at the server URL (--url, or the host:port of the launch command or of the running process): DNS resolution, TCP connect, TLS, then one GET, each under an explicit timeout, and when it fails, which of these failed. When host.port found that port held by another program than the examined server, nothing is probed (SKIP, blocked by host.port): the answers would be that program's.

    Why it matters: "connection refused" (nothing listens: not started, crashed, or still loading: SGLang binds its port only after loading the weights, vLLM serves only once the engine is ready), a connect timeout (a firewall or security group drops the packets), a TLS error (https on a plain-HTTP port) and a DNS failure have different fixes. SGLang binds 127.0.0.1 by default, so a server in a container refuses connections from outside although it runs. For a launch command that was never started, nothing listening is expected before deployment: the result is SKIP ("not running"), not a failure, so a pre-flight CI gate does not fail; an explicit --url that refuses is a FAIL. Every other probe.* check depends on this one.

    How to fix: start the server or wait for its ready line ("The server is fired up and ready to roll!" for SGLang); bind 0.0.0.0 (--host 0.0.0.0, TEI --hostname 0.0.0.0) when clients are elsewhere; open the port in the firewall; use http:// for a plain-HTTP server; check the host name; free the port (host.port names its holder) or start the server on another one.
    """
    o, t = ctx.options, ctx.target
    if o.offline:
        return Outcome.skip("--offline: the live probe does not touch the network")
    held = port_held_by_another(ctx)
    if held is not None:
        who, holders = held
        return Outcome.skip(
            f"port {t.port} is held by another program, not the server under examination ({who}): probing it would report that program's answers (see host.port)",
            blocked_by=("host.port",),
            held_by=holders,
        )
    if _launch_derived(t):
        # not started yet, as the socket table already shows: the same SKIP as a refused connection, without
        # loading the HTTP client at all (a pre-flight run stays small and fast)
        try:
            parts = urlsplit(t.url or "")
            host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            host, port = "", 0
        if host and port and _local_listeners(ctx, host, port) == []:
            return _refused(ctx, host, port, f"{host}:{port}", {"url": t.url, "host": host, "port": port, "seen_in": "socket table"})
    from ...probe.http import Failure

    budget = Budget("probe.reachable")
    with client(ctx, read_timeout=budget.read(o.probe_timeout)) as c:
        parts = urlsplit(c.base_url)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        r = c.get("/")
        note = c.url_note or t.url_note
    ev: dict[str, Any] = {"url": c.base_url, "host": host, "port": port, "elapsed_ms": r.ms}
    if note:
        ev["note"] = note
    where = f"{host}:{port}"
    if r.status is not None and (r.failure is None or r.failure.kind is not Failure.TOO_MANY_REDIRECTS):
        # an HTTP status line came back: reachable (a bad body is the other checks' business)
        extra = f"; {note}" if note else ""
        if r.failure is not None and r.failure.kind is Failure.REDIRECT:
            ev["redirect_to"] = r.redirect_to
            extra += f"; {r.failure.message}"
        elif r.failure is not None:
            extra += f"; the body of GET / did not arrive completely ({r.failure})"
        return Outcome.passed(f"{c.base_url} answers HTTP (GET / -> {r.status} in {r.ms} ms){extra}", **ev, http_status=r.status)
    f = r.failure
    assert f is not None
    ev.update(failure=f.kind.value, detail=f.message)
    if f.kind in (Failure.TOO_MANY_REDIRECTS, Failure.BODY_TOO_LARGE, Failure.INVALID_JSON):
        return Outcome.warn(
            f"{c.base_url} is reachable, but GET / misbehaves: {f}",
            Fix("The other probe.* checks use their own routes; fix the redirect rule or proxy if clients see the same."),
            **ev,
        )
    if f.kind is Failure.REFUSED:
        return _refused(ctx, host, port, where, ev)
    if f.kind is Failure.CONNECT_TIMEOUT:
        return Outcome.fail(
            f"no answer to the TCP connection to {where} within {o.connect_timeout:g} s: a firewall or security group drops the packets, the host is down or wrong, or the server's listen backlog is full",
            Fix(
                f"Check firewall / security-group rules for port {port} between here and the server, and the address; a firewall that rejects (instead of dropping) shows up as 'no route to host'."
            ),
            **ev,
        )
    if f.kind is Failure.DNS:
        return Outcome.fail(
            f"cannot resolve {host!r}: {f.message}",
            Fix("Check the host name (in Kubernetes: <service>.<namespace>.svc.cluster.local), /etc/hosts and the DNS server."),
            **ev,
        )
    if f.kind is Failure.TLS:
        low = f.message.lower()
        if parts.scheme == "https" and any(s in low for s in ("wrong version number", "record layer", "packet length", "unknown protocol", "http request")):
            why, fix = "the port speaks plain HTTP, not TLS", Fix(f"Use http://{where} (SGLang, vLLM and TEI serve plain HTTP unless given certificates).")
        elif "certificate" in low:
            why, fix = (
                "the server's certificate is not trusted here",
                Fix("Give the CA bundle with SSL_CERT_FILE, or probe the server directly over http:// inside the network."),
            )
        else:
            why, fix = "the TLS handshake failed", Fix("Check the scheme (http:// vs https://) and the server's certificate.")
        return Outcome.fail(f"TLS error talking to {where}: {why} ({f.message})", fix, **ev)
    if f.kind is Failure.UNREACHABLE:
        return Outcome.fail(
            f"no route to {where}: {f.message} (a firewall rejecting the connection, or a wrong address)",
            Fix(f"Check routes and firewall rules for port {port}, and the address."),
            **ev,
        )
    if f.kind is Failure.READ_TIMEOUT:
        return Outcome.fail(
            f"{where} accepts TCP connections but sent no HTTP answer to GET / ({f.message}): the server's HTTP loop is blocked, or this port is not the HTTP port (e.g. an NCCL/ZMQ port)",
            Fix("Check that --url names the server's HTTP port (SGLang 30000, vLLM 8000, TEI 3000/80 by default) and read the server log."),
            **ev,
        )
    if f.kind in (Failure.RESET, Failure.PROTOCOL):
        tls_hint = " (an https:// server probed with http:// closes the connection like this)" if parts.scheme == "http" else ""
        return Outcome.fail(
            f"{where} closed the connection without a valid HTTP answer: {f.message}{tls_hint}",
            Fix("Check the scheme and that the port is the server's HTTP port."),
            **ev,
        )
    return Outcome.fail(f"cannot reach {c.base_url}: {f}", Fix("Check the URL."), **ev)


def _refused(ctx: "Context", host: str, port: int, where: str, ev: dict[str, Any]) -> Outcome:
    t = ctx.target
    listening = _local_listeners(ctx, host, port)
    if listening is not None:
        ev["local_listeners"] = listening
    if _launch_derived(t):
        return Outcome.skip(
            f"not running (expected before deployment): nothing listens on {where} yet; the live probe runs once the server is up", **ev, not_running=True
        )
    causes = []
    if t.pid is not None:
        other = f" (it listens on {', '.join(map(str, t.listening))})" if t.listening else ""
        causes.append(
            f"the server process (pid {t.pid}) runs but does not accept connections on port {port} yet{other}: it is probably still loading the weights (SGLang binds its port only after loading, vLLM serves only once the engine is ready)"
        )
    elif listening:
        causes.append(f"port {port} is open on this host only as {', '.join(listening)}, not on {host}")
    else:
        causes.append("the server is not started, or it exited (see its log)")
        causes.append(
            "it is still loading the weights: SGLang binds its port only after loading (minutes for a big model), vLLM serves only once the engine is ready"
        )
        causes.append("it listens on another port")
    if not is_loopback_host(host):
        causes.append("it is bound to 127.0.0.1 (SGLang's default --host) while probed from another host or container: start it with --host 0.0.0.0")
    return Outcome.fail(
        f"connection refused on {where}: nothing listens there. Likely: " + "; ".join(causes),
        Fix(
            "Start the server (or wait for its ready line: SGLang 'The server is fired up and ready to roll!'), check --port, and bind 0.0.0.0 when clients are elsewhere."
        ),
        **ev,
    )
