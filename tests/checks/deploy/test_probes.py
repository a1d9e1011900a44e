"""deploy.probes: Kubernetes probes and compose healthchecks against the servers' health routes, per release."""

from __future__ import annotations

import json

import pytest

from qwen_doctor.deployfiles import targets_from_file
from qwen_doctor.results import Status
from qwen_doctor.target import ServicePort
from tests.checks.deploy import DATA, GOOD, by, dump, load, one, run, sglang_deployment


def test_compose_string_entrypoint_and_folded_command_and_host_network():
    t = one(DATA / "sglang-compose.yaml")
    assert list(t.launch.args) == ["--model-path", "Qwen/Qwen3-Embedding-0.6B", "--is-embedding", "--host", "0.0.0.0", "--port", "30000"]
    assert t.deployment.host_network is True
    assert t.deployment.entrypoint_source == "file"
    assert t.deployment.gpus == {"device_ids": ("0",)}
    assert "curl -f http://localhost:30000/health" in json.dumps(dict(t.deployment.probes["healthcheck"]))
    results = run([t])
    assert by(results, "deploy.port-mapping").status is Status.PASS
    hc = by(results, "deploy.probes")
    # compose defaults: unhealthy after 3 x 30 s, far less than a model load
    assert hc.status is Status.WARN and "about 90 s" in hc.summary
    assert "start_period: 300s" in hc.fix.text


def test_official_sglang_manifest_probe_findings():
    """The published SGLang Deployment probes /health with the default 1 s timeout and kills after 60 s."""
    t = one(DATA / "sglang-k8s-service.yaml")
    assert set(t.deployment.probes) == {"livenessProbe"}
    assert ServicePort("qwen3-embedding-sglang", 30000, 30000) in t.deployment.service_ports
    r = by(run([t]), "deploy.probes")
    assert r.status is Status.WARN
    assert "timeoutSeconds is 1 (the default)" in r.summary and "up to 20 s" in r.summary
    assert "gives up after 60 s" in r.summary
    assert "no readinessProbe" in r.summary  # and a LoadBalancer Service in front of it
    assert "timeoutSeconds: 30" in r.evidence["recommended"]
    assert "failureThreshold: 60" in r.evidence["recommended"]
    assert "timeoutSeconds: 30" in r.fix.text


def test_vllm_gpu_manifest_shell_wrapper_and_probe_budget():
    t = one(DATA / "vllm-k8s-gpu.yaml")
    assert t.deployment.shell_script.startswith("vllm serve Qwen/Qwen3-Embedding-0.6B")
    assert t.given("max_num_batched_tokens")  # --max_num_batched_tokens: vLLM's underscore spelling
    assert any("valueFrom" in n and "HUGGING_FACE_HUB_TOKEN" in n for n in t.deployment.notes)
    r = by(run([t]), "deploy.probes")
    assert r.status is Status.WARN and "gives up after 90 s" in r.summary
    assert "timeoutSeconds is" not in r.summary  # vLLM's /health has no 20 s engine probe


def test_vllm_cpu_manifest_has_no_readiness_probe():
    r = by(run([one(DATA / "vllm-k8s-cpu.yaml")]), "deploy.probes")
    assert r.status is Status.WARN and "no readinessProbe" in r.summary


def test_recommended_probes_pass(tmp_path):
    r = by(run(targets_from_file(dump(tmp_path, "m.yaml", sglang_deployment(GOOD)))), "deploy.probes")
    assert r.status is Status.PASS, r.summary
    assert r.evidence["startup_budget_s"] == 600


@pytest.mark.parametrize(
    "probe, status, words",
    [
        ({"httpGet": {"path": "/", "port": 30000}, "timeoutSeconds": 30}, Status.WARN, "requests '/'"),
        ({"tcpSocket": {"port": 30000}}, Status.WARN, "bare TCP probe"),
        ({"httpGet": {"path": "/health", "port": 8000}, "timeoutSeconds": 30}, Status.FAIL, "checks port 8000, but SGLang listens on 30000"),
        ({"httpGet": {"path": "/health", "port": "metrics"}, "timeoutSeconds": 30}, Status.FAIL, "not a port name declared"),
        # /healthz is routed by no SGLang release: 404 forever (readiness never passes)
        (
            {"httpGet": {"path": "/healthz", "port": 30000}, "timeoutSeconds": 30},
            Status.FAIL,
            "'/healthz', which SGLang 0.5.23 (image tag v0.5.23) does not route",
        ),
        # /v1/models is routed, but answers from the HTTP server alone
        ({"httpGet": {"path": "/v1/models", "port": 30000}, "timeoutSeconds": 30}, Status.WARN, "does not tell whether the engine can serve"),
        ({"exec": {"command": ["curl", "-f", "http://localhost:30000/"]}, "timeoutSeconds": 30}, Status.WARN, "requests '/'"),
        ({"grpc": {"port": 30000}}, Status.FAIL, "gRPC probe"),  # never succeeds: readiness never passes
    ],
)
def test_bad_readiness_probes(tmp_path, probe, status, words):
    probes = dict(GOOD, readinessProbe=probe)
    r = by(run(targets_from_file(dump(tmp_path, "m.yaml", sglang_deployment(probes)))), "deploy.probes")
    assert r.status is status, r.summary
    assert words in r.summary
    if status is Status.WARN and "TCP" in words:
        assert "/health" in r.summary


