"""gpu.trial-allocation (--deep): the CUDA driver allocates the server's memory on each GPU it will use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...gpu.nvml import DeviceInfo
from ...results import Fix, Outcome, Status
from ...spec import check
from ._common import RESET_WARNING, Skip, gib, gpu_applies, label, need_selected, need_snapshot, server_kind, skipping

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

PROBE_TIMEOUT = 60.0  # one trial allocation (cuInit + context + alloc took 0.9 s on the H200)
PROBE_BUDGET = 120.0  # all GPUs of one target together (the check's timeout in checks/timeouts.py leaves a margin)


def _probe_env(d: DeviceInfo) -> dict[str, str]:
    env = dict(os.environ)
    # ordinal 0 in the probe = exactly this GPU
    env["CUDA_VISIBLE_DEVICES"] = d.uuid if d.uuid else str(d.index)
    pkg_root = str(Path(__file__).resolve().parents[3])  # the directory holding the qwen_doctor package
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_probe(nbytes: int, d: DeviceInfo, timeout: float = PROBE_TIMEOUT) -> tuple[int | None, dict[str, Any]]:
    """Run ``python -m qwen_doctor.gpu.cuda_probe`` for one GPU. (exit status or None on timeout, report)."""
    cmd = [sys.executable, "-m", "qwen_doctor.gpu.cuda_probe", str(int(nbytes)), "0"]
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_probe_env(d), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, {"error": f"no answer within {timeout:g} s"}
    try:
        report = json.loads(cp.stdout.strip().splitlines()[-1]) if cp.stdout.strip() else {}
    except ValueError:
        report = {}
    if not report:
        report = {"error": (cp.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    return cp.returncode, report


def alloc_conf_note(ctx: "Context") -> str | None:
    """Where PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True applies: a PyTorch server (SGLang, vLLM), and only for
    fragmentation inside its own caching allocator."""
    if server_kind(ctx) not in ("sglang", "vllm"):
        return None
    current = ctx.target.env.get("PYTORCH_CUDA_ALLOC_CONF") or os.environ.get("PYTORCH_CUDA_ALLOC_CONF")
    if current and "expandable_segments:True" in current:
        return f"PYTORCH_CUDA_ALLOC_CONF={current} is already set for the server's PyTorch allocator"
    return (
        "the driver has the memory, so a CUDA out-of-memory error inside the running server whose message shows a lot of memory "
        "'reserved by PyTorch but unallocated' is fragmentation of the server's own PyTorch caching allocator: "
        "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True in the server's environment addresses exactly that"
    )


@check(
    "gpu.trial-allocation",
    "Trial allocation of the server's memory (--deep)",
    applies=gpu_applies,
    requires=("gpu.driver", "gpu.devices"),
    uses=("gpu.memory-fit",),
    reads=("gpu", "server"),
    claims=("gpu.reset-refused", "gpu.nvml-timeout"),
)
@skipping
def check_trial_allocation(ctx: "Context") -> Outcome:
    """What it checks: with `--deep` only: in a subprocess with a timeout, the CUDA driver API (ctypes: cuInit,
    primary context, cuMemGetInfo, cuMemAlloc, cuMemFree) allocates on each GPU the server will use the memory the
    server will allocate (from gpu.memory-fit: weights plus KV pool), reports the number and frees it at once. It
    never uses managed memory, and it is skipped on a GPU any process is using, the examined server included
    (holding that memory even for milliseconds could make that process fail an allocation).

    Why it matters: it separates "the memory is not there" from folklore. Attention kernels do not fragment GPU
    memory, and the driver maps one virtual range onto whatever physical pages are free: on an H200, with every other
    512 MiB block of a 100 GiB region freed again, a 45 GiB allocation still succeeded (pitfalls.md #12). A refused
    allocation means other processes (or containers) hold the memory. A CUDA that cannot initialise although NVML
    sees the GPU is reported with the driver's own error; the doctor does not guess its cause (the CUDA device nodes,
    such as /dev/nvidia-uvm, or the container's GPU runtime are common places to look, not a confirmed cause).

    How to fix: on a refusal, free the memory or size the server down (--mem-fraction-static, --max-total-tokens,
    --context-length; vLLM --gpu-memory-utilization, --max-model-len). If CUDA cannot initialise, check the
    container's GPU runtime (/dev/nvidia-uvm, --gpus). Never reset a GPU for memory: `nvidia-smi --gpu-reset` is
    refused while any process uses the GPU (nvidia-smi man page), and a restart of the server frees what it holds.
    """
    if not ctx.options.deep:
        return Outcome.skip("runs only with --deep (it briefly allocates the server's memory on the GPU)")
    devs = need_selected(ctx)
    need = ctx.evidence("gpu.memory-fit", "need_bytes")
    fit = ctx.result("gpu.memory-fit")
    if not isinstance(need, int) or need <= 0:
        why = f" ({fit.summary})" if fit is not None and fit.status is Status.SKIP else ""
        raise Skip("no size to try: gpu.memory-fit did not size the server" + why)
    snap = need_snapshot(ctx)
    # any process on the GPU, the examined server included: holding its memory even briefly could make it fail
    busy = {d.index: [p.pid for p in snap.processes_of(d.index)] for d in devs}
    runs = []
    failures: list[str] = []
    errors: list[str] = []
    skipped: list[str] = []
    deadline = time.monotonic() + PROBE_BUDGET
    for d in devs:
        left = deadline - time.monotonic()
        if left < 5:
            errors.append(f"{label(d)}: not tried, the trial allocations ran out of their {PROBE_BUDGET:g} s budget")
            continue
        if busy[d.index]:
            skipped.append(f"{label(d)} (used by pid {', '.join(map(str, busy[d.index]))})")
            continue
        if d.memory_free is not None and need > d.memory_free:
            failures.append(f"{label(d)}: {gib(need)} needed but NVML reports only {gib(d.memory_free)} free")
            continue
        rc, rep = run_probe(need, d, timeout=min(PROBE_TIMEOUT, left))
        rep = {k: v for k, v in rep.items() if k != "steps"} | {"gpu": d.index, "exit": rc}
        runs.append(rep)
        if rc == 0 and rep.get("ok"):
            continue
        if rc == 1:
            failures.append(f"{label(d)}: cuMemAlloc of {gib(need)} refused ({rep.get('error', 'out of memory')}) with {gib(rep.get('free_before'))} free")
        elif rc is None:
            errors.append(f"{label(d)}: the CUDA driver did not answer: {rep.get('error')}")
        else:
            errors.append(f"{label(d)}: CUDA cannot initialise although NVML sees the GPU: {rep.get('error', 'unknown error')}")
    ev: dict[str, Any] = {"need_bytes": need, "runs": runs, "skipped": skipped}
    if failures:
        return Outcome.fail(
            "; ".join(failures) + " — the memory is not there (this is not fragmentation: the driver maps one virtual range onto any free pages)",
            Fix("Free the memory other processes or containers hold, or size the server down (qwen-doctor explain gpu.memory-fit). " + RESET_WARNING),
            **ev,
        )
    if errors:
        return Outcome.fail(
            "; ".join(errors),
            Fix(
                "Check the container's GPU setup (started with --gpus / the NVIDIA runtime, /dev/nvidia-uvm present) and that the CUDA driver "
                "matches `nvidia-smi`; run `dmesg` for Xid errors."
            ),
            **ev,
        )
    if not runs:
        return Outcome.skip("not run: " + "; ".join(skipped) + " — another process uses the GPU, and a trial allocation could make it fail", **ev)
    note = alloc_conf_note(ctx)
    if note:
        ev["if_oom_at_run_time"] = note
    done = "; ".join(f"GPU {r['gpu']}: {gib(need)} in {r.get('alloc_ms', '?')} ms, freed (free before: {gib(r.get('free_before'))})" for r in runs)
    extra = f"; skipped {', '.join(skipped)}" if skipped else ""
    return Outcome.passed(f"cuMemAlloc succeeded: {done}{extra}", **ev)
