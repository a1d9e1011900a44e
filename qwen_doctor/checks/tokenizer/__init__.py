"""Tokenizer checks (``tokenizer.*``), on the real tokenizer files.

The tokenizer is loaded offline in a bounded child process (:mod:`qwen_doctor.tokenizer_tools`), once per run for
each distinct tokenizer and --samples file, and that one report is shared by these checks and by every target through
the run's facts (see ``_common.tok_report``). Rules of Qwen3-Embedding's own (the end token, the NFC normalizer, the
query format) are skipped for a model that is clearly something else.

Facts: shared/reference/vllm-tei-qwen3.md (A.3 tokenizer, A.5 prompts, B.5 vLLM lengths, C.4 TEI truncation),
sglang.md 6 (input length).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...spec import collect
from . import end_token, load, normalizer, samples

if TYPE_CHECKING:  # pragma: no cover
    from ...registry import Registry

MODULES = (load, end_token, normalizer, samples)


def register(registry: "Registry") -> None:
    """Built-in plugin: tokenizer checks."""
    registry.add_checks(*collect(MODULES))
