"""Launch-command checks (``launch.*``): what the server will do with the command as written.

One module per pitfall; the modules are listed in report order. Facts come from shared/reference/sglang.md and
vllm-tei-qwen3.md; claims marked FALSE in pitfalls.md are never printed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...spec import collect
from . import (
    abbreviations,
    ambiguous_flags,
    bind_host,
    context_length,
    deprecated_flags,
    dtype,
    embedding_mode,
    flag_values,
    launcher,
    model_path,
    served_model_name,
    sglang_weight_loading,
    tei_settings,
    unknown_flags,
)

if TYPE_CHECKING:  # pragma: no cover
    from ...registry import Registry

MODULES = (
    launcher,
    unknown_flags,
    ambiguous_flags,
    flag_values,
    abbreviations,
    deprecated_flags,
    embedding_mode,
    model_path,
    sglang_weight_loading,
    context_length,
    served_model_name,
    bind_host,
    dtype,
    tei_settings,
)


def register(registry: "Registry") -> None:
    """Built-in plugin: launch-command checks."""
    registry.add_checks(*collect(MODULES))
