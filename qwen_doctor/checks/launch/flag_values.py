"""launch.flag-values: every option has a well-formed value."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...launch import Occurrence
from ...results import Fix, Outcome
from ...spec import check
from ._common import ANY_SERVER, issues
from .launcher import VLLM_API_SERVER_TAKES_POSITIONAL

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


@check(
    "launch.flag-values",
    "Option values are well-formed",
    applies=ANY_SERVER,
    reads=("server", "deployment"),
    claims=("launch.flag-tables", VLLM_API_SERVER_TAKES_POSITIONAL.id),
)
def check_flag_values(ctx: "Context") -> Outcome:
    """What it checks: every option has a valid value: present when needed, of the right type, among the choices, and no stray arguments.

    Why it matters: `--is-embedding true` leaves `true` as a stray argument (store_true flags take no value), a missing
    value or an invalid choice (e.g. `--attention-backend flash`) stops the server at once with an argparse error
    (the servers' parsers, as dumped into the flag tables from shared/reference/sglang-flags and vllm-flags).

    How to fix: as each message says; the corrected launch command is printed where it can be derived.
    """
    t = ctx.target
    found = issues(ctx, "missing-value", "bad-choice", "bad-type", "extra-positional", "bad-value")
    L = t.launch
    if (
        L is not None
        and L.launcher == "python -m vllm.entrypoints.openai.api_server"
        and ctx.server is not None
        and ctx.server.at(VLLM_API_SERVER_TAKES_POSITIONAL, False)
    ):
        # one positional model is accepted there (and ignored): launch.launcher reports it
        first = next((i for i in found if i.kind == "extra-positional"), None)
        found = [i for i in found if i is not first]
    runtime = t.deployment.runtime_vars if t.deployment is not None else ()
    if runtime:  # values filled in at run time ($POD_INDEX, $(VAR), ${VAR}) cannot be judged here
        found = [i for i in found if not any(v and v in i.message for v in runtime) and "$" not in i.message]
    if not found:
        return Outcome.passed("every option value is well-formed")
    text = "; ".join(i.message for i in found)
    drops = [Occurrence(i.index, 1, i.written, None, None, None, "stray") for i in found if i.kind == "extra-positional"]
    fix = ctx.relaunch.fix(text, drop=drops) if drops else Fix(text)
    return Outcome.fail(
        f"{len(found)} malformed option value{'s' if len(found) > 1 else ''}: {text} — {t.server} exits at once (exit code 2)",
        fix,
        problems=[i.message for i in found],
    )
