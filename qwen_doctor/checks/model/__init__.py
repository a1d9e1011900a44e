"""Model directory checks (``model.*``), on the real files: read-only and stdlib-only at import time.

Weights are judged from their safetensors headers (no tensor is loaded). Where the model is, its config.json and
what it is come from the facts layer (``ctx.model``); what each check reads from a directory is read once per run
and shared by every target serving that directory.

Facts: shared/reference/vllm-tei-qwen3.md (A: files, config, pooling; B.2 vLLM auto-detection), pitfalls.md (#4, #5, #7).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...spec import collect
from . import config, directory, permissions, sentence_transformers, tokenizer_files, weights

if TYPE_CHECKING:  # pragma: no cover
    from ...registry import Registry

MODULES = (directory, permissions, config, weights, tokenizer_files, sentence_transformers)


def register(registry: "Registry") -> None:
    """Built-in plugin: model directory checks."""
    registry.add_checks(*collect(MODULES))
