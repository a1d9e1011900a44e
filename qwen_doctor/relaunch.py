"""The one way a corrected launch command is made: the target's own command, relaunched with edits.

Every fix that prints a corrected command goes through :class:`Relaunch` (``ctx.relaunch``), so every corrected
command follows the same rules: secrets redacted, the environment prefix kept, no corrected command for a
command that is mis-assembled in its deployment file (the edited copy would mislead), and a fix with no
corrected command is display-only.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

from .results import Applicability, Fix

if TYPE_CHECKING:  # pragma: no cover
    from .launch import Occurrence
    from .target import Target


@dataclass(frozen=True)
class Relaunch:
    target: "Target"

    @property
    def possible(self) -> bool:
        t = self.target
        return t.launch is not None and not (t.deployment is not None and t.deployment.entrypoint_problem)

    def command(
        self,
        *,
        drop: Sequence["Occurrence"] = (),
        set_options: Mapping[str, str | None] | None = None,
        replace_tokens: Mapping[int, Sequence[str]] | None = None,
        launcher: Sequence[str] | None = None,
    ) -> str | None:
        """The corrected command line, or None when there is no command to correct.

        ``set_options`` maps an option to its value (None for a switch): replaced in place when present, else
        appended. ``launcher`` replaces everything before the server arguments (e.g. ``["vllm", "serve"]``).
        """
        if not self.possible:
            return None
        L = self.target.launch
        assert L is not None
        if launcher is not None:
            from .redact import redact_argv

            if drop or set_options or replace_tokens:
                args = shlex.split(L.edited(drop=drop, set_options=set_options or {}, replace_tokens=replace_tokens or {}))
                args = args[len(L.env) + len(L.prefix) :]
            else:
                args = list(L.args)
            from .launch import shell_join

            return shell_join(redact_argv([*(f"{k}={v}" for k, v in L.env), *L.outer, *launcher, *args]))  # outer: a run line
        try:
            return L.edited(drop=drop, set_options=set_options or {}, replace_tokens=replace_tokens or {})
        except Exception:  # noqa: BLE001 - a fix without a corrected command is still a fix
            return None

    def fix(
        self,
        text: str,
        *,
        drop: Sequence["Occurrence"] = (),
        set_options: Mapping[str, str | None] | None = None,
        replace_tokens: Mapping[int, Sequence[str]] | None = None,
        launcher: Sequence[str] | None = None,
        commands: tuple[str, ...] = (),
        applicability: Applicability = Applicability.SAFE,
    ) -> Fix:
        """A fix whose corrected command is this target's command with the edits; display-only when there is none."""
        edits = bool(drop or set_options or replace_tokens or launcher is not None)
        cmd = self.command(drop=drop, set_options=set_options, replace_tokens=replace_tokens, launcher=launcher) if edits else None
        return Fix(text, commands=commands, launch_command=cmd, applicability=applicability if cmd else Applicability.DISPLAY_ONLY)
