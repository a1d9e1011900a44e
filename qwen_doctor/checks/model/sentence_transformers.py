"""model.sentence-transformers: modules.json and 1_Pooling/config.json select last-token pooling (what servers do without them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ...facts import as_int, target_env
from ...readers import read_json_file
from ...results import Applicability, Fix, Outcome
from ...spec import check
from ...versions import Behaviour, Range, Row
from ._common import download, model_dir, model_key, qwen3_only

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...target import Target

#: whether vLLM, given no --runner/--task, picks embedding mode from modules.json + 1_Pooling (vllm-tei-qwen3.md B.2)
VLLM_ST_AUTODETECT = Behaviour(
    "vllm.st-autodetect",
    "Whether vLLM with no --runner/--task serves a Qwen3ForCausalLM directory with sentence-transformers files as an embedding model.",
    (
        Row("vllm", Range(">=0.10.1"), True, "vllm/config/__init__.py _get_default_runner_type at v0.10.1.1 (vllm/config/model.py at v0.33.0)"),
        Row("vllm", Range(">=0.10.0,<0.10.1"), False, "vllm/config.py _resolve_runner at v0.10.0 (ForCausalLM -> generate); vllm-project/vllm#21614"),
        Row("vllm", Range("<0.10.0"), True, "vllm/config.py _get_preferred_task at v0.8.5"),
    ),
)


@dataclass(frozen=True)
class StFiles:
    """modules.json and the Pooling module's config.json of a directory (read once per run per directory)."""

    modules: Any  # parsed modules.json, or None
    modules_error: str | None
    pooling_path: str | None  # the Pooling module's folder, when modules.json names one
    pooling: Any  # its parsed config.json, or None
    pooling_error: str | None
    pooling_file_exists: bool  # 1_Pooling/config.json exists (TEI reads it without modules.json)


def read_st_files(d: Path) -> StFiles:
    mods, err = read_json_file(d / "modules.json")
    ppath = None
    pcfg, perr = None, None
    if isinstance(mods, list):
        pool_mod = next((m for m in mods if isinstance(m, dict) and str(m.get("type", "")).endswith("models.Pooling")), None)
        if pool_mod is not None:
            ppath = str(pool_mod.get("path") or "1_Pooling")
            pcfg, perr = read_json_file(d / ppath / "config.json")
    try:
        pool_exists = (d / "1_Pooling" / "config.json").exists()
    except OSError:
        pool_exists = False
    return StFiles(mods, err, ppath, pcfg, perr, pool_exists)


def _pooling_mode(cfg: Mapping[str, Any]) -> str | None:
    """The sentence-transformers pooling mode a 1_Pooling/config.json selects (the first true pooling_mode_*)."""
    for k, v in cfg.items():
        if k.startswith("pooling_mode_") and v is True:
            return k[len("pooling_mode_") :]
    return None


def _vllm_runner_given(t: "Target") -> bool:
    vals = t.launch.parsed.values if t.launch and t.launch.parsed else {}
    return vals.get("task") in ("embed", "embedding") or vals.get("runner") == "pooling" or vals.get("convert") == "embed"


def _vllm_autodetect_note(ctx: "Context") -> str:
    """What vLLM does without --runner/--task, for the release seen (any release when no server is known)."""
    server = ctx.server if ctx.target.server == "vllm" else None
    if server is not None and server.below_known:
        return (
            f"vLLM {server.version} is older than any release the doctor knows; 0.8.5 and 0.10.1 or later pick embedding mode from "
            "modules.json + 1_Pooling when no --runner/--task is given (0.10.0 never auto-detects)"
        )
    if server is not None and server.at(VLLM_ST_AUTODETECT, True) is False:
        return (
            f"vLLM {server.version} never auto-detects embedding mode (0.10.0 resolves Qwen3ForCausalLM to the generate runner), with or without modules.json"
        )
    who = f"vLLM {server.version}" if server is not None and server.version else "vLLM (0.8.5, and 0.10.1 or later)"
    return (
        f"{who} picks embedding mode and last-token pooling from modules.json + 1_Pooling when no --runner/--task is given; "
        "without them `vllm serve DIR` runs a generator (0.10.0 never auto-detects)"
    )


