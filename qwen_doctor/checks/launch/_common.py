"""Helpers shared by the launch checks: when a check applies, the parser's issues, and embedding-mode flags.

Facts come from shared/reference/sglang.md and vllm-tei-qwen3.md; claims marked FALSE in pitfalls.md are never
printed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...versions import Behaviour, Range, Row, rows

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...launch import ParseIssue

NO_LAUNCH = "no launch command given (pass it after --, or use --from)"

#: the options that put each server release in embedding mode
EMBEDDING_FLAGS: Behaviour[tuple[tuple[str, str | None], ...]] = Behaviour(
    "launch.embedding-flags",
    "The options that make the server run a Qwen3ForCausalLM checkpoint as an embedding model.",
    (
        Row("sglang", Range(""), (("--is-embedding", None),), "sglang.md §3: srt/server_args.py --is-embedding (every release read, 0.4.6.post5-0.5.23)"),
        *rows(
            "vllm",
            "vllm-tei-qwen3.md B.1: [vLLM 0.10.1.1] vllm/config/__init__.py RunnerOption/ConvertOption; [vLLM 0.33.0] vllm/config/model.py",
            (">=0.10.1", (("--runner", "pooling"), ("--convert", "embed"))),
        ),
        *rows(
            "vllm",
            "vllm-tei-qwen3.md B.1: [vLLM 0.8.5] vllm/config.py TaskOption; [vLLM 0.10.0] vllm/config.py (no --runner before 0.10.1)",
            ("<0.10.1", (("--task", "embed"),)),
        ),
    ),
)


def server_in(*servers: str):
    """applies(ctx): a launch command for one of ``servers``."""

    def applies(ctx: "Context") -> bool | str:
        if ctx.target.launch is None:
            return NO_LAUNCH
        if ctx.target.server not in servers:
            return f"applies to {' and '.join(servers)} only"
        return True

    applies.__name__ = "applies_" + "_".join(servers)
    return applies


ANY_SERVER = server_in("sglang", "vllm", "tei")


def issues(ctx: "Context", *kinds: str) -> list["ParseIssue"]:
    """The launch command's parse issues of these kinds."""
    L = ctx.target.launch
    if L is None or L.parsed is None:
        return []
    return [i for i in L.parsed.issues if i.kind in kinds]


def embedding_flags(ctx: "Context") -> dict[str, str | None]:
    """The options that put this server release in embedding mode (a release older than every known one: the oldest's)."""
    pairs = ctx.server.at(EMBEDDING_FLAGS) if ctx.server is not None else None
    if pairs is None:  # older than every release the doctor knows: vLLM 0.8.5's --task is the nearest known form
        pairs = (("--is-embedding", None),) if ctx.target.server == "sglang" else (("--task", "embed"),)
    return dict(pairs)


def flags_text(flags: dict[str, str | None]) -> str:
    return " ".join(f"{k} {v}" if v else k for k, v in flags.items())