def test_root_path_is_a_health_route_on_tei_only(tmp_path):
    """TEI routes GET / to the same handler as /health (router/src/http/server.rs); SGLang and vLLM do not."""
    tei = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "tei"},
        "spec": {
            "containers": [
                {
                    "name": "tei",
                    "image": "ghcr.io/huggingface/text-embeddings-inference:1.8",
                    "args": ["--model-id", "Qwen/Qwen3-Embedding-0.6B"],
                    "ports": [{"containerPort": 80}],
                    "readinessProbe": {"httpGet": {"path": "/", "port": 80}},
                    "startupProbe": {"httpGet": {"path": "/health", "port": 80}, "failureThreshold": 60, "periodSeconds": 10},
                }
            ]
        },
    }
    r = by(run(targets_from_file(dump(tmp_path, "tei.yaml", [tei]))), "deploy.probes")
    assert r.status is Status.PASS, r.summary


def test_tcp_probe_on_vllm_explains_the_early_bind(tmp_path):
    doc = load("vllm-k8s-gpu.yaml")[0]
    ctr = doc["spec"]["template"]["spec"]["containers"][0]
    ctr["readinessProbe"] = {"tcpSocket": {"port": 8000}}
    r = by(run(targets_from_file(dump(tmp_path, "m.yaml", [doc]))), "deploy.probes")
    assert r.status is Status.WARN
    assert "vLLM binds its socket before it loads the engine" in r.summary


def test_ready_route_needs_sglang_0_5_20(tmp_path):
    probes = dict(GOOD, readinessProbe={"httpGet": {"path": "/ready", "port": 30000}, "timeoutSeconds": 30})
    path = dump(tmp_path, "m.yaml", sglang_deployment(probes))
    old = by(run(targets_from_file(path, server_version="0.5.9")), "deploy.probes")
    assert old.status is Status.FAIL and "only since 0.5.20" in old.summary
    new = by(run(targets_from_file(path, server_version="0.5.23")), "deploy.probes")
    assert new.status is Status.PASS


def test_health_timeout_follows_sglang_env(tmp_path):
    probes = dict(GOOD)
    docs = sglang_deployment(probes)
    docs[0]["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "SGLANG_HEALTH_CHECK_TIMEOUT", "value": "60"}]
    r = by(run(targets_from_file(dump(tmp_path, "m.yaml", docs))), "deploy.probes")
    assert r.status is Status.WARN and "up to 60 s" in r.summary
    assert "timeoutSeconds: 70" in r.evidence["recommended"]


# --------------------------------------------------------------------------------------------
# the version tables: one test per boundary, and the corrected claims (issue 14)


def _probe_result(tmp_path, version, readiness, env=()):
    docs = sglang_deployment(dict(GOOD, readinessProbe=readiness))
    if env:
        docs[0]["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": k, "value": v} for k, v in env]
    return by(run(targets_from_file(dump(tmp_path, "m.yaml", docs), server_version=version)), "deploy.probes")


def test_every_table_row_has_a_source_and_a_range():
    from qwen_doctor.checks.deploy import _health

    for table in (
        _health.HEALTH_ROUTES,
        _health.ENGINE_ROUTES,
        _health.HEALTH_PROBES_ENGINE,
        _health.HEALTH_GENERATION_SWITCH,
        _health.LOAD_BEHAVIOUR,
        _health.TCP_PROBE,
    ):
        assert table.rows, table.id
        for row in table:
            assert row.source.strip() and row.server in ("sglang", "vllm", "tei"), (table.id, row)


@pytest.mark.parametrize("version, status", [("0.5.16", Status.FAIL), ("0.5.20", Status.PASS)])
def test_ready_route_boundary(tmp_path, version, status):
    r = _probe_result(tmp_path, version, {"httpGet": {"path": "/ready", "port": 30000}, "timeoutSeconds": 30})
    assert r.status is status, r.summary
    if status is Status.FAIL:
        assert "only since 0.5.20" in r.summary and f"SGLang {version} answers 404" in r.summary


@pytest.mark.parametrize("version, status", [("0.5.5", Status.FAIL), ("0.5.6", Status.WARN)])
def test_model_info_route_boundary(tmp_path, version, status):
    """/model_info appears in 0.5.6 (404 before: FAIL); from 0.5.6 it is routed but tells nothing of the engine (WARN)."""
    r = _probe_result(tmp_path, version, {"httpGet": {"path": "/model_info", "port": 30000}, "timeoutSeconds": 30})
    assert r.status is status, r.summary
    if status is Status.FAIL:
        assert "only since 0.5.6" in r.summary
    else:
        assert "answers from its HTTP server alone" in r.summary and "404" not in r.summary


