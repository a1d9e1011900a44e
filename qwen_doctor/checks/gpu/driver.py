"""gpu.driver: the NVIDIA driver and NVML answer (the one SKIP point on a host without a driver)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...gpu.nvml import NoDriver, ReplayError
from ...results import Fix, Outcome
from ...spec import check
from ._common import NO_DRIVER, gpu_applies, skipping, snapshot

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


def _no_driver(snap: NoDriver) -> Outcome:
    if snap.kind == "no-pynvml":
        return Outcome.skip("nvidia-ml-py is not installed; GPU checks skipped (pip install nvidia-ml-py)", detail=snap.detail)
    if snap.is_absent:
        extra = ""
        if snap.kind == "no-driver":
            extra = " (the NVML library is installed but no NVIDIA kernel driver is loaded: on a GPU host the nvidia module failed to load)"
        return Outcome.skip(NO_DRIVER + extra, detail=snap.detail)
    if snap.kind == "mismatch":
        return Outcome.fail(
            f"NVML fails with '{snap.detail}': the NVIDIA kernel module and the user-space driver differ, so CUDA cannot start either",
            Fix(
                "This is usually a driver upgrade without a reboot: drain the host and reboot it (or reload the nvidia kernel modules once nothing uses the GPU)."
            ),
            detail=snap.detail,
        )
    if snap.kind == "timeout":
        return Outcome.fail(snap.detail, Fix("Check `dmesg` for Xid errors (e.g. 79: GPU has fallen off the bus) and `nvidia-smi`; the host may need service."))
    if "NoPermission" in snap.detail:
        return Outcome.warn(
            f"this user may not query the GPU ({snap.detail}); GPU checks skipped",
            Fix("Run the doctor as the user the server runs as, or as root."),
            detail=snap.detail,
        )
    return Outcome.fail(f"NVML failed: {snap.detail}", Fix("Run `nvidia-smi`; if it fails the same way the driver installation is broken."), detail=snap.detail)


@check("gpu.driver", "NVIDIA driver and NVML answer", applies=gpu_applies, reads=("gpu",))
@skipping
def check_driver(ctx: "Context") -> Outcome:
    """What it checks: that NVML (through nvidia-ml-py) answers: the NVIDIA driver version, the CUDA version the
    driver supports, and how many GPUs it sees. On a host without the NVIDIA library or driver this is the one SKIP
    ("no NVIDIA driver found on this host; GPU checks skipped") and every other gpu check is skipped behind it.
    NVML is read once per run, and every target of the run sees the same readings.

    Why it matters: every GPU failure after the weights load starts here. A kernel module that does not match the
    user-space driver (typically a driver upgrade without a reboot) fails NVML and CUDA alike with "Driver/library
    version mismatch"; a GPU that fell off the bus makes NVML hang or lose the device.

    How to fix: on a version mismatch, drain the host and reboot it (or reload the nvidia kernel modules once no
    process uses the GPU). When NVML hangs, look for Xid errors in `dmesg`. Install nvidia-ml-py when it is missing
    (`pip install nvidia-ml-py`).
    """
    try:
        snap = snapshot(ctx)
    except ReplayError as exc:
        return Outcome.error(str(exc))
    if isinstance(snap, NoDriver):
        return _no_driver(snap)
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
