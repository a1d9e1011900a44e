"""gpu.memory-fit under SGLang's rules: its default --mem-fraction-static for the GPU size and release (a
Behaviour table in qwen_doctor.gpu.memory), then its KV formula (sglang.md 9)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...facts import as_float
from ...gpu import memory as mem
from ...gpu.nvml import GpuSnapshot
from ...results import Applicability, Fix, Outcome
from ._common import RESET_WARNING, gib, given, label, switch
from ._sizing import Sizing, given_int

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


def mfs_rule(ctx: "Context") -> str:
    """The default-mem-fraction rule of this release; the newest when the server is unknown (SGLang assumed)."""
    if ctx.server is None or ctx.server.kind != "sglang":
        return mem.sglang_rule_for(None)
    return ctx.server.at(mem.SGLANG_MFS_RULE, mem.sglang_rule_for(None))


def default_mfs(ctx: "Context", snap: GpuSnapshot, s: Sizing) -> mem.MfsDefault:
    gpu_mem = mem.min_total_mib(d.memory_total for d in snap.devices)
    return mem.sglang_default_mfs(
        gpu_mem,
        tp=s.tp,
        pp=s.pp,
        dp=s.dp,
        enable_dp_attention=s.dpa,
        chunked_prefill_size=given_int(ctx, "chunked_prefill_size"),
        cuda_graph_max_bs=given_int(ctx, "cuda_graph_max_bs", "cuda_graph_max_bs_decode"),
        max_prefill_tokens=given_int(ctx, "max_prefill_tokens") or 16384,
        max_running_requests=given_int(ctx, "max_running_requests"),
        max_total_tokens=given_int(ctx, "max_total_tokens"),
        disable_cuda_graph=switch(ctx, "disable_cuda_graph"),
        rule=mfs_rule(ctx),
    )


def _sentence(text: str) -> str:
    return (text[:1].upper() + text[1:] + ".") if text else ""


def sglang_context_that_fits(plan: mem.SglangPlan, upper_mfs: float) -> int:
    """The largest context length (a multiple of 256) whose one request fits the KV pool at ``upper_mfs``."""
    tokens = mem.sglang_kv_tokens(plan.pre, plan.free_after_weights, upper_mfs, plan.cell)
    return tokens // 256 * 256


def _shrink_fix(ctx: "Context", plan: mem.SglangPlan, ctx_len: int, upper: float, hint: str) -> Fix:
    fit = sglang_context_that_fits(plan, upper)
    if fit >= 256:
        opts = {"--mem-fraction-static": f"{upper:.2f}", "--context-length": str(min(fit, ctx_len))}
        return ctx.relaunch.fix(
            f"No --mem-fraction-static gives a {ctx_len}-token KV pool and still leaves room for the activations here: "
            f"set --mem-fraction-static {upper:.2f} and lower --context-length to {min(fit, ctx_len)}, or free GPU memory / add tensor parallelism." + hint,
            set_options=opts,
            applicability=Applicability.UNSAFE,
        )
    return Fix(
        "The weights leave too little memory on this GPU for a useful KV pool: free GPU memory, use a larger GPU or more tensor parallelism."
        + hint
        + " "
        + RESET_WARNING,
    )


def fit_sglang(ctx: "Context", s: Sizing, ev: dict[str, Any], *, default: mem.MfsDefault, act_b: int | None, fwd_tokens: int, hint: str) -> Outcome:
    given_mfs = as_float(given(ctx, "mem_fraction_static"))
    mfs = given_mfs if given_mfs is not None else default.value
    mtt = given_int(ctx, "max_total_tokens")
    cgbs = default.cuda_graph_max_bs or 160
    graph = (512 + 2 * cgbs) * mem.MiB
    ctx_len, weights = s.ctx_len, s.weights
    plan = mem.plan_sglang(
        free=s.free, weights=weights, cell=s.cell, context_length=ctx_len, mfs=mfs, activation=act_b, max_total_tokens=mtt, graph_bytes=graph
    )
    ev.update(
        {
            "mem_fraction_static": round(mfs, 4),
            "mem_fraction_static_source": "--mem-fraction-static" if given_mfs is not None else default.explain(),
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
    where = label(s.worst)
    if switch(ctx, "prefill_only_disable_kv_cache"):
        # the option exists from SGLang 0.5.13 (sglang.md 9); with it no KV pool is allocated (its own
        # preconditions are checked at start-up)
        ev["kv_capacity"] = None
        ev["need_bytes"] = int(weights)
        return Outcome.passed(
            f"--prefill-only-disable-kv-cache: no KV pool; weights {gib(weights)} of {gib(plan.pre)} free at start on {where}"
            + (f", a {fwd_tokens}-token forward pass peaks at about {gib(act_b)} of activations" if act_b is not None else ""),
            **ev,
        )
    mfs_txt = f"--mem-fraction-static {mfs:g}" + (
        "" if given_mfs is not None else f" (SGLang's default for this GPU, {default.rule} rule{': it reserves more than this GPU has' if mfs <= 0 else ''})"
    )
    act_cap = plan.mfs_max_for_activation
    upper = min(act_cap if act_cap is not None else 0.95, 0.95)
    hold = plan.mfs_to_hold_context
    feasible = hold <= upper
    if not plan.pool_ok:
        if feasible:
            dflt = f" (SGLang's own default for this GPU would be {default.value:g})" if given_mfs is not None and default.value > hold else ""
            fix = ctx.relaunch.fix(
                f"Raise --mem-fraction-static to at least {hold:.2f}: its KV pool then holds one {ctx_len}-token request{dflt}." + hint,
                set_options={"--mem-fraction-static": f"{hold:.2f}"},
                applicability=Applicability.UNSAFE,
            )
        else:
            fix = _shrink_fix(ctx, plan, ctx_len, upper, hint)
        ev["suggested"] = {"--mem-fraction-static": f"{hold:.2f}"} if feasible else {}
        said = ctx.claim("sglang.kv-pool-no-room", mfs=f"{mfs:g}")
        return Outcome.fail(
            f"{said or 'SGLang will stop at start-up: no memory is left for the KV cache'}: with {mfs_txt}, "
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
            ev["suggested"] = {}
            return Outcome.warn("; ".join(problems), _shrink_fix(ctx, plan, ctx_len, upper, hint), **ev)
        ev["suggested"] = opts
        fix = ctx.relaunch.fix(_sentence("; ".join(texts)) + hint, set_options=opts, applicability=Applicability.UNSAFE)
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
