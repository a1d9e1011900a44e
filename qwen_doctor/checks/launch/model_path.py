"""launch.model-path: a model is named, and the served name is what clients expect (trailing slash)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Fix, Outcome
from ...spec import check
from ...versions import Behaviour, rows
from ._common import ANY_SERVER

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

#: the model vLLM serves when none is named
VLLM_DEFAULT_MODEL = Behaviour(
    "vllm.default-model",
    "The model vLLM serves when the launch command names none.",
    (
        *rows("vllm", "--model default in [vLLM 0.8.5] make_arg_parser (qwen_doctor/data/flags/vllm/0.8.5.json)", ("<0.10.0", "facebook/opt-125m")),
        *rows(
            "vllm",
            "--model default in [vLLM 0.10.0] and [vLLM 0.33.0] make_arg_parser (qwen_doctor/data/flags/vllm/0.10.0.json, 0.33.0.json)",
            (">=0.10.0", "Qwen/Qwen3-0.6B"),
        ),
    ),
)

#: what TEI does when neither --model-id nor MODEL_ID is given
TEI_NO_MODEL = Behaviour(
    "tei.no-model-id",
    "What TEI does without --model-id / MODEL_ID.",
    (
        *rows("tei", "router/src/main.rs at v1.7.2 and v1.8.0: --model-id default_value BAAI/bge-large-en-v1.5 (vllm-tei-qwen3.md C.2)", ("<1.9.0", "default")),
        *rows("tei", "router/src/main.rs at v1.9.0 and v1.9.2: --model-id required (vllm-tei-qwen3.md C.2)", (">=1.9.0", "refuses")),
    ),
)

TEI_OLD_DEFAULT = "BAAI/bge-large-en-v1.5"


def _no_model(ctx: "Context") -> Outcome:
    server = ctx.server
    assert server is not None
    kind = server.kind
    if kind == "vllm":
        default = server.at(VLLM_DEFAULT_MODEL)
        if default is None:
            default = f"(facebook/opt-125m in {server.oldest_known}; {server.describe()} is older than any release the doctor knows)"
        return Outcome.fail(
            f"no model given: vLLM then serves its default model {default}, a text generator, not Qwen3-Embedding",
            Fix("Name the model: vllm serve /models/Qwen3-Embedding-0.6B (or --model)."),
        )
    if kind == "tei":
        fix = Fix("Add --model-id /models/Qwen3-Embedding-0.6B (or set MODEL_ID).")
        what = server.at(TEI_NO_MODEL, "default")
        if what == "default":
            older = "" if not server.below_known else f"{server.describe()} is older than any release the doctor knows; "
            return Outcome.fail(
                f"no --model-id (nor MODEL_ID): {older}TEI before 1.9 then silently serves its default {TEI_OLD_DEFAULT}; 1.9 and later refuse to start", fix
            )
        return Outcome.fail(
            f"no --model-id (nor MODEL_ID): {server.describe()} refuses to start (TEI 1.9 and later; releases before 1.9 silently served {TEI_OLD_DEFAULT})",
            fix,
        )
    opt = {"sglang": "--model-path"}.get(kind, "a model")
    return Outcome.fail(f"no model given: the server stops at start-up asking for {opt}", Fix(f"Add {opt}."))


@check(
    "launch.model-path",
    "Model path given and served name as clients expect",
    applies=ANY_SERVER,
    reads=("server",),
    claims=(
        VLLM_DEFAULT_MODEL.id,
        TEI_NO_MODEL.id,
    ),
)
def check_model_path(ctx: "Context") -> Outcome:
    """What it checks: the launch command names a model, and how the model path is written (a trailing slash).

    Why it matters: without a model SGLang stops with "--model-path is required"; vLLM serves its default model
    (facebook/opt-125m before 0.10.0, Qwen/Qwen3-0.6B since: the --model default of each release's parser), and TEI
    before 1.9 serves BAAI/bge-large-en-v1.5 (router/src/main.rs). A trailing slash does *not* break loading (a local
    directory with a trailing slash loads fine), but the served model name defaults to the path verbatim, slash
    included (sglang.md §7): `/v1/models` lists `/models/Qwen3-Embedding-0.6B/` and vLLM answers 404 "The model ...
    does not exist" to clients that send the name without the slash (SGLang ignores the request's model field).

    How to fix: drop the trailing slash, or set `--served-model-name` to the name clients send.
    """
    t = ctx.target
    mp = t.model_path
    if not mp:
        return _no_model(ctx)
    served = t.option("served_model_name")
    if isinstance(served, (list, tuple)):
        served = served[0] if served else None
    if mp.endswith("/") and len(mp) > 1:
        if served:
            return Outcome.passed(f"model path has a trailing slash, but --served-model-name {served} sets the name clients use", model_path=mp)
        parsed = t.launch.parsed if t.launch else None
        occ = [o for o in (parsed.occurrences if parsed else ()) if o.dest in ("model_path", "model", "model_tag", "model_id")]
        reps = {}
        if occ:
            o = occ[-1]
            tok = t.launch.args[o.index]
            if o.kind == "positional":
                reps[o.index] = [mp.rstrip("/")]
            elif "=" in tok:
                reps[o.index] = [tok.split("=", 1)[0] + "=" + mp.rstrip("/")]
            else:
                reps[o.index + 1] = [mp.rstrip("/")]
        consequence = (
            'vLLM answers 404 "The model ... does not exist" to clients sending the name without it'
            if t.server == "vllm"
            else "SGLang ignores the request's model field, but clients that match on /v1/models see the slash"
        )
        return Outcome.warn(
            f"the served model name defaults to the path verbatim, so it will be '{mp}' with the trailing slash; {consequence} (loading itself works)",
            ctx.relaunch.fix("Drop the trailing slash (or set --served-model-name).", replace_tokens=reps),
            model_path=mp,
            served_model_name=mp,
        )
    return Outcome.passed(f"model {mp}", model_path=mp, served_model_name=served or mp)
