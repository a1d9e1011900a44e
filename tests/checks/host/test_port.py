"""host.port against real sockets held by real child processes (no mocks)."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import pytest

from qwen_doctor.checks import host as host_checks
from qwen_doctor.checks.host.port import conflicts
from qwen_doctor.launch import split_command
from qwen_doctor.registry import Registry
from qwen_doctor.results import Status
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target

HOLDER = textwrap.dedent(
    """
    import socket, sys, time
    fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    if fam == socket.AF_INET6 and len(sys.argv) > 3:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(sys.argv[3]))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], int(sys.argv[2])))
    s.listen()
    print(s.getsockname()[1], flush=True)
    time.sleep(120)
    """
)


def _free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@pytest.fixture()
def hold():
    procs = []

    def start(host, port=0, v6only=None, extra_argv=()):
        argv = [sys.executable, "-c", HOLDER, host, str(port)] + ([str(v6only)] if v6only is not None else []) + list(extra_argv)
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        procs.append(p)
        line = p.stdout.readline()
        assert line.strip().isdigit(), "holder failed to bind"
        return p, int(line)

    yield start
    for p in procs:
        p.kill()
        p.wait(5)


def _run(cmd, version="0.5.23", **kw):
    reg = Registry()
    host_checks.register(reg)
    t = build_target(split_command(cmd), server_version=version, **kw)
    (r,) = Runner(reg).run([t])
    return r


def test_free_port_passes():
    port = _free_port()
    r = _run(f"sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding --port {port}")
    assert r.status is Status.PASS and str(port) in r.summary


def test_held_port_names_the_holder_and_suggests_a_free_one(hold):
    p, port = hold("127.0.0.1")
    r = _run(f"sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding --api-key topsecret --port {port}")
    assert r.status is Status.FAIL
    assert f"pid {p.pid}" in r.summary
    holder = r.evidence["holders"][0]
    assert holder["pid"] == p.pid and holder["user"]
    assert "loads the whole model" in r.summary  # SGLang fails only after the load
    assert "hang" not in r.summary.lower()  # pitfall 2: it does not hang
    new = r.evidence["suggested_port"]
    assert new and new != port
    toks = split_command(r.fix.launch_command)
    assert toks[toks.index("--port") + 1] == str(new)
    assert "topsecret" not in r.fix.launch_command
    # the suggested port really is bindable
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", new))


def test_wildcard_bind_collides_with_loopback_listener(hold):
    p, port = hold("127.0.0.1")
    r = _run(f"vllm serve /m/Qwen3-Embedding-0.6B --runner pooling --port {port}", version="0.33.0")  # vLLM binds 0.0.0.0
    assert r.status is Status.FAIL and "binds its port before loading" in r.summary


def test_loopback_bind_does_not_collide_with_other_address(hold):
    # a listener on 127.0.0.2 does not block 127.0.0.1 (distinct addresses, no wildcard)
    p, port = hold("127.0.0.2")
    r = _run(f"sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding --host 127.0.0.1 --port {port}")
    assert r.status is Status.PASS
    assert any("127.0.0.2" in x for x in r.evidence.get("other_listeners", []))


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 on this host")
def test_ipv6_dual_stack_listener_blocks_ipv4_wildcard(hold):
    try:
        p, port = hold("::", v6only=0)
    except AssertionError:
        pytest.skip("cannot bind [::] here")
    r = _run(f"sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding --host 0.0.0.0 --port {port}")
    assert r.status is Status.FAIL


def test_the_examined_server_itself_holding_the_port_passes(hold):
    port = _free_port()
    # a process whose argv is the examined launch command (as a discovered server would be)
    p, port = hold("127.0.0.1", port, extra_argv=())
    r = _run(f"sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding --port {port}", pid=p.pid)
    assert r.status is Status.PASS and str(p.pid) in r.summary


def test_not_an_address_of_this_host():
    r = _run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding --host 192.0.2.77 --port 30000")
    assert r.status is Status.FAIL and "not an address of this host" in r.summary


def test_url_only_target_skips_port_check():
    reg = Registry()
    host_checks.register(reg)
    (r,) = Runner(reg).run([build_target(None, url="http://127.0.0.1:1")])
    assert r.status is Status.SKIP


@pytest.mark.parametrize(
    "bind,listener,conflict",
    [
        ("0.0.0.0", "127.0.0.1", True),
        ("127.0.0.1", "0.0.0.0", True),
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "127.0.0.2", False),
        ("::", "127.0.0.1", True),
        ("0.0.0.0", "::", True),
        ("::1", "127.0.0.1", False),
        ("::1", "::", True),
    ],
)
def test_conflict_semantics(bind, listener, conflict):
    assert conflicts(bind, listener) is conflict


def test_one_socket_scan_per_run(hold, monkeypatch):
    """host.port reads the run's one scan (ctx.facts.sockets()), also while it looks for a free port."""
    from qwen_doctor import procs

    calls = []
    real = procs.scan_connections

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(procs, "scan_connections", counting)
    _, busy = hold("127.0.0.1")
    reg = Registry()
    host_checks.register(reg)
    targets = [
        build_target(split_command(f"sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding --port {busy}"), server_version="0.5.23", label="a"),
        build_target(
            split_command(f"sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding --port {_free_port()}"), server_version="0.5.23", label="b"
        ),
    ]
    a, b = Runner(reg).run(targets)
    assert a.status is Status.FAIL and a.evidence["suggested_port"]
    assert b.status is Status.PASS
    assert len(calls) == 1


def test_container_targets_are_not_checked_on_this_host(tmp_path):
    from qwen_doctor.deployfiles import targets_from_file

    f = tmp_path / "compose.yaml"
    f.write_text("services:\n  emb:\n    image: vllm/vllm-openai:v0.11.0\n    command: [Qwen/Qwen3-Embedding-0.6B, --runner, pooling]\n")
    reg = Registry()
    host_checks.register(reg)
    (r,) = Runner(reg).run(targets_from_file(f))
    assert r.status is Status.SKIP and "inside the container" in r.summary
