"""The live probe's HTTP client: explicit timeouts, bounded redirects, capped bodies, classified errors.

- ``httpx.Timeout(connect, read, write, pool)`` are always explicit, and the read timeout bounds the WHOLE
  response (headers and body), not each socket read: a server that trickles one byte a second cannot keep
  the doctor waiting (a deadline is enforced under httpx, in the socket reads themselves).
- Host names are resolved under the connect timeout too (``getaddrinfo`` has none of its own).
- Redirects are never followed. SGLang, vLLM and TEI do not redirect their API routes (nor does infinity),
  so a redirect means a proxy or path rule in front of the server, or a wrong URL: the 3xx comes back as a
  ``redirect`` failure naming where it points (another origin, i.e. scheme, host or port, is said so), and
  nothing (the API key least of all) is sent there. A redirect to the very same URL is a ``too-many-redirects``
  loop.
- A :class:`~qwen_doctor.probe.guard.RequestGuard` shared by the requests to one server stops them after
  consecutive timeouts (a stalled server) and keeps each one within the run's deadline.
- Bodies are streamed and abandoned past ``max_body`` bytes (decoded), or at once when Content-Length says so.
- The API key travels only in the ``Authorization`` header; it is never logged, never part of a
  :class:`Reply`, and never goes anywhere but the URL given (redirects are not followed).
- Proxies from the environment are not used: the probe diagnoses the server itself, directly.
- Nothing here raises for a network problem: :meth:`ProbeClient.request` returns a :class:`Reply` whose
  ``failure`` says what went wrong (refused / timeout / TLS / DNS / too many redirects / body too large / ...).
"""

from __future__ import annotations

import enum
import errno
import ipaddress
import json
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

# httpx imports its command-line client (httpx._main: rich.syntax, pygments, click; ~0.15 s and several MB) when it
# can; the doctor never runs it. A None entry makes that import fail, and httpx falls back to a stub `main`.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[assignment]

import httpcore  # noqa: E402
import httpx  # noqa: E402

from .. import __version__
from ..redact import redact_text
from . import error_message, one_line
from .guard import RequestGuard

DEFAULT_MAX_BODY = 4 * 1024 * 1024  # 4 MiB: an 8B (4096-d) batch of two is ~170 KB of JSON
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
USER_AGENT = f"qwen-doctor/{__version__} (live probe)"


class Failure(str, enum.Enum):
    """Why a request got no usable answer."""

    REFUSED = "refused"  # nothing listens on host:port (RST)
    CONNECT_TIMEOUT = "connect-timeout"  # SYN unanswered: firewall dropping packets, wrong host, full backlog
    READ_TIMEOUT = "read-timeout"  # connected, but no complete answer in time
    TLS = "tls"  # TLS handshake failed (plain HTTP port, untrusted certificate, ...)
    DNS = "dns"  # the host name does not resolve (or not in time)
    UNREACHABLE = "unreachable"  # no route to host / network unreachable
    RESET = "reset"  # connection reset / closed without an answer
    PROTOCOL = "protocol"  # the answer is not HTTP
    TOO_MANY_REDIRECTS = "too-many-redirects"  # a redirect to the very URL requested: a loop
    REDIRECT = "redirect"  # a 3xx answer: not followed (a proxy or a wrong URL)
    STALLED = "stalled"  # not sent: the server stalled, or the run's deadline is too close (RequestGuard)
    BODY_TOO_LARGE = "body-too-large"
    INVALID_JSON = "invalid-json"
    INVALID_URL = "invalid-url"
    OTHER = "other"


@dataclass(frozen=True)
class ProbeFailure:
    kind: Failure
    message: str  # one line, redacted

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.message}"


class _BodyTooLarge(Exception):
    pass


class _DnsFailure(OSError):
    pass


@dataclass
class Reply:
    """One request's outcome. ``status`` is None when no HTTP answer came (then ``failure`` says why)."""

    method: str
    path: str
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    elapsed_s: float = 0.0
    failure: ProbeFailure | None = None
    redirect_to: str | None = None  # where a 3xx answer pointed (origin + path, no credentials or query)
    _json: Any = field(default=None, repr=False)
    _json_failure: ProbeFailure | None = field(default=None, repr=False)
    _parsed: bool = field(default=False, repr=False)

    @property
    def answered(self) -> bool:
        """A complete HTTP answer (status line, headers and the whole body) arrived."""
        return self.status is not None and self.failure is None

    @property
    def ms(self) -> int:
        return int(round(self.elapsed_s * 1000))

    def json(self) -> Any:
        """The parsed body, or None when it is empty or not JSON (see :attr:`json_failure`)."""
        if not self._parsed:
            self._parsed = True
            if self.body.strip():
                try:
                    self._json = json.loads(self.body.decode("utf-8"))
                except (ValueError, UnicodeDecodeError) as exc:
                    self._json_failure = ProbeFailure(
                        Failure.INVALID_JSON, f"{self.method} {self.path}: body is not valid JSON ({one_line(str(exc), 120)}): {self.snippet(80)!r}"
                    )
        return self._json

    @property
    def json_failure(self) -> ProbeFailure | None:
        self.json()
        return self._json_failure

    def snippet(self, limit: int = 200) -> str:
        return one_line(self.body.decode("utf-8", "replace"), limit)

    def message(self, limit: int = 300) -> str:
        """The server's error message (any dialect), else the start of the body."""
        return error_message(self.json(), self.body, limit)

    def describe(self) -> str:
        """`GET /health -> 200 (12 ms)` or `GET /health -> refused: ...`."""
        if self.failure is not None:
            return f"{self.method} {self.path} -> {self.failure}"
        return f"{self.method} {self.path} -> {self.status} ({self.ms} ms)"


