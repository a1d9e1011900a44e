"""How long an input each server takes for this target, and what it does with longer ones (for tokenizer.samples).

Facts: shared/reference/sglang.md 6 (SGLang's two length checks, the scheduler bug), vllm-tei-qwen3.md B.5 (vLLM),
C.4 (TEI: max_input_length, --max-batch-tokens, --auto-truncate by release, 413/422). Every release-dependent
behaviour is a table below, with its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...facts import as_int, target_env
from ...readers import read_json_file
from ...versions import Behaviour, rows
from ..model._common import model_key

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

SGLANG_SCHED_MARGIN = 6  # scheduler limit: min(context_len - 1, kv_pool - 1) - 5 = context_len - 6

#: SGLang never answers an embedding request that passes the tokenizer manager's length check but not the scheduler's
SGLANG_EMBED_OVERLENGTH_HANG = Behaviour(
    "sglang.embedding-over-scheduler-limit-hangs",
    "An embedding input between the scheduler's limit and the context length is enqueued un-aborted: no answer.",
    rows(
        "sglang",
        "sglang.md 6: validate_input_length (tp_worker.py) without set_finish_with_abort, 0.4.7 to 0.5.23; sgl-project/sglang#40459 (open)",
        (">=0.4.7", True),
    ),
)

#: TEI's --auto-truncate default: the one table, beside launch.tei-settings (one registry of claims: qwen_doctor.claims)
from ..launch.tei_settings import TEI_AUTO_TRUNCATE_DEFAULT  # noqa: E402

#: what TEI does when the model's max_input_length exceeds --max-batch-tokens and --auto-truncate is off
TEI_OVER_MAX_BATCH_TOKENS = Behaviour(
    "tei.max-input-over-max-batch-tokens",
    "TEI with max_input_length > --max-batch-tokens and no auto-truncation: queue such inputs forever, or refuse to start.",
    rows(
        "tei",
        "vllm-tei-qwen3.md C.4: text-embeddings-inference#723 (hang) fixed by #725 in v1.8.3 (router/src/lib.rs L196-210 at v1.8.3)",
        (">=1.8.3", "refuses to start"),
        ("<1.8.3", "hangs"),
    ),
)

#: the HTTP status TEI gives an input over max_input_length with truncation off
TEI_TOO_LONG_STATUS = Behaviour(
    "tei.too-long-status",
    "HTTP status of TEI's 'inputs must have less than N tokens' validation error.",
    rows("tei", "vllm-tei-qwen3.md C.4: server.rs status map, d026d1e (text-embeddings-inference#818) in v1.9.0", (">=1.9.0", 422), ("<1.9.0", 413)),
)

_ST_CONFIGS = (
    "sentence_bert_config.json",
    "sentence_roberta_config.json",
    "sentence_distilbert_config.json",
    "sentence_camembert_config.json",
    "sentence_albert_config.json",
    "sentence_xlm-roberta_config.json",
    "sentence_xlnet_config.json",
)


@dataclass(frozen=True)
class InputLimit:
    server: str | None
    limit: int | None  # the context length the server will use
    how: str  # where the number comes from
    reject_over: int | None = None  # inputs with more tokens than this are rejected (HTTP 400/413/422)
    hang_from: int | None = None  # inputs with at least this many tokens hang (and are not rejected)
    truncate_over: int | None = None  # inputs with more tokens than this are silently cut
    reject_text: str = ""
    truncate_text: str = ""
    hang_text: str = ""
    notes: tuple[str, ...] = ()
    refuses_to_start: str | None = None  # the server does not start with these settings


def _as_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("true", "1", "yes", "on", ""):
            return True
        if s in ("false", "0", "no", "off"):
            return False
    return None


def _st_max_seq_length(d: Path) -> tuple[int | None, str]:
    """TEI's max_input_length from a sentence-transformers config (max_seq_length), read once per run per directory."""
    for name in _ST_CONFIGS:
        obj, _ = read_json_file(d / name)
        if isinstance(obj, dict) and as_int(obj.get("max_seq_length")):
            return as_int(obj.get("max_seq_length")), f"{name} max_seq_length"
    return None, ""


