"""Claims of the model checks, each with its source (see qwen_doctor/claims.py; experiments in tests/claims/)."""

from __future__ import annotations

from ...claims import anywhere, claim

SAFETENSORS_ERRORS = claim(
    "model.safetensors-errors",
    "What the safetensors library does with a file whose size is not 8 + header + data, or with a git-LFS pointer.",
    anywhere(
        "the safetensors loader refuses a file of any other size than 8 + header length + data end (truncated or with trailing "
        'bytes: "Error while deserializing header: incomplete metadata, file not fully covered"), and a git-LFS pointer '
        '("header too large")',
        "experiment tests/claims/test_experiments.py::test_safetensors_refuses_wrong_sizes_and_lfs_pointers with the real "
        "safetensors 0.8.0 on crafted files (older releases print the error kinds MetadataIncompleteBuffer / HeaderTooLarge)",
    ),
)

CONFIG_REQUIRED = claim(
    "model.config-required",
    "Whether the servers need config.json.",
    anywhere(
        "every server reads config.json to load the model and stops without it",
        "sglang.md §6 (context length from the HF config, get_context_length); vllm-tei-qwen3.md B.2-B.3 (vLLM resolves the runner "
        "and max_model_len from config.json) and C.4 (TEI router/src/lib.rs reads max_position_embeddings from config.json)",
    ),
)

NO_TOKENIZER_CONFIG = claim(
    "model.no-tokenizer-config",
    "What transformers does without tokenizer_config.json.",
    anywhere(
        "without tokenizer_config.json, transformers cannot know the special-token roles and model_max_length the file sets "
        "(eos <|im_end|>, pad <|endoftext|>, model_max_length 131072 for Qwen3-Embedding): the doctor cannot confirm what each server then uses",
        "vllm-tei-qwen3.md A.3 (the keys tokenizer_config.json sets); what each server does without it is not verified (issue 14 audit)",
    ),
)
