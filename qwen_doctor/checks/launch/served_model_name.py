"""launch.served-model-name: no ':' in the served model name on SGLang >= 0.5.6."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Outcome
from ...spec import check
from ...versions import Behaviour, rows
from ._common import server_in

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

#: whether SGLang accepts a ':' in the served model name
SGLANG_COLON_IN_NAME = Behaviour(
    "sglang.served-name-colon",
    "Whether SGLang starts with a ':' in served_model_name (which defaults to --model-path).",
    (
        *rows(
            "sglang",
            "sglang.md §7: served_model_name assertion since v0.5.6 ('The colon is reserved for the model:adapter syntax'; arg_groups/validation_hook.py at v0.5.23)",
            (">=0.5.6", "refuses"),
        ),
        *rows("sglang", "sglang.md §7: no such assertion before v0.5.6 (server_args.py at v0.5.5)", ("<0.5.6", "accepts")),
    ),
)


@check(
    "launch.served-model-name",
    "Served model name accepted by SGLang",
    applies=server_in("sglang"),
    reads=("server",),
    claims=(SGLANG_COLON_IN_NAME.id,),
)
def check_served_name(ctx: "Context") -> Outcome:
    """What it checks: the served model name has no ':' on SGLang >= 0.5.6.

    Why it matters: SGLang 0.5.6 and later stop at start-up with "served_model_name cannot contain a colon (':')
    character. The colon is reserved for the 'model:adapter' syntax" (sglang.md §7). The served name defaults to
    `--model-path`, so a path like `/models/qwen3:0.6b` fails even without `--served-model-name`.

    How to fix: set `--served-model-name` to a name without ':'.
    """
    t = ctx.target
    server = ctx.server
    assert server is not None
    served = server.option("served_model_name") or t.model_path
    if not served:
        return Outcome.skip("no served model name or model path")
    if ":" not in served:
        return Outcome.passed(f"served model name '{served}' has no ':'")
    behaviour = server.at(SGLANG_COLON_IN_NAME)
    if behaviour != "refuses":
        older = "" if behaviour is not None else " (older than any release the doctor knows)"
        return Outcome.passed(f"served model name '{served}' contains ':', which SGLang {server.version}{older} still accepts (0.5.6 and later refuse it)")
    name = served.rstrip("/").split("/")[-1].replace(":", "-")
    return Outcome.fail(
        f"SGLang refuses to start: served_model_name '{served}' contains ':' (reserved for the 'model:adapter' syntax since 0.5.6)"
        + ("" if server.given("served_model_name") else "; the name defaults to --model-path"),
        ctx.relaunch.fix(f"Set --served-model-name without a colon, e.g. {name}.", set_options={"--served-model-name": name}),
    )
