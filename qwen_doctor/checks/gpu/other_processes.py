"""gpu.other-processes: who else holds memory on the GPUs the server will use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...gpu import memory as mem
from ...results import Fix, Outcome, Status
from ...spec import check
from ._common import RESET_WARNING, gib, gpu_applies, label, need_selected, need_snapshot, own_pids, skipping

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


def holders(ctx: "Context") -> tuple[list[dict[str, Any]], dict[int, int]]:
    """(other holders, unattributed bytes per GPU index) on the selected GPUs."""
    from ...procs import describe_process

    snap = need_snapshot(ctx)
    own = own_pids(ctx)
    out: list[dict[str, Any]] = []
    unattributed: dict[int, int] = {}
    for d in need_selected(ctx):
        procs = snap.processes_of(d.index)
        listed = sum(p.used_bytes or 0 for p in procs)
        if d.memory_used is not None and d.memory_used - listed > 512 * mem.MiB:
            unattributed[d.index] = d.memory_used - listed
        for p in procs:
            if p.pid in own:
                continue
            info = describe_process(p.pid)
            if info.get("note") == "process exited":
                info["note"] = "not visible here: in another container or PID namespace, or it just exited"
            info.update({"gpu": d.index, "used_bytes": p.used_bytes})
            out.append(info)
    return out, unattributed


@check(
    "gpu.other-processes",
    "Other processes holding GPU memory",
    severity=Status.WARN,
    applies=gpu_applies,
    requires=("gpu.driver", "gpu.devices"),
    reads=("gpu", "host"),
    claims=("sglang.kv-pool-no-room", "vllm.gpu-memory-utilization-over-free", "gpu.reset-refused"),
)
@skipping
def check_other_processes(ctx: "Context") -> Outcome:
    """What it checks: every process that holds memory on the GPUs the server will use (NVML compute processes): pid,
    name, user, command line (secrets redacted) and how much it holds, plus memory in use that no visible process
    accounts for (processes in other containers or VMs). The server under examination itself is not counted.

    Why it matters: SGLang sizes its static pool from the memory free at start, and vLLM (from about 0.9.1,
    gpu_worker.py) refuses to start when `--gpu-memory-utilization` asks for more than is free: another process's
    memory becomes CUDA out-of-memory or SGLang's start-up error for a KV pool with no room ("Not enough memory.
    Please try to increase --mem-fraction-static" before 0.5.16, "Loaded weights leave no GPU memory for the KV
    cache ..." from 0.5.16; sglang.md 9, kv_cache_configurator.py). With `--tp-size` > 1
    SGLang stops with "The memory capacity is unbalanced. Some GPUs may be occupied by other processes.".

    How to fix: stop the holder yourself if it is a stale copy (the doctor never kills anything), move the server to a
    free GPU (CUDA_VISIBLE_DEVICES), or size it to what is free (see `qwen-doctor explain gpu.memory-fit`). A GPU
    reset is no way out: `nvidia-smi --gpu-reset` is refused while any process uses the GPU (nvidia-smi man page;
    pitfalls.md #12).
    """
    devs = need_selected(ctx)
    found, unattributed = holders(ctx)
    total = sum(h.get("used_bytes") or 0 for h in found)
    ev = {"holders": found, "held_bytes_total": total, "unattributed_bytes": {str(k): v for k, v in unattributed.items()}}
    if not found and not unattributed:
        return Outcome.passed(f"no other process holds memory on {', '.join(label(d) for d in devs)}", **ev)
    parts = []
    for h in found:
        who = f"pid {h['pid']}"
        if h.get("name"):
            who += f" ({h['name']}, user {h.get('user', '?')})"
        elif h.get("note"):
            who += f" [{h['note']}]"
        held = gib(h["used_bytes"]) if h.get("used_bytes") is not None else "an unknown amount"
        line = f"{who} holds {held} on GPU {h['gpu']}"
        if h.get("cmdline"):
            line += f": {h['cmdline']}"
        parts.append(line)
    for idx, b in unattributed.items():
        parts.append(f"{gib(b)} in use on GPU {idx} by processes not visible here (other containers or VMs)")
    fix = Fix(
        "The server only gets the memory that is free. Stop a holder yourself if it is a stale copy (the doctor never kills anything), "
        "move the server to a free GPU with CUDA_VISIBLE_DEVICES, or size it to the free memory (qwen-doctor explain gpu.memory-fit). " + RESET_WARNING
    )
    return Outcome.warn("; ".join(parts), fix, **ev)
