"""launch.bind-host."""

from __future__ import annotations

from qwen_doctor.results import Status
from qwen_doctor.target import Deployment
from tests.checks.launch import run


def test_bind_host_default_loopback_passes_on_command_line():
    res, _ = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding", "0.5.23", ids={"launch.bind-host"})
    r = res["launch.bind-host"]
    assert r.evidence["host"] == "127.0.0.1"
    assert r.status in (Status.PASS, Status.WARN)  # WARN only inside a container


def test_a_container_is_left_to_deploy_bind_address():
    """One cause, one report: a server in a compose service or pod is deploy.bind-address's (a FAIL when its published
    port cannot reach it), so launch.bind-host does not apply there; a systemd unit is still checked here."""
    cmd = "sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding"
    for dep in (Deployment(kind="compose"), Deployment(kind="kubernetes"), Deployment(kind="docker-run", runtime="docker")):
        res, _ = run(cmd, "0.5.23", ids={"launch.bind-host"}, deployment=dep)
        r = res["launch.bind-host"]
        assert r.status is Status.SKIP and "deploy.bind-address" in r.summary, dep.kind
    res, _ = run(cmd, "0.5.23", ids={"launch.bind-host"}, deployment=Deployment(kind="systemd"))
    assert res["launch.bind-host"].status is Status.PASS


def test_every_interface_passes():
    res, _ = run("vllm serve /m/Qwen3-Embedding-0.6B --runner pooling", "0.33.0", ids={"launch.bind-host"})
    assert res["launch.bind-host"].status is Status.PASS
