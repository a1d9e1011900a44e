"""launch.tei-settings: TEI pooling, truncation and release for Qwen3-Embedding."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...facts import as_int
from ...results import Applicability, Outcome
from ...spec import check
from ...versions import Behaviour, rows
from ._common import server_in

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

#: --auto-truncate's default
TEI_AUTO_TRUNCATE_DEFAULT = Behaviour(
    "tei.auto-truncate-default",
    "Whether TEI truncates over-long inputs by default.",
    (
        *rows("tei", "vllm-tei-qwen3.md C.4: router/src/main.rs at v1.8.3 (--auto-truncate a flag, default false)", ("<1.9.0", False)),
        *rows("tei", "vllm-tei-qwen3.md C.4: https://github.com/huggingface/text-embeddings-inference/pull/829 (v1.9.0: default true)", (">=1.9.0", True)),
    ),
)

#: what TEI does with --max-batch-tokens below the model's length and auto-truncate off
TEI_SHORT_BATCH_NO_TRUNCATE = Behaviour(
    "tei.short-batch-no-truncate",
    "What TEI does when --max-batch-tokens is below the model's max input length and auto-truncate is off.",
    (
        *rows("tei", "vllm-tei-qwen3.md C.4: https://github.com/huggingface/text-embeddings-inference/issues/723 (longer inputs hang)", ("<1.8.3", "hangs")),
        *rows(
            "tei",
            "vllm-tei-qwen3.md C.4: https://github.com/huggingface/text-embeddings-inference/pull/725, router/src/lib.rs at v1.8.3 L196-210 (start-up refused)",
            (">=1.8.3", "refuses"),
        ),
    ),
)

#: whether the release gives deterministic, batch-consistent Qwen3 embeddings
TEI_QWEN3_CONSISTENT = Behaviour(
    "tei.qwen3-consistent",
    "Whether TEI's Qwen3 embeddings are deterministic and the same in a batch as alone.",
    (
        *rows(
            "tei",
            "vllm-tei-qwen3.md C.1: TEI #642, #649 (1.7.2 non-deterministic / batch-inconsistent); fixes #646, #648 (v1.7.3), #663 (v1.7.4)",
            ("<1.7.4", False),
        ),
        *rows("tei", "vllm-tei-qwen3.md C.1: v1.7.4 release (TEI #663)", (">=1.7.4", True)),
    ),
)

DEFAULT_CONTEXT = 32768  # Qwen3-Embedding-0.6B's max_position_embeddings, when the config is not readable here


@check(
    "launch.tei-settings",
    "TEI pooling, truncation and version",
    applies=server_in("tei"),
    reads=("server", "model"),
    claims=(TEI_AUTO_TRUNCATE_DEFAULT.id, TEI_SHORT_BATCH_NO_TRUNCATE.id, TEI_QWEN3_CONSISTENT.id, "tei.auto-truncate-short-batch"),
)
def check_tei_settings(ctx: "Context") -> Outcome:
    """What it checks: TEI settings that silently change Qwen3-Embedding's vectors: pooling, truncation, version.

    Why it matters: Qwen3-Embedding pools the last token; `--pooling mean` (or `cls`) gives healthy-looking but useless
    vectors. TEI >= 1.9 truncates inputs silently at `--max-batch-tokens` (16384 by default) although the model takes
    32768 (auto-truncate is on by default since TEI #829); the truncation keeps the appended `<|endoftext|>` the model
    pools on (it happens inside the tokenizers library), so text is lost. `--auto-truncate` caps inputs at
    `--max-batch-tokens` only from 1.8.3 (#725): TEI <= 1.8.2 hangs on inputs longer than `--max-batch-tokens`, with
    or without it (TEI #723). TEI 1.7.2 gave non-deterministic and
    batch-vs-single inconsistent Qwen3 embeddings (TEI #642, #649; fixed in 1.7.3/1.7.4); Qwen3 support arrived in
    1.7.2 (vllm-tei-qwen3.md C.1, C.4).

    How to fix: `--pooling last-token` (or leave it to 1_Pooling/config.json); `--max-batch-tokens` at least the model's
    context length (32768 for 0.6B) or accept truncation knowingly; TEI >= 1.7.4.
    """
    server = ctx.server
    assert server is not None
    v = server.version
    problems: list[str] = []
    set_opts: dict[str, str | None] = {}
    pooling = server.option("pooling")
    if pooling and pooling != "last-token":
        problems.append(f"--pooling {pooling}: Qwen3-Embedding is trained for last-token pooling; other pooling gives useless vectors")
        set_opts["--pooling"] = "last-token"
    ctx_len = (ctx.model.max_context if ctx.model is not None else None) or DEFAULT_CONTEXT
    raw_mbt = server.option("max_batch_tokens", 16384)
    mbt = as_int(raw_mbt)
    auto = server.option("auto_truncate")
    if auto is None:
        auto = server.at(TEI_AUTO_TRUNCATE_DEFAULT, False)
    if isinstance(auto, str):
        auto = auto.lower() not in ("false", "0")
    if mbt is not None and mbt < ctx_len:
        said = ctx.claim("tei.auto-truncate-short-batch", mbt=mbt, base=ctx_len, version=v) if auto else None
        if said:
            problems.append(f"--max-batch-tokens {mbt} < the model's {ctx_len} tokens with auto-truncate on: {said}")
        elif server.at(TEI_SHORT_BATCH_NO_TRUNCATE, "hangs") == "hangs":
            problems.append(
                f"--max-batch-tokens {mbt} < the model's {ctx_len} tokens: TEI {v} hangs on inputs longer than {mbt} tokens (TEI #723, fixed in 1.8.3)"
            )
        else:
            problems.append(f"--max-batch-tokens {mbt} < the model's {ctx_len} tokens with auto-truncate off: TEI refuses to start")
        set_opts["--max-batch-tokens"] = str(ctx_len)
    if server.below_known:
        problems.append(
            f"TEI {v} is older than any release the doctor knows ({server.oldest_known}); Qwen3 support arrived in 1.7.2 and Qwen3 embeddings are consistent from 1.7.4: upgrade to >= 1.7.4"
        )
    elif not server.at(TEI_QWEN3_CONSISTENT, True):
        problems.append(f"TEI {v} gives non-deterministic / batch-inconsistent Qwen3 embeddings (fixed in 1.7.3-1.7.4): upgrade to >= 1.7.4")
    if not problems:
        return Outcome.passed("pooling, truncation and version fit Qwen3-Embedding", max_batch_tokens=raw_mbt, auto_truncate=auto)
    text = "; ".join(problems)
    status = Outcome.fail if pooling and pooling != "last-token" else Outcome.warn
    return status(text, ctx.relaunch.fix(text, set_options=set_opts, applicability=Applicability.UNSAFE), max_batch_tokens=raw_mbt, auto_truncate=auto)
