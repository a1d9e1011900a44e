"""deploy.entrypoint: the container's command against the image's ENTRYPOINT."""

from __future__ import annotations

from qwen_doctor.results import Status
from tests.checks.deploy import DATA, by, dump, one, run


def test_vllm_monitoring_example_repeats_the_entrypoint():
    """Its args begin with "serve" although vllm/vllm-openai's ENTRYPOINT is `vllm serve`."""
    t = one(DATA / "vllm-k8s-monitoring.yaml")
    assert t.launch.display().startswith("vllm serve serve Qwen/Qwen3-Embedding-8B")
    results = run([t])
    r = by(results, "deploy.entrypoint")
    assert r.status is Status.FAIL
    assert "vllm serve serve" in r.summary and "Drop 'serve'" in r.fix.text
    assert by(results, "deploy.probes").status is Status.PASS  # 120 s + 30 x 10 s readiness, 180 + 5 x 30 s liveness


def test_args_only_for_an_entrypoint_image_pass():
    t = one(DATA / "vllm-compose.yaml")
    assert t.deployment.entrypoint_source == "image" and t.deployment.image_entrypoint == ("vllm", "serve")
    results = run([t])
    assert by(results, "deploy.entrypoint").status is Status.PASS
    pm = by(results, "deploy.port-mapping")
    assert pm.status is Status.PASS and "8000->8000" in pm.summary


def test_lmsysorg_image_with_bare_options_cannot_start(tmp_path):
    doc = {"services": {"sglang": {"image": "lmsysorg/sglang:latest", "command": ["--model-path", "/models/Qwen3-Embedding-0.6B", "--is-embedding"]}}}
    t = one(dump(tmp_path, "compose.yaml", [doc]))
    assert t.server == "sglang"
    r = by(run([t]), "deploy.entrypoint")
    assert r.status is Status.FAIL and "no server ENTRYPOINT" in r.summary
