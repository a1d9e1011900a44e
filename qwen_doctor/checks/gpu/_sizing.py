"""What gpu.memory-fit sizes: the model's shape (config.json through ModelFacts, else the variant's published
shape), its weights per GPU, the KV cell, the context length the server will use, the attention memory behaviour
and the activation peak of one forward pass (measured on an H200), and the memory free on the selected GPUs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...facts import as_int
from ...gpu import memory as mem
from ...gpu.nvml import DeviceInfo, GpuSnapshot
from ._common import Skip, given, option, own_pids, parallel, server_kind

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...facts import ModelFacts

TEI_MAX_BATCH_TOKENS = 16384  # TEI's --max-batch-tokens default (vllm-tei-qwen3.md C)


@dataclass(frozen=True)
class Shape:
    """The numbers the memory rules need (from config.json, else the Qwen3-Embedding variant's published shape)."""

    variant: str | None
    weight_bytes: int | None
    weights_source: str
    kv_heads: int
    head_dim: int
    layers: int
    heads: int | None
    max_position: int | None
    config_dtype: str | None
    shapes_source: str


def model_shape(mf: "ModelFacts") -> Shape | None:
    cfg = mf.config or {}
    var = mf.variant
    defaults = mem.VARIANT_SHAPES.get(var or "", {})

    def pick(key: str) -> tuple[int | None, str]:
        v = as_int(cfg.get(key))
        if v is not None:
            return v, "config.json"
        if key in defaults:
            return defaults[key], f"the {var} defaults"
        return None, ""

    kv, s1 = pick("num_key_value_heads")
    hd, s2 = pick("head_dim")
    layers, s3 = pick("num_hidden_layers")
    heads, _ = pick("num_attention_heads")
    hidden = as_int(cfg.get("hidden_size"))
    if hd is None and hidden and heads:
        hd, s2 = hidden // heads, "config.json"
    if kv is None or hd is None or layers is None:
        return None
    wb, wsrc = mf.weight_bytes, mf.weights_source
    if not wb:
        wb = mem.weights_from_variant(var)
        wsrc = f"the {var} parameter count (bf16)" if wb else ""
    maxpos = mf.max_context or defaults.get("max_position_embeddings")
    src = ", ".join(sorted({s for s in (s1, s2, s3) if s}))
    return Shape(var, wb, wsrc, kv, hd, layers, heads, maxpos, mf.config_dtype, src)


def context_length(ctx: "Context", server: str, shape: Shape) -> tuple[int | None, str]:
    """The context length the server will use, and where it comes from."""
    mf = ctx.model
    assert mf is not None
    model_max = "max_position_embeddings" if mf.max_context else f"max_position_embeddings (the {shape.variant} default)"
    if server == "tei":
        mbt = as_int(option(ctx, "max_batch_tokens", TEI_MAX_BATCH_TOKENS), TEI_MAX_BATCH_TOKENS) or TEI_MAX_BATCH_TOKENS
        if shape.max_position:
            return min(mbt, shape.max_position), "--max-batch-tokens" if mbt < shape.max_position else model_max
        return mbt, "--max-batch-tokens"
    v, src = mf.context_length(ctx.server)
    if v and src.startswith("--"):
        return v, src
    if mf.max_context and (mf.config or {}).get("max_position_embeddings") != mf.max_context:
        return mf.max_context, "config.json"
    return shape.max_position, model_max


def attention_impl(server: str, cc: tuple[int, int] | None, dtype: str | None) -> str:
    """The memory behaviour of the attention the server will run: "sdpa" (fused, linear in tokens) or "eager"."""
    if server == "tei":
        # TEI on CUDA runs FlashQwen3 only in float16 with flash attention (compute capability >= 8.0); otherwise
        # the plain Qwen3Model, which materialises the attention matrix.
        if (dtype or "float16") != "float16" or (cc is not None and cc < (8, 0)):
            return "eager"
    return "sdpa"


@dataclass(frozen=True)
class Sizing:
    server: str
    shape: Shape
    tp: int
    pp: int
    dp: int
    dpa: bool
    devs: tuple[DeviceInfo, ...]
    free_of: dict[int, int]  # free now per GPU index, the examined server's own memory counted as free
    own_used: dict[int, int]
    free: int  # the smallest of free_of
    total: int
    worst: DeviceInfo
    server_dtype: str  # "auto" or the dtype asked for
    weights: float  # per GPU, in the served dtype
    cell: int  # KV bytes per token per GPU
    ctx_len: int
    ctx_src: str
    attention: str

    def activation(self, tokens: int) -> mem.Activation | None:
        heads = (self.shape.heads // self.tp) if self.shape.heads else None
        return mem.activation_peak(self.shape.variant, tokens, 1, self.attention, heads)


def size(ctx: "Context", snap: GpuSnapshot, devs: list[DeviceInfo]) -> Sizing:
    mf = ctx.model
    shape = model_shape(mf) if mf is not None else None
    if shape is None or not shape.weight_bytes:
        raise Skip("cannot size the model: give --model-path with a local config.json (or a Qwen3-Embedding-0.6B/4B/8B name)")
    server = server_kind(ctx)
    tp, pp, dp, dpa = parallel(ctx)
    # a running server under examination (--pid / discovered) already holds its memory: count it as free,
    # so the verdict is about (re)starting it
    own = own_pids(ctx)
    own_used = {d.index: sum(p.used_bytes or 0 for p in snap.processes_of(d.index) if p.pid in own) for d in devs}
    free_of = {d.index: (d.memory_free or 0) + own_used[d.index] for d in devs}
    worst = min(devs, key=lambda d: free_of[d.index])
    dtype, dsrc = mf.serving_dtype(ctx.server)  # type: ignore[union-attr]
    server_dtype = (dtype or "float16") if server == "tei" else (dtype if dsrc == "--dtype" and dtype else "auto")
    served = mem.served_dtype_bytes(server_dtype, shape.config_dtype)
    shard = tp * pp if server != "tei" else 1
    weights = shape.weight_bytes * served / mem.dtype_bytes(shape.config_dtype, 2) / shard
    kv_dtype: Any = option(ctx, "kv_cache_dtype", "auto")
    kv_bytes = served if kv_dtype in (None, "auto") else mem.dtype_bytes(str(kv_dtype))
    cell = mem.kv_cell_bytes(shape.kv_heads, shape.head_dim, shape.layers, kv_bytes, tp)
    if pp > 1:
        cell = max(1, cell // pp)  # layers are split across pipeline stages
    ctx_len, ctx_src = context_length(ctx, server, shape)
    if not ctx_len:
        raise Skip("context length unknown (no max_position_embeddings and no --context-length)")
    return Sizing(
        server=server,
        shape=shape,
        tp=tp,
        pp=pp,
        dp=dp,
        dpa=dpa,
        devs=tuple(devs),
        free_of=free_of,
        own_used=own_used,
        free=min(free_of.values()),
        total=min(d.memory_total or 0 for d in devs),
        worst=worst,
        server_dtype=server_dtype,
        weights=weights,
        cell=cell,
        ctx_len=ctx_len,
        ctx_src=ctx_src,
        attention=attention_impl(server, worst.compute_capability, server_dtype),
    )


def given_int(ctx: "Context", *dests: str) -> int | None:
    return as_int(given(ctx, *dests))
