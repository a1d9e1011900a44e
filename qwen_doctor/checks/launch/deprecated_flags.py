"""launch.deprecated-flags: no option the target release marks as deprecated."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Fix, Outcome, Status
from ...spec import check
from ._common import ANY_SERVER, embedding_flags, flags_text, issues

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


@check(
    "launch.deprecated-flags",
    "No deprecated options",
    severity=Status.WARN,
    applies=ANY_SERVER,
    reads=("server",),
    claims=("launch.flag-tables",),
)
def check_deprecated_flags(ctx: "Context") -> Outcome:
    """What it checks: options the target release marks as deprecated (e.g. vLLM `--task` in 0.10.1-0.12.0, SGLang `--disable-cuda-graph` from 0.5.16).

    Why it matters: deprecated options are removed in a later release, and then the server refuses to start (vLLM:
    "The 'task' option has been deprecated and will be removed in v0.13.0", [vLLM 0.10.1.1] arg_utils.py; gone in
    [vLLM 0.13.0], vllm-tei-qwen3.md B.1).

    How to fix: use the replacement the message names.
    """
    t = ctx.target
    found = issues(ctx, "deprecated")
    if not found:
        return Outcome.passed("no deprecated options")
    lines: list[str] = []
    set_opts: dict[str, str | None] = {}
    drops = []
    for i in found:
        if t.server == "vllm" and i.resolved == "--task":
            flags = embedding_flags(ctx)
            lines.append("--task is deprecated and removed in vLLM 0.13.0; use " + flags_text(flags))
            drops.extend(t.launch.parsed.occurrences_of("task"))
            set_opts.update(flags)
        elif i.resolved == "--disable-cuda-graph":
            lines.append(
                "--disable-cuda-graph is deprecated since SGLang 0.5.16; use --cuda-graph-backend-decode disabled --cuda-graph-backend-prefill disabled"
            )
        else:
            lines.append(i.message)
    text = "; ".join(lines)
    fix = ctx.relaunch.fix(text, drop=drops, set_options=set_opts) if (drops or set_opts) else Fix(text)
    return Outcome.warn(text, fix, deprecated=[i.resolved for i in found])
