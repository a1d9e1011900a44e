"""Small, shared readers of a model directory (stdlib only; never imports transformers).

Used by launch checks (context length, auto-detection, weight-prefix bug) and the model checks.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

# Qwen3-Embedding variants by (hidden_size, num_hidden_layers) -> (name, embedding dim)
VARIANTS = {(1024, 28): "0.6B", (2560, 36): "4B", (4096, 36): "8B"}
EMBED_DIM = {"0.6B": 1024, "4B": 2560, "8B": 4096}
# Parameter counts (keras-hub presets, see shared/reference/vllm-tei-qwen3.md A.2); bf16 = 2 bytes each
PARAMS = {"0.6B": 595_776_512, "4B": 4_021_774_336, "8B": 8_188_515_328}


_VARIANT_NAME = re.compile(r"(?i)qwen3[-_ ]?embedding[-_ ]?(0[._]6b|4b|8b)(?![a-z0-9])")


def variant_from_name(name: str | None) -> str | None:
    """'Qwen/Qwen3-Embedding-4B', '/models/qwen3_embedding_0_6b' -> the variant; None when the name does not say."""
    m = _VARIANT_NAME.search(name or "")
    return m.group(1).upper().replace("_", ".") if m else None


def looks_like_hub_id(model: str) -> bool:
    """'Qwen/Qwen3-Embedding-0.6B' style: one slash, no leading / . ~, and not an existing path."""
    if not model or model.startswith(("/", ".", "~")) or os.path.exists(model):
        return False
    parts = model.split("/")
    return len(parts) == 2 and all(parts)


def local_dir(model: str | None) -> Path | None:
    """The local directory a model path names, or None (hub id, missing, not a directory)."""
    if not model:
        return None
    p = Path(os.path.expanduser(model))
    try:
        return p if p.is_dir() else None
    except OSError:
        return None


def read_json(path: Path) -> Any:
    """A model directory's JSON file, bounded (readers.CAPS["json"]; FIFOs and devices refused). Raises OSError
    (readers.ReadError) or ValueError."""
    from .readers import loads_json, read_text

    return loads_json(read_text(path, "json"))


def read_config(model: str | None) -> dict | None:
    """config.json of a local model directory, or None when absent/unreadable/invalid."""
    d = local_dir(model)
    if d is None:
        return None
    try:
        cfg = read_json(d / "config.json")
    except (OSError, ValueError):
        return None
    return cfg if isinstance(cfg, dict) else None


def variant_of(cfg: dict) -> str | None:
    try:
        return VARIANTS.get((int(cfg.get("hidden_size")), int(cfg.get("num_hidden_layers"))))
    except (TypeError, ValueError):
        return None


def derived_context_length(cfg: dict) -> int | None:
    """SGLang's get_context_length: first of these keys, times the rope-scaling factor."""
    text_cfg = cfg.get("text_config") if isinstance(cfg.get("text_config"), dict) else cfg
    for key in ("max_sequence_length", "seq_length", "max_seq_len", "model_max_length", "max_position_embeddings"):
        v = text_cfg.get(key)
        if isinstance(v, int) and v > 0:
            rs = text_cfg.get("rope_scaling")
            factor = 1
            if (
                isinstance(rs, dict)
                and isinstance(rs.get("factor"), (int, float))
                and rs.get("rope_type", rs.get("type")) not in ("su", "longrope", "llama3", "mrope", "default")
            ):
                factor = rs["factor"]
            return int(v * factor)
    return None


def has_st_config(model: str | None) -> bool | None:
    """Whether the sentence-transformers files vLLM's auto-detection reads are present (None: unknown)."""
    d = local_dir(model)
    if d is None:
        return None
    return (d / "modules.json").is_file()
