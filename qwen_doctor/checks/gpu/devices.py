"""gpu.devices: which GPUs the server will use (CUDA_VISIBLE_DEVICES, --base-gpu-id, the parallel sizes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...results import Fix, Outcome
from ...spec import check
from ._common import gpu_applies, need_snapshot, selection, server_rules, skipping

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


@check(
    "gpu.devices",
    "GPUs the server will use",
    applies=gpu_applies,
    requires=("gpu.driver",),
    reads=("gpu", "server"),
    claims=("gpu.cuda-visible-devices-invalid", "gpu.cuda-visible-devices-repeat", "gpu.parallel-beyond-visible"),
)
@skipping
def check_devices(ctx: "Context") -> Outcome:
    """What it checks: which GPUs the server will use: CUDA_VISIBLE_DEVICES (indices and GPU-UUIDs, from the launch
    command's environment or this shell's), then SGLang's `--base-gpu-id`/`--gpu-id-step` and
    `--tp-size`/`--pp-size`/`--dp-size`, or vLLM's `--tensor-parallel-size`, mapped onto the GPUs NVML lists.

    Why it matters: `--tp-size 4` on a host (or container) where CUDA sees two GPUs, a stale UUID or a typo in
    CUDA_VISIBLE_DEVICES (CUDA makes visible only the devices listed before an invalid entry: CUDA C++ Programming
    Guide, CUDA_VISIBLE_DEVICES), or a `--base-gpu-id` past the last visible GPU leave ranks without a device (the
    exact start-up error was not tried on a GPU here). What CUDA makes of a GPU listed twice is not documented: the
    doctor says it cannot confirm it. The memory and health checks need to
    know which GPUs to look at.

    How to fix: list the GPUs in CUDA_VISIBLE_DEVICES by index or by the GPU-UUID `nvidia-smi -L` prints, make
    `--tp-size` x `--pp-size` fit the visible GPUs, and keep `--base-gpu-id` below their count.
    """
    snap = need_snapshot(ctx)
    sel = selection(ctx)
    chosen = [snap.device(i) for i in sel.selected]
    ev: dict[str, Any] = {
        "cuda_visible_devices": sel.cvd,
        "cuda_visible_devices_source": sel.cvd_source,
        "visible_indices": list(sel.visible),
        "selected_indices": list(sel.selected),
        "selected": [{"index": d.index, "uuid": d.uuid, "name": d.name} for d in chosen if d is not None],
        "gpus_needed": sel.needed,
        "server_rules": server_rules(ctx),
    }
    if sel.problems:
        return Outcome.fail(
            "; ".join(sel.problems) + " — the server will fail at start-up",
            Fix(
                "Make the GPUs the launch command asks for visible (CUDA_VISIBLE_DEVICES lists indices or GPU-UUIDs from `nvidia-smi -L`), "
                "or lower the parallel size / --base-gpu-id to what is visible." + (" " + " ".join(sel.notes) if sel.notes else "")
            ),
            **ev,
        )
    desc = ", ".join(f"GPU {d.index} ({d.name}, {d.uuid})" for d in chosen if d is not None)
    if sel.notes:
        return Outcome.warn(
            f"the server will use {desc}; but: " + "; ".join(sel.notes),
            Fix("Write CUDA_VISIBLE_DEVICES with valid indices or GPU-UUIDs only (see `nvidia-smi -L`)."),
            **ev,
        )
    return Outcome.passed(f"the server will use {desc}", **ev)