@check(
    "model.sentence-transformers",
    "Sentence-transformers files (pooling)",
    applies=qwen3_only("last-token pooling from the sentence-transformers files"),
    requires=("model.directory",),
    reads=("model", "server"),
    claims=(VLLM_ST_AUTODETECT.id,),
)
def check_sentence_transformers(ctx: "Context") -> Outcome:
    """What it checks: the sentence-transformers files: modules.json (Transformer -> Pooling -> Normalize) and
    1_Pooling/config.json selecting last-token pooling (`pooling_mode_lasttoken: true`), which the current
    Qwen/Qwen3-Embedding repos ship. Skipped for a model that is clearly not Qwen3-Embedding.

    Why it matters: the files were added days after release, so their absence marks a stale snapshot (whose tokenizer
    also lacks the end token). It changes what servers do: vLLM 0.8.5 and 0.10.1+ auto-detect embedding mode and
    last-token pooling from modules.json when no `--runner`/`--task` is given (0.10.0 never does: vllm/config.py
    `_resolve_runner` at v0.10.0, vllm#21614; `_get_default_runner_type` at v0.10.1.1), so without it
    `vllm serve DIR` runs a generator, and without the Normalize module vLLM does not normalize; TEI reads its pooling
    from 1_Pooling/config.json and refuses to start without it unless `--pooling last-token` is given;
    sentence-transformers falls back to mean pooling. SGLang ignores these files (its Qwen3 embedding path always pools
    the last token and normalizes). A mean or CLS pooling config gives wrong vectors on vLLM and TEI.

    How to fix: take modules.json, 1_Pooling/config.json and config_sentence_transformers.json from the current model
    repo; on vLLM also give `--runner pooling` (or `--task embed` on 0.8.5-0.12); on TEI `--pooling last-token`.
    """
    t = ctx.target
    d = model_dir(ctx)
    repo, dl = download(ctx, d, ("modules.json", "1_Pooling/config.json", "config_sentence_transformers.json"))
    fix_dl = Fix(f"Take the sentence-transformers files from {repo}.", commands=dl, applicability=Applicability.UNSAFE)
    st: StFiles = ctx.facts.once(("st-files", model_key(ctx)), lambda: read_st_files(d))
    mods, err = st.modules, st.modules_error
    tei_pool = t.option("pooling") if t.server == "tei" else None
    if t.server == "tei" and not t.given("pooling"):
        tei_pool = target_env(t, "POOLING", inherit=False)
    ev: dict[str, Any] = {"modules_json": mods is not None}
    if tei_pool is not None and tei_pool != "last-token":
        return Outcome.fail(
            f"TEI --pooling {tei_pool}: Qwen3-Embedding is trained with last-token pooling; other pooling gives wrong vectors",
            Fix("Use --pooling last-token (or drop --pooling: TEI then reads 1_Pooling/config.json)."),
            **ev,
            tei_pooling=tei_pool,
        )
    if mods is None:
        if err and "missing" not in err:
            return Outcome.fail(err, fix_dl, **ev)
        consequences = []
        sev_fail = False
        if t.server == "vllm":
            if _vllm_runner_given(t):
                consequences.append("vLLM runs in embedding mode because the launch command says so")
            else:
                consequences.append(_vllm_autodetect_note(ctx) + " (see launch.embedding-mode)")
        elif t.server == "tei":
            if tei_pool == "last-token":
                consequences.append("TEI uses --pooling last-token as given")
            elif not st.pooling_file_exists:
                sev_fail = True
                consequences.append(
                    'TEI refuses to start: "The `--pooling` arg is not set and we could not find a pooling configuration (`1_Pooling/config.json`) for this model."'
                )
        elif t.server == "sglang":
            consequences.append("SGLang does not read these files (it pools the last token and normalizes anyway)")
        else:
            consequences.append(
                _vllm_autodetect_note(ctx)
                + "; TEI refuses to start without 1_Pooling/config.json unless --pooling last-token; sentence-transformers falls back to mean pooling"
            )
        text = (
            "no modules.json: a stale snapshot of the model (the sentence-transformers files were added after release; its tokenizer may lack the end token too); "
            + "; ".join(consequences)
        )
        if sev_fail:
            return Outcome.fail(
                text,
                Fix(f"Give --pooling last-token, or take the sentence-transformers files from {repo}.", commands=dl, applicability=Applicability.UNSAFE),
                **ev,
            )
        return Outcome.warn(text, fix_dl, **ev)
    if not isinstance(mods, list):
        return Outcome.fail("modules.json is not a list of modules", fix_dl, **ev)
    types = [str(m.get("type", "")) for m in mods if isinstance(m, dict)]
    ev["modules"] = [x.rsplit(".", 1)[-1] for x in types]
    normalize = any(x.endswith("models.Normalize") for x in types)
    ev["normalize_module"] = normalize
    problems, warns = [], []
    if st.pooling_path is None:
        problems.append("modules.json has no Pooling module")
    else:
        ppath, pcfg, perr = st.pooling_path, st.pooling, st.pooling_error
        if pcfg is None:
            problems.append(f"modules.json points to {ppath}/ but {perr.replace('config.json', ppath + '/config.json') if perr else 'it is unusable'}")
        elif not isinstance(pcfg, dict):
            problems.append(f"{ppath}/config.json is not a JSON object")
        else:
            mode = _pooling_mode(pcfg)
            ev["pooling_mode"] = mode
            if mode != "lasttoken":
                where = {"sglang": None, "vllm": "vLLM pools that way", "tei": "TEI pools that way"}.get(t.server or "", "vLLM and TEI pool that way")
                msg = f"{ppath}/config.json selects {mode or 'no'} pooling; Qwen3-Embedding is trained with last-token pooling"
                if t.server == "sglang":
                    warns.append(msg + " (SGLang ignores it, but sentence-transformers clients do not)")
                elif t.server == "tei" and tei_pool == "last-token":
                    warns.append(msg + " (TEI uses --pooling last-token as given)")
                else:
                    problems.append(msg + f": {where}, giving wrong vectors")
            dim = as_int(pcfg.get("word_embedding_dimension"))
            cfg = ctx.model.config if ctx.model is not None else None
            hidden = as_int(cfg.get("hidden_size")) if cfg else None
            if dim and hidden and dim != hidden:
                warns.append(f"{ppath}/config.json says word_embedding_dimension {dim} but config.json hidden_size {hidden}")
    if not normalize and t.server in (None, "vllm"):
        warns.append("modules.json has no Normalize module: vLLM takes normalization from it, so its vectors would not be unit length")
    if problems:
        return Outcome.fail("; ".join(problems + warns), fix_dl, **ev)
    if warns:
        return Outcome.warn("; ".join(warns), fix_dl, **ev)
    return Outcome.passed("modules.json (" + " -> ".join(ev["modules"]) + ") with last-token pooling", **ev)
