"""The container checks on real deployment files read by qwen_doctor.deployfiles (each file names its source in its
header): vLLM's Kubernetes guide (tests/data/deploy/vllm-k8s-gpu.yaml, an emptyDir medium: Memory of 2Gi on /dev/shm
"for tensor parallel inference"), SGLang's docker/compose.yaml (ipc: host, a device reservation) and TEI's README
docker line as compose (tests/data/deploy/tei-compose.yaml). Each is run as published, then with the one line that
makes it fail."""

from __future__ import annotations

from qwen_doctor.results import Status
from tests.checks.deploy import DATA, by, dump, load, one, run


def test_vllm_k8s_tp2_with_its_memory_volume_passes_and_without_it_fails(tmp_path):
    docs = load("vllm-k8s-gpu.yaml")
    pod = next(d for d in docs if d.get("kind") == "Deployment")["spec"]["template"]["spec"]
    ctr = pod["containers"][0]
    ctr["args"] = [ctr["args"][0] + " --tensor-parallel-size 2"]
    ok = by(run([one(dump(tmp_path, "a.yaml", docs))]), "deploy.shared-memory")
    assert ok.status is Status.PASS and "--tensor-parallel-size 2" in ok.summary and "emptyDir" in ok.summary
    pod["volumes"] = [v for v in pod["volumes"] if v["name"] != "shm"]
    ctr["volumeMounts"] = [m for m in ctr["volumeMounts"] if m["name"] != "shm"]
    bad = by(run([one(dump(tmp_path, "b.yaml", docs))]), "deploy.shared-memory")
    assert bad.status is Status.FAIL and "NCCL" in bad.summary and "medium: Memory" in bad.fix.text


def test_sglang_compose_ipc_host_at_tp2_and_without_it(tmp_path):
    doc = load("sglang-compose.yaml")[0]
    svc = doc["services"]["sglang"]
    svc["command"] = svc["command"] + " --tp-size 2"
    ok = by(run([one(dump(tmp_path, "a.yaml", [doc]))]), "deploy.shared-memory")
    assert ok.status is Status.PASS and "ipc: host" in ok.summary
    del svc["ipc"]
    bad = by(run([one(dump(tmp_path, "b.yaml", [doc]))]), "deploy.shared-memory")
    assert bad.status is Status.FAIL and "no ipc: host" in bad.summary


def test_gpu_grants_as_published_and_removed(tmp_path):
    for name in ("sglang-compose.yaml", "tei-compose.yaml", "vllm-k8s-gpu.yaml", "sglang-k8s-service.yaml"):
        r = by(run([one(DATA / name)]), "deploy.gpu-access")
        assert r.status is Status.PASS, (name, r.summary)
    doc = load("tei-compose.yaml")[0]
    del doc["services"]["embeddings"]["deploy"]
    r = by(run([one(dump(tmp_path, "c.yaml", [doc]))]), "deploy.gpu-access")
    assert r.status is Status.WARN and "Using CPU instead" in r.summary  # TEI's CUDA build falls back to the CPU
    docs = load("sglang-k8s-service.yaml")
    ctr = next(d for d in docs if d.get("kind") == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    del ctr["resources"]
    r = by(run([one(dump(tmp_path, "k.yaml", docs))]), "deploy.gpu-access")
    assert r.status is Status.FAIL and "no nvidia.com/gpu limit" in r.summary and "nvidia.com/gpu: 1" in r.fix.text
