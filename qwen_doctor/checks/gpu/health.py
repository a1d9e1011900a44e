"""gpu.health: row remapping, retired pages, MIG, ECC mode and clock slowdown on the GPUs the server will use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...gpu.nvml import throttle_names
from ...results import Fix, Outcome, Status
from ...spec import check
from ._common import RESET_REFUSED, gpu_applies, label, need_selected, skipping

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


@check(
    "gpu.health",
    "GPU memory and clock health",
    severity=Status.FAIL,
    applies=gpu_applies,
    requires=("gpu.driver", "gpu.devices"),
    reads=("gpu",),
    claims=("gpu.sw-power-cap", "gpu.reset-refused"),
)
@skipping
def check_health(ctx: "Context") -> Outcome:
    """What it checks: on each GPU the server will use: ECC mode, pending or failed row remapping, retired pages
    pending, MIG mode, and the current clock event ("throttle") reasons. A reading the GPU answers with "Not
    Supported" (e.g. retired pages on an H200, which uses row remapping instead) is listed, not an error.

    Why it matters: a failed row remap means a permanent memory fault; a pending one (or pending page retirement)
    takes effect only at the next GPU reset or reboot. Hardware or thermal slowdown makes the server slow for
    reasons no server option fixes. With MIG enabled CUDA sees MIG instances, not the whole card.

    How to fix: drain the node and have it serviced on a failed remap; schedule a reboot for pending remaps (a GPU
    reset would also apply them, but `nvidia-smi --gpu-reset` needs root and is refused while any process uses the
    GPU (nvidia-smi man page; pitfalls.md #12); the doctor never resets). Fix cooling or power on thermal/power-brake
    slowdown. Disable MIG or address a MIG instance by its MIG-UUID.
    """
    devs = need_selected(ctx)
    fails: list[str] = []
    warns: list[str] = []
    infos: list[str] = []
    per = []
    for d in devs:
        reasons = throttle_names(d.throttle_reasons)
        rows = d.remapped_rows
        per.append(
            {
                "index": d.index,
                "ecc_mode": d.ecc_mode,
                "mig_mode": d.mig_mode,
                "remapped_rows": None
                if rows is None
                else {"correctable": rows.correctable, "uncorrectable": rows.uncorrectable, "pending": rows.pending, "failure": rows.failure},
                "retired_pages_pending": d.retired_pages_pending,
                "throttle_reasons": [n for n, _ in reasons],
                "not_supported": list(d.not_supported),
                "errors": dict(d.errors),
            }
        )
        lab = label(d)
        if rows is not None and rows.failure:
            fails.append(f"{lab}: row remapping failed (a permanent memory fault)")
        if rows is not None and rows.pending:
            warns.append(f"{lab}: a row remap is pending (applied at the next reboot)")
        if d.retired_pages_pending:
            warns.append(f"{lab}: page retirement is pending (applied at the next reboot)")
        if d.mig_enabled:
            warns.append(f"{lab}: MIG is enabled: CUDA sees MIG instances, not the whole GPU, and the whole-GPU memory figures do not apply")
        if d.ecc_mode is not None and d.ecc_mode[0] != d.ecc_mode[1]:
            warns.append(f"{lab}: an ECC mode change is pending (current {'on' if d.ecc_mode[0] else 'off'}, after reboot {'on' if d.ecc_mode[1] else 'off'})")
        bad = [n for n, is_bad in reasons if is_bad]
        if bad:
            warns.append(f"{lab}: clocks slowed by {', '.join(bad)}")
        if "SwPowerCap" in [n for n, _ in reasons]:
            infos.append(ctx.claim("gpu.sw-power-cap", gpu=lab) or f"{lab}: SwPowerCap")
        if d.not_supported:
            infos.append(f"{lab}: not supported by this GPU: {', '.join(d.not_supported)}")
        if d.errors:
            infos.append(f"{lab}: NVML could not read {', '.join(k for k, _ in d.errors)}")
    ev = {"gpus": per, "notes": infos}
    if fails or warns:
        fix_parts = []
        if fails:
            fix_parts.append("Drain the node and have the GPU serviced (RMA): a failed row remap does not heal.")
        if any("pending" in w for w in warns):
            fix_parts.append(
                f"Schedule a reboot after draining the node. A GPU reset would also apply pending remaps, but {RESET_REFUSED}; "
                "the doctor never resets. This is a hardware matter: server memory is tuned with --mem-fraction-static, --max-total-tokens, "
                "--context-length and --attention-backend, never with a reset."
            )
        if any("slowed" in w for w in warns):
            fix_parts.append("Check cooling, power delivery and `nvidia-smi -q -d PERFORMANCE`.")
        if any("MIG" in w for w in warns):
            fix_parts.append("Disable MIG for this GPU, or put the MIG-UUID (nvidia-smi -L) in CUDA_VISIBLE_DEVICES.")
        fix = Fix(" ".join(fix_parts) or "See `nvidia-smi -q`.")
        if fails:
            return Outcome.fail("; ".join(fails + warns), fix, **ev)
        return Outcome.warn("; ".join(warns), fix, **ev)
    parts = []
    for d in devs:
        ecc = "ECC on" if d.ecc_mode and d.ecc_mode[0] else "ECC off" if d.ecc_mode else "ECC unknown"
        parts.append(f"{label(d)}: {ecc}, no pending or failed row remaps, MIG {'on' if d.mig_enabled else 'off'}, no hardware slowdown")
    return Outcome.passed("; ".join(parts) + (f" ({'; '.join(infos)})" if infos else ""), **ev)
