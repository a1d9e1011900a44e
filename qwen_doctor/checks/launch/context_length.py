"""launch.context-length: --context-length / --max-model-len within the model's maximum."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...facts import as_int
from ...results import Outcome
from ...spec import check
from ...versions import Behaviour, rows
from ._common import server_in

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

#: what the server does when the context length asked for exceeds the model's derived one
OVER_LENGTH = Behaviour(
    "launch.context-length-over-model",
    "What the server does when --context-length / --max-model-len exceeds the model's derived context length.",
    (
        *rows(
            "sglang",
            "sglang.md §6: python/sglang/srt/configs/model_config.py at v0.5.1 (ValueError unless SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1)",
            (">=0.5.1", "refuses"),
        ),
        *rows("sglang", "sglang.md §6: model_config.py at v0.4.10.post2 (only a warning; the env var defaulted to True)", ("<0.5.1", "warns")),
        *rows(
            "vllm",
            "vllm-tei-qwen3.md B.4: [vLLM 0.33.0] vllm/config/model.py L2664 (ValueError unless VLLM_ALLOW_LONG_MAX_MODEL_LEN)",
            ("", "refuses"),
        ),
    ),
)

OPTION = {"sglang": ("context_length", "--context-length"), "vllm": ("max_model_len", "--max-model-len")}


def _env_set(ctx: "Context", name: str, truthy: tuple[str, ...] | None = None) -> bool:
    value = (ctx.target.env or {}).get(name, "")
    if truthy is not None:
        return value.lower() in truthy
    return value not in ("", "0", "false")


@check(
    "launch.context-length",
    "Context length within the model's maximum",
    applies=server_in("sglang", "vllm"),
    reads=("server", "model"),
    claims=(OVER_LENGTH.id,),
)
def check_context_length(ctx: "Context") -> Outcome:
    """What it checks: `--context-length` (SGLang) / `--max-model-len` (vLLM) against the model's own maximum (config.json, found where the server would find it: a local directory or the Hugging Face cache).

    Why it matters: SGLang >= 0.5.1 refuses to start ("User-specified context_length (X) is greater than the derived
    context_length (Y)") unless SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1, and earlier versions only warn and then
    run positions the model was never trained on (sglang.md §6, srt/configs/model_config.py at v0.5.1). vLLM refuses
    likewise unless VLLM_ALLOW_LONG_MAX_MODEL_LEN is set ([vLLM 0.33.0] vllm/config/model.py, vllm-tei-qwen3.md B.4).
    Qwen3-Embedding-0.6B has 32768; the real config.json is read rather than assumed (4B/8B configs say 40960).

    How to fix: lower the option to at most the model's value (or drop it: the default is the model's value).
    """
    server = ctx.server
    assert server is not None
    dest, opt = OPTION[server.kind]
    if not server.given(dest):
        return Outcome.passed(f"{opt} not set: the server uses the model's own length")
    raw = server.option(dest)
    value = as_int(raw)
    if value is None:
        return Outcome.skip(f"{opt} value {raw!r} is not a number (reported by launch.flag-values)")
    model = ctx.model
    if model is None:
        return Outcome.skip("no model path is known, so the model's maximum is unknown", **{opt: value})
    derived = model.max_context
    if derived is None:
        if model.config is None:
            why = model.config_error or "config.json is not readable"
            where = model.location.how
            return Outcome.skip(f"the model's maximum is unknown: {why} ({model.location.written}: {where})", **{opt: value})
        return Outcome.skip("config.json has no max_position_embeddings", **{opt: value})
    where = f" ({model.location.how})" if model.location.hub_id else ""
    if value <= derived:
        return Outcome.passed(f"{opt} {value} <= model maximum {derived}{where}", context_length=value, max_position_embeddings=derived)
    fix = ctx.relaunch.fix(f"Lower {opt} to at most {derived}.", set_options={opt: str(derived)})
    if server.kind == "sglang":
        if _env_set(ctx, "SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN", ("1", "true")):
            return Outcome.warn(
                f"{opt} {value} exceeds the model's {derived}; allowed by SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN, but positions past {derived} were never trained",
                fix,
            )
        behaviour = server.at(OVER_LENGTH)
        if behaviour != "refuses":
            older = "" if behaviour is not None else f" ({server.version} is older than any release the doctor knows)"
            return Outcome.warn(
                f"{opt} {value} exceeds the model's {derived}; SGLang {server.version}{older} only warns, then runs positions the model was never trained on",
                fix,
            )
        return Outcome.fail(
            f"SGLang refuses to start: User-specified context_length ({value}) is greater than the derived context_length ({derived}){where}",
            fix,
            context_length=value,
            max_position_embeddings=derived,
        )
    if _env_set(ctx, "VLLM_ALLOW_LONG_MAX_MODEL_LEN"):
        return Outcome.warn(
            f"{opt} {value} exceeds the model's {derived}; allowed by VLLM_ALLOW_LONG_MAX_MODEL_LEN, but positions past {derived} were never trained", fix
        )
    # every vLLM release read refuses; one older than all of them is assumed to refuse too (the safe reading)
    if server.at(OVER_LENGTH, "refuses") != "refuses":  # pragma: no cover - no such row today
        return Outcome.warn(f"{opt} {value} exceeds the model's {derived}; positions past it were never trained", fix)
    return Outcome.fail(
        f"vLLM refuses to start: User-specified max_model_len ({value}) is greater than the derived max_model_len ({derived}){where}",
        fix,
        max_model_len=value,
        max_position_embeddings=derived,
    )
