"""Claims of the tokenizer checks: what the tokenizer, the tokenizers library and the servers do with the end token.

Read with ``ctx.claim(ID, **values)`` (see qwen_doctor/claims.py); the experiments are tests/claims/test_experiments.py.
"""

from __future__ import annotations

from ...claims import anywhere, claim, says

TRUNCATION_KEEPS_END_TOKEN = claim(
    "tokenizer.truncation-keeps-end-token",
    "What truncation inside the tokenizers library does with the appended <|endoftext|> (TEI truncates there).",
    anywhere(
        "truncation inside the tokenizers library keeps the appended <|endoftext|> (151643): text is lost, not the token the model pools on",
        "experiment tests/claims/test_experiments.py::test_tokenizers_truncation_keeps_end_token on the real Qwen3 tokenizer: "
        "max_length 5 gives [603, 1378, 2326, 3040, 151643] (right) and [8094, 8063, 11627, 5779, 151643] (left); vllm-tei-qwen3.md C.4",
    ),
)

APPENDS_END_TOKEN = claim(
    "tokenizer.appends-endoftext",
    "What the current Qwen3-Embedding tokenizer appends.",
    anywhere(
        'the current Qwen3-Embedding tokenizer appends <|endoftext|> (151643): "test" -> [1944, 151643]',
        "vllm-tei-qwen3.md A.3 (QwenLM/Qwen3-Embedding#54, #122); experiment tests/claims/test_experiments.py::"
        "test_qwen3_tokenizer_appends_endoftext on the real tokenizer files",
    ),
)

SGLANG_AUTO_TRUNCATE = claim(
    "sglang.auto-truncate-cuts-end-token",
    "What SGLang's --allow-auto-truncate does to an over-length embedding input.",
    says(
        "sglang",
        "",
        "SGLang --allow-auto-truncate keeps the head and cuts the appended <|endoftext|> that last-token pooling uses: silently degraded vectors",
        "sglang.md §6: tokenizer_manager.py _validate_one_request (`del input_ids[context_len:]` after tokenization), 0.4.7-0.5.23",
    ),
)