def _older(ctx: "Context") -> tuple[str, ...]:
    s = ctx.server
    if s is not None and s.below_known:
        return (
            f"{s.describe()} is older than any release the doctor knows (the oldest is {s.oldest_known}): its behaviour with too-long inputs is not known here",
        )
    return ()


def input_limit(ctx: "Context") -> InputLimit:
    """How long an input the server will take, and what it does with longer ones."""
    t = ctx.target
    mf = ctx.model
    server = ctx.server
    cfg = mf.config if mf is not None else None
    derived = mf.max_context if mf is not None else None
    if t.server == "sglang":
        c, how = mf.context_length(server) if mf is not None else (None, "")
        if c is None:
            return InputLimit("sglang", None, "unknown (no --context-length, no config.json)")
        sched = c - SGLANG_SCHED_MARGIN
        if t.option("allow_auto_truncate") is True:
            return InputLimit(
                "sglang",
                c,
                how,
                truncate_over=sched - 1,
                truncate_text=(
                    f"SGLang (--allow-auto-truncate) keeps only the first tokens of inputs of {sched} tokens or more (the scheduler's limit "
                    f"min(context - 1, KV pool - 1) - 5 = {sched}), cutting the appended <|endoftext|> that last-token pooling reads: silently wrong vectors"
                ),
            )
        hangs = server is not None and server.at(SGLANG_EMBED_OVERLENGTH_HANG, False)
        return InputLimit(
            "sglang",
            c,
            how,
            reject_over=c - 1,
            hang_from=sched if hangs else None,
            reject_text=f'SGLang rejects inputs of {c} tokens or more with HTTP 400 "The input (N tokens) is longer than the model\'s context length ({c} tokens)."',
            hang_text=(
                f"inputs of {sched}..{c - 1} tokens pass that check but exceed the scheduler's limit (min(context - 1, KV pool - 1) - 5 = {sched}): "
                "for embeddings SGLang never answers them (open bug sglang#40459, 0.4.7 to at least 0.5.23)"
            ),
            notes=("a KV pool smaller than the context length lowers the scheduler's limit further (see the GPU checks)", *_older(ctx)),
        )
    if t.server == "vllm":
        c, how = mf.context_length(server) if mf is not None else (None, "")
        if c is None:
            return InputLimit("vllm", None, "unknown (no --max-model-len, no config.json)")
        return InputLimit(
            "vllm",
            c,
            how,
            reject_over=c,
            reject_text=f'vLLM rejects inputs of more than {c} tokens with HTTP 400 "This model\'s maximum context length is {c} tokens..." (clients can send truncate_prompt_tokens to cut them)',
        )
    if t.server == "tei":
        return _tei_limit(ctx, cfg)
    if derived is None:
        return InputLimit(None, None, "unknown (no server and no config.json)")
    return InputLimit(
        None,
        derived,
        "config.json; no server given",
        reject_over=derived - 1,
        reject_text=(
            f"inputs of {derived} tokens or more exceed the model's context length: SGLang rejects them (400, at >= {derived}), vLLM above {derived}, "
            "TEI >= 1.9 cuts them silently (keeping the end token: text is lost)"
        ),
    )


