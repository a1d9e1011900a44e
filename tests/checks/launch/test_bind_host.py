"""launch.bind-host."""

from __future__ import annotations

from qwen_doctor.results import Applicability, Status
from qwen_doctor.target import Deployment
from tests.checks.launch import run


def test_bind_host_default_loopback_passes_on_command_line():
    res, _ = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding", "0.5.23", ids={"launch.bind-host"})
    r = res["launch.bind-host"]
    assert r.evidence["host"] == "127.0.0.1"
    assert r.status in (Status.PASS, Status.WARN)  # WARN only inside a container


def test_loopback_in_a_compose_service_warns_with_an_unsafe_fix():
    cmd = "sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding"
    res, _ = run(cmd, "0.5.23", ids={"launch.bind-host"}, deployment=Deployment(kind="compose"))
    r = res["launch.bind-host"]
    assert r.status is Status.WARN and "container" in r.summary
    assert "--host 0.0.0.0" in r.fix.launch_command and r.fix.applicability is Applicability.UNSAFE
    res, _ = run(cmd, "0.5.23", ids={"launch.bind-host"}, deployment=Deployment(kind="compose", host_network=True))
    assert res["launch.bind-host"].status is Status.PASS
    res, _ = run(cmd, "0.5.23", ids={"launch.bind-host"}, deployment=Deployment(kind="systemd"))
    assert res["launch.bind-host"].status is Status.PASS


def test_every_interface_passes():
    res, _ = run("vllm serve /m/Qwen3-Embedding-0.6B --runner pooling", "0.33.0", ids={"launch.bind-host"})
    assert res["launch.bind-host"].status is Status.PASS
