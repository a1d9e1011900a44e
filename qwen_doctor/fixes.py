"""One corrected launch command with every safe fix applied.

Each launch/host check prints a corrected command for its own problem. Someone with three problems wants one
command: starting from the examined command, apply the first safe fix, re-run the static checks on the result,
and repeat until no safe fix is left (a handful of rounds; launch checks are static and take milliseconds).
"""

from __future__ import annotations

from typing import Sequence

from .results import Applicability, Result, Status
from .target import Target

CATEGORIES = ("launch", "host")
MAX_ROUNDS = 8


def _first_safe(results: Sequence[Result]) -> Result | None:
    for r in results:
        if r.category in CATEGORIES and r.status in (Status.FAIL, Status.WARN) and r.fix is not None:
            if r.fix.launch_command and r.fix.applicability is Applicability.SAFE and not r.ignored_by:
                return r
    return None


def all_safe_fixes(target: Target, results: Sequence[Result], registry) -> tuple[str | None, tuple[str, ...]]:
    """(the corrected command, IDs of the checks whose fixes it applies), or (None, ()) when nothing applies."""
    from .launch import LaunchError, split_command
    from .runner import Runner
    from .target import build_target

    if target.launch is None or (target.deployment is not None and target.deployment.entrypoint_problem):
        return None, ()
    runner = Runner(registry, select=lambda c: c.category in CATEGORIES)
    current = target
    applied: list[str] = []
    rs = [r for r in results if r.target == target.label]
    seen = {tuple(target.launch.args)}
    for _ in range(MAX_ROUNDS):
        r = _first_safe(rs)
        if r is None:
            break
        try:
            nxt = build_target(
                split_command(r.fix.launch_command),
                server=target.server,
                server_version=target.version_str,
                label=target.label,
                source=target.source,
                pid=target.pid,
                deployment=target.deployment,
            )
        except LaunchError:
            break
        if nxt.launch is None or tuple(nxt.launch.args) in seen:
            break
        seen.add(tuple(nxt.launch.args))
        applied.append(r.id)
        current = nxt
        rs = runner.run([current])
    if len(applied) < 2:  # one fix: its own corrected command already says it all
        return None, ()
    return current.launch.display(), tuple(dict.fromkeys(applied))
