"""Container launch commands (qwen_doctor.containers, qwen_doctor.images): `docker run`, `podman run` and
`nerdctl run` lines become targets: the image and its tag name the server and its release, the options after the
image are appended to the image's ENTRYPOINT, and the run options fill the target's Deployment (kind docker-run).

Real run lines, with their sources:

- VLLM_DOCS: vLLM docs "Using Docker", https://docs.vllm.ai/en/v0.7.3/deployment/docker.html (`<secret>` as published)
- VLLM_PODMAN: vllm-project/vllm docs/deployment/docker.md at 275de34170654274616082721348b7edd9741d32 (the podman line)
- TEI_README: huggingface/text-embeddings-inference README.md, "Docker" (the line of the 1.8 releases; at commit
  007ac685780e7c695cf61d8a027344a9fa0ef1bc it reads `:0.7 ... --revision $revision`, see tests/data/deploy/tei-compose.yaml)
- SGLANG_DOCS: sgl-project/sglang docs/get-started/install.md, "Method 3: Using docker" (docs.sglang.io)
- VLLM_ISSUE_9341: vllm-project/vllm issue #9341, a maintainer's (mgoin) comment of 2024-10-21 (the HF token in it
  replaced by a fake one of the same shape)
- VLLM_ISSUE_37133: vllm-project/vllm issue #37133 (vLLM 0.17.1; `vllm serve` repeated after the image, which already
  has ENTRYPOINT ["vllm", "serve"]: "vllm: error: unrecognized arguments: serve ...")
- VLLM_CACHE_DOCS: vllm-project/vllm docs/deployment/docker.md at 02319794a1415e663baaf6de2f8197f795bd8c03
  ("Persist the compile cache across containers"; a named volume and a positional model)
- DGX_PLAYBOOK: NVIDIA dgx-spark-playbooks, skill sglang-setup (`--gpus '"device=<GB300_INDEX>"'`; placeholders filled)

Checks run for real (launch, host and deploy plugins); nothing is mocked. Model directories are real (tests.testkit).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwen_doctor.checks import deploy as deploy_checks
from qwen_doctor.checks import host as host_checks
from qwen_doctor.checks import launch as launch_checks
from qwen_doctor.checks import model as model_checks
from qwen_doctor.facts import server_facts
from qwen_doctor.fixes import all_safe_fixes
from qwen_doctor.images import image_facts, parse_size
from qwen_doctor.launch import LaunchError, split_command, split_launch
from qwen_doctor.registry import Registry
from qwen_doctor.render import RenderOptions, Report
from qwen_doctor.render.json_format import render_json
from qwen_doctor.render.text import render_text
from qwen_doctor.results import Applicability, Status
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target
from tests.testkit import modeldirs

VLLM_DOCS = (
    "docker run --runtime nvidia --gpus all -v ~/.cache/huggingface:/root/.cache/huggingface "
    '--env "HUGGING_FACE_HUB_TOKEN=<secret>" -p 8000:8000 --ipc=host vllm/vllm-openai:latest --model mistralai/Mistral-7B-v0.1'
)
VLLM_PODMAN = (
    "podman run --device nvidia.com/gpu=all -v ~/.cache/huggingface:/root/.cache/huggingface "
    '--env "HF_TOKEN=$HF_TOKEN" -p 8000:8000 --ipc=host docker.io/vllm/vllm-openai:latest --model Qwen/Qwen3-0.6B'
)
TEI_README = "docker run --gpus all -p 8080:80 -v $volume:/data --pull always ghcr.io/huggingface/text-embeddings-inference:1.8 --model-id $model"
SGLANG_DOCS = (
    "docker run --gpus all --shm-size 32g -p 30000:30000 -v ~/.cache/huggingface:/root/.cache/huggingface "
    '--env "HF_TOKEN=<secret>" --ipc=host lmsysorg/sglang:latest python3 -m sglang.launch_server '
    "--model-path meta-llama/Llama-3.1-8B-Instruct --host 0.0.0.0 --port 30000"
)
FAKE_HF = "hf_" + "Q" * 34
VLLM_ISSUE_9341 = (
    "docker run \\\n--runtime nvidia \\\n--gpus device=1 \\\n-v ~/.cache/huggingface:/root/.cache/huggingface \\\n"
    f'--env "HUGGING_FACE_HUB_TOKEN={FAKE_HF}" \\\n-p 8000:8000 \\\n--ipc=host \\\nvllm/vllm-openai:latest \\\n'
    "--model meta-llama/Llama-3.2-11B-Vision-Instruct \\\n--enforce-eager \\\n--max-model-len 4096 \\\n--max-num-seqs 16 \\\n"
    "--tensor-parallel-size 1"
)
VLLM_ISSUE_37133 = (
    "sudo docker run --name qwen3 --rm --gpus all --security-opt seccomp=unconfined \\\n    --network=host --ipc=host \\\n"
    "    -v /data/ai_models/GLM-4.7-Flash-AWQ-4bit:/models/GLM-4.7-Flash-AWQ-4bit \\\n    -v ~/.cache:/root/.cache\\\n"
    "    vllm/vllm-openai:latest vllm serve /models/GLM-4.7-Flash-AWQ-4bit \\\n    --served-model-name GLM-4.7-Flash-AWQ-4bit \\\n"
    "    --trust-remote-code \\\n    --port 9527 \\\n    --gpu-memory-utilization 0.90 \\\n    --api-key tipray.123 --max_num_batched_tokens 4096"
)
VLLM_CACHE_DOCS = (
    "docker run --rm --gpus all -v ~/.cache/huggingface:/root/.cache/huggingface -v vllm-cache:/root/.cache/vllm "
    "-p 8000:8000 vllm/vllm-openai:latest meta-llama/Llama-3.1-8B-Instruct"
)
DGX_PLAYBOOK = (
    "docker run -d \\\n  --name sglang-server \\\n  --gpus '\"device=1\"' \\\n  --ipc host \\\n  --ulimit memlock=-1 \\\n"
    '  --ulimit stack=67108864 \\\n  -p 30000:30000 \\\n  -e HF_TOKEN="<TOKEN>" \\\n'
    '  -v "$HOME/.cache/huggingface/hub:/root/.cache/huggingface/hub" \\\n  lmsysorg/sglang:latest-cu130 \\\n'
    '  sglang serve --model-path "Qwen/Qwen3-Embedding-0.6B" \\\n    --host 0.0.0.0 \\\n    --port 30000'
)


def _reg(*plugins) -> Registry:
    reg = Registry()
    for m in plugins or (launch_checks, host_checks, deploy_checks):
        reg.load_plugin(m.__name__, m.register, m.__name__)
    assert not reg.problems, reg.problems
    return reg


def _run(t, *plugins):
    return {r.id: r for r in Runner(_reg(*plugins)).run([t])}


def _t(line: str, **kw):
    return build_target([line], **kw)


# --------------------------------------------------------------------------------------------
# real run lines


def test_vllm_docs_line():
    t = _t(VLLM_DOCS)
    d = t.deployment
    assert (t.server, t.launch.launcher, t.model_path, t.port) == ("vllm", "vllm serve", "mistralai/Mistral-7B-v0.1", 8000)
    assert d.kind == "docker-run" and d.runtime == "docker" and d.in_container and d.from_file
    assert (d.image, d.image_tag, d.image_version, d.gpu_image) == ("vllm/vllm-openai:latest", "latest", None, True)
    assert d.gpus_granted == "--gpus all" and d.ipc_host and d.shm_size is None
    assert [(p.published, p.container) for p in d.ports] == [(8000, 8000)]
    assert d.image_entrypoint == ("vllm", "serve") and d.entrypoint_source == "image"
    # unpinned: the release the doctor assumes is said, and the host's installed vLLM is not taken for the image's
    sf = server_facts(t)
    assert sf.version is None and sf.assumed == sf.newest_known
    assert f"assumed {sf.newest_known}" in sf.describe() and f"assumed vLLM {sf.newest_known}" in t.version.source
    assert any("not pinned to a release (tag latest)" in n and f"vLLM {sf.newest_known}" in n for n in d.notes)
    # the container's environment is the server's; the secret never shows
    assert dict(t.env)["HUGGING_FACE_HUB_TOKEN"] == "<secret>"
    shown = t.launch.display()
    assert shown.startswith("docker run --runtime nvidia --gpus all -v ~/.cache/huggingface:/root/.cache/huggingface ")
    assert "<secret>" not in shown and "HUGGING_FACE_HUB_TOKEN=***" in shown
    assert t.url == "http://127.0.0.1:8000" and t.url_source == "launch"


def test_vllm_podman_line_with_a_cdi_gpu_device():
    t = _t(VLLM_PODMAN)
    d = t.deployment
    assert d.runtime == "podman" and d.image == "docker.io/vllm/vllm-openai:latest"
    assert d.gpus_granted == "--device nvidia.com/gpu=all"
    assert t.model_path == "Qwen/Qwen3-0.6B" and "HF_TOKEN" in d.runtime_vars


def test_tei_readme_line():
    t = _t(TEI_README)
    d = t.deployment
    assert (t.server, t.launch.launcher, t.version.version, t.version.source) == ("tei", "text-embeddings-router", "1.8", "image tag 1.8")
    assert server_facts(t).version_source == "image"
    assert t.table.version == "1.8.0"
    assert t.port == 80 and d.port_from_image  # ENV PORT=80 of the image, published on 8080
    assert t.url == "http://127.0.0.1:8080"
    assert d.volumes == (("$volume", "/data"),) and set(d.runtime_vars) == {"volume", "model"}
    assert d.gpu_image is True and d.gpus_granted == "--gpus all"
    assert '"$volume:/data"' in t.launch.display()  # still expands when pasted


def test_sglang_docs_line():
    t = _t(SGLANG_DOCS)
    d = t.deployment
    assert (t.server, t.launch.launcher, t.port, t.host) == ("sglang", "python -m sglang.launch_server", 30000, "0.0.0.0")
    assert t.launch.args[:2] == ("--model-path", "meta-llama/Llama-3.1-8B-Instruct")
    assert d.shm_size == 32 * 2**30 and d.ipc_host and d.image_entrypoint == ()
    assert t.launch.parsed.issues == ()
    assert "<secret>" not in t.launch.display()


def test_vllm_issue_line_with_device_and_continuations():
    t = _t(VLLM_ISSUE_9341)
    d = t.deployment
    assert d.gpus_granted == "--gpus device=1" and d.gpu_devices == ("1",)
    assert t.model_path == "meta-llama/Llama-3.2-11B-Vision-Instruct"
    assert FAKE_HF not in t.launch.display() and FAKE_HF not in json.dumps(t.to_dict())


def test_vllm_issue_line_repeating_the_entrypoint_fails_and_maps_the_model():
    t = _t(VLLM_ISSUE_37133)
    d = t.deployment
    assert d.runtime == "docker" and d.host_network and d.ipc_host
    assert d.entrypoint_problem and "vllm serve vllm serve" in d.entrypoint_problem
    res = _run(t)
    assert res["deploy.entrypoint"].status is Status.FAIL
    assert "tipray.123" not in t.launch.display()
    assert all_safe_fixes(t, list(res.values()), _reg()) == (None, ())  # a mis-assembled command gets no corrected copy


def test_vllm_docs_cache_line_named_volume_and_positional_model():
    t = _t(VLLM_CACHE_DOCS)
    d = t.deployment
    assert t.launch.launcher == "vllm serve" and t.model_path == "meta-llama/Llama-3.1-8B-Instruct"  # ENTRYPOINT vllm serve
    assert [c for _, c in d.volumes] == ["/root/.cache/huggingface"]  # vllm-cache is a named volume, not a host path
    assert any("named volume vllm-cache" in n for n in d.notes)
    assert t.launch.parsed.issues == ()


def test_dgx_playbook_line_quoted_gpu_device_and_home_variable():
    t = _t(DGX_PLAYBOOK)
    d = t.deployment
    assert d.gpus_granted == '--gpus "device=1"'
    assert d.gpu_devices == ("1",) and d.ipc_host
    assert (t.server, t.launch.launcher, t.model_path) == ("sglang", "sglang serve", "Qwen/Qwen3-Embedding-0.6B")
    assert d.image_tag == "latest-cu130" and d.image_version is None and "HOME" in d.runtime_vars


# --------------------------------------------------------------------------------------------
# image tags


@pytest.mark.parametrize(
    "image, server, version, gpu, unpinned",
    [
        ("lmsysorg/sglang:v0.5.6-cu126", "sglang", "0.5.6", True, None),
        ("lmsysorg/sglang:v0.5.6.post2", "sglang", "0.5.6.post2", True, None),
        ("lmsysorg/sglang:v0.5.6.post2-cu129-amd64", "sglang", "0.5.6.post2", True, None),
        ("lmsysorg/sglang:v0.4.9.post6-rocm630", "sglang", "0.4.9.post6", None, None),
        ("lmsysorg/sglang:latest", "sglang", None, True, "tag latest"),
        ("lmsysorg/sglang", "sglang", None, True, "no tag, so docker pulls latest"),
        ("vllm/vllm-openai:v0.11.0", "vllm", "0.11.0", True, None),
        ("vllm/vllm-openai:v0.10.1.1", "vllm", "0.10.1.1", True, None),
        ("vllm/vllm-openai:latest", "vllm", None, True, "tag latest"),
        ("vllm/vllm-openai@sha256:" + "a" * 64, "vllm", None, True, "a digest only"),
        ("vllm/vllm-openai:v0.11.0@sha256:" + "b" * 64, "vllm", "0.11.0", True, None),
        ("vllm/vllm-openai-cpu:v0.12.0", "vllm", "0.12.0", False, None),
        ("public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.10.1", "vllm", "0.10.1", False, None),
        ("vllm/vllm-openai-rocm:v0.12.0", "vllm", "0.12.0", None, None),
        ("ghcr.io/huggingface/text-embeddings-inference:1.8", "tei", "1.8", True, None),
        ("ghcr.io/huggingface/text-embeddings-inference:cpu-1.8", "tei", "1.8", False, None),
        ("ghcr.io/huggingface/text-embeddings-inference:89-1.8", "tei", "1.8", True, None),
        ("ghcr.io/huggingface/text-embeddings-inference:86-1.8.3", "tei", "1.8.3", True, None),
        ("ghcr.io/huggingface/text-embeddings-inference:hopper-1.8", "tei", "1.8", True, None),
        ("ghcr.io/huggingface/text-embeddings-inference:turing-1.8", "tei", "1.8", True, None),
        ("ghcr.io/huggingface/text-embeddings-inference:latest", "tei", None, True, "tag latest"),
        ("ghcr.io/huggingface/text-embeddings-inference:cpu-latest", "tei", None, False, "tag cpu-latest"),
    ],
)
def test_image_tags(image, server, version, gpu, unpinned):
    f = image_facts(image)
    assert (f.server, f.version, f.gpu_image, f.unpinned) == (server, version, gpu, unpinned)
    assert (f.assumed_note("9.9") is None) == (version is not None)


@pytest.mark.parametrize("image", ["postgres:16", "registry.example.com:5000/team/app:1", "busybox", ""])
def test_other_images_are_not_servers(image):
    assert image_facts(image) is None


def test_vllm_image_entrypoint_follows_the_tag():
    assert image_facts("vllm/vllm-openai:v0.10.1").entrypoint == ("python3", "-m", "vllm.entrypoints.openai.api_server")
    assert image_facts("vllm/vllm-openai:v0.12.0").entrypoint == ("vllm", "serve")
    assert image_facts("vllm/vllm-openai:latest").entrypoint == ("vllm", "serve")
    # the api_server entrypoint takes no positional model: the server refuses it
    t = _t("docker run -p 8000:8000 vllm/vllm-openai:v0.10.1 /models/Qwen3-Embedding-0.6B")
    assert t.launch.launcher == "python -m vllm.entrypoints.openai.api_server" and t.model_path is None
    assert [i.kind for i in t.launch.parsed.issues] == ["extra-positional"]
    ok = _t("docker run -p 8000:8000 vllm/vllm-openai:v0.12.0 /models/Qwen3-Embedding-0.6B")
    assert ok.launch.launcher == "vllm serve" and ok.model_path == "/models/Qwen3-Embedding-0.6B"


def test_tag_sets_the_version_and_server_version_overrides():
    t = _t("docker run vllm/vllm-openai:v0.11.0 --model Qwen/Qwen3-Embedding-0.6B --task embed")
    assert (t.version.version, t.version.source, t.table.version) == ("0.11.0", "image tag v0.11.0", "0.11.0")
    assert server_facts(t).describe() == "vLLM 0.11.0 (image tag v0.11.0)"
    assert not [i for i in t.launch.parsed.issues if i.kind == "unknown"]  # --task exists in 0.11.0
    o = _t("docker run vllm/vllm-openai:v0.11.0 --model Qwen/Qwen3-Embedding-0.6B", server_version="0.10.0")
    assert (o.version.version, o.version.source, server_facts(o).version_source) == ("0.10.0", "--server-version", "flag")


@pytest.mark.parametrize(
    "text, n", [("64m", 64 * 2**20), ("1g", 2**30), ("2GB", 2 * 2**30), ("10.24gb", int(10.24 * 2**30)), ("512", 512), ("1x", None), ("", None)]
)
def test_shm_sizes(text, n):
    assert parse_size(text) == n


def test_kubernetes_sizes():
    assert parse_size("1Gi", kubernetes=True) == 2**30 and parse_size("1G", kubernetes=True) == 10**9
    assert parse_size("512Mi", kubernetes=True) == 512 * 2**20 and parse_size("lots", kubernetes=True) is None


# --------------------------------------------------------------------------------------------
# run options


def test_options_with_their_arity_and_short_clusters():
    t = _t(
        "docker run -itd --rm -p127.0.0.1:9000:30000/tcp -eSGLANG_X=1 --name emb -w /work -u 1000 --network=bridge "
        "--mount type=bind,source=/srv/models,target=/models,readonly --tmpfs /dev/shm:rw,size=8g "
        "--env-file ./prod.env -e HF_TOKEN lmsysorg/sglang:v0.5.23 "
        "python3 -m sglang.launch_server --model-path /models/Qwen3-Embedding-0.6B --is-embedding --host 0.0.0.0"
    )
    d = t.deployment
    assert [(p.host_ip, p.published, p.container) for p in d.ports] == [("127.0.0.1", 9000, 30000)]
    assert d.volumes == (("/srv/models", "/models"),) and d.shm_size == 8 * 2**30 and not d.ipc_host
    assert d.env_files == ("./prod.env",) and any("--env-file ./prod.env is not read" in n for n in d.notes)
    assert any("-e HF_TOKEN passes HF_TOKEN" in n for n in d.notes)
    assert dict(t.env)["SGLANG_X"] == "1" and t.model_path == "/srv/models/Qwen3-Embedding-0.6B"
    assert t.url == "http://127.0.0.1:9000" and d.gpus_granted is None


def test_entrypoint_override_and_shell_script():
    t = _t("docker run --entrypoint python3 vllm/vllm-openai:v0.12.0 -m vllm.entrypoints.openai.api_server --model /m/Qwen3-Embedding-0.6B")
    assert t.launch.launcher == "python -m vllm.entrypoints.openai.api_server" and t.deployment.entrypoint_source == "file"
    assert t.deployment.entrypoint_problem is None and t.model_path == "/m/Qwen3-Embedding-0.6B"
    s = _t("docker run --entrypoint /bin/sh vllm/vllm-openai:v0.12.0 -c 'cd /app && exec vllm serve /m/Qwen3-Embedding-0.6B --port 8001'")
    assert (s.server, s.port, s.model_path) == ("vllm", 8001, "/m/Qwen3-Embedding-0.6B") and s.deployment.shell_script


def test_runtime_nvidia_without_gpus_grants_the_cuda_images_gpus():
    t = _t("docker run --runtime=nvidia ghcr.io/huggingface/text-embeddings-inference:89-1.8 --model-id Qwen/Qwen3-Embedding-0.6B")
    assert t.deployment.gpus_granted.startswith("--runtime nvidia")
    none = _t("docker run ghcr.io/huggingface/text-embeddings-inference:89-1.8 --model-id Qwen/Qwen3-Embedding-0.6B")
    assert none.deployment.gpus_granted is None and none.deployment.gpu_image is True
    cpu = _t("docker run ghcr.io/huggingface/text-embeddings-inference:cpu-1.8 --model-id Qwen/Qwen3-Embedding-0.6B")
    assert cpu.deployment.gpu_image is False


@pytest.mark.parametrize(
    "line",
    [
        "sudo -E docker run -p 8000:8000 vllm/vllm-openai:v0.12.0 --model /m",
        "env DOCKER_HOST=unix:///run/d.sock docker run -p 8000:8000 vllm/vllm-openai:v0.12.0 --model /m",
        "docker --context prod container run -p 8000:8000 vllm/vllm-openai:v0.12.0 --model /m",
        "nerdctl --namespace k8s.io run --gpus all -p 8000:8000 vllm/vllm-openai:v0.12.0 --model /m",
        "podman run -p 8000:8000 docker.io/vllm/vllm-openai:v0.12.0 --model /m",
        "docker pull vllm/vllm-openai:v0.12.0 && \\\n docker run -p 8000:8000 \\\n vllm/vllm-openai:v0.12.0 \\\n --model /m > log 2>&1 &",
    ],
)
def test_wrappers_globals_and_shell_scripts(line):
    t = _t(line)
    assert (t.server, t.model_path, t.deployment.kind, t.deployment.image_version) == ("vllm", "/m", "docker-run", "0.12.0")
    assert t.url == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    "line, words",
    [
        ("docker run -p 8000:8000", "no image given"),
        ("docker run --rm -p", "needs a value"),
        ("docker run busybox sh -c 'sleep 1'", "starts no SGLang, vLLM or TEI server"),
        ("docker run busybox sleep 1", "not a known SGLang, vLLM or TEI image"),
        ("docker compose up -d", "--from compose.yaml"),
        ("docker run lmsysorg/sglang:v0.5.23", "no server ENTRYPOINT and no command"),
    ],
)
def test_run_lines_that_cannot_be_understood_are_one_line_usage_errors(line, words):
    with pytest.raises(LaunchError) as e:
        _t(line)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_custom_image_with_a_server_hint_and_docker_exec():
    t = _t("docker run -p 8000:8000 registry.example.com/team/embedder:3 --model /m", server="vllm")
    assert (t.server, t.launch.launcher, t.model_path) == ("vllm", "vllm serve", "/m")
    assert t.deployment.image_version is None and t.deployment.gpu_image is None
    ex = split_launch(["docker", "exec", "-it", "emb", "vllm", "serve", "/m"])  # not a run line: the command inside
    assert ex.container is None and ex.launcher == "vllm serve" and ex.args == ("/m",)


# --------------------------------------------------------------------------------------------
# the model on the host


@pytest.fixture()
def host_models(tmp_path):
    root = tmp_path / "srv-models"
    modeldirs.build_tiny_model_dir(root, name="Qwen3-Embedding-0.6B")
    return root


def test_model_checks_read_the_host_copy_of_a_mounted_model(host_models):
    t = _t(f"docker run -v {host_models}:/models:ro -p 8000:8000 vllm/vllm-openai:v0.12.0 --model /models/Qwen3-Embedding-0.6B --runner pooling")
    assert t.model_path == str(host_models / "Qwen3-Embedding-0.6B")
    assert any("/models/Qwen3-Embedding-0.6B inside the container" in n for n in t.deployment.notes)
    assert "--model /models/Qwen3-Embedding-0.6B" in t.launch.display()  # the command keeps the container's path
    r = _run(t, model_checks)["model.directory"]
    assert r.status is Status.PASS, r.summary
    unmapped = _t("docker run vllm/vllm-openai:v0.12.0 --model /models/Qwen3-Embedding-0.6B")
    assert unmapped.model_path == "/models/Qwen3-Embedding-0.6B"
    assert any("no -v/--mount maps it" in n for n in unmapped.deployment.notes)


# --------------------------------------------------------------------------------------------
# the parser fix: an unknown option's value is never the model


def test_unknown_option_value_is_not_the_model():
    t = build_target(["vllm", "serve", "--model", "Qwen/Qwen3-Embedding-0.6B", "--task", "embed"], server_version="0.33.0")
    assert t.model_path == "Qwen/Qwen3-Embedding-0.6B"
    assert [i.kind for i in t.launch.parsed.issues] == ["unknown"]
    # a switch of other releases: the next token is the positional model
    s = build_target(["vllm", "serve", "--disable-log-requests", "/m/Qwen3-Embedding-0.6B"], server_version="0.33.0")
    assert s.model_path == "/m/Qwen3-Embedding-0.6B"
    # an option no release has, before the only model-like token: that token is the model, as argparse reads it
    e = build_target(["vllm", "serve", "--embedding", "Qwen/Qwen3-Embedding-0.6B"], server_version="0.33.0")
    assert e.model_path == "Qwen/Qwen3-Embedding-0.6B"
    n = build_target(["vllm", "serve", "--frobnicate", "embed"], server_version="0.33.0")
    assert n.model_path is None


def test_kubernetes_task_embed_on_newest_vllm_corrected_command_keeps_the_model():
    t = _t("docker run vllm/vllm-openai:latest --model Qwen/Qwen3-Embedding-0.6B --task embed")
    res = _run(t)
    r = res["launch.unknown-flags"]
    if r.status is Status.ERROR:
        pytest.skip(f"launch.unknown-flags crashed for a reason outside this module: {r.summary}")
    assert r.status is Status.FAIL and r.fix.launch_command
    toks = split_command(r.fix.launch_command)
    assert toks[:2] == ["docker", "run"] and "--task" not in toks
    assert all(toks[i - 1] == "--convert" for i, tok in enumerate(toks) if tok == "embed")  # `--task embed` dropped whole
    assert toks[toks.index("--model") + 1] == "Qwen/Qwen3-Embedding-0.6B"
    assert _t(r.fix.launch_command).model_path == "Qwen/Qwen3-Embedding-0.6B"


# --------------------------------------------------------------------------------------------
# every command form through the launch checks: one corrected command, and it passes

BROKEN_SGLANG = "python3 -m sglang.launch_server --model-path /models/Qwen3-Embedding-0.6B/ --embedding --max-num-seqs 64 --host 0.0.0.0"
FORMS = [
    f"docker run --gpus all -p 30000:30000 lmsysorg/sglang:v0.5.23 {BROKEN_SGLANG}",
    f"podman run --device nvidia.com/gpu=all -p 30000:30000 docker.io/lmsysorg/sglang:v0.5.23 {BROKEN_SGLANG}",
    f"nerdctl run --gpus all -p 30000:30000 lmsysorg/sglang:v0.5.23 {BROKEN_SGLANG}",
    f"sudo docker run --gpus all -p 30000:30000 lmsysorg/sglang:v0.5.23 {BROKEN_SGLANG}",
    f"env DOCKER_CONTEXT=prod docker run --gpus all -p 30000:30000 lmsysorg/sglang:v0.5.23 {BROKEN_SGLANG}",
    f"docker run --gpus all \\\n  -p 30000:30000 \\\n  lmsysorg/sglang:v0.5.23 \\\n  {BROKEN_SGLANG}",
    "docker run --gpus all -p 8000:8000 vllm/vllm-openai:v0.12.0 --model /models/Qwen3-Embedding-0.6B/ --embedding --max-num-seqs 64",
]


@pytest.mark.parametrize("line", FORMS)
def test_every_form_gets_one_corrected_command_that_passes(line):
    reg = _reg(launch_checks, host_checks)
    t = _t(line)
    results = Runner(reg).run([t])
    crashed = [r for r in results if r.status is Status.ERROR]
    if crashed:
        pytest.skip(f"{crashed[0].id} crashed for a reason outside this module: {crashed[0].summary}")
    cmd, ids = all_safe_fixes(t, results, reg)
    assert cmd is not None and len(ids) >= 2, [(r.id, r.status, r.summary) for r in results if r.status is not Status.PASS]
    first = split_command(line)
    toks = split_command(cmd)
    runtime = next(tok for tok in first if tok in ("docker", "podman", "nerdctl"))
    assert toks[toks.index(runtime) : toks.index(runtime) + 2] == [runtime, "run"]  # still the same run line
    assert ("sudo" in toks) == ("sudo" in first) and ("DOCKER_CONTEXT=prod" in toks) == ("DOCKER_CONTEXT=prod" in first)
    again = _t(cmd)
    assert again.deployment.kind == "docker-run" and again.deployment.image == t.deployment.image
    rerun = Runner(reg).run([again])
    left = [r for r in rerun if r.id in ids and r.status in (Status.FAIL, Status.WARN)]
    assert not left, [(r.id, r.summary) for r in left]
    assert not [r for r in rerun if r.status is Status.FAIL and r.fix and r.fix.applicability is Applicability.SAFE]


# --------------------------------------------------------------------------------------------
# secrets


def test_env_secrets_are_redacted_in_every_output():
    secret = "hf_" + "Z" * 30
    line = f"docker run -e HF_TOKEN={secret} --env=OPENAI_API_KEY=sk-{'y' * 20} -eMY_PASSWORD=pw-12345 -p 8000:8000 vllm/vllm-openai:v0.12.0 --model /m --api-key k3y-k3y-k3y"
    t = _t(line)
    results = Runner(_reg()).run([t])
    report = Report((t,), tuple(results))
    texts = [render_json(report, RenderOptions()), render_text(report, RenderOptions(verbose=True)), t.launch.display(), json.dumps(t.to_dict())]
    for text in texts:
        for s in (secret, "sk-" + "y" * 20, "pw-12345", "k3y-k3y-k3y"):
            assert s not in text


# --------------------------------------------------------------------------------------------
# fuzzing: nothing but the documented one-line usage error

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_tok = st.one_of(
    st.sampled_from(
        [
            "docker", "podman", "nerdctl", "sudo", "env", "A=B", "run", "container", "create", "exec", "compose", "-it", "-d", "--rm",
            "-p", "8080:80", "-p8000:8000", "127.0.0.1::80", "--publish=1-3:4-6", "-v", "/a:/b", "~/x:/y:ro", "$V:/data", "--mount",
            "type=bind,src=/a,dst=/b", "type=tmpfs,dst=/dev/shm,tmpfs-size=1g", "-e", "HF_TOKEN=x", "HF_TOKEN", "--env-file", "--gpus",
            "all", '"device=0,1"', "count=2", "--device", "nvidia.com/gpu=all", "/dev/nvidia0", "--shm-size", "1g", "--ipc=host",
            "--net", "host", "--network=host", "--entrypoint", "", "/bin/sh", "-c", "--runtime", "nvidia", "--name", "--", "-",
            "vllm/vllm-openai:v0.11.0", "vllm/vllm-openai", "lmsysorg/sglang:v0.5.6.post2-cu126", "ghcr.io/huggingface/text-embeddings-inference:cpu-1.8",
            "busybox", "@sha256:x", "python3", "-m", "sglang.launch_server", "vllm", "serve", "text-embeddings-router", "--model",
            "--model-path", "--model-id", "/m", "--task", "embed", "--port", "0", "99999", "--host", "&&", "\\\n", "'", '"',
        ]
    ),
    st.text(max_size=10),
)  # fmt: skip


@FUZZ
@given(argv=st.lists(_tok, min_size=1, max_size=16), server=st.sampled_from([None, "sglang", "vllm", "tei"]), joined=st.booleans())
def test_fuzzed_run_lines_only_raise_usage_errors(argv, server, joined):
    args = [" ".join(argv)] if joined else argv
    try:
        t = build_target(args, server=server)
    except LaunchError as e:  # DeployFileError is one too
        assert "\n" not in str(e) and str(e).strip()
        return
    json.dumps(t.to_dict())
    if t.launch is not None:
        t.launch.display()
        if t.launch.container is not None:
            assert t.deployment is not None and t.deployment.kind == "docker-run"
