"""launch.abbreviations: options spelled out in full."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Outcome, Status
from ...spec import check
from ._common import ANY_SERVER, issues

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


@check(
    "launch.abbreviations",
    "Options spelled out in full",
    severity=Status.WARN,
    applies=ANY_SERVER,
    reads=("server",),
    claims=("launch.flag-tables",),
)
def check_abbreviations(ctx: "Context") -> Outcome:
    """What it checks: options written as abbreviations (e.g. `--is-embed` for `--is-embedding`).

    Why it matters: argparse accepts any unique prefix, so the command works today, but a release that adds an option
    with the same prefix turns it into an `ambiguous option` error at start-up. `sglang serve` also pre-scans for the full
    `--model-path`/`--model` names (sglang.md §2, §1: cli/utils.py).

    How to fix: spell the options out in full (safe: the meaning does not change).
    """
    found = issues(ctx, "abbrev")
    if not found:
        return Outcome.passed("no abbreviated options")
    args = ctx.target.launch.args
    reps = {}
    for i in found:
        tok = args[i.index]
        reps[i.index] = [i.resolved + (tok[len(tok.split("=", 1)[0]) :] if "=" in tok else "")]
    return Outcome.warn(
        "abbreviated options work only while the prefix stays unique: " + ", ".join(f"{i.written} = {i.resolved}" for i in found),
        ctx.relaunch.fix("Spell the options out in full.", replace_tokens=reps),
        abbreviations={i.written: i.resolved for i in found},
    )
