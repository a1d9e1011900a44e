"""deploy.gpu-access: a GPU image is given the GPUs it needs (compose device reservation or ``gpus:``, a Kubernetes
``nvidia.com/gpu`` limit, ``docker run --gpus`` / ``--runtime nvidia`` / a CDI ``--device``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from ...facts import as_int
from ...results import Applicability, Fix, Outcome, Status
from ...spec import check
from ...versions import Behaviour, rows
from ._common import container_word, containerised, deployment, server_name

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...target import Deployment

_CPU_DEVICES = ("cpu", "npu", "xpu", "hpu", "mps", "neuron", "tpu")

#: what each server's GPU build does in a container that sees no GPU (status, consequence)
NO_GPU_IN_CONTAINER: Behaviour[tuple[Status, str]] = Behaviour(
    "deploy.no-gpu-in-container",
    "What a server's GPU build does when its container is given no GPU.",
    rows(
        "sglang",
        "python/sglang/srt/utils/common.py get_device at v0.5.23 (no CUDA device and SGLANG_USE_CPU_ENGINE unset: "
        "RuntimeError 'No accelerator (CUDA, XPU, HPU, NPU, MUSA, MPS) or platform plugin is available')",
        ("*", (Status.FAIL, "SGLang finds no CUDA device and exits at start (RuntimeError: No accelerator ... is available)")),
    )
    + rows(
        "vllm",
        "vllm/config/device.py DeviceConfig.__post_init__ at v0.32.0 (vllm/config.py before): no platform detected -> "
        "RuntimeError 'Failed to infer device type'",
        ("*", (Status.FAIL, "vLLM finds no GPU platform and exits at start (RuntimeError: Failed to infer device type)")),
    )
    + rows(
        "tei",
        "backends/candle/src/lib.rs CandleBackend::new (TEI): without a compatible CUDA device the CUDA build logs "
        "'Could not find a compatible CUDA device on host' and 'Using CPU instead'; huggingface/text-embeddings-inference#395",
        (
            "*",
            (
                Status.WARN,
                "TEI's CUDA build finds no CUDA device, logs 'Using CPU instead' and runs on the CPU: far slower than the GPU it "
                "was deployed for (the doctor does not settle whether the model loads in that build on the CPU)",
            ),
        ),
    ),
)


def _granted(d: "Deployment") -> str | None:
    """What gives the container GPUs, as written (None: nothing)."""
    if d.gpus_granted:
        return d.gpus_granted
    g: Any = d.gpus
    if isinstance(g, Mapping) and g:
        if d.kind == "kubernetes":
            n = {k: as_int(v) for k, v in g.items()}
            given = {k: v for k, v in n.items() if v is None or v > 0}
            return ", ".join(f"{k}: {g[k]}" for k in given) or None
        if "device_ids" in g:
            return f"deploy.resources.reservations.devices (device_ids {', '.join(g['device_ids'])})" if g["device_ids"] else None
        if str(g.get("count", "all")) == "0":
            return None
        return f"deploy.resources.reservations.devices (count {g.get('count', 'all')})"
    return None


def _yaml_fix(d: "Deployment") -> str:
    if d.kind == "kubernetes":
        return "resources:\n  limits:\n    nvidia.com/gpu: 1"
    if d.kind == "compose":
        return "deploy:\n  resources:\n    reservations:\n      devices:\n        - driver: nvidia\n          count: all\n          capabilities: [gpu]"
    return ""


def _cpu_alternative(server: str | None) -> str:
    return {
        "sglang": "or run SGLang's CPU engine (SGLANG_USE_CPU_ENGINE=1 with --device cpu, in a CPU build)",
        "vllm": "or use vLLM's CPU image (the vllm-cpu build)",
        "tei": "or use TEI's CPU image (the cpu-* tag, e.g. :cpu-1.8)",
    }.get(server or "", "")


@check(
    "deploy.gpu-access",
    "The container is given the GPU its image needs",
    applies=containerised(),
    reads=("deployment", "server"),
)
def check_gpu_access(ctx: "Context") -> Outcome:
    """What it checks: that a container running a GPU build of the server (an SGLang or vLLM CUDA image, a TEI image
    other than `cpu-*`) is given a GPU: a compose `deploy.resources.reservations.devices` entry (or `gpus:`), a
    Kubernetes `nvidia.com/gpu` limit, or `docker run --gpus` (`--runtime nvidia`, or a CDI `--device
    nvidia.com/gpu=all`). A CPU image, or a server started with `--device cpu`, needs none.

    Why it matters: without a GPU grant the container sees no GPU even on a GPU host. SGLang's GPU build then exits
    at start ("No accelerator (CUDA, XPU, HPU, NPU, MUSA, MPS) or platform plugin is available": get_device in
    python/sglang/srt/utils/common.py at v0.5.23), and vLLM exits with "RuntimeError: Failed to infer device type"
    (vllm/config/device.py at v0.32.0). TEI's CUDA build logs "Could not find a compatible CUDA device on host" and
    "Using CPU instead" and runs on the CPU, far slower (backends/candle/src/lib.rs; huggingface/text-embeddings-inference#395),
    so for TEI this is a WARN.

    How to fix: docker run: add `--gpus all` (or `--gpus '"device=0"'`); compose: add
    `deploy.resources.reservations.devices: [{driver: nvidia, count: all, capabilities: [gpu]}]`; Kubernetes: add
    `resources.limits: {nvidia.com/gpu: 1}`. Or use the server's CPU image/mode on a host without a GPU.
    """
    t = ctx.target
    d = deployment(ctx)
    image = d.image or "the image"
    dev = ctx.server.option("device") if ctx.server is not None else None
    if isinstance(dev, str) and dev.split(":")[0].lower() in _CPU_DEVICES:
        return Outcome.passed(f"{server_name(t.server)} runs on --device {dev}: it needs no GPU")
    if d.gpu_image is False:
        return Outcome.passed(f"{image} is a CPU image: it needs no GPU")
    granted = _granted(d)
    if d.gpu_image is None:
        if granted:
            return Outcome.passed(f"GPUs granted ({granted})", gpus_granted=granted)
        return Outcome.skip(f"{image} is not an image the doctor knows as a GPU or CPU build; cannot tell whether it needs a GPU")
    if granted:
        return Outcome.passed(f"{image} needs an NVIDIA GPU and {container_word(d)} grants it ({granted})", gpus_granted=granted)
    srv = ctx.server
    status, consequence = (srv.at(NO_GPU_IN_CONTAINER) if srv is not None else None) or (Status.FAIL, "the server finds no GPU")
    what = {
        "kubernetes": "no nvidia.com/gpu limit",
        "compose": "no deploy.resources.reservations.devices and no gpus:",
    }.get(d.kind, "no --gpus (nor --runtime nvidia or a CDI --device nvidia.com/gpu=all)")
    summary = f"{image} is a GPU build, but {container_word(d)} has {what}: the container sees no GPU; {consequence}"
    alt = _cpu_alternative(t.server)
    snippet = _yaml_fix(d)
    if snippet:
        text = f"Grant the container a GPU ({alt}):\n{snippet}"
    else:
        text = f"Add --gpus all to the {d.runtime or 'docker'} run line, before the image ({alt})."
    return Outcome(status, summary, {"image": d.image, "gpus_granted": None}, Fix(text, applicability=Applicability.DISPLAY_ONLY))