def test_health_probes_the_engine_from_0_4_10(tmp_path):
    fast = {"httpGet": {"path": "/health", "port": 30000}, "timeoutSeconds": 5}
    old = _probe_result(tmp_path, "0.4.9.post6", fast)
    assert "always answers 200 without probing the engine (it does since 0.4.10)" in old.summary
    assert "waits up to" not in old.summary
    new = _probe_result(tmp_path, "0.4.10.post2", fast)
    assert "always answers 200" not in new.summary and "waits up to 20 s" in new.summary


@pytest.mark.parametrize("version, engine_probe", [("0.5.5", True), ("0.5.6", False)])
def test_health_generation_switch_from_0_5_6(tmp_path, version, engine_probe):
    fast = {"httpGet": {"path": "/health", "port": 30000}, "timeoutSeconds": 5}
    r = _probe_result(tmp_path, version, fast, env=[("SGLANG_ENABLE_HEALTH_ENDPOINT_GENERATION", "false")])
    assert ("waits up to 20 s" in r.summary) is engine_probe, r.summary


def test_a_release_older_than_any_known_is_named_as_such(tmp_path):
    r = _probe_result(tmp_path, "0.3.0", {"httpGet": {"path": "/ready", "port": 30000}, "timeoutSeconds": 30})
    assert r.status is Status.WARN
    assert "older than any release the doctor knows (the oldest is 0.4.6.post5)" in r.summary


@pytest.mark.parametrize("version, says_503", [("0.5.0", False), ("0.5.1", True), ("0.5.23", True)])
def test_sglang_binds_before_warm_up(tmp_path, version, says_503):
    """SGLang binds its port once the weights have loaded; the warm-up thread then requests the server over HTTP
    (http_server.py at v0.5.20), so the port is bound before warm-up. The old claim is never printed."""
    liveness_only = {"livenessProbe": {"httpGet": {"path": "/health", "port": 30000}, "timeoutSeconds": 30}}
    docs = sglang_deployment(liveness_only)
    r = by(run(targets_from_file(dump(tmp_path, "m.yaml", docs), server_version=version)), "deploy.probes")
    assert "gives up after 30 s" in r.summary
    assert "only after the weights have loaded" in r.summary
    assert "warmed up" not in r.summary and "has warmed up" not in r.summary
    assert ("answers 503 until its warm-up request has finished" in r.summary) is says_503


def test_tcp_probe_reason_is_bind_then_listen(tmp_path):
    """The vLLM WARN stands, for the true reason: a TCP connect is refused while vLLM loads (bound, not listening)."""
    doc = load("vllm-k8s-gpu.yaml")[0]
    doc["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {"tcpSocket": {"port": 8000}}
    r = by(run(targets_from_file(dump(tmp_path, "m.yaml", [doc]))), "deploy.probes")
    assert r.status is Status.WARN and "bare TCP probe" in r.summary
    assert "listens on it only once the engine has loaded" in r.summary
    assert "succeeds while the model is still loading" not in r.summary


def test_connect_to_a_bound_socket_that_is_not_listening_is_refused():
    """The experiment behind the TCP_PROBE row: bind only (vLLM's create_server_socket) refuses connects; listen accepts."""
    import socket

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        port = srv.getsockname()[1]
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        srv.listen()
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        srv.close()


def _vllm_probe(tmp_path, path, version="0.11.0"):
    docs = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "emb"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "embed",
                                "image": f"vllm/vllm-openai:v{version}",
                                "command": ["vllm", "serve", "Qwen/Qwen3-Embedding-0.6B", "--runner", "pooling"],
                                "ports": [{"containerPort": 8000}],
                                "startupProbe": {"httpGet": {"path": "/health", "port": 8000}, "failureThreshold": 60, "periodSeconds": 10},
                                "readinessProbe": {"httpGet": {"path": path, "port": 8000}},
                            }
                        ]
                    }
                }
            },
        }
    ]
    return by(run(targets_from_file(dump(tmp_path, "v.yaml", docs), server_version=version)), "deploy.probes")


@pytest.mark.parametrize(
    "path, status, words",
    [
        ("/", Status.FAIL, "answers 404"),  # vLLM routes no GET / (api_server.py at v0.8.5; v0.32.0/v0.33.0 routers)
        ("/healthz", Status.FAIL, "does not route"),
        ("/v1/models", Status.WARN, "does not tell whether the engine can serve"),
        ("/version", Status.WARN, "HTTP server alone"),
        ("/ping", Status.PASS, ""),  # SageMaker's ping calls health (serve/sagemaker/api_router.py)
        ("/health", Status.PASS, ""),
    ],
)
def test_vllm_probe_routes(tmp_path, path, status, words):
    r = _vllm_probe(tmp_path, path)
    assert r.status is status, r.summary
    assert words in r.summary


def test_tei_info_is_routed_but_static(tmp_path):
    doc = load("tei-compose.yaml")[0]
    doc["services"]["embeddings"]["healthcheck"] = {"test": ["CMD", "curl", "-f", "http://localhost:80/info"], "start_period": "300s"}
    r = by(run(targets_from_file(dump(tmp_path, "c.yaml", [doc]))), "deploy.probes")
    assert r.status is Status.WARN and "'/info'" in r.summary and "engine" in r.summary
