"""``qwen-doctor serve``: the doctor as a small HTTP service (a sidecar, or a node-local daemon).

Endpoints (GET or HEAD):

- ``/livez``: 200 ``ok`` while the process is alive; never runs the checks.
- ``/readyz``: 200 when the latest run has no result at or above ``--fail-on`` (FAIL or ERROR; with
  ``--fail-on warn`` also WARN), else 503 listing them; 503 too when the run itself could not be done.
- ``/metrics``: the Prometheus text of the latest run (see render/prometheus.py) plus the service's own
  gauges and counters (``qwen_doctor_ready``, ``qwen_doctor_serve_runs_total``, ...).

Results are cached for ``--cache`` seconds. Runs are single-flight: however many probes arrive at once,
one run is in progress at a time and every probe that arrives during it waits for it and shares its
results. Stdlib only (http.server); the process stops cleanly on SIGTERM or SIGINT. Read-only, like the
rest of the doctor: the service starts nothing and writes nothing.

Bounded: at most :data:`MAX_CONNECTIONS` connections are served at once, each by a worker thread from a pool
that grows on demand up to that size and is reused (no thread per connection); a connection over the cap is
answered ``503 busy`` at once and closed. A client must send its request line and headers within
:data:`HEAD_TIMEOUT` seconds in total (a slowloris client that trickles bytes, or one that connects and sends
nothing, is cut off), and an answer is written within :data:`WRITE_TIMEOUT` seconds. Every connection is
closed after one answer (HTTP/1.0), so nothing waits idle on a kept-alive connection.
"""

from __future__ import annotations

import io
import ipaddress
import queue
import signal
import socket
import socketserver
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Callable
from urllib.parse import urlsplit

from . import __version__
from .render import RenderOptions, Report
from .results import Status, exit_code_for

ENDPOINTS = ("/livez", "/readyz", "/metrics")
TEXT = "text/plain; charset=utf-8"

MAX_CONNECTIONS = 64  # served at once (one pooled worker thread each); beyond: 503 busy at once
HEAD_TIMEOUT = 10.0  # seconds, in total, for the request line and headers to arrive
WRITE_TIMEOUT = 10.0  # seconds, in total, to write one answer
_BUSY_TEXT = b"busy: too many connections at once; retry\n"
_BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\nCache-Control: no-store\r\n"
    + f"Content-Length: {len(_BUSY_TEXT)}\r\nConnection: close\r\n\r\n".encode()
    + _BUSY_TEXT
)


