"""``qwen-doctor serve``: /livez, /readyz, /metrics over real HTTP on loopback.

In-process tests run the real HTTP server and the real Runner with small real checks (one of them blocks
until the test lets it go, to make the single-flight test deterministic without timing assertions);
subprocess tests run the real CLI and stop it with real signals.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from qwen_doctor.context import RunOptions
from qwen_doctor.registry import Registry
from qwen_doctor.render import Report
from qwen_doctor.results import Outcome, Status
from qwen_doctor.runner import Runner
from qwen_doctor.selection import Selector, apply_ignores
from qwen_doctor.serve import DoctorService, ListenError, make_server, parse_listen, serve_until_signal
from qwen_doctor.target import build_target

WAIT = 30  # seconds any wait in these tests may take before it counts as a failure (never a speed assertion)


def get(port: int, path: str, method: str = "GET", host: str = "127.0.0.1", timeout: float = WAIT) -> tuple[int, str, dict]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8"), dict(resp.getheaders())
    finally:
        conn.close()


def wait_for(cond, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


class Doctor:
    """A registry of real checks whose outcome the test sets, run by the real Runner."""

    def __init__(self) -> None:
        self.status = Status.PASS
        self.executions = 0
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.raise_in_run = False
        self.ignore: tuple[str, ...] = ()
        self.reg = Registry()

        @self.reg.check("svc.state", "The state the test sets", "svc", timeout=WAIT)
        def state(ctx):
            self.executions += 1
            self.started.set()
            self.release.wait(WAIT)
            return Outcome(self.status, f"status is {self.status.value}")

        @self.reg.check("svc.always", "Always passes", "svc")
        def always(ctx):
            return Outcome.passed("ok")

        self.target = build_target(None, server="sglang", server_version="0.5.23", model_path="/m/Qwen3-Embedding-0.6B")

    def run(self) -> Report:
        if self.raise_in_run:
            raise RuntimeError("cannot build targets")
        results = Runner(self.reg, RunOptions()).run([self.target])
        results = apply_ignores(results, Selector.parse((), self.ignore, self.reg))
        return Report((self.target,), tuple(results), started_at=time.time())


@pytest.fixture()
def doctor():
    return Doctor()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def served(doctor):
    """(service, port, clock) with the real HTTP server on 127.0.0.1:<free port>."""
    clock = Clock()
    service = DoctorService(doctor.run, cache_s=30, fail_on="fail", clock=clock)
    server = make_server("127.0.0.1", 0, service)
    stop = threading.Event()
    t = threading.Thread(target=serve_until_signal, args=(server,), kwargs={"stop": stop}, daemon=True)
    t.start()
    yield service, server.port, clock
    doctor.release.set()
    stop.set()
    t.join(WAIT)
    assert not t.is_alive()


# ------------------------------------------------------------------------------------------------
# --listen


@pytest.mark.parametrize(
    "text,expected",
    [
        ("127.0.0.1:9090", ("127.0.0.1", 9090)),
        ("[::1]:9090", ("::1", 9090)),
        ("[::]:0", ("::", 0)),
        (":9090", ("0.0.0.0", 9090)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("localhost:9090", ("localhost", 9090)),
    ],
)
def test_parse_listen(text, expected):
    assert parse_listen(text) == expected


@pytest.mark.parametrize(
    "text,needle",
    [
        ("::1:9090", "needs brackets"),
        ("[::1]9090", "expected [ADDRESS]:PORT"),
        ("[::1:9090", "missing ']'"),
        ("[fe80::zz]:1", "not an IPv6 address"),
        ("127.0.0.1", "expected HOST:PORT"),
        ("127.0.0.1:99999", "not a number from 0 to 65535"),
        ("127.0.0.1:http", "not a number"),
        ("", "empty"),
    ],
)
def test_parse_listen_errors(text, needle):
    with pytest.raises(ListenError, match=needle.replace("[", "\\[").replace("]", "\\]")):
        parse_listen(text)


# ------------------------------------------------------------------------------------------------
# endpoints


def test_livez_readyz_metrics(served, doctor):
    service, port, clock = served
    assert get(port, "/livez")[:2] == (200, "ok\n")
    assert service.runs == 0  # liveness never runs the checks
    code, body, headers = get(port, "/readyz")
    assert code == 200 and body.startswith("ready: 0 fail, 0 error, 0 warn, 2 pass") and headers["Content-Type"].startswith("text/plain")
    code, body, headers = get(port, "/metrics")
    assert code == 200 and headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    fams = {f.name: f for f in text_string_to_metric_families(body)}
    by = {(s.labels["id"], s.labels["status"]): s.value for s in fams["qwen_doctor_check_status"].samples}
    assert by[("svc.state", "pass")] == 1 and by[("svc.state", "fail")] == 0
    assert fams["qwen_doctor_ready"].samples[0].value == 1
    assert fams["qwen_doctor_serve_runs"].samples[0].value == 1  # /readyz and /metrics shared one run (cache)
    assert fams["qwen_doctor_last_run_timestamp_seconds"].samples[0].value > 0
    assert doctor.executions == 1


def test_readyz_follows_fail_on_and_ignore(served, doctor):
    service, port, clock = served
    doctor.status = Status.FAIL
    code, body, _ = get(port, "/readyz")
    assert code == 503 and "FAIL svc.state (command line): status is fail" in body
    clock.now += 31  # past --cache: the next probe runs again
    doctor.status = Status.WARN
    assert get(port, "/readyz")[0] == 200  # WARN is below --fail-on fail
    service.fail_on = "warn"
    code, body, _ = get(port, "/readyz")
    assert code == 503 and "WARN svc.state" in body and "fail-on warn" in body
    clock.now += 31
    service.fail_on = "fail"
    doctor.status, doctor.ignore = Status.FAIL, ("svc.state",)
    code, body, _ = get(port, "/readyz")
    assert code == 200  # --ignore demotes the FAIL to WARN ...
    metrics = get(port, "/metrics")[1]
    assert 'ignored_by="ignored by --ignore svc.state"' in metrics  # ... and says so
    assert service.runs == 3


def test_results_are_cached_for_cache_seconds(served, doctor):
    service, port, clock = served
    for _ in range(5):
        assert get(port, "/readyz")[0] == 200
        get(port, "/metrics")
    assert service.runs == 1 and doctor.executions == 1
    clock.now += 29.9
    get(port, "/readyz")
    assert service.runs == 1
    clock.now += 0.2
    get(port, "/readyz")
    assert service.runs == 2 and doctor.executions == 2


def test_burst_of_50_concurrent_probes_causes_a_single_run(served, doctor):
    service, port, clock = served
    doctor.release.clear()  # the run blocks inside a check until every probe is waiting for it
    paths = ["/readyz" if i % 2 else "/metrics" for i in range(50)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        futures = [pool.submit(get, port, p) for p in paths]
        wait_for(doctor.started.is_set, "the run to start")
        wait_for(lambda: service.waiting == 49, "49 probes waiting on the run in flight")
        assert get(port, "/livez")[0] == 200  # liveness answers while the run is in flight
        doctor.release.set()
        answers = [f.result(timeout=WAIT) for f in futures]
    assert service.runs == 1 and doctor.executions == 1
    assert all(code == 200 for code, _, _ in answers)
    assert len({body for (code, body, _), p in zip(answers, paths) if p == "/readyz"}) == 1  # all saw the same run


def test_concurrent_probes_share_the_run_in_flight_even_without_cache(doctor):
    service = DoctorService(doctor.run, cache_s=0)
    doctor.release.clear()
    with ThreadPoolExecutor(max_workers=10) as pool:
        futures = [pool.submit(service.readyz) for _ in range(10)]
        wait_for(lambda: service.waiting == 9, "9 probes waiting")
        doctor.release.set()
        assert {f.result(timeout=WAIT)[0] for f in futures} == {200}
    assert service.runs == 1
    service.readyz()  # --cache 0: the next probe runs again
    assert service.runs == 2


def test_a_failed_run_is_503_and_counted(served, doctor):
    service, port, clock = served
    doctor.raise_in_run = True
    code, body, _ = get(port, "/readyz")
    assert code == 503 and body == "not ready: the doctor run failed: RuntimeError: cannot build targets\n"
    code, body, _ = get(port, "/metrics")
    fams = {f.name: f for f in text_string_to_metric_families(body)}
    assert code == 200 and fams["qwen_doctor_ready"].samples[0].value == 0 and fams["qwen_doctor_serve_run_failures"].samples[0].value == 1
    assert get(port, "/livez")[0] == 200


def test_unknown_paths_methods_and_head(served):
    service, port, clock = served
    code, body, _ = get(port, "/nope")
    assert code == 404 and "/readyz" in body
    code, _, headers = get(port, "/readyz", method="POST")
    assert code == 405 and headers["Allow"] == "GET, HEAD"
    code, body, headers = get(port, "/readyz", method="HEAD")
    assert code == 200 and body == "" and int(headers["Content-Length"]) > 0
    assert get(port, "/readyz?verbose=1")[0] == 200 and get(port, "/livez/")[0] == 200


def test_ipv6_loopback(doctor):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = make_server("::1", 0, DoctorService(doctor.run))
    except OSError as exc:
        pytest.skip(f"IPv6 loopback not available: {exc}")
    stop = threading.Event()
    t = threading.Thread(target=serve_until_signal, args=(server,), kwargs={"stop": stop}, daemon=True)
    t.start()
    try:
        assert get(server.port, "/readyz", host="::1")[0] == 200
    finally:
        stop.set()
        t.join(WAIT)


# ------------------------------------------------------------------------------------------------
# the real CLI


def _env(**extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_DOCTOR_")}
    e.update(extra)
    return e


class Serve:
    """``python -m qwen_doctor serve ...`` in a subprocess; the port comes from its 'listening on' line."""

    def __init__(self, args, cwd) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qwen_doctor", "serve", "--listen", "127.0.0.1:0", *args],
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=_env(),
            cwd=cwd,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_for(lambda: any("listening on" in ln for ln in self.lines) or self.proc.poll() is not None, "the listening line")
        line = next((ln for ln in self.lines if "listening on" in ln), None)
        assert line is not None, "".join(self.lines)
        self.port = int(line.split("http://127.0.0.1:")[1].split()[0])

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    def stop(self, sig=signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        rc = self.proc.wait(WAIT)
        self._reader.join(WAIT)
        return rc


def test_cli_serve_burst_metrics_and_sigterm(tmp_path):
    srv = Serve(["--select", "launch,host", "--", "sglang", "serve", "--model-path", "/m/Qwen3-Embedding-0.6B", "--port", "30999"], tmp_path)
    try:
        assert get(srv.port, "/livez")[0] == 200
        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(lambda _: get(srv.port, "/readyz"), range(50)))
        assert {code for code, _, _ in answers} == {503}  # no --is-embedding: a FAIL
        assert all("FAIL launch.embedding-mode" in body for _, body, _ in answers)
        fams = {f.name: f for f in text_string_to_metric_families(get(srv.port, "/metrics")[1])}
        assert fams["qwen_doctor_serve_runs"].samples[0].value == 1  # 50 concurrent probes, one run
        status = {(s.labels["id"], s.labels["status"]): s.value for s in fams["qwen_doctor_check_status"].samples}
        assert status[("launch.embedding-mode", "fail")] == 1 and status[("launch.launcher", "pass")] == 1
    finally:
        rc = srv.stop(signal.SIGTERM)
    assert rc == 0
    log = "".join(srv.lines)
    assert "SIGTERM received, shutting down" in log and "run 1 finished" in log and "Traceback" not in log
    assert "run 2 " not in log  # exactly one run


def test_cli_serve_stops_on_sigint_and_fail_on_warn(tmp_path):
    srv = Serve(["--select", "launch", "--fail-on", "warn", "--", "sglang", "serve", "--model-path", "/m/Qwen3-Embedding-0.6B/", "--is-embedding"], tmp_path)
    try:
        code, body, _ = get(srv.port, "/readyz")
        assert code == 503 and "WARN launch.model-path" in body  # the trailing slash, at --fail-on warn
    finally:
        rc = srv.stop(signal.SIGINT)
    assert rc == 0 and "SIGINT received" in "".join(srv.lines)


def test_cli_serve_address_in_use_is_a_one_line_usage_error(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        r = subprocess.run(
            [sys.executable, "-m", "qwen_doctor", "serve", "--listen", f"127.0.0.1:{port}", "--server", "sglang"],
            capture_output=True,
            text=True,
            timeout=WAIT * 2,
            env=_env(),
            cwd=tmp_path,
        )
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"qwen-doctor: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--listen", "::1:9090"], "needs brackets"),
        (["--listen", "127.0.0.1:9090", "--", "rm", "-rf", "/"], "not a known server launch command"),
        (["--listen", "127.0.0.1:9090", "--select", "nope"], "--select 'nope' matches no check"),
        (["--cache", "-1"], "--cache must be >= 0"),
    ],
)
def test_cli_serve_usage_errors(tmp_path, args, needle):
    r = subprocess.run([sys.executable, "-m", "qwen_doctor", "serve", *args], capture_output=True, text=True, timeout=WAIT * 2, env=_env(), cwd=tmp_path)
    assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_serve_help_lists_the_endpoints(tmp_path):
    r = subprocess.run([sys.executable, "-m", "qwen_doctor", "serve", "--help"], capture_output=True, text=True, timeout=WAIT * 2, env=_env(), cwd=tmp_path)
    assert r.returncode == 0 and "/readyz" in r.stdout and "--listen" in r.stdout and "--cache" in r.stdout and "--server" in r.stdout


# ------------------------------------------------------------------------------------------------
# bounds: a connection cap, a bounded worker pool, slow clients cut off (real sockets on loopback)


@pytest.fixture()
def capped(doctor):
    """A server with a small cap (4 connections) and a short head timeout (1.5 s)."""
    service = DoctorService(doctor.run, cache_s=30)
    server = make_server("127.0.0.1", 0, service, max_connections=4, head_timeout=1.5, write_timeout=2.0)
    stop = threading.Event()
    t = threading.Thread(target=serve_until_signal, args=(server,), kwargs={"stop": stop}, daemon=True)
    t.start()
    yield server
    stop.set()
    t.join(WAIT)


def _idle(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=WAIT)


def _closed_by_server(s: socket.socket) -> bytes:
    """Read until the server closes the connection; what it sent (b'' for a plain close)."""
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_over_the_cap_a_connection_gets_503_busy_at_once(capped):
    held = [_idle(capped.server_address[1]) for _ in range(4)]
    try:
        wait_for(lambda: capped.active == 4, "4 connections served")
        extra = _idle(capped.server_address[1])
        t0 = time.monotonic()
        answer = _closed_by_server(extra)
        took = time.monotonic() - t0
        extra.close()
    finally:
        for s in held:
            s.close()
    assert answer.startswith(b"HTTP/1.0 503 ") and b"Retry-After: 1" in answer and answer.endswith(b"busy: too many connections at once; retry\n")
    assert took < 1.0, took  # not held until a worker frees up
    assert capped.refused == 1


def test_more_idle_connections_than_the_cap_keep_threads_bounded_and_livez_answering(capped):
    port = capped.server_address[1]
    base_threads = threading.active_count()
    held = [_idle(port) for _ in range(20)]  # five times the cap, none sends a byte
    try:
        wait_for(lambda: capped.active == 4 and capped.refused >= 16, "the cap to fill")
        assert capped.threads <= 4 and threading.active_count() <= base_threads + 4
        # /livez: every try ends at once (503 busy or a closed connection) until the idle ones are cut off,
        # then 200, well within a liveness probe's timeout
        t0, got = time.monotonic(), None
        while got != 200 and time.monotonic() - t0 < 10:
            t1 = time.monotonic()
            try:
                got = get(port, "/livez", timeout=3)[0]
            except OSError:
                got = None
            assert time.monotonic() - t1 < 3
            if got != 200:
                time.sleep(0.1)
        assert got == 200 and time.monotonic() - t0 < 1.5 + 3
        for s in held:  # every idle connection was closed by the server: cut off silently, or refused over the cap
            s.settimeout(5)  # a connection still open would raise TimeoutError here
            data = _closed_by_server(s)
            assert data == b"" or data.startswith(b"HTTP/1.0 503 "), data[:80]
    finally:
        for s in held:
            s.close()
    assert capped.threads <= 4 and threading.active_count() <= base_threads + 4


def test_a_slowloris_client_is_cut_off_and_others_are_served(capped):
    port = capped.server_address[1]
    s = _idle(port)
    s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    closed_at = None
    try:
        while time.monotonic() - t0 < 6:  # a header byte every 0.2 s: each recv on the server gets data in time
            try:
                s.sendall(b"X")
            except OSError:
                closed_at = time.monotonic() - t0
                break
            assert get(port, "/livez", timeout=3)[0] == 200  # the others are served meanwhile
            time.sleep(0.2)
        if closed_at is None:
            s.settimeout(1)
            _closed_by_server(s)
            closed_at = time.monotonic() - t0
    finally:
        s.close()
    assert closed_at < 1.5 + 1.5, closed_at  # cut at the head timeout (1.5 s), not after 6 s of trickling


def _serve_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("qwen-doctor-serve"))


def test_thread_count_stays_flat_over_many_requests(capped):
    port = capped.server_address[1]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda i: get(port, ("/livez", "/readyz", "/metrics")[i % 3]), range(300)))
        after_first = (capped.threads, _serve_threads())
        codes = list(pool.map(lambda i: get(port, ("/livez", "/readyz", "/metrics")[i % 3])[0], range(900)))
    assert set(codes) <= {200, 503} and codes.count(200) >= 850  # 503: only a busy answer, when the pool is full
    assert capped.threads <= 4
    assert (capped.threads, _serve_threads()) == after_first
