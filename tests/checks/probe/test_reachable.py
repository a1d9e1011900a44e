"""probe.reachable: not started, refused, DNS, TLS, offline, no URL, and a port held by another program."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from qwen_doctor.checks import host as host_checks
from qwen_doctor.checks import probe as probe_checks
from qwen_doctor.checks.probe.reachable import port_held_by_another
from qwen_doctor.context import Context
from qwen_doctor.registry import Registry
from qwen_doctor.results import Result, Status
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target
from tests import probe_servers as ps
from tests.checks.probe.conftest import IDS, opts, run, run_url, statuses


def test_no_url_means_skip_with_a_reason():
    res = run(build_target(model_path="/nonexistent"))
    assert all(r.status is Status.SKIP for r in res.values())
    assert "no server URL" in res["probe.reachable"].summary


def test_offline_skips_everything_without_a_connection():
    with ps.replay_server("vllm") as srv:
        res = run_url(srv.url, opts(offline=True))
        assert srv.requests == []
    assert statuses(res) == {i: Status.SKIP for i in IDS}
    assert "--offline" in res["probe.reachable"].summary
    assert res["probe.embeddings"].blocked_by == ("probe.reachable",)


def test_launch_command_not_started_is_skip_not_fail():
    """Pre-flight: the server of this launch command was never started, nothing listens: not a CI failure."""
    port = ps.refused_port()
    t = build_target(["sglang", "serve", "--model-path", "/models/Qwen3-Embedding-0.6B", "--is-embedding", "--port", str(port)])
    assert t.url == f"http://127.0.0.1:{port}"
    res = run(t)
    r = res["probe.reachable"]
    assert r.status is Status.SKIP
    assert r.summary.startswith("not running (expected before deployment)")
    assert r.evidence["not_running"] is True
    assert all(res[i].status is Status.SKIP for i in IDS)


def test_explicit_url_that_refuses_is_a_fail_with_causes():
    port = ps.refused_port()
    r = run_url(f"http://127.0.0.1:{port}")["probe.reachable"]
    assert r.status is Status.FAIL
    assert "connection refused" in r.summary and "still loading the weights" in r.summary
    assert "binds its port only after loading" in r.summary
    assert r.evidence["failure"] == "refused"


def test_launch_plus_explicit_url_that_refuses_is_a_fail():
    port, other = ps.refused_port(), ps.refused_port()
    t = build_target(["vllm", "serve", "/models/x", "--runner", "pooling", "--port", str(port)], url=f"http://127.0.0.1:{other}")
    assert run(t)["probe.reachable"].status is Status.FAIL


def test_running_process_that_refuses_names_the_pid():
    port = ps.refused_port()
    t = build_target(host="127.0.0.1", port=port, pid=os.getpid(), server="sglang")
    r = run(t)["probe.reachable"]
    assert r.status is Status.FAIL and f"pid {os.getpid()}" in r.summary and "loading the weights" in r.summary


def test_dns_failure():
    r = run_url("http://qwen-doctor-test.invalid:30000")["probe.reachable"]
    assert r.status is Status.FAIL and r.summary.startswith("cannot resolve 'qwen-doctor-test.invalid'")


def test_https_on_a_plain_http_port():
    with ps.replay_server("vllm") as srv:
        r = run_url(srv.url.replace("http://", "https://"))["probe.reachable"]
    assert r.status is Status.FAIL and "plain HTTP" in r.summary and r.fix.text.startswith("Use http://")


# -- a port held by another program than the examined server (host.port) ---------------------------------

HTTP_HOLDER = textwrap.dedent(
    """
    import sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            print("REQUEST", self.path, flush=True)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_POST = do_GET

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()
    """
)


@pytest.fixture()
def other_program():
    """A real child process (not the examined server) holding a real listening socket: a small HTTP server."""
    p = subprocess.Popen([sys.executable, "-c", HTTP_HOLDER], stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.strip().isdigit(), "holder failed to bind"
        yield p, int(line)
    finally:
        p.kill()
        p.wait(5)


def test_port_held_by_another_program_blocks_the_probe(other_program):
    """host.port finds the launch command's port held by another process: the probe does not talk to it."""
    proc, port = other_program
    t = build_target(["sglang", "serve", "--model-path", "/models/Qwen3-Embedding-0.6B", "--is-embedding", "--port", str(port)])
    reg = Registry()
    host_checks.register(reg)
    probe_checks.register(reg)
    res = {r.id: r for r in Runner(reg, opts()).run([t])}
    assert res["host.port"].status is Status.FAIL and res["host.port"].evidence["holders"][0]["pid"] == proc.pid
    r = res["probe.reachable"]
    assert r.status is Status.SKIP and r.blocked_by == ("host.port",)
    assert f"pid {proc.pid}" in r.summary and "held by another program" in r.summary
    assert r.evidence["held_by"][0]["pid"] == proc.pid
    for cid in IDS[1:]:
        if res[cid].evidence.get("not_applicable"):  # opt-in checks (probe.load without --load) do not apply at all
            assert res[cid].status is Status.SKIP
            continue
        assert res[cid].status is Status.SKIP and res[cid].blocked_by == ("host.port",), (cid, res[cid].summary)
    proc.kill()
    out, _ = proc.communicate(timeout=5)
    assert "REQUEST" not in out  # nothing was probed


def test_without_host_port_the_same_program_is_probed(other_program):
    """The control: without host.port's verdict the probe reaches that program (what the block prevents)."""
    proc, port = other_program
    t = build_target(["sglang", "serve", "--model-path", "/models/Qwen3-Embedding-0.6B", "--is-embedding", "--port", str(port)])
    assert run(t)["probe.reachable"].status is Status.PASS


def _ctx_with_host_port(target, status, **evidence) -> Context:
    r = Result("host.port", "t", "host", status, "s", evidence, None, 1, target.label)
    return Context(target, opts(), {"host.port": r})


def test_port_held_by_another_reads_host_port_evidence():
    t = build_target(["vllm", "serve", "/models/x", "--runner", "pooling", "--port", "18555"])
    other = {"pid": 4242, "name": "python3", "user": "u", "cmdline": "python3 -m http.server 18555"}
    who, holders = port_held_by_another(_ctx_with_host_port(t, Status.FAIL, port=18555, holders=[other]))
    assert who == "pid 4242 (python3, user u): python3 -m http.server 18555" and holders == [other]
    assert port_held_by_another(_ctx_with_host_port(t, Status.PASS, port=18555, pid=4242)) is None  # the server itself
    assert port_held_by_another(_ctx_with_host_port(t, Status.FAIL, host="10.0.0.9")) is None  # no holders: EADDRNOTAVAIL
    proxy = {"pid": 77, "name": "docker-proxy", "user": "root", "cmdline": "docker-proxy -host-port 18555"}
    assert port_held_by_another(_ctx_with_host_port(t, Status.FAIL, port=18555, holders=[proxy])) is None
    # an explicit URL on another host is not the port host.port examined (it examined 0.0.0.0 here)
    remote = build_target(["vllm", "serve", "/models/x", "--host", "0.0.0.0", "--port", "18555"], url="http://10.1.2.3:18555")
    assert port_held_by_another(_ctx_with_host_port(remote, Status.FAIL, port=18555, holders=[other])) is None
