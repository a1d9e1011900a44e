"""deploy.gpu-access: a GPU image is given a GPU.

Commands and grants are those of real deployments:
- vLLM docs/deployment/docker.md (vllm-project/vllm@02319794a1415e663baaf6de2f8197f795bd8c03):
  `docker run --runtime nvidia --gpus all ... -p 8000:8000 --ipc=host vllm/vllm-openai:latest --model ...`
- TEI README (huggingface/text-embeddings-inference@007ac685780e7c695cf61d8a027344a9fa0ef1bc):
  `docker run --gpus all -p 8080:80 -v $volume:/data ghcr.io/huggingface/text-embeddings-inference:1.8 --model-id $model`
  and its CPU line `... text-embeddings-inference:cpu-1.8 --model-id $model` (no --gpus).
- SGLang docker/k8s-sglang-service.yaml (tests/data/deploy/sglang-k8s-service.yaml): `nvidia.com/gpu: 1`.
"""

from __future__ import annotations

from qwen_doctor.results import Status

from ._containers import result

VLLM = "vllm serve Qwen/Qwen3-Embedding-0.6B --runner pooling"
TEI = "text-embeddings-router --model-id Qwen/Qwen3-Embedding-0.6B"
SGL = "python3 -m sglang.launch_server --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding --host 0.0.0.0"


def test_vllm_docker_run_with_gpus_passes_and_without_fails():
    dep = dict(kind="docker-run", runtime="docker", image="vllm/vllm-openai:latest", gpu_image=True)
    ok = result("deploy.gpu-access", VLLM, "0.11.0", gpus_granted="--gpus all", **dep)
    assert ok.status is Status.PASS and "--gpus all" in ok.summary
    bad = result("deploy.gpu-access", VLLM, "0.11.0", **dep)
    assert bad.status is Status.FAIL
    assert "no --gpus" in bad.summary and "Failed to infer device type" in bad.summary
    assert "--gpus all" in bad.fix.text and "vllm-cpu" in bad.fix.text


def test_compose_and_kubernetes_fixes_are_yaml_for_their_kind():
    c = result("deploy.gpu-access", SGL, "0.5.23", kind="compose", image="lmsysorg/sglang:v0.5.23", gpu_image=True)
    assert c.status is Status.FAIL and "no deploy.resources.reservations.devices" in c.summary
    assert "capabilities: [gpu]" in c.fix.text and "SGLANG_USE_CPU_ENGINE=1" in c.fix.text
    k = result("deploy.gpu-access", SGL, "0.5.23", kind="kubernetes", image="lmsysorg/sglang:v0.5.23", gpu_image=True)
    assert k.status is Status.FAIL and "no nvidia.com/gpu limit" in k.summary
    assert "nvidia.com/gpu: 1" in k.fix.text
    # a zero GPU limit grants nothing
    z = result("deploy.gpu-access", SGL, "0.5.23", kind="kubernetes", image="lmsysorg/sglang:v0.5.23", gpu_image=True, gpus={"nvidia.com/gpu": "0"})
    assert z.status is Status.FAIL


def test_tei_gpu_image_without_gpu_warns_and_cpu_image_needs_none():
    dep = dict(kind="docker-run", runtime="docker")
    w = result("deploy.gpu-access", TEI, "1.8.2", image="ghcr.io/huggingface/text-embeddings-inference:1.8", gpu_image=True, **dep)
    assert w.status is Status.WARN and "Using CPU instead" in w.summary and "cpu-" in w.fix.text
    cpu = result("deploy.gpu-access", TEI, "1.8.2", image="ghcr.io/huggingface/text-embeddings-inference:cpu-1.8", gpu_image=False, **dep)
    assert cpu.status is Status.PASS and "CPU image" in cpu.summary


def test_device_cpu_needs_no_gpu_and_an_unknown_image_is_not_judged():
    r = result("deploy.gpu-access", SGL + " --device cpu", "0.5.23", image="lmsysorg/sglang:v0.5.23", gpu_image=True)
    assert r.status is Status.PASS and "--device cpu" in r.summary
    u = result("deploy.gpu-access", SGL, "0.5.23", image="registry.example/mine:1", gpu_image=None)
    assert u.status is Status.SKIP and "registry.example/mine:1" in u.summary


def test_not_a_container_is_not_applicable():
    r = result("deploy.gpu-access", SGL, "0.5.23", kind="systemd")
    assert r.status is Status.SKIP and "not a container deployment" in r.summary
