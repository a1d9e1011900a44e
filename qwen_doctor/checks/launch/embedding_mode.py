"""launch.embedding-mode: the server runs the model in embedding mode."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Applicability, Fix, Outcome
from ...spec import check
from ...versions import Behaviour, rows
from ._common import embedding_flags, flags_text, server_in

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

SGLANG_400 = "This model does not appear to be an embedding model by default. Please add `--is-embedding` when launching the server or try another model."

#: whether SGLang treats the bare Qwen3Model architecture as an embedding model without --is-embedding
SGLANG_QWEN3MODEL_EMBEDS = Behaviour(
    "sglang.qwen3model-auto-embedding",
    "Whether SGLang auto-detects architecture Qwen3Model as an embedding model.",
    rows(
        "sglang",
        "sglang.md §3: is_generation_model list in srt/configs/model_config.py; Qwen3Model added in v0.5.20 by https://github.com/sgl-project/sglang/pull/32457",
        (">=0.5.20", True),
        ("<0.5.20", False),
    ),
)

#: how vLLM resolves the runner when no --task/--runner/--convert is given
VLLM_RUNNER_AUTO = Behaviour(
    "vllm.runner-auto",
    "How vLLM picks the runner of a Qwen3ForCausalLM checkpoint with no runner flag.",
    (
        *rows("vllm", "vllm-tei-qwen3.md B.2: [vLLM 0.8.5] vllm/config.py _get_preferred_task (embed when modules.json is found)", ("<0.10.0", "modules.json")),
        *rows(
            "vllm",
            "vllm-tei-qwen3.md B.2: [vLLM 0.10.0] vllm/config.py _resolve_runner (arch suffix only); https://github.com/vllm-project/vllm/issues/21614",
            (">=0.10.0,<0.10.1", "architecture"),
        ),
        *rows(
            "vllm",
            "vllm-tei-qwen3.md B.2: [vLLM 0.10.1.1] vllm/config/__init__.py _get_default_runner_type; [vLLM 0.33.0] vllm/config/model.py L1283-1328",
            (">=0.10.1", "modules.json"),
        ),
    ),
)

#: what /v1/embeddings answers on a vLLM server that runs the model as a generator
VLLM_GENERATOR_EMBEDDINGS = Behaviour(
    "vllm.generator-embeddings-route",
    "What /v1/embeddings answers when vLLM serves the model as a generator.",
    (
        *rows(
            "vllm",
            "vllm-tei-qwen3.md B.5: [vLLM 0.8.5] api_server.py L508-517; [vLLM 0.13.0] pooling/embed/api_router.py L44 (0.14-0.19 not read)",
            ("<0.20.0", '/v1/embeddings answers 400 "The model does not support Embeddings API"'),
        ),
        *rows(
            "vllm",
            "vllm-tei-qwen3.md B.5: [vLLM 0.20.0] openai/api_server.py L250-253; [vLLM 0.33.0] launchers/api_server/routers.py L80-83",
            (">=0.20.0", "/v1/embeddings answers 404 Not Found"),
        ),
    ),
)


def _st_config(ctx: "Context") -> bool | None:
    """Whether the model directory has the sentence-transformers modules.json vLLM's auto-detection reads (None: unknown)."""
    d = ctx.model.directory if ctx.model is not None else None
    if d is None:
        return None
    try:
        return (d / "modules.json").is_file()
    except OSError:
        return None