class ListenError(ValueError):
    """A --listen value that cannot be parsed (a usage error)."""


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``:PORT`` (every interface) -> (host, port). Port 0 picks a free one."""
    t = (text or "").strip()
    if not t:
        raise ListenError("--listen is empty; give HOST:PORT, e.g. 127.0.0.1:9090")
    if t.startswith("["):
        end = t.find("]")
        if end < 0:
            raise ListenError(f"--listen {text!r}: missing ']' after the IPv6 address")
        host, rest = t[1:end], t[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ListenError(f"--listen {text!r}: {host!r} is not an IPv6 address") from None
        if not rest.startswith(":"):
            raise ListenError(f"--listen {text!r}: expected [ADDRESS]:PORT, e.g. [::1]:9090")
        port_s = rest[1:]
    else:
        if t.count(":") > 1:
            raise ListenError(f"--listen {text!r}: an IPv6 address needs brackets, e.g. [::1]:9090")
        if ":" not in t:
            raise ListenError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9090 (or :9090 for every interface)")
        host, port_s = t.rsplit(":", 1)
        host = host or "0.0.0.0"
    if not (port_s.isascii() and port_s.isdigit()) or not 0 <= int(port_s) <= 65535:
        raise ListenError(f"--listen {text!r}: port {port_s!r} is not a number from 0 to 65535")
    return host, int(port_s)


def url_for(host: str, port: int) -> str:
    shown = "127.0.0.1" if host == "0.0.0.0" else "::1" if host == "::" else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


# ------------------------------------------------------------------------------------------------
# the service: single-flight runs with a cache


@dataclass(frozen=True)
class Snapshot:
    """The outcome of one run: a report, or the error that stopped the run."""

    report: Report | None
    error: str | None
    finished: float  # the service clock when the run ended
    number: int  # 1 for the first run


class DoctorService:
    """Runs the doctor on demand, one run at a time, and keeps the latest results for ``cache_s`` seconds."""

    def __init__(
        self,
        run: Callable[[], Report],
        *,
        cache_s: float = 30.0,
        fail_on: str = "fail",
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self._run = run
        self.cache_s = cache_s
        self.fail_on = fail_on
        self._clock = clock
        self._log = log or (lambda msg: None)
        self._cond = threading.Condition()
        self._running = False
        self._generation = 0
        self._snap: Snapshot | None = None
        self.runs = 0  # runs finished (successful or not)
        self.failures = 0  # runs that raised
        self.waiting = 0  # requests waiting for the run in flight

    def _fresh(self, now: float) -> bool:
        return self._snap is not None and now - self._snap.finished < self.cache_s

    def snapshot(self) -> Snapshot:
        """The latest results: cached, or those of the run in flight, or of a new run started now."""
        with self._cond:
            if self._fresh(self._clock()):
                assert self._snap is not None
                return self._snap
            if self._running:
                gen = self._generation
                self.waiting += 1
                try:
                    while self._generation == gen:
                        self._cond.wait()
                finally:
                    self.waiting -= 1
                assert self._snap is not None
                return self._snap
            self._running = True
        snap: Snapshot | None = None
        try:
            snap = self._execute()
        finally:
            with self._cond:
                if snap is None:  # BaseException escaped the run: publish the failure and let it propagate
                    snap = Snapshot(None, "interrupted", self._clock(), self.runs + 1)
                    self.runs += 1
                    self.failures += 1
                self._snap = snap
                self._running = False
                self._generation += 1
                self._cond.notify_all()
        return snap

    def _execute(self) -> Snapshot:
        t0 = time.monotonic()
        try:
            report = self._run()
            error = None
        except Exception as exc:  # noqa: BLE001 - the service reports it and keeps serving
            report, error = None, f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        with self._cond:
            self.runs += 1
            number = self.runs
            if error is not None:
                self.failures += 1
        if report is not None:
            c = report.counts
            state = "ready" if self.ready(report) else "not ready"
            self._log(
                f"run {number} finished in {time.monotonic() - t0:.2f} s: {c['fail']} fail, {c['error']} error, {c['warn']} warn, {c['pass']} pass, {c['skip']} skip -> {state}"
            )
        else:
            self._log(f"run {number} failed: {error}")
        return Snapshot(report, error, self._clock(), number)

    def ready(self, report: Report) -> bool:
        return exit_code_for(report.results, self.fail_on) == 0

    def offending(self, report: Report) -> list:
        threshold = Status.WARN.rank if self.fail_on == "warn" else Status.FAIL.rank
        return [r for r in report.results if r.status.rank >= threshold]

    # -- endpoint bodies: (status code, content type, text) ---------------------------------------
    def livez(self) -> tuple[int, str, str]:
        return 200, TEXT, "ok\n"

    def readyz(self) -> tuple[int, str, str]:
        snap = self.snapshot()
        if snap.report is None:
            return 503, TEXT, f"not ready: the doctor run failed: {snap.error}\n"
        c = snap.report.counts
        counts = f"{c['fail']} fail, {c['error']} error, {c['warn']} warn, {c['pass']} pass, {c['skip']} skip"
        if self.ready(snap.report):
            return 200, TEXT, f"ready: {counts} (fail-on {self.fail_on}, run {snap.number})\n"
        lines = [f"not ready: {counts} (fail-on {self.fail_on}, run {snap.number})"]
        for r in self.offending(snap.report):
            extra = f" [{r.ignored_by}]" if r.ignored_by else ""
            lines.append(f"{r.status.value.upper()} {r.id} ({r.target}): {r.summary}{extra}")
        return 503, TEXT, "\n".join(lines) + "\n"

    def metrics(self) -> tuple[int, str, str]:
        from .render.prometheus import CONTENT_TYPE, family, render_prometheus

        snap = self.snapshot()
        text = render_prometheus(snap.report, RenderOptions(fail_on=self.fail_on)) if snap.report is not None else ""
        with self._cond:
            runs, failures = self.runs, self.failures
        own: list[str] = []
        own += family(
            "qwen_doctor_ready",
            "gauge",
            f"1 when the last run has no result at or above --fail-on {self.fail_on}, else 0.",
            [({}, 1 if snap.report is not None and self.ready(snap.report) else 0)],
        )
        own += family("qwen_doctor_serve_runs", "counter", "Runs done by this serve process.", [({}, runs)])
        own += family("qwen_doctor_serve_run_failures", "counter", "Runs of this serve process that could not be done.", [({}, failures)])
        own += family("qwen_doctor_serve_cache_seconds", "gauge", "How long a run's results are reused.", [({}, self.cache_s)])
        if snap.report is not None:  # probe.metrics' readings and verdicts, for alerts
            from .render.onduty import server_lines

            own += server_lines(snap.report)
        return 200, CONTENT_TYPE, text + "\n".join(own) + "\n"


# ------------------------------------------------------------------------------------------------
# HTTP


class _HeadReader(io.RawIOBase):
    """The socket's read side under one overall deadline (the request head), not a per-recv timeout: a client
    that trickles a byte at a time cannot keep a worker busy past it."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request was not received in time")
        self._sock.settimeout(left)
        return self._sock.recv_into(b)


