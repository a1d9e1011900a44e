"""launch.ambiguous-flags: no option is an ambiguous abbreviation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Fix, Outcome
from ...spec import check
from ._common import ANY_SERVER, issues

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


@check(
    "launch.ambiguous-flags",
    "No ambiguous abbreviations",
    applies=ANY_SERVER,
    reads=("server",),
    claims=("launch.flag-tables",),
)
def check_ambiguous_flags(ctx: "Context") -> Outcome:
    """What it checks: no option is an ambiguous abbreviation.

    Why it matters: argparse accepts unique prefixes, but a prefix that matches several options stops the server with
    `error: ambiguous option: --disable-flash could match --disable-flashinfer-autotune, ...` (exit 2). The same prefix
    can be unique in one release and ambiguous in the next (`--disable-flash` in SGLang 0.5.1-0.5.6 silently meant
    `--disable-flashinfer-cutlass-moe-fp4-allgather`; sglang.md §2, from the parsers of those releases).

    How to fix: spell the option out in full.
    """
    found = issues(ctx, "ambiguous")
    if not found:
        return Outcome.passed("no ambiguous abbreviations")
    return Outcome.fail(
        "; ".join(i.message for i in found) + f" — {ctx.target.server} exits at once (exit code 2)",
        Fix("Spell each option out in full: " + "; ".join(f"{i.written} -> one of {', '.join(i.candidates[:4])}" for i in found)),
        ambiguous={i.written: list(i.candidates) for i in found},
    )
