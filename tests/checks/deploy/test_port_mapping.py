"""deploy.port-mapping: the mapped container port (and the Services aimed at it) against the server's port."""

from __future__ import annotations

from qwen_doctor.deployfiles import targets_from_file
from qwen_doctor.results import Status
from qwen_doctor.target import PortMapping
from tests.checks.deploy import DATA, GOOD, by, dump, load, one, run, sglang_deployment


def test_tei_image_port_80_and_a_mapping_to_the_binary_default(tmp_path):
    t = one(DATA / "tei-compose.yaml")
    assert t.port == 80 and dict(t.env)["PORT"] == "80"
    assert by(run([t]), "deploy.port-mapping").status is Status.PASS
    # the same file mapping to 3000 (TEI's default as a binary, not in its image): nothing answers
    doc = load("tei-compose.yaml")[0]
    doc["services"]["embeddings"]["ports"] = ["8080:3000"]
    bad = one(dump(tmp_path, "compose.yaml", [doc]))
    r = by(run([bad]), "deploy.port-mapping")
    assert r.status is Status.FAIL
    assert "8080:3000" in r.summary and "listens on 80 (PORT=80 from the image)" in r.summary
    assert '"8080:80"' in r.fix.text
    assert r.fix.launch_command.endswith("--port 3000")


def test_sglang_compose_mapped_to_vllm_default_port(tmp_path):
    doc = {
        "services": {
            "embed": {
                "image": "lmsysorg/sglang:v0.5.9-cu126",
                "command": "python3 -m sglang.launch_server --model-path /models/Qwen3-Embedding-0.6B --is-embedding --host 0.0.0.0",
                "ports": ["127.0.0.1:8080:8000"],
            }
        }
    }
    t = one(dump(tmp_path, "compose.yaml", [doc]))
    assert t.deployment.ports == (PortMapping(container=8000, published=8080, host_ip="127.0.0.1", protocol="tcp", name=None),)
    r = by(run([t]), "deploy.port-mapping")
    assert r.status is Status.FAIL
    assert "listens on 30000 (its default port 30000)" in r.summary
    assert r.fix.launch_command.endswith("--port 8000")


def test_statefulset_shell_script_runtime_variables_and_host_network():
    t = one(DATA / "sglang-k8s-distributed-sts.yaml")
    assert t.deployment.host_network is True
    assert "POD_INDEX" in t.deployment.runtime_vars
    assert any("$POD_INDEX" in n for n in t.deployment.notes)
    assert t.option("nnodes") == 2
    pm = by(run([t]), "deploy.port-mapping")
    assert pm.status is Status.PASS and "hostNetwork: true" in pm.summary


def test_k8s_port_mismatch_fails_when_a_service_targets_it(tmp_path):
    ports = [{"containerPort": 8000, "name": "http"}]
    probes = {k: dict(v, httpGet={"path": "/health", "port": 30000}) for k, v in GOOD.items()}
    warn = by(run(targets_from_file(dump(tmp_path, "a.yaml", sglang_deployment(probes, ports=ports)))), "deploy.port-mapping")
    assert warn.status is Status.WARN and "containerPort 8000" in warn.summary
    fail = by(run(targets_from_file(dump(tmp_path, "b.yaml", sglang_deployment(probes, ports=ports, services=[("embed-svc", "http")])))), "deploy.port-mapping")
    assert fail.status is Status.FAIL and "Service embed-svc (targetPort http)" in fail.summary
    assert fail.fix.launch_command.endswith("--port 8000")


def test_docker_run_publishes_a_port_the_server_does_not_listen_on():
    """`docker run -p 8080:8000` for SGLang (which listens on 30000): nothing answers on the published port. The TEI
    README line (`-p 8080:80` on an image with PORT=80) is the passing case."""
    from qwen_doctor.target import build_target

    line = "docker run --gpus all -p 8080:8000 lmsysorg/sglang:v0.5.23 python3 -m sglang.launch_server --model-path /m/Qwen3-Embedding-0.6B --is-embedding --host 0.0.0.0"
    bad = build_target([line])
    r = by(run([bad]), "deploy.port-mapping")
    assert r.status is Status.FAIL
    assert "-p maps 8080:8000" in r.summary and "listens on 30000" in r.summary and "-p 8080:30000" in r.fix.text
    assert r.fix.launch_command.startswith("docker run --gpus all -p 8080:8000 lmsysorg/sglang:v0.5.23 ") and r.fix.launch_command.endswith("--port 8000")
    ok = build_target(["docker run --gpus all -p 8080:80 ghcr.io/huggingface/text-embeddings-inference:1.8 --model-id Qwen/Qwen3-Embedding-0.6B"])
    assert by(run([ok]), "deploy.port-mapping").status is Status.PASS
    host = build_target(["docker run --network host -p 1:2 vllm/vllm-openai:v0.12.0 --model /m"])
    r = by(run([host]), "deploy.port-mapping")
    assert r.status is Status.PASS and "--network host" in r.summary and "ignored" in r.summary