class _Handler(BaseHTTPRequestHandler):
    server_version = f"qwen-doctor/{__version__}"
    sys_version = ""

    server: "DoctorHTTPServer"

    def setup(self) -> None:
        self.connection = self.request
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        self.rfile = io.BufferedReader(_HeadReader(self.connection, time.monotonic() + self.server.head_timeout))
        self.wfile = socketserver._SocketWriter(self.connection)  # type: ignore[attr-defined]  # unbuffered, as StreamRequestHandler

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._respond(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._respond(body=False)

    def _not_allowed(self) -> None:
        self._send(405, TEXT, "method not allowed: use GET or HEAD\n", True, {"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed  # noqa: N815

    def _respond(self, body: bool) -> None:
        path = urlsplit(self.path).path
        path = path.rstrip("/") or "/"
        svc = self.server.service
        try:
            if path == "/livez":
                code, ctype, text = svc.livez()
            elif path == "/readyz":
                code, ctype, text = svc.readyz()
            elif path == "/metrics":
                code, ctype, text = svc.metrics()
            elif path == "/":
                code, ctype, text = 200, TEXT, f"qwen-doctor {__version__}: " + " ".join(ENDPOINTS) + "\n"
            else:
                code, ctype, text = 404, TEXT, f"not found: try {' '.join(ENDPOINTS)}\n"
        except Exception as exc:  # noqa: BLE001 - a bug answers 500, the service goes on
            self.server.log(f"internal error answering {path}: {type(exc).__name__}: {exc}")
            code, ctype, text = 500, TEXT, "internal error\n"
        self._send(code, ctype, text, body)

    def _send(self, code: int, ctype: str, text: str, body: bool, headers: dict | None = None) -> None:
        data = text.encode("utf-8", "replace")
        try:
            self.connection.settimeout(self.server.write_timeout)  # sendall: a total limit (Python >= 3.5)
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if body:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):  # the prober gave up waiting, or does not read
            self.close_connection = True

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        if self.server.access_log:
            self.server.log(f"{self.address_string()} {format % args}")


class DoctorHTTPServer(HTTPServer):
    """An HTTP server with a bounded pool of worker threads and a cap on the connections served at once."""

    allow_reuse_address = True
    request_queue_size = 128  # a burst of probes must not overflow the listen backlog (socketserver's default is 5)

    def __init__(
        self,
        host: str,
        port: int,
        service: DoctorService,
        *,
        log: Callable[[str], None] | None = None,
        access_log: bool = False,
        max_connections: int = MAX_CONNECTIONS,
        head_timeout: float = HEAD_TIMEOUT,
        write_timeout: float = WRITE_TIMEOUT,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.service = service
        self.log = log or (lambda msg: None)
        self.access_log = access_log
        self.max_connections = max(1, int(max_connections))
        self.head_timeout = float(head_timeout)
        self.write_timeout = float(write_timeout)
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self.active = 0  # connections being served
        self.refused = 0  # connections answered 503 busy (over the cap)
        super().__init__((host, port), _Handler)

    # -- the pool: every connection served has a worker; workers are reused, never more than the cap -------
    def process_request(self, request, client_address) -> None:
        with self._lock:
            if self.active >= self.max_connections:
                self.refused += 1
                full = True
            else:
                full = False
                self.active += 1
                if len(self._workers) < self.active:  # invariant: workers >= connections served
                    th = threading.Thread(target=self._work, name=f"qwen-doctor-serve-{len(self._workers)}", daemon=True)
                    self._workers.append(th)
                    th.start()
        if full:
            self._busy(request)
        else:
            self._jobs.put((request, client_address))

    def _work(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except Exception:  # noqa: BLE001 - one connection's problem, logged
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)
                with self._lock:
                    self.active -= 1

    def _busy(self, request: socket.socket) -> None:
        """Over the cap: answer 503 without waiting for anything (the accept loop must not block), then close."""
        try:
            request.setblocking(False)
            request.send(_BUSY)
        except OSError:
            pass
        self.shutdown_request(request)

    @property
    def threads(self) -> int:
        """Worker threads started so far (at most max_connections)."""
        return len(self._workers)

    def server_close(self) -> None:
        super().server_close()
        for _ in self._workers:  # idle workers exit; busy ones are daemon threads
            self._jobs.put(None)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can hang for seconds
        # on a host without DNS; the name is not needed.
        if self.address_family == socket.AF_INET6:
            try:
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            except OSError:  # pragma: no cover - platform without dual-stack sockets
                pass
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        self.log(f"connection from {client_address[0]}: {type(exc).__name__}: {exc}")

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def make_server(
    host: str, port: int, service: DoctorService, *, log: Callable[[str], None] | None = None, access_log: bool = False, **limits: float
) -> DoctorHTTPServer:
    """Bind the HTTP server (OSError when the address is in use or cannot be bound). ``limits``: max_connections,
    head_timeout, write_timeout (defaults :data:`MAX_CONNECTIONS`, :data:`HEAD_TIMEOUT`, :data:`WRITE_TIMEOUT`)."""
    return DoctorHTTPServer(host, port, service, log=log, access_log=access_log, **limits)  # type: ignore[arg-type]


def serve_until_signal(server: DoctorHTTPServer, *, log: Callable[[str], None] | None = None, stop: threading.Event | None = None) -> int:
    """Serve until SIGTERM/SIGINT (or ``stop`` is set), then shut down cleanly. Returns the exit code (0)."""
    log = log or (lambda msg: None)
    stop = stop or threading.Event()
    got: list[int] = []

    def on_signal(signum, frame) -> None:
        got.append(signum)
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="qwen-doctor-serve", daemon=True)
    thread.start()
    try:
        while not stop.wait(0.5):
            if not thread.is_alive():  # pragma: no cover - serve_forever died
                log("the HTTP server stopped unexpectedly")
                return 3
    finally:
        if got:
            log(f"{signal.Signals(got[0]).name} received, shutting down")
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
