"""gpu.capability: the GPUs' compute capability suits the dtype and the attention backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Applicability, Fix, Outcome
from ...spec import check
from ._common import given, gpu_applies, label, need_selected, need_snapshot, option, server_kind, skipping, variant

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


def attention_backends(ctx: "Context") -> list[str]:
    out = []
    for dest in ("attention_backend", "prefill_attention_backend"):
        v = given(ctx, dest)
        if isinstance(v, str) and v:
            out.append(v)
    return out


def default_sglang_backend(cc: tuple[int, int] | None) -> str:
    """SGLang's own choice for an MHA model (sglang.md 9: `_get_default_attn_backend` at v0.5.10)."""
    if cc is None:
        return "unknown"
    if cc[0] == 9:
        return "fa3 (Hopper with CUDA >= 12.3), else flashinfer/triton"
    if cc[0] == 10:
        return "trtllm_mha or flashinfer (Blackwell)"
    return "flashinfer if installed, else triton"


@check(
    "gpu.capability",
    "GPU compute capability suits dtype and attention backend",
    applies=gpu_applies,
    requires=("gpu.driver", "gpu.devices"),
    reads=("gpu", "server", "model"),
    claims=("sglang.trtllm-mha-gpus", "sglang.trtllm-mha-majors", "sglang.fa3-gpus", "gpu.bf16-needs-sm80", "model.fp16-nan-8b"),
)
@skipping
def check_capability(ctx: "Context") -> Outcome:
    """What it checks: each GPU the server will use: name, driver and CUDA version, compute capability. bf16
    (Qwen3-Embedding's dtype) needs compute capability 8.0 or newer; SGLang's `--attention-backend fa3` needs
    8.x or 9.x ("FlashAttention v3 Backend requires SM>=80 and SM<=90") and `trtllm_mha` a Blackwell GPU (SM100)
    before SGLang 0.5.20, and Hopper (SM90), Blackwell (SM100) or SM120 from 0.5.20 (arg_groups/attention_hook.py).
    SGLang picks a working default backend itself (fa3 on Hopper, flashinfer or triton elsewhere; sglang.md 9,
    `_get_default_attn_backend` at v0.5.10).

    Why it matters: on a T4 or V100 (7.x) the checkpoint cannot run in bf16; the 8B model gives NaN for some inputs
    in fp16. A backend the GPU cannot run stops the server at start-up. Note: `--disable-flash-attn` does not exist
    in any SGLang release; `--attention-backend` is the real option (pitfalls.md #12).

    How to fix: on GPUs older than 8.0 pass `--dtype float16` (0.6B/4B) or `--dtype float32` (8B); choose an
    attention backend the GPU supports (`--attention-backend flashinfer` or `triton`), or leave it unset.
    """
    devs = need_selected(ctx)
    snap = need_snapshot(ctx)
    server = server_kind(ctx)
    raw = option(ctx, "dtype")  # as given, else the server's default (TEI: DTYPE in its environment)
    dtype = str(raw) if raw is not None else "auto"
    backends = attention_backends(ctx) if server == "sglang" else []
    problems: list[str] = []
    warns: list[str] = []
    fix_opts: dict[str, str] = {}
    var = variant(ctx)
    per = []
    for d in devs:
        cc = d.compute_capability
        per.append({"index": d.index, "name": d.name, "compute_capability": d.cc_str, "uuid": d.uuid})
        if cc is None:
            warns.append(f"{label(d)}: compute capability unknown")
            continue
        if cc < (8, 0) and server != "tei":
            want = "float32" if var == "8B" else "float16"
            if dtype in ("bfloat16", "bf16"):
                problems.append(f"{label(d)} has compute capability {d.cc_str}: --dtype {dtype} needs 8.0 or newer")
            elif dtype in ("auto", "None"):
                warns.append(f"{label(d)} has compute capability {d.cc_str}, below the 8.0 that bf16 (the checkpoint's dtype) needs; set the dtype explicitly")
            fix_opts["--dtype"] = want
        if cc < (8, 0) and server == "tei" and var == "8B" and dtype != "float32":
            warns.append(f"{label(d)}: TEI runs Qwen3 in float16 on CUDA (no bf16 there), and fp16 gives NaN for some inputs on the 8B model")
            fix_opts["--dtype"] = "float32"
        for b in backends:
            if b == "fa3" and cc[0] not in (8, 9):
                problems.append(
                    f"--attention-backend fa3 on {label(d)} (compute capability {d.cc_str}): SGLang stops with 'FlashAttention v3 Backend requires SM>=80 and SM<=90'"
                )
                fix_opts["--attention-backend"] = "flashinfer" if cc >= (7, 5) else "triton"
            majors = ctx.claim("sglang.trtllm-mha-majors")
            if b == "trtllm_mha" and majors is not None and str(cc[0]) not in majors.split(","):
                sv = ctx.server
                said = ctx.claim("sglang.trtllm-mha-gpus", gpu=label(d), cc=d.cc_str, version=(sv.version or sv.assumed) if sv else "")
                problems.append(said or f"--attention-backend trtllm_mha on {label(d)} (compute capability {d.cc_str}) is not supported")
                fix_opts["--attention-backend"] = "fa3" if cc[0] == 9 else "flashinfer"
    d0 = snap.driver
    ev = {
        "gpus": per,
        "driver_version": d0.driver_version,
        "cuda_driver_version": d0.cuda_version,
        "dtype": dtype,
        "attention_backend": backends[0] if backends else None,
        "default_attention_backend": default_sglang_backend(devs[0].compute_capability) if server == "sglang" else None,
    }
    if problems or warns:
        text = "; ".join(problems + warns)
        hint = []
        if "--dtype" in fix_opts:
            hint.append(f"--dtype {fix_opts['--dtype']}" + (" (fp16 gives NaN for some inputs on the 8B model)" if var == "8B" else ""))
        if "--attention-backend" in fix_opts:
            hint.append(f"--attention-backend {fix_opts['--attention-backend']} (or leave it unset: SGLang picks one the GPU supports)")
        if fix_opts:
            fix = ctx.relaunch.fix("Use " + " and ".join(hint) + ".", set_options=fix_opts, applicability=Applicability.UNSAFE)
        else:
            fix = Fix("Check the GPU with `nvidia-smi -q`.")
        if problems:
            return Outcome.fail(text, fix, **ev)
        return Outcome.warn(text, fix, **ev)
    summary_gpus = ", ".join(f"{label(d)} compute capability {d.cc_str or '?'}" for d in devs)
    return Outcome.passed(f"{summary_gpus}; driver {d0.driver_version}, CUDA {d0.cuda_version or '?'}; bf16 supported", **ev)
