"""gpu.memory-fit: the model fits the memory free now on the GPUs the server will use, by the server's own rule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...gpu import memory as mem
from ...results import Applicability, Fix, Outcome
from ...spec import check
from ._common import RESET_WARNING, Skip, gib, gpu_applies, label, need_selected, need_snapshot, server_rules, skipping
from ._fit_sglang import default_mfs, fit_sglang
from ._fit_vllm import chunks_pooling, fit_vllm
from ._sizing import Sizing, given_int, size

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


def _holder_hint(ctx: "Context") -> str:
    holders = ctx.evidence("gpu.other-processes", "holders") or []
    if not holders:
        return ""
    names = ", ".join(
        f"pid {h.get('pid')}" + (f" {h['name']}" if h.get("name") else "") + (f" ({gib(h['used_bytes'])})" if h.get("used_bytes") else "") for h in holders[:4]
    )
    return f" Other processes hold memory on these GPUs: {names}."


def _fit_tei(ctx: "Context", s: Sizing, ev: dict[str, Any], act_b: int | None, hint: str) -> Outcome:
    need = mem.CUDA_CONTEXT_BYTES + s.weights + (act_b or 0)
    ev["need_bytes"] = int(s.weights + (act_b or 0))
    where = label(s.worst)
    if need <= s.free:
        return Outcome.passed(
            f"TEI needs about {gib(need)} (weights {gib(s.weights)}, activations of a {s.ctx_len}-token batch {gib(act_b)}) of {gib(s.free)} free on {where}",
            **ev,
        )
    fit = 0
    for n in range(s.ctx_len // 512 * 512, 0, -512):
        a = s.activation(n)
        if a is not None and mem.CUDA_CONTEXT_BYTES + s.weights + a.bytes <= s.free * 0.95:
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
        f"TEI needs about {gib(need)} (weights {gib(s.weights)} + activations of a {s.ctx_len}-token batch {gib(act_b)}, {s.attention} attention) "
        f"but {gib(s.free)} is free on {where}",
        ctx.relaunch.fix(text + "." + hint + " " + RESET_WARNING, set_options=opts, applicability=Applicability.UNSAFE),
        **ev,
    )


@check(
    "gpu.memory-fit",
    "Model fits the free GPU memory",
    applies=gpu_applies,
    requires=("gpu.driver", "gpu.devices"),
    uses=("gpu.other-processes",),
    reads=("gpu", "server", "model"),
    claims=(
        "sglang.kv-pool-no-room",
        "vllm.gpu-memory-utilization-over-free",
        "sglang.default-mem-fraction-static",
        "vllm.gpu-memory-utilization-default",
        "vllm.pooling-chunked-prefill",
        "sglang.embedding-over-scheduler-limit-hangs",
        "gpu.reset-refused",
    ),
)
@skipping
def check_memory_fit(ctx: "Context") -> Outcome:
    """What it checks: whether the model fits the memory free now on the GPUs the server will use, by the target
    server's own rule. The model's shape, weights, context length and dtype come from the run's model facts
    (config.json and the safetensors headers; else the Qwen3-Embedding variant's published shape and parameter
    count). SGLang (also assumed when the server is unknown): its default `--mem-fraction-static` for the GPU size
    and release (0.4.7, 0.5.1, 0.5.3, 0.5.10 and 0.5.23 rules; sglang.md 9, `server_args.py` at each tag and
    `arg_groups/memory_hook.py` at v0.5.23), then its KV formula: pool = free_after_weights - free_at_start x (1 -
    mfs), tokens = pool / (kv_heads/TP x head_dim x 2 x layers x dtype bytes). vLLM: `--gpu-memory-utilization` (0.9
    up to 0.13, 0.92 from 0.20: vllm/config/cache.py) of the TOTAL memory must be free now and must cover weights,
    activations and the KV cache of one `--max-model-len` request. The activation peak of one request at the
    configured context length comes from measurements on an H200 (SDPA and eager attention differ by 5x at 8192
    tokens). A release older than any the doctor knows is named as such, not sized by the oldest rule.

    Why it matters: these are the costly failures that come after a multi-minute weight load: SGLang's "Not enough
    memory. Please try to increase --mem-fraction-static" (before 0.5.16; "Loaded weights leave no GPU memory for the
    KV cache under --mem-fraction-static=..." from 0.5.16, kv_cache_configurator.py), CUDA out of memory because
    another process holds memory, vLLM refusing to start (its free-memory check, gpu_worker.py, from about 0.9.1;
    0.8.5 fails differently, vllm#17431), and an over-length embedding request that hangs instead of failing when SGLang's KV pool
    holds fewer tokens than the context length (sglang#40459).

    How to fix: use the printed value: `--mem-fraction-static` (SGLang) or `--gpu-memory-utilization` (vLLM) that
    fits, a smaller `--context-length` / `--max-model-len`, or `--max-total-tokens`; free the memory other processes
    hold. `--disable-flash-attn` does not exist and attention kernels do not fragment GPU memory; never reset the
    GPU to get memory back: `nvidia-smi --gpu-reset` is refused while any process uses the GPU (pitfalls.md #12).
    """
    snap = need_snapshot(ctx)
    devs = need_selected(ctx)
    srv = ctx.server
    if srv is not None and srv.kind in ("sglang", "vllm") and srv.below_known:
        raise Skip(
            f"{srv.describe()} is older than any release the doctor knows (oldest {srv.oldest_known}): its memory rules are not known; no fit is estimated"
        )
    s = size(ctx, snap, devs)
    default = default_mfs(ctx, snap, s) if s.server == "sglang" else None
    if s.server == "sglang":
        assert default is not None
        cps = given_int(ctx, "chunked_prefill_size")
        cps = cps if cps is not None else default.chunked_prefill_size
        fwd_tokens = mem.sglang_forward_tokens(cps, s.ctx_len, given_int(ctx, "max_prefill_tokens") or 16384)
        fwd_why = f"chunked prefill of {cps} tokens" if cps and cps > 0 else "chunked prefill off: a whole request per pass"
    elif s.server == "vllm":
        mnbt = given_int(ctx, "max_num_batched_tokens")
        fwd_tokens = mem.vllm_forward_tokens(chunks_pooling(ctx), s.ctx_len, mnbt, s.total)
        fwd_why = "--max-num-batched-tokens" if mnbt else "vLLM's default batch token budget"
    else:
        fwd_tokens = s.ctx_len
        fwd_why = "the longest batch TEI forms"
    act = s.activation(fwd_tokens)
    full = s.activation(s.ctx_len)
    act_b = act.bytes if act is not None else None
    ev: dict[str, Any] = {
        "server_rules": server_rules(ctx),
        "gpus": [d.index for d in devs],
        "free_bytes": s.free,
        "own_process_bytes": sum(s.own_used.values()) or None,
        "total_bytes": s.total,
        "variant": s.shape.variant,
        "weight_bytes": s.shape.weight_bytes,
        "weights_source": s.shape.weights_source,
        "weight_bytes_per_gpu": int(s.weights),
        "kv_cell_bytes": s.cell,
        "context_length": s.ctx_len,
        "context_length_source": s.ctx_src,
        "attention": s.attention,
        "activation_batch_len": fwd_tokens,
        "activation_batch_source": fwd_why,
        "activation_bytes": act_b,
        "activation_source": (f"{act.source} from H200 measurements ({act.attention})" if act else "unknown variant: not estimated"),
        "activation_full_request_bytes": full.bytes if full is not None else None,
        "tp_size": s.tp,
    }
    if srv is not None:
        ev["server"] = srv.describe()
    hint = _holder_hint(ctx)

    # TP > 1: SGLang's own balance check (sglang.md 9)
    if s.server == "sglang" and len(devs) > 1:
        frees = [s.free_of[d.index] for d in devs]
        if min(frees) < 0.9 * max(frees):
            return Outcome.fail(
                f"free memory differs across the TP GPUs ({', '.join(gib(f) for f in frees)}): SGLang stops with 'The memory capacity is unbalanced. "
                "Some GPUs may be occupied by other processes.'",
                Fix(
                    "Free the memory other processes hold on the busier GPUs, or choose GPUs with equal free memory (CUDA_VISIBLE_DEVICES)."
                    + hint
                    + " "
                    + RESET_WARNING
                ),
                **ev,
            )

    if s.weights + mem.CUDA_CONTEXT_BYTES >= s.free:
        more = ", or more tensor parallelism (--tp-size)" if s.server == "sglang" else ", or --tensor-parallel-size" if s.server == "vllm" else ""
        return Outcome.fail(
            f"the weights need {gib(s.weights)} per GPU but only {gib(s.free)} is free on {label(s.worst)}: the server fails with CUDA out of memory while loading",
            Fix("Free the GPU memory other processes hold, use a GPU with more free memory" + more + "." + hint + " " + RESET_WARNING),
            **ev,
        )
    if s.server == "vllm":
        return fit_vllm(ctx, s, ev, act_b=act_b, hint=hint)
    if s.server == "tei":
        return _fit_tei(ctx, s, ev, act_b, hint)
    assert default is not None
    return fit_sglang(ctx, s, ev, default=default, act_b=act_b, fwd_tokens=fwd_tokens, hint=hint)