# -- deadline enforcement under httpx ----------------------------------------------------------------
_local = threading.local()


def _remaining() -> float | None:
    dl = getattr(_local, "deadline", None)
    return None if dl is None else dl - time.monotonic()


def _bound(timeout: float | None, exc: type[Exception]) -> float | None:
    rem = _remaining()
    if rem is None:
        return timeout
    if rem <= 0:
        raise exc("the response did not complete within the request's time limit")
    return rem if timeout is None else min(timeout, rem)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bound(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bound(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _bound(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%")[0])
        return True
    except ValueError:
        return False


def resolve(host: str, port: int, timeout: float) -> list[tuple[int, str]]:
    """(family, address) pairs for host, within `timeout` seconds. Raises _DnsFailure.

    getaddrinfo has no timeout of its own and cannot be cancelled, so it runs in a daemon thread that is
    abandoned when it takes too long (a daemon thread never holds up the doctor's exit)."""
    if _is_ip(host):
        h = host.strip("[]")
        return [(socket.AF_INET6 if ":" in h else socket.AF_INET, h)]
    box: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["infos"] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["exc"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="qwen-doctor-dns", daemon=True).start()
    if not done.wait(max(0.05, timeout)):
        raise _DnsFailure(f"resolving {host!r} took longer than {timeout:g} s (DNS server slow or unreachable)")
    exc = box.get("exc")
    if isinstance(exc, socket.gaierror):
        raise _DnsFailure(f"cannot resolve {host!r}: {exc.strerror or exc}")
    if exc is not None:
        raise _DnsFailure(f"cannot resolve {host!r}: {exc}")
    out: list[tuple[int, str]] = []
    for fam, _, _, _, addr in box["infos"]:
        item = (fam, addr[0])
        if item not in out:
            out.append(item)
    return out


class _DeadlineBackend(httpcore.NetworkBackend):
    """SyncBackend + a time limit on name resolution and on every socket operation."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None, socket_options=None) -> httpcore.NetworkStream:
        timeout = _bound(timeout, httpcore.ConnectTimeout)
        try:
            addrs = resolve(host, port, timeout if timeout is not None else 10.0)
        except _DnsFailure as exc:
            raise httpcore.ConnectError(f"[DNS] {exc}") from exc
        last: Exception | None = None
        for _, addr in addrs:
            try:
                stream = self._inner.connect_tcp(
                    addr, port, timeout=_bound(timeout, httpcore.ConnectTimeout), local_address=local_address, socket_options=socket_options
                )
                return _DeadlineStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None) -> httpcore.NetworkStream:  # pragma: no cover
        return _DeadlineStream(self._inner.connect_unix_socket(path, timeout=_bound(timeout, httpcore.ConnectTimeout), socket_options=socket_options))

    def sleep(self, seconds: float) -> None:  # pragma: no cover
        self._inner.sleep(seconds)


class _Transport(httpx.HTTPTransport):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pool = getattr(self, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None:  # httpcore >= 1.0; otherwise only the body loop checks the deadline
            pool._network_backend = _DeadlineBackend(backend)


# -- classification ---------------------------------------------------------------------------------
def _chain(exc: BaseException) -> list[BaseException]:
    out, cur = [], exc
    while cur is not None and cur not in out and len(out) < 8:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _errno_in(chain: list[BaseException], *codes: int) -> bool:
    return any(isinstance(e, OSError) and e.errno in codes for e in chain)


def classify(exc: BaseException, secrets: tuple[str, ...] = ()) -> ProbeFailure:
    """Map an httpx/httpcore/OS exception to a :class:`ProbeFailure` (message redacted, one line)."""
    chain = _chain(exc)
    text = " | ".join(str(e) for e in chain if str(e))
    low = text.lower()
    msg = one_line(redact_text(str(exc) or type(exc).__name__, secrets), 240)

    def f(kind: Failure, m: str | None = None) -> ProbeFailure:
        return ProbeFailure(kind, m or msg)

    if isinstance(exc, _BodyTooLarge):
        return f(Failure.BODY_TOO_LARGE)
    if isinstance(exc, httpx.TooManyRedirects):
        return f(Failure.TOO_MANY_REDIRECTS)
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return f(Failure.INVALID_URL)
    if (
        "[dns]" in low
        or any(isinstance(e, (socket.gaierror, _DnsFailure)) for e in chain)
        or any(s in low for s in ("name or service not known", "nodename nor servname", "temporary failure in name resolution", "no address associated"))
    ):
        return f(Failure.DNS, msg.replace("[DNS] ", ""))
    if any(isinstance(e, ssl.SSLError) for e in chain) or any(s in low for s in ("[ssl", "ssl:", "certificate verify failed", "tlsv1", "wrong version number")):
        return f(Failure.TLS)
    if isinstance(exc, httpx.ConnectTimeout):
        return f(Failure.CONNECT_TIMEOUT)
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout)):
        return f(Failure.READ_TIMEOUT)
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or _errno_in(chain, errno.ECONNREFUSED) or "connection refused" in low:
        return f(Failure.REFUSED)
    if _errno_in(chain, errno.EHOSTUNREACH, errno.ENETUNREACH) or "no route to host" in low or "network is unreachable" in low:
        return f(Failure.UNREACHABLE)
    if any(isinstance(e, (ConnectionResetError, BrokenPipeError)) for e in chain) or "connection reset" in low or "server disconnected" in low:
        return f(Failure.RESET)
    if isinstance(exc, httpx.RemoteProtocolError) or isinstance(exc, httpx.DecodingError):
        return f(Failure.PROTOCOL)
    if isinstance(exc, httpx.TimeoutException) or any(isinstance(e, (TimeoutError, socket.timeout)) for e in chain):
        return f(Failure.READ_TIMEOUT)
    return f(Failure.OTHER, f"{type(exc).__name__}: {msg}")


# -- URLs: the one normaliser and loopback test live in qwen_doctor.urls ---------------------------
from ..urls import is_loopback_host, normalize_base_url  # noqa: E402,F401

# -- the client -------------------------------------------------------------------------------------
_ssl_lock = threading.Lock()
_ssl_ctx: ssl.SSLContext | None = None


def default_ssl_context() -> ssl.SSLContext:
    """One verifying SSL context for the process (loading the CA bundle costs ~20 ms; contexts are
    thread-safe to share). Honours SSL_CERT_FILE / SSL_CERT_DIR."""
    global _ssl_ctx
    with _ssl_lock:
        if _ssl_ctx is None:
            _ssl_ctx = httpx.create_ssl_context(trust_env=True)
        return _ssl_ctx


class ProbeClient:
    """A small synchronous client for one server. Thread-safe (one httpx.Client underneath)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        max_body: int = DEFAULT_MAX_BODY,
        max_connections: int = 4,
        verify: bool | ssl.SSLContext = True,
        guard: RequestGuard | None = None,
    ) -> None:
        self.base_url, self.url_note = normalize_base_url(base_url)
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self.max_body = int(max_body)
        self.guard = guard
        self._secrets = tuple(s for s in (api_key,) if s)
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        if isinstance(verify, ssl.SSLContext):
            ctx = verify
        elif verify:
            ctx = default_ssl_context()
        else:  # pragma: no cover - not offered on the command line
            ctx = httpx.create_ssl_context(verify=False)
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=self.timeout(),
            follow_redirects=False,
            transport=_Transport(verify=ctx, limits=limits, retries=0),
            trust_env=False,
        )

    def timeout(self, read: float | None = None) -> httpx.Timeout:
        r = self.read_timeout if read is None else float(read)
        return httpx.Timeout(connect=self.connect_timeout, read=r, write=r, pool=self.connect_timeout + r)

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "ProbeClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        read_timeout: float | None = None,
    ) -> Reply:
        """One request. The whole answer must arrive within connect + read timeout; never raises for I/O.

        With a guard: not sent at all (failure ``stalled``) when the server stalled or the run's deadline is too
        close, and cut off before the deadline."""
        read = self.read_timeout if read_timeout is None else float(read_timeout)
        reply = Reply(method, path)
        guard = self.guard
        if guard is not None:
            why = guard.halted()
            if why is not None:
                reply.failure = ProbeFailure(Failure.STALLED, f"not sent: {why}")
                return reply
        req_headers = dict(headers or {})
        body = content
        if json_body is not None:
            body = json.dumps(json_body, allow_nan=False).encode("utf-8")
            req_headers.setdefault("Content-Type", "application/json")
        t0 = time.monotonic()
        prev = getattr(_local, "deadline", None)
        deadline = t0 + self.connect_timeout + read
        end_by = guard.end_by() if guard is not None else None
        cut = end_by is not None and end_by < deadline
        if cut:
            assert end_by is not None
            deadline = end_by
        _local.deadline = deadline
        try:
            with self._client.stream(method, path, content=body, headers=req_headers, timeout=self.timeout(read)) as resp:
                reply.status = resp.status_code
                reply.headers = {k.lower(): v for k, v in resp.headers.items() if k.lower() in _KEEP_HEADERS}
                if resp.status_code in REDIRECT_STATUSES and resp.headers.get("location") is not None:
                    reply.failure, reply.redirect_to = self._redirect(method, path, resp)
                    return reply  # not followed, body not read
                declared = resp.headers.get("content-length")
                if declared and declared.isascii() and declared.isdigit() and int(declared) > self.max_body:
                    raise _BodyTooLarge(f"{method} {path}: Content-Length {int(declared):,} bytes is over the {self.max_body:,}-byte limit")
                buf = bytearray()
                for chunk in resp.iter_bytes(65536):
                    buf += chunk
                    if len(buf) > self.max_body:
                        raise _BodyTooLarge(f"{method} {path}: body is over the {self.max_body:,}-byte limit (stopped reading)")
                    if _remaining() is not None and _remaining() <= 0:
                        raise httpx.ReadTimeout("the response did not complete within the request's time limit")
                reply.body = bytes(buf)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a classified Reply
            reply.failure = classify(exc, self._secrets)
            if reply.failure.kind in (Failure.READ_TIMEOUT, Failure.CONNECT_TIMEOUT):
                phase = (
                    "no connection" if reply.failure.kind is Failure.CONNECT_TIMEOUT else ("no complete answer" if reply.status is not None else "no answer")
                )
                if cut:
                    msg = f"{phase} within {time.monotonic() - t0:.1f} s (cut short by the run's --deadline)"
                else:
                    limit = self.connect_timeout if reply.failure.kind is Failure.CONNECT_TIMEOUT else read
                    msg = f"{phase} within {limit:g} s"
                reply.failure = ProbeFailure(reply.failure.kind, msg)
        finally:
            _local.deadline = prev
            reply.elapsed_s = time.monotonic() - t0
            if guard is not None:
                kind = reply.failure.kind if reply.failure is not None else None
                guard.record(f"{method} {path}", kind in (Failure.READ_TIMEOUT, Failure.CONNECT_TIMEOUT))
        return reply

    def _redirect(self, method: str, path: str, resp: httpx.Response) -> tuple[ProbeFailure, str | None]:
        """(failure, where it points) for a 3xx answer, which is never followed (the API key never leaves the URL given)."""
        try:
            dest = resp.url.join(resp.headers["location"])
        except Exception:  # noqa: BLE001 - an unparsable Location
            return ProbeFailure(Failure.REDIRECT, f"{method} {path} -> {resp.status_code} with an unusable Location header (not followed)"), None
        shown = _display_url(dest)
        here = resp.url
        if dest.copy_with(fragment=None) == here.copy_with(fragment=None):
            return ProbeFailure(Failure.TOO_MANY_REDIRECTS, f"{method} {path} -> {resp.status_code} redirect to itself ({shown}): a redirect loop"), shown
        if _same_origin(here, dest):
            where = f"to {dest.raw_path.decode('ascii', 'replace').split('?')[0] or '/'} on the same server"
        else:
            key = "; the API key is never sent there" if self._secrets else ""
            where = f"to another origin, {shown}{key}"
        return ProbeFailure(
            Failure.REDIRECT,
            f"{method} {path} -> {resp.status_code} redirect {where} (not followed: SGLang, vLLM and TEI do not redirect their API routes, "
            "so a proxy or path rule stands in front of the server, or the URL is wrong)",
        ), shown

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post_json(self, path: str, body: Any, **kw: Any) -> Reply:
        return self.request("POST", path, json_body=body, **kw)


def _default_port(url: httpx.URL) -> int | None:
    return url.port or {"http": 80, "https": 443}.get(url.scheme)


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    """Same scheme, host and port (an http -> https upgrade is another origin too)."""
    return a.scheme == b.scheme and a.host.lower() == b.host.lower() and _default_port(a) == _default_port(b)


def _display_url(url: httpx.URL) -> str:
    """scheme://host[:port]/path: no user info, no query, no fragment (they may carry credentials)."""
    host = url.host
    if ":" in host:
        host = f"[{host}]"
    port = f":{url.port}" if url.port else ""
    path = url.raw_path.decode("ascii", "replace").split("?")[0] or "/"
    return one_line(f"{url.scheme}://{host}{port}{path}", 160)


_KEEP_HEADERS = ("content-type", "content-length", "server", "location", "www-authenticate", "retry-after", "x-request-id")