def _tei_limit(ctx: "Context", cfg: Any) -> InputLimit:
    t = ctx.target
    server = ctx.server
    mf = ctx.model
    d = mf.directory if mf is not None else None
    base, base_how = ctx.facts.once(("st-max-seq-length", model_key(ctx)), lambda: _st_max_seq_length(d)) if d is not None else (None, "")
    if base is None:
        base = as_int(cfg.get("max_position_embeddings")) if cfg else None
        base_how = "config.json; no sentence_bert_config.json"
    mbt = as_int(t.option("max_batch_tokens")) if t.given("max_batch_tokens") else as_int(target_env(t, "MAX_BATCH_TOKENS", inherit=False))
    mbt = mbt or as_int(t.option("max_batch_tokens")) or 16384
    older = _older(ctx)
    if t.given("auto_truncate"):
        at = _as_bool(t.option("auto_truncate"))
    elif target_env(t, "AUTO_TRUNCATE", inherit=False) is not None:
        at = _as_bool(target_env(t, "AUTO_TRUNCATE", inherit=False))
    else:
        at = _as_bool(t.option("auto_truncate"))
        if at is None:
            # a release older than every known one: the oldest known default (off), said in the notes
            at = server.at(TEI_AUTO_TRUNCATE_DEFAULT, False) if server is not None else True
    if base is None:
        return InputLimit("tei", None, "unknown (no config.json)")
    ver = f"TEI {server.version}" if server is not None and server.version else "TEI"
    if base > mbt:
        capped = server is None or server.at(TEI_OVER_MAX_BATCH_TOKENS, "hangs") != "hangs"  # --auto-truncate caps from 1.8.3
        if at and capped:
            said = ctx.claim("tei.auto-truncate-short-batch", mbt=mbt, base=base, version=server.version if server else "") if server else None
            return InputLimit(
                "tei",
                mbt,
                f"--max-batch-tokens, below the model's {base} from {base_how}",
                truncate_over=mbt,
                truncate_text=(
                    f"{ver} (--auto-truncate): {said or f'inputs of more than {mbt} tokens are silently cut to {mbt} (the end token is kept, text is lost)'}; "
                    f"raise --max-batch-tokens to {base} to keep them whole"
                ),
                notes=older,
            )
        if at:  # TEI <= 1.8.2: no cap at --max-batch-tokens; longer inputs hang, the model's length is still the truncation point
            said = ctx.claim("tei.auto-truncate-short-batch", mbt=mbt, base=base, version=server.version if server else "")
            return InputLimit(
                "tei",
                base,
                base_how,
                hang_from=mbt + 1,
                truncate_over=base,
                hang_text=said or f"{ver} queues inputs of more than {mbt} tokens (--max-batch-tokens) forever (TEI issue #723, fixed in 1.8.3)",
                truncate_text=f"{ver} (--auto-truncate) silently cuts inputs of more than {base} tokens (the end token is kept, text is lost)",
                notes=older,
            )
        over = server.at(TEI_OVER_MAX_BATCH_TOKENS, "hangs") if server is not None else "refuses to start"
        if over == "hangs":
            return InputLimit(
                "tei",
                base,
                base_how,
                reject_over=base,
                hang_from=mbt + 1,
                reject_text=f'{ver} rejects inputs of more than {base} tokens (413 "`inputs` must have less than {base} tokens")',
                hang_text=f"{ver} queues inputs of more than {mbt} tokens (--max-batch-tokens) forever (TEI issue #723, fixed in 1.8.3)",
                notes=older,
            )
        return InputLimit(
            "tei",
            base,
            base_how,
            notes=older,
            refuses_to_start=f"{ver} refuses to start: the maximum input length {base} exceeds --max-batch-tokens ({mbt}) and --auto-truncate is off",
        )
    status = server.at(TEI_TOO_LONG_STATUS, 413) if server is not None else 422
    if at:
        return InputLimit(
            "tei",
            base,
            base_how,
            truncate_over=base,
            notes=older,
            truncate_text=f"{ver} (--auto-truncate) silently cuts inputs of more than {base} tokens (it keeps the end token, so text is lost)",
        )
    return InputLimit(
        "tei",
        base,
        base_how,
        reject_over=base,
        notes=older,
        reject_text=f'{ver} rejects inputs of more than {base} tokens ({status} "`inputs` must have less than {base} tokens. Given: N")',
    )
