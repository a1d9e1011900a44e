"""model.config: config.json parses and describes a Qwen3-Embedding size; the dtype the server computes in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...facts import as_int
from ...facts.model import QWEN3_ARCHS
from ...modelfiles import VARIANTS
from ...results import Fix, Outcome
from ...spec import check
from ._common import applies_model

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


@check(
    "model.config",
    "config.json: architecture, size, dtype",
    applies=applies_model,
    requires=("model.directory",),
    reads=("model", "server"),
    claims=("model.config-required",),
)
def check_config(ctx: "Context") -> Outcome:
    """What it checks: config.json parses; the architecture is Qwen3 (`Qwen3ForCausalLM`, as Qwen3-Embedding declares,
    or `Qwen3Model`); the variant from hidden_size and num_hidden_layers (0.6B: 1024/28, 4B: 2560/36, 8B: 4096/36),
    which gives the embedding dimension; and the dtype the server will compute in.

    Why it matters: every server reads config.json to load the model. A size that matches no Qwen3-Embedding variant is a
    fine-tune or another model: dimensions and memory differ from the published ones. The 8B model gives NaN vectors
    for some inputs in float16 (QwenLM/Qwen3-Embedding#164); bfloat16 or float32 are fine. TEI's CUDA default is
    float16 and it has no bfloat16 for Qwen3, so TEI needs `--dtype float32` for the 8B.

    How to fix: re-download config.json from the model repo if it does not parse; serve the 8B in bfloat16
    (`--dtype bfloat16` on SGLang/vLLM) or float32 (`--dtype float32` on TEI).
    """
    t = ctx.target
    mf = ctx.model
    assert mf is not None
    cfg = mf.config
    if cfg is None:
        return Outcome.fail(
            f"{mf.config_error}: every server reads config.json to load the model and stops without it",
            Fix("Take config.json from the model's repository (e.g. hf download Qwen/Qwen3-Embedding-0.6B config.json --local-dir DIR)."),
        )
    archs = cfg.get("architectures") if isinstance(cfg.get("architectures"), list) else []
    hidden = as_int(cfg.get("hidden_size"))
    layers = as_int(cfg.get("num_hidden_layers"))
    heads = as_int(cfg.get("num_attention_heads"))
    head_dim = as_int(cfg.get("head_dim")) or (hidden // heads if hidden and heads else None)
    variant = mf.shape_variant
    cfg_dtype = mf.config_dtype
    ev: dict[str, Any] = {
        "variant": variant,
        "embedding_dim": hidden,
        "max_position_embeddings": as_int(cfg.get("max_position_embeddings")),
        "architectures": archs,
        "torch_dtype": cfg_dtype,
        "num_key_value_heads": as_int(cfg.get("num_key_value_heads")),
        "head_dim": head_dim,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "vocab_size": as_int(cfg.get("vocab_size")),
        "model_type": cfg.get("model_type"),
        "context_length": mf.max_context,
        "identity": mf.identity.describe(),
    }
    warns: list[str] = []
    fixes: list[str] = []
    missing = [k for k in ("hidden_size", "num_hidden_layers", "max_position_embeddings") if as_int(cfg.get(k)) is None]
    if missing:
        return Outcome.fail(
            f"config.json lacks {', '.join(missing)}: not a complete transformer config", Fix("Take config.json from the model's repository."), **ev
        )
    if not any(a in QWEN3_ARCHS for a in archs):
        warns.append(
            f"architectures {archs or '(none)'} is not Qwen3 (Qwen3-Embedding declares Qwen3ForCausalLM): the doctor's Qwen3-Embedding facts may not apply"
        )
    elif cfg.get("model_type") not in (None, "qwen3"):
        warns.append(f"model_type {cfg.get('model_type')!r} is not 'qwen3'")
    if variant is None:
        sizes = ", ".join(f"{v}: {h}/{n}" for (h, n), v in VARIANTS.items())
        warns.append(
            f"hidden_size {hidden} / num_hidden_layers {layers} match no Qwen3-Embedding size ({sizes}): a fine-tune or another model; its embedding dimension is {hidden}"
        )
    serving, src = mf.serving_dtype(ctx.server)
    ev["serving_dtype"] = serving
    if variant == "8B" and serving in ("float16", "half", "fp16"):
        warns.append(f"the 8B model in float16 ({src}) gives NaN vectors for some inputs (QwenLM/Qwen3-Embedding#164)")
        fixes.append(
            "Serve the 8B in float32 on TEI (--dtype float32; TEI has no bfloat16 for Qwen3)"
            if t.server == "tei"
            else "Serve the 8B in bfloat16 (--dtype bfloat16) or float32"
        )
    desc = (
        f"{'/'.join(a for a in archs if a) or 'no architectures'}, {variant or 'unknown size'} (hidden {hidden}, {layers} layers), "
        f"embedding dimension {hidden}, {ev['max_position_embeddings']} positions, {cfg_dtype or 'dtype unset'}"
    )
    if warns:
        fix = Fix(
            "; ".join(fixes) + "."
            if fixes
            else "If this is a fine-tune, pass --expect-dim with its dimension; otherwise take config.json from the model repository."
        )
        return Outcome.warn("; ".join(warns) + f" ({desc})", fix, **ev)
    return Outcome.passed(desc, **ev)
