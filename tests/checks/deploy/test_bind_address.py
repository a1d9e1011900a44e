"""deploy.bind-address: a server bound to loopback inside a container is unreachable through its published port,
Service or probes.

Modelled on real deployments: SGLang's docker/k8s-sglang-service.yaml (tests/data/deploy/sglang-k8s-service.yaml,
sgl-project/sglang@0b082f52) passes `--host 0.0.0.0` behind a LoadBalancer Service with an httpGet liveness probe;
without it SGLang binds its default 127.0.0.1. SGLang's README docker line (`docker run --gpus all --shm-size 32g -p
30000:30000 ... lmsysorg/sglang:latest python3 -m sglang.launch_server --model-path ... --host 0.0.0.0 --port 30000`)
publishes 30000.
"""

from __future__ import annotations

from qwen_doctor.results import Status
from qwen_doctor.target import ServicePort, build_target
from tests.checks.deploy import DATA, by, one, run

from ._containers import ports, result

SGL = "python3 -m sglang.launch_server --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding --port 30000"
HG = {"livenessProbe": {"httpGet": {"path": "/health", "port": 30000}}}


def test_real_manifest_binds_every_interface_and_passes():
    r = by(run([one(DATA / "sglang-k8s-service.yaml")]), "deploy.bind-address")
    assert r.status is Status.PASS and "0.0.0.0" in r.summary


def test_the_same_manifest_without_host_fails_behind_its_service_and_probe():
    t = one(DATA / "sglang-k8s-service.yaml")
    # the same container with "--host", "0.0.0.0" dropped from its args: SGLang binds its default 127.0.0.1
    t2 = build_target(SGL.split(), label=t.label, source="kubernetes", deployment=t.deployment)
    r = by(run([t2]), "deploy.bind-address")
    assert r.status is Status.FAIL, r.summary
    assert "127.0.0.1 (SGLang's default)" in r.summary and "Service" in r.summary and "livenessProbe (httpGet)" in r.summary
    assert r.fix.launch_command.endswith("--host 0.0.0.0")


def test_docker_run_published_port_and_no_publish():
    f = result("deploy.bind-address", SGL, "0.5.23", kind="docker-run", runtime="docker", ports=ports((30000, 30000)))
    assert f.status is Status.FAIL and "30000:30000" in f.summary and "refused" in f.summary
    w = result("deploy.bind-address", SGL, "0.5.23", kind="compose")
    assert w.status is Status.WARN and "only processes inside" in w.summary


def test_host_network_is_fine_except_for_kubelet_probes():
    p = result("deploy.bind-address", SGL, "0.5.23", kind="compose", host_network=True, ports=ports((30000, 30000)))
    assert p.status is Status.PASS and "host's network" in p.summary
    k = result("deploy.bind-address", SGL, "0.5.23", kind="kubernetes", host_network=True, probes=HG)
    assert k.status is Status.FAIL and "node IP" in k.summary


def test_vllm_and_tei_defaults_bind_every_interface():
    v = result(
        "deploy.bind-address",
        "vllm serve Qwen/Qwen3-Embedding-0.6B --runner pooling",
        "0.11.0",
        kind="kubernetes",
        service_ports=(ServicePort("svc", 80, 8000),),
    )
    assert v.status is Status.PASS
    # told to bind loopback, vLLM is unreachable just the same
    v2 = result(
        "deploy.bind-address",
        "vllm serve Qwen/Qwen3-Embedding-0.6B --runner pooling --host 127.0.0.1",
        "0.11.0",
        kind="kubernetes",
        service_ports=(ServicePort("svc", 80, 8000),),
    )
    assert v2.status is Status.FAIL and "set by --host" in v2.summary
    t = result(
        "deploy.bind-address", "text-embeddings-router --model-id Qwen/Qwen3-Embedding-0.6B --hostname ::1", "1.8.2", kind="compose", ports=ports((8080, 80))
    )
    assert t.status is Status.FAIL and "--hostname 0.0.0.0" in t.fix.launch_command


def test_launch_bind_host_stays_silent_for_the_same_container():
    """One cause, one report: only deploy.bind-address speaks for a container."""
    from qwen_doctor.target import Deployment

    t = build_target(SGL.split(), label="t", deployment=Deployment(kind="compose", ports=ports((30000, 30000))))
    res = run([t])
    assert by(res, "deploy.bind-address").status is Status.FAIL
    assert by(res, "launch.bind-host").status is Status.SKIP