@check(
    "launch.embedding-mode",
    "Server runs the model in embedding mode",
    applies=server_in("sglang", "vllm"),
    reads=("server", "model"),
    claims=(
        SGLANG_QWEN3MODEL_EMBEDS.id,
        VLLM_RUNNER_AUTO.id,
        VLLM_GENERATOR_EMBEDDINGS.id,
    ),
)
def check_embedding_mode(ctx: "Context") -> Outcome:
    """What it checks: that the server will run the model in embedding mode.

    Why it matters: Qwen3-Embedding declares `Qwen3ForCausalLM`, so SGLang (every version) treats it as a generator
    unless `--is-embedding` is given; the server starts fine and then every `/v1/embeddings` call answers HTTP 400
    "This model does not appear to be an embedding model by default. Please add `--is-embedding` ..." (sglang.md §3).
    vLLM needs `--task embed` (0.8.5-0.12.0) or `--runner pooling` / `--convert embed` (0.10.1 and later); it
    auto-detects pooling from the model's sentence-transformers `modules.json` in 0.8.5 and from 0.10.1 on, but not in
    0.10.0 (vllm#21614), and a stale or trimmed model copy without modules.json is served as a generator
    (`/v1/embeddings` then 400 "The model does not support Embeddings API" up to 0.13, 404 from 0.20;
    vllm-tei-qwen3.md B.1, B.2, B.5).

    How to fix: SGLang: add `--is-embedding`. vLLM >= 0.10.1: add `--runner pooling --convert embed`; 0.8.5-0.12.0: `--task embed`.
    """
    t = ctx.target
    server = ctx.server
    assert server is not None
    model = ctx.model
    if t.server == "sglang":
        if server.option("is_embedding") is True:
            return Outcome.passed("--is-embedding is set")
        archs = list((model.config or {}).get("architectures") or []) if model is not None else []
        if "Qwen3Model" in archs and server.at(SGLANG_QWEN3MODEL_EMBEDS, False):
            return Outcome.passed("architecture Qwen3Model is auto-detected as an embedding model by SGLang >= 0.5.20", architectures=archs)
        return Outcome.fail(
            f'SGLang will run this model as a generator: no --is-embedding. It starts, then every /v1/embeddings request fails with HTTP 400 "{SGLANG_400}"',
            ctx.relaunch.fix(
                "Add --is-embedding (Qwen3-Embedding declares Qwen3ForCausalLM, which SGLang never auto-detects as an embedding model).",
                set_options={"--is-embedding": None},
            ),
            architectures=archs or None,
        )
    # vLLM
    parsed = t.launch.parsed if t.launch else None
    vals = parsed.values if parsed else {}
    task, runner, convert = vals.get("task"), vals.get("runner"), vals.get("convert")
    flags = embedding_flags(ctx)
    # --task goes when the release's embedding options are --runner/--convert (deprecated in 0.10.1, gone in 0.13)
    drop = [o for o in (parsed.occurrences if parsed else ()) if o.dest == "task"] if "--task" not in flags else []
    fix = ctx.relaunch.fix("Put vLLM in embedding mode: " + flags_text(flags), set_options=flags, drop=drop)
    served = server.at(VLLM_GENERATOR_EMBEDDINGS, "/v1/embeddings answers 400 or 404")
    symptom = (
        "the real Qwen3-Embedding checkpoint (keys without 'model.') then fails at start-up with "
        "\"There is no module or parameter named 'embed_tokens' in Qwen3ForCausalLM\" (seen on vLLM 0.32), "
        f"and a checkpoint with 'model.' keys starts as a generator: {served}"
    )
    if task in ("embed", "embedding") or runner == "pooling" or convert == "embed":
        used = "--task " + str(task) if task in ("embed", "embedding") else ("--runner pooling" if runner == "pooling" else "--convert embed")
        return Outcome.passed(f"embedding mode set with {used}")
    if runner == "generate" or (task not in (None, "auto")) or convert not in (None, "auto", "none"):
        what = f"--runner {runner}" if runner == "generate" else (f"--task {task}" if task not in (None, "auto") else f"--convert {convert}")
        return Outcome.fail(f"{what} runs the model as a generator: {symptom}", fix)
    # auto-detection
    auto = server.at(VLLM_RUNNER_AUTO)
    if auto is None:
        return Outcome.warn(
            f"no runner flag, and {server.describe()} is older than any release the doctor knows ({server.oldest_known}): whether it detects embedding mode by itself is not known",
            _explicit(fix),
        )
    if auto == "architecture":
        return Outcome.fail(
            f"vLLM {server.version} resolves Qwen3ForCausalLM to the generate runner (no modules.json look-up in 0.10.0): it fails to load the weights (\"There is no module or parameter named 'layers' in Qwen3ForCausalLM\") or serves a generator",
            fix,
        )
    st = _st_config(ctx)
    hub = model is not None and model.location.hub_id
    if st is True:
        return Outcome.passed(
            f"no runner flag, but vLLM {server.version or ''} auto-detects pooling from modules.json in the model directory".replace("  ", " "),
            auto_detected=True,
        )
    if st is False and not hub:
        return Outcome.fail(
            f"no runner flag and the model directory has no modules.json (stale or trimmed snapshot), so vLLM serves it as a generator: {symptom}",
            fix,
            model_dir=t.model_path,
        )
    if st is False:  # a partial cache snapshot: vLLM asks the hub for modules.json unless offline
        where = "a Hugging Face repo id whose cached snapshot has no modules.json (vLLM looks it up on the hub unless offline)"
    else:
        where = "a Hugging Face repo id" if hub else "not readable here"
    return Outcome.warn(
        f"no runner flag: vLLM picks embedding mode only if it finds modules.json in the model, which is {where}; the current Qwen/Qwen3-Embedding repos have it, stale copies do not",
        _explicit(fix),
    )


def _explicit(fix: Fix) -> Fix:
    return Fix(
        "Make embedding mode explicit.",
        launch_command=fix.launch_command,
        applicability=Applicability.SAFE if fix.launch_command else Applicability.DISPLAY_ONLY,
    )
