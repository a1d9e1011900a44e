"""launch.dtype: the dtype the server runs Qwen3-Embedding in (no float16 NaN on 8B)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Applicability, Outcome, Status
from ...spec import check
from ._common import ANY_SERVER

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

HALF = ("float16", "half", "fp16")


def _serving_dtype(ctx: "Context") -> tuple[str | None, str]:
    """(dtype the server computes in, where that comes from); without a model, the --dtype option alone."""
    if ctx.model is not None:
        return ctx.model.serving_dtype(ctx.server)
    server = ctx.server
    v = server.option("dtype") if server is not None else None
    if server is not None and server.kind == "tei":
        return (v, "--dtype") if isinstance(v, str) and v else ("float16", "TEI's default on CUDA (float32 on CPU builds)")
    return (v, "--dtype") if isinstance(v, str) and v != "auto" else (None, "")


@check(
    "launch.dtype",
    "dtype safe for the model (no fp16 NaN on 8B)",
    severity=Status.WARN,
    applies=ANY_SERVER,
    reads=("server", "model"),
    claims=("model.fp16-nan-8b",),
)
def check_dtype(ctx: "Context") -> Outcome:
    """What it checks: the dtype the server will run Qwen3-Embedding in.

    Why it matters: Qwen3-Embedding-8B in float16 returns NaN embeddings for some inputs (e.g. text starting with
    "import"; QwenLM/Qwen3-Embedding#164, ollama#12921: "json: unsupported value: NaN"). The checkpoints are bfloat16,
    and `--dtype auto` keeps the checkpoint's dtype on SGLang and vLLM. TEI has no bf16 on its candle backend and
    defaults to float16 on CUDA, so TEI needs `--dtype float32` for the 8B model (vllm-tei-qwen3.md C).

    How to fix: SGLang/vLLM: `--dtype bfloat16` (or drop --dtype); TEI: `--dtype float32`.
    """
    t = ctx.target
    dtype, source = _serving_dtype(ctx)
    variant = ctx.model.variant if ctx.model is not None else None
    if t.server == "tei":
        if variant == "8B" and dtype != "float32":
            how = f"--dtype {dtype}" if source == "--dtype" else "the default float16 on CUDA"
            return Outcome.warn(
                f"Qwen3-Embedding-8B on TEI with {how}: float16 gives NaN embeddings for some inputs, and TEI has no bf16",
                ctx.relaunch.fix("Run the 8B model in float32 on TEI.", set_options={"--dtype": "float32"}, applicability=Applicability.UNSAFE),
                dtype=dtype,
                variant=variant,
            )
        return Outcome.passed(f"dtype {dtype or 'default'} for {variant or 'this model'}", dtype=dtype, variant=variant)
    if dtype in HALF and variant == "8B":
        how = f"--dtype {t.option('dtype')}" if source == "--dtype" else f"{dtype} from {source}"
        return Outcome.warn(
            f"{how} on Qwen3-Embedding-8B: float16 gives NaN embeddings for some inputs; the checkpoint is bfloat16",
            ctx.relaunch.fix("Use bfloat16 (the checkpoint's dtype).", set_options={"--dtype": "bfloat16"}),
            dtype=dtype,
            variant=variant,
        )
    return Outcome.passed(f"dtype {dtype or 'auto'}" + (f" for {variant}" if variant else ""), dtype=dtype, variant=variant)
