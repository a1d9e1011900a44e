"""What the probe compares the server's answers with: the expected dimension, the context length, and the
model's tokenizer.json, all read from the run's facts (``ctx.model``, ``ctx.tokenizer_model()``), never
re-derived here. The tokenizer is loaded once per run for each tokenizer.json (``ctx.facts.once``), through the
bounded reader.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ...probe import EMBED_DIM, ENDOFTEXT_ID, variant_from_name

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


def expected_dim(ctx: "Context") -> tuple[int | None, str]:
    """(the dimension the vectors should have, where that comes from)."""
    if ctx.options.expect_dim:
        return int(ctx.options.expect_dim), "--expect-dim"
    mf = ctx.model
    if mf is not None and mf.embedding_dim:
        hs = (mf.config or {}).get("hidden_size")
        if mf.config is not None and hs == mf.embedding_dim:
            return mf.embedding_dim, f"hidden_size in {mf.directory}/config.json"
        return mf.embedding_dim, f"{mf.identity.name} ({mf.identity.evidence})"
    for name in [*(ctx.evidence("probe.identity", "served_names") or []), ctx.evidence("probe.identity", "model_id")]:
        var = variant_from_name(name)
        if var:
            return EMBED_DIM[var], f"the name '{name}' (Qwen3-Embedding-{var})"
    return None, ""


def context_length(ctx: "Context") -> tuple[int | None, str]:
    """(the server's context length, where it comes from): what the running server reports, else the launch
    command's option, else the model's own maximum (``ctx.model.context_length``)."""
    for key, src in (
        ("max_model_len", "/v1/models max_model_len"),
        ("max_input_length", "TEI /info max_input_length"),
        ("context_length", "SGLang /server_info context_length"),
    ):
        v = ctx.evidence("probe.identity", key)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v, src
    mf = ctx.model
    if mf is None:
        return None, ""
    value, src = mf.context_length(ctx.server)
    if not value:
        return None, ""
    if src.startswith("--"):
        return value, f"the launch command's {src}"
    return value, f"{mf.directory}/config.json" if mf.directory is not None else "config.json"


def _load_tokenizer_json(path: str) -> Any:
    """A ``tokenizers.Tokenizer`` (the Rust library only: fast, no transformers import), or None. Read in parts
    where the layout allows (:mod:`qwen_doctor.tokenizer_split`: half the peak memory), else whole."""
    from ...readers import CAPS, ReadError, read_text
    from ...tokenizer_split import load as load_split

    try:
        tok = load_split(path, CAPS["tokenizer"])
    except Exception:  # noqa: BLE001 - then the whole file, which says what is wrong
        tok = None
    if tok is not None:
        return tok
    try:
        text = read_text(path, "tokenizer")
    except ReadError:
        return None
    try:
        from tokenizers import Tokenizer

        return Tokenizer.from_str(text)
    except Exception:  # noqa: BLE001
        return None


def local_tokenizer(ctx: "Context") -> tuple[Any, str]:
    """The model's tokenizer.json (the file the servers' fast tokenizers use, post-processor included), loaded once
    per run; (None, reason) when there is none here. The directory is the run's tokenizer directory
    (``--tokenizer-path`` / ``--tokenizer``, a Hugging Face cache snapshot, or the model directory)."""
    mf, _where = ctx.tokenizer_model()
    d = mf.directory if mf is not None else None
    if d is None:
        return None, "no local model directory"
    tj = d / "tokenizer.json"
    if not tj.is_file():
        return None, f"no tokenizer.json in {d}"
    key = ("probe.tokenizer.json", os.path.realpath(tj))
    tok = ctx.facts.once(key, lambda: _load_tokenizer_json(str(tj)))
    return (tok, str(tj)) if tok is not None else (None, f"{tj} does not load")


def token_ids(tok: Any, text: str) -> list[int]:
    """Ids with the special tokens the tokenizer adds (post-processor), as the servers encode."""
    enc = tok.encode(text)
    return list(getattr(enc, "ids", enc))


def appended_id(tok: Any, ids: list[int]) -> int:
    """The id the tokenizer appends (Qwen3-Embedding: <|endoftext|> 151643); the tiny test model has its own."""
    if ids and ids[-1] == ENDOFTEXT_ID:
        return ENDOFTEXT_ID
    for getter in ("token_to_id", "convert_tokens_to_ids"):
        fn = getattr(tok, getter, None)
        if fn is not None:
            try:
                v = fn("<|endoftext|>")
                if isinstance(v, int):
                    return v
            except Exception:  # noqa: BLE001
                pass
    return ENDOFTEXT_ID
