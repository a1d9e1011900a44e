"""launch.launcher: the launcher itself starts the server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Fix, Outcome
from ...spec import check
from ...versions import Behaviour, rows
from ._common import ANY_SERVER

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

#: whether the `sglang serve` console script exists
SGLANG_SERVE = Behaviour(
    "sglang.serve-command",
    "Whether the `sglang serve` console script exists.",
    rows(
        "sglang",
        "sglang.md §1: python/sglang/cli/main.py and the wheel's entry_points.txt at v0.5.5 (absent in 0.5.4.post3)",
        (">=0.5.5", True),
        ("<0.5.5", False),
    ),
)


@check(
    "launch.launcher",
    "Launcher starts the server",
    applies=ANY_SERVER,
    reads=("server",),
)
def check_launcher(ctx: "Context") -> Outcome:
    """What it checks: that the launcher itself will start the server (e.g. `sglang serve`, `python -m sglang.launch_server`).

    Why it matters: `python -m sglang.cli.main serve` exits at once doing nothing (the module has no main guard);
    `sglang serve` exists only since SGLang 0.5.5; and `sglang serve` pre-scans argv for `--model-path`/`--model` before
    argparse, so an abbreviation like `--model-pa` that `python -m sglang.launch_server` would accept fails there with
    "Error: --model-path is required" (sglang.md §1: cli/main.py, cli/serve.py, cli/utils.py). vLLM's
    `python -m vllm.entrypoints.openai.api_server` takes no positional model.

    How to fix: use `sglang serve --model-path ...` (SGLang >= 0.5.5) or `python -m sglang.launch_server --model-path ...`;
    `vllm serve MODEL ...`; spell --model-path out in full.
    """
    t = ctx.target
    L = t.launch
    assert L is not None
    server = ctx.server
    if L.launcher.startswith("python -m sglang.cli.main"):
        return Outcome.fail(
            '`python -m sglang.cli.main serve` does nothing: sglang/cli/main.py has no `if __name__ == "__main__"` guard, so the process exits at once',
            ctx.relaunch.fix(
                "Use the `sglang serve` console script (or python -m sglang.launch_server) with the same arguments.", launcher=["sglang", "serve"]
            ),
        )
    if L.launcher == "sglang serve" and server is not None and not server.at(SGLANG_SERVE, False):
        why = "it arrived in 0.5.5" if not server.below_known else f"SGLang {server.version} is older than any release the doctor knows; it arrived in 0.5.5"
        return Outcome.fail(
            f"`sglang serve` does not exist in SGLang {server.version} ({why}): the shell will not find the command",
            ctx.relaunch.fix("Use python -m sglang.launch_server with the same arguments.", launcher=["python", "-m", "sglang.launch_server"]),
        )
    if L.launcher == "sglang serve" and L.parsed is not None:
        mp = [o for o in L.parsed.occurrences if o.dest == "model_path"]
        if mp and all(o.kind == "abbrev" for o in mp):
            return Outcome.fail(
                f"`sglang serve` looks for --model-path/--model by their full names before parsing; '{mp[-1].written}' is not found there and the command fails with \"Error: --model-path is required\"",
                ctx.relaunch.fix("Spell the option out in full.", replace_tokens={mp[-1].index: ["--model-path", str(mp[-1].value)]}),
            )
    if L.server == "vllm" and L.launcher == "python -m vllm.entrypoints.openai.api_server" and L.parsed is not None and "model" not in L.parsed.values:
        return Outcome.fail(
            "python -m vllm.entrypoints.openai.api_server needs --model (it takes no positional model)",
            Fix("Pass the model with --model, or use `vllm serve MODEL`."),
        )
    return Outcome.passed(f"launcher `{L.launcher}` starts {t.server}", launcher=L.launcher)
