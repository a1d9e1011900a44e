"""deploy.shared-memory: more than one GPU process in a container needs shared memory for NCCL.

Modelled on real deployments:
- SGLang docker/compose.yaml (tests/data/deploy/sglang-compose.yaml, sgl-project/sglang@0b082f52): `ipc: host`.
- vLLM examples/online_serving/chart-helm and docs/deployment/k8s.md (tests/data/deploy/vllm-k8s-gpu.yaml): an
  emptyDir `medium: Memory` on /dev/shm "for tensor parallel inference".
- a compose service on vllm/vllm-openai:v0.5.2 with `shm_size: 6.15g` (public docker-compose example found by code
  search); and the same with TP 2 and no ipc/shm setting, Docker's 64 MB default (docker run reference).
"""

from __future__ import annotations

import pytest

from qwen_doctor.results import Status

from ._containers import result

GiB = 1024**3
VLLM_TP2 = "vllm serve Qwen/Qwen3-Embedding-8B --runner pooling --tensor-parallel-size 2"
SGL_TP2 = "python3 -m sglang.launch_server --model-path Qwen/Qwen3-Embedding-8B --is-embedding --host 0.0.0.0 --tp-size 2"


def test_tp1_needs_nothing():
    r = result("deploy.shared-memory", "vllm serve Qwen/Qwen3-Embedding-0.6B --runner pooling", "0.11.0")
    assert r.status is Status.PASS and "one GPU process" in r.summary


def test_vllm_tp2_compose_without_ipc_fails_with_the_nccl_consequence():
    r = result("deploy.shared-memory", VLLM_TP2, "0.11.0", kind="compose", image="vllm/vllm-openai:v0.11.0")
    assert r.status is Status.FAIL
    assert "--tensor-parallel-size 2" in r.summary and "64 MiB" in r.summary and "NCCL" in r.summary and "never becomes ready" in r.summary
    assert "ipc: host" in r.fix.text


@pytest.mark.parametrize(
    "size, status",
    [(64 * 1024**2, Status.FAIL), (512 * 1024**2, Status.WARN), (GiB, Status.PASS), (int(6.15 * GiB), Status.PASS)],
)
def test_shm_size_boundaries(size, status):
    r = result("deploy.shared-memory", VLLM_TP2, "0.11.0", kind="docker-run", runtime="docker", shm_size=size)
    assert r.status is status, r.summary
    if status is not Status.PASS:
        assert "--ipc=host" in r.fix.text


def test_ipc_host_and_kubernetes_memory_volume_pass():
    assert result("deploy.shared-memory", SGL_TP2, "0.5.23", kind="compose", ipc_host=True).status is Status.PASS
    k = result("deploy.shared-memory", SGL_TP2, "0.5.23", kind="kubernetes", shm_memory_volume=True)
    assert k.status is Status.PASS and "emptyDir" in k.summary
    small = result("deploy.shared-memory", SGL_TP2, "0.5.23", kind="kubernetes", shm_memory_volume=True, shm_size=256 * 1024**2)
    assert small.status is Status.WARN and "256 MiB" in small.summary
    bare = result("deploy.shared-memory", SGL_TP2, "0.5.23", kind="kubernetes")
    assert bare.status is Status.FAIL and "no emptyDir medium: Memory" in bare.summary and "medium: Memory" in bare.fix.text


def test_sglang_dp_without_dp_attention_is_one_process_per_replica():
    r = result("deploy.shared-memory", SGL_TP2.replace("--tp-size 2", "--dp-size 2"), "0.5.23", kind="compose")
    assert r.status is Status.PASS and "--dp-size 2" in r.summary


def test_tei_is_not_applicable():
    r = result("deploy.shared-memory", "text-embeddings-router --model-id Qwen/Qwen3-Embedding-0.6B", "1.8.2", kind="compose")
    assert r.status is Status.SKIP
