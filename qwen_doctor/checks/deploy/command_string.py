"""deploy.command-string: a Kubernetes ``command:``/``args:`` entry that holds several words (Kubernetes runs no shell
and never splits an entry)."""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING

from ...results import Applicability, Fix, Outcome
from ...spec import check
from ._common import deployment, from_file

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


def _split(entry: str) -> list[str]:
    try:
        return shlex.split(entry)
    except ValueError:
        return entry.split()


def _consequence(entry: str) -> str:
    words = _split(entry)
    if entry.lstrip().startswith("-"):
        return (
            f"{json.dumps(entry)} reaches the server as ONE argument, not as the option {words[0]} with its value: "
            "the server rejects it as unrecognised and exits (or, for vLLM, may read it as the model name)"
        )
    return (
        f"{json.dumps(entry)} is one argv entry: as the command, the container runtime looks for an executable of that name and "
        f"the container never starts (exec: {json.dumps(entry)}: executable file not found in $PATH); as an argument, the server does not recognise it"
    )


@check(
    "deploy.command-string",
    "Kubernetes command and args are lists of single words",
    applies=from_file("kubernetes"),
    reads=("deployment",),
)
def check_command_string(ctx: "Context") -> Outcome:
    """What it checks: that no entry of the container's `command:` or `args:` list holds several words, such as
    `command: ["python3 -m sglang.launch_server"]` or `args: ["--model-path /models/Qwen3-Embedding-0.6B"]` (a shell
    script after `sh -c` is meant to be one entry and is not flagged).

    Why it matters: Kubernetes passes each entry as one argv element and runs no shell ("The command and arguments
    that you define ... are not run in a shell", Kubernetes docs: Define a Command and Arguments for a Container).
    A command entry with spaces makes the OCI runtime look for a program whose name contains the spaces, so the
    container fails to start: `exec: "python3 -m sglang.launch_server": executable file not found in $PATH` (runc,
    surfaced by the kubelet as CreateContainerError / RunContainerError and a restart loop). An argument entry with
    spaces reaches the server as a single token that its parser does not recognise as the option (argparse treats a
    token with a space as a positional argument; TEI's clap parser reads the whole token as the flag name), so the
    server exits with a usage error or misreads it.

    How to fix: split every entry into its own list item: `command: ["python3", "-m", "sglang.launch_server"]`,
    `args: ["--model-path", "/models/Qwen3-Embedding-0.6B"]`; or run the line through a shell:
    `command: ["sh", "-c", "python3 -m sglang.launch_server ..."]`.
    """
    d = deployment(ctx)
    script = (d.shell_script or "").strip()
    bad = [e for e in d.command_strings if e.strip() and e.strip() != script]
    if not bad:
        return Outcome.passed("every command/args entry is a single word (or a shell script after sh -c)")
    items = [w for e in bad for w in _split(e)]
    fix = Fix(
        "Split each entry into its own list item, e.g.\n"
        + "\n".join(f"- {json.dumps(w)}" for w in items)
        + f"\n(instead of {', '.join(json.dumps(e) for e in bad)})",
        applicability=Applicability.DISPLAY_ONLY,
    )
    return Outcome.fail("; ".join(_consequence(e) for e in bad), fix, command_strings=list(bad))
