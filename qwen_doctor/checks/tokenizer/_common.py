"""Shared by the tokenizer.* checks: the parsed --samples file and the tokenizer report, each computed once per run.

The tokenizer is loaded by transformers (or the `tokenizers` fast path) in a bounded, offline child process
(:func:`qwen_doctor.tokenizer_tools.load_report`): once per run for each distinct tokenizer (directories whose
tokenizer files are byte-identical share one load) and --samples file, shared by every check and every target
through the run's facts (``ctx.facts.once``). At most ``MAX_CONCURRENT_LOADS`` children run at once.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import TYPE_CHECKING, Any

from ..model._common import applies_tokenizer, qwen3_only, tok_dir, tok_location
from ..timeouts import timeout_for

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...tokenizer_tools import TokenizerReport

ENDOFTEXT = "<|endoftext|>"
REAL_ENDOFTEXT_ID = 151643
REAL_TEST_IDS = [1944, 151643]
REAL_VOCAB_TOKENS = 151669  # len() of the real Qwen3 tokenizer (151643 BPE tokens + 26 added)

__all__ = [
    "ENDOFTEXT",
    "REAL_ENDOFTEXT_ID",
    "REAL_TEST_IDS",
    "REAL_VOCAB_TOKENS",
    "applies_tokenizer",
    "qwen3_tokenizer_rule",
    "samples_file",
    "tok_dir",
    "tok_report",
]


def qwen3_tokenizer_rule(what: str):
    """``applies`` for a tokenizer rule of Qwen3-Embedding's own: SKIP, naming the model seen, for another model."""
    return qwen3_only(what, applies_tokenizer)


def samples_file(ctx: "Context") -> Any:
    """The parsed --samples file (once per run), a SamplesError, or None when not given."""
    from ...tokenizer_tools import SamplesError, read_samples

    path = ctx.options.samples
    if not path:
        return None

    def load() -> Any:
        try:
            return read_samples(path)
        except SamplesError as exc:
            return exc

    return ctx.facts.once(("samples", path), load)


def _samples_texts(ctx: "Context") -> tuple[list[str] | None, str]:
    """(the texts of the --samples file, their digest) or (None, "-")."""
    from ...tokenizer_tools import SamplesFile

    sf = samples_file(ctx)
    if not isinstance(sf, SamplesFile):
        return None, "-"
    texts = [s.text for s in sf.samples]
    digest = ctx.facts.once(
        ("samples-digest", ctx.options.samples),
        lambda: hashlib.sha256(json.dumps(texts, ensure_ascii=True).encode()).hexdigest(),
    )
    return texts, digest


def tok_report(ctx: "Context") -> "TokenizerReport":
    """The tokenizer report of this target's tokenizer directory (+ samples), loaded once per run for all targets."""
    from ...tokenizer_tools import MAX_CONCURRENT_LOADS, load_report, tokenizer_digest

    d, _, key = tok_location(ctx)
    texts, texts_digest = _samples_texts(ctx)
    files = ctx.facts.once(("tokenizer-digest", key), lambda: tokenizer_digest(d)) or ("dir", key)
    timeout = max(1.0, timeout_for("tokenizer.load") - 5.0)  # the child is stopped before the check's own budget

    def load() -> "TokenizerReport":
        slots = ctx.facts.once("tokenizer-load-slots", lambda: threading.BoundedSemaphore(MAX_CONCURRENT_LOADS))
        with slots:
            return load_report(d, texts, timeout=timeout)

    return ctx.facts.once(("tokenizer-report", files, texts_digest), load)
