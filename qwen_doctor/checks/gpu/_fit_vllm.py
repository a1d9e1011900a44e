"""gpu.memory-fit under vLLM's rules: --gpu-memory-utilization (its default by release: a Behaviour table in
qwen_doctor.gpu.memory) is a fraction of TOTAL memory that must be free now and must cover weights, activations
and the KV cache of one --max-model-len request (vllm-tei-qwen3.md B.3)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...facts import as_float
from ...gpu import memory as mem
from ...results import Applicability, Outcome
from ._common import RESET_WARNING, gib, given
from ._sizing import Sizing

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


def chunks_pooling(ctx: "Context") -> bool:
    """Whether this vLLM release chunks the prefill of pooling requests."""
    assert ctx.server is not None
    return ctx.server.at(mem.VLLM_CHUNKED_POOLING, mem.vllm_chunks_pooling(None))


def vllm_context_that_fits(*, total: int, free: int, weights: float, cell: int, activation: int, overhead: int = mem.CUDA_CONTEXT_BYTES) -> tuple[float, int]:
    """(--gpu-memory-utilization, largest --max-model-len as a multiple of 256) that fit the memory free now."""
    g = mem.floor_to(free / total)
    plan = mem.plan_vllm(total=total, free=free, gmu=g, weights=weights, cell=cell, context_length=0, activation=activation, overhead=overhead)
    return g, plan.kv_tokens // 256 * 256


def _default_gmu(ctx: "Context") -> tuple[float, str]:
    s = ctx.server
    assert s is not None
    where = f"the vLLM {s.version} default" if s.version else f"the vLLM default (version unknown; {s.assumed} assumed)"
    table_default = as_float(s.option("gpu_memory_utilization"))  # the release's flag table
    if table_default is not None:
        return table_default, where
    return s.at(mem.VLLM_GMU_DEFAULT, mem.vllm_default_gmu(None)), where


def fit_vllm(ctx: "Context", s: Sizing, ev: dict[str, Any], *, act_b: int | None, hint: str) -> Outcome:
    total, free, weights, cell, ctx_len = s.total, s.free, s.weights, s.cell, s.ctx_len
    given_gmu = as_float(given(ctx, "gpu_memory_utilization"))
    if given_gmu is not None:
        gmu, src = given_gmu, "--gpu-memory-utilization"
    else:
        gmu, src = _default_gmu(ctx)
    plan = mem.plan_vllm(total=total, free=free, gmu=gmu, weights=weights, cell=cell, context_length=ctx_len, activation=act_b or 0)
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
    opts: dict[str, str] = {}
    if plan.gmu_needed <= plan.gmu_max_free:
        g = plan.gmu_needed if not plan.kv_holds_context else plan.gmu_max_free
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
    fix = ctx.relaunch.fix(text + hint, set_options=opts, applicability=Applicability.UNSAFE)
    if not plan.budget_fits_free:
        sv = ctx.server
        said = ctx.claim(
            "vllm.gpu-memory-utilization-over-free",
            gmu=f"{gmu:g}",
            src=src,
            budget=gib(plan.budget),
            total=gib(total),
            free=gib(free),
            version=(sv.version or sv.assumed) if sv else "",
        )
        return Outcome.fail(
            said or f"--gpu-memory-utilization {gmu:g} ({src}) asks for {gib(plan.budget)} of the GPU's {gib(total)} but only {gib(free)} is free",
            fix,
            **ev,
        )
    return Outcome.fail(
        f"vLLM refuses to start: --gpu-memory-utilization {gmu:g} ({src}) leaves {gib(max(plan.kv_bytes, 0))} for the KV cache = {plan.kv_tokens} tokens, "
        f"fewer than one {ctx_len}-token request needs",
        fix,
        **ev,
    )
