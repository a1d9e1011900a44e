"""Launch-command checks (``launch.*``): what the server will do with the command as written.

Facts come from shared/reference/sglang.md and vllm-tei-qwen3.md; claims marked FALSE in pitfalls.md
are never printed.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

from ..flags import load_table, table_versions, version_at_least
from ..launch import ParseIssue
from ..results import Applicability, Fix, Outcome, Status
from ..modelfiles import derived_context_length, has_st_config, local_dir, looks_like_hub_id, read_config

if TYPE_CHECKING:  # pragma: no cover
    from ..context import Context
    from ..registry import Registry
    from ..target import Target

SGLANG_400 = (
    "This model does not appear to be an embedding model by default. Please add `--is-embedding` when "
    "launching the server or try another model."
)

# Mistakes seen in the wild, per server: written option -> (replacement or None, explanation)
KNOWN_MISTAKES: dict[str, dict[str, tuple[str | None, str]]] = {
    "sglang": {
        "--embedding": ("--is-embedding", "SGLang's embedding switch is --is-embedding"),
        "--embeddings": ("--is-embedding", "SGLang's embedding switch is --is-embedding"),
        "--enable-embedding": ("--is-embedding", "SGLang's embedding switch is --is-embedding"),
        "--enable-embeddings": ("--is-embedding", "SGLang's embedding switch is --is-embedding"),
        "--disable-flash-attn": (
            None,
            "--disable-flash-attn does not exist in any SGLang release; to choose the attention kernels use "
            "--attention-backend (triton, torch_native, flashinfer, fa3, ...), e.g. --attention-backend triton. "
            "Memory is governed by --mem-fraction-static and --max-total-tokens, not by the attention kernel",
        ),
        "--max-num-seqs": ("--max-running-requests", "--max-num-seqs is vLLM's option; SGLang's is --max-running-requests"),
        "--max-model-len": ("--context-length", "--max-model-len is vLLM's option; SGLang's is --context-length"),
        "--gpu-memory-utilization": ("--mem-fraction-static", "--gpu-memory-utilization is vLLM's option; SGLang's nearest is --mem-fraction-static (a different rule: see qwen-doctor explain gpu.memory-fit)"),
        "--task": ("--is-embedding", "--task is vLLM's option; SGLang needs --is-embedding"),
        "--runner": ("--is-embedding", "--runner is vLLM's option; SGLang needs --is-embedding"),
        "--convert": ("--is-embedding", "--convert is vLLM's option; SGLang needs --is-embedding"),
        "--model-id": ("--model-path", "--model-id is TEI's option; SGLang's is --model-path"),
    },
    "vllm": {
        "--is-embedding": (None, "--is-embedding is SGLang's option"),
        "--embedding": (None, "vLLM has no --embedding option"),
        "--enable-embedding": (None, "vLLM has no --enable-embedding option"),
        "--context-length": ("--max-model-len", "--context-length is SGLang's option; vLLM's is --max-model-len"),
        "--mem-fraction-static": ("--gpu-memory-utilization", "--mem-fraction-static is SGLang's option; vLLM's is --gpu-memory-utilization"),
        "--max-running-requests": ("--max-num-seqs", "--max-running-requests is SGLang's option; vLLM's is --max-num-seqs"),
        "--model-path": ("--model", "--model-path is SGLang's option; vLLM takes the model as `vllm serve MODEL` or --model"),
        "--tp-size": ("--tensor-parallel-size", "--tp-size is SGLang's option; vLLM's is --tensor-parallel-size (-tp)"),
        "--disable-flash-attn": (None, "--disable-flash-attn does not exist; vLLM chooses attention kernels itself"),
        "--model-id": ("--model", "--model-id is TEI's option"),
    },
    "tei": {
        "--model-path": ("--model-id", "TEI takes the model with --model-id"),
        "--model": ("--model-id", "TEI takes the model with --model-id"),
        "--is-embedding": (None, "TEI always serves embeddings; it has no --is-embedding"),
        "--host": ("--hostname", "TEI's bind address option is --hostname"),
    },
}


# qwen-doctor's own options that users put after `--` by mistake (and no server has)
DOCTOR_OPTIONS = frozenset({
    "--server", "--server-version", "--url", "--format", "--output", "--fail-on", "--deadline", "--checks-dir",
    "--select", "--ignore", "--model-name", "--expect-dim", "--requests", "--concurrency", "--as-user", "--samples",
    "--deep", "--offline", "--from", "--verbose",
})


def _server_in(*servers: str):
    def applies(t: "Target") -> bool | str:
        if t.launch is None:
            return "no launch command given (pass it after --, or use --from)"
        if t.server not in servers:
            return f"applies to {' and '.join(servers)} only"
        return True

    applies.__name__ = "applies_" + "_".join(servers)
    return applies


def _has_launch(t: "Target") -> bool | str:
    return True if t.launch is not None else "no launch command given (pass it after --, or use --from)"


def _issues(t: "Target", *kinds: str) -> list[ParseIssue]:
    if t.launch is None or t.launch.parsed is None:
        return []
    return [i for i in t.launch.parsed.issues if i.kind in kinds]


@lru_cache(maxsize=None)
def _versions_with(server: str, opt: str) -> tuple[str, ...]:
    out = []
    for v in table_versions(server):
        table, _ = load_table(server, v)
        if table.has(opt):
            out.append(v)
    return tuple(out)


def _launch_fix(t: "Target", text: str, *, drop=(), set_options=None, replace_tokens=None, applicability=Applicability.SAFE) -> Fix:
    cmd = t.launch.edited(drop=drop, set_options=set_options or {}, replace_tokens=replace_tokens or {}) if t.launch else None
    if t.extra.get("entrypoint_problem"):
        cmd = None  # the command itself is mis-assembled (see deploy.entrypoint); an edited copy would mislead
    return Fix(text, launch_command=cmd, applicability=applicability)


def _relaunch(L, launcher: list[str]) -> str:
    import shlex

    from ..redact import redact_argv

    return shlex.join(redact_argv([*(f"{k}={v}" for k, v in L.env), *launcher, *L.args]))


def _embedding_flags_for(t: "Target") -> dict[str, str | None]:
    """The options that put this server version in embedding mode."""
    if t.server == "sglang":
        return {"--is-embedding": None}
    v = t.version_str
    if v is None or version_at_least(v, "0.10.1"):
        return {"--runner": "pooling", "--convert": "embed"}
    return {"--task": "embed"}


# --------------------------------------------------------------------------------------------
# checks


def check_launcher(ctx: "Context") -> Outcome:
    """What it checks: that the launcher itself will start the server (e.g. `sglang serve`, `python -m sglang.launch_server`).

    Why it matters: `python -m sglang.cli.main serve` exits at once doing nothing (the module has no main guard);
    `sglang serve` exists only since SGLang 0.5.5; and `sglang serve` pre-scans argv for `--model-path`/`--model` before
    argparse, so an abbreviation like `--model-pa` that `python -m sglang.launch_server` would accept fails there with
    "Error: --model-path is required". vLLM's `python -m vllm.entrypoints.openai.api_server` takes no positional model.

    How to fix: use `sglang serve --model-path ...` (SGLang >= 0.5.5) or `python -m sglang.launch_server --model-path ...`;
    `vllm serve MODEL ...`; spell --model-path out in full.
    """
    t = ctx.target
    L = t.launch
    assert L is not None
    v = t.version_str
    if L.launcher.startswith("python -m sglang.cli.main"):
        return Outcome.fail(
            "`python -m sglang.cli.main serve` does nothing: sglang/cli/main.py has no `if __name__ == \"__main__\"` guard, so the process exits at once",
            Fix("Use the `sglang serve` console script (or python -m sglang.launch_server) with the same arguments.", launch_command=_relaunch(L, ["sglang", "serve"]), applicability=Applicability.SAFE),
        )
    if L.launcher == "sglang serve" and v is not None and not version_at_least(v, "0.5.5"):
        return Outcome.fail(
            f"`sglang serve` does not exist in SGLang {v} (it arrived in 0.5.5): the shell will not find the command",
            Fix("Use python -m sglang.launch_server with the same arguments.", launch_command=_relaunch(L, ["python", "-m", "sglang.launch_server"]), applicability=Applicability.SAFE),
        )
    if L.launcher == "sglang serve" and L.parsed is not None:
        mp = [o for o in L.parsed.occurrences if o.dest == "model_path"]
        if mp and all(o.kind == "abbrev" for o in mp):
            return Outcome.fail(
                f"`sglang serve` looks for --model-path/--model by their full names before parsing; '{mp[-1].written}' is not found there and the command fails with \"Error: --model-path is required\"",
                _launch_fix(t, "Spell the option out in full.", replace_tokens={mp[-1].index: ["--model-path", str(mp[-1].value)]}),
            )
    if L.server == "vllm" and L.launcher == "python -m vllm.entrypoints.openai.api_server" and L.parsed is not None and "model" not in L.parsed.values:
        return Outcome.fail(
            "python -m vllm.entrypoints.openai.api_server needs --model (it takes no positional model)",
            Fix("Pass the model with --model, or use `vllm serve MODEL`."),
        )
    return Outcome.passed(f"launcher `{L.launcher}` starts {t.server}", launcher=L.launcher)


def check_unknown_flags(ctx: "Context") -> Outcome:
    """What it checks: every option in the launch command exists in the target server version's real argument parser.

    Why it matters: argparse rejects an unknown option at once (`error: unrecognized arguments: --embedding`, exit 2).
    Folklore flags such as `--embedding`, `--enable-embedding`, `--disable-flash-attn` and, on SGLang, vLLM's
    `--max-num-seqs` do not exist; `--task` was removed from vLLM in 0.13.0. The flag tables are generated from the
    parsers of 15 SGLang and 8 vLLM releases.

    How to fix: use the suggested option (`--is-embedding`, `--max-running-requests`, `--attention-backend triton`,
    `--runner pooling`), or drop the flag; the corrected launch command is printed.
    """
    t = ctx.target
    issues = _issues(t, "unknown")
    if not issues:
        return Outcome.passed(f"every option exists in {t.server} {t.table.version if t.table else ''}".strip())
    lines, set_opts, drops = [], {}, []
    for issue in issues:
        written = issue.written.split("=", 1)[0]
        known = KNOWN_MISTAKES.get(t.server or "", {}).get(written)
        other = list(_versions_with(t.server, written)) if t.server else []
        if t.server == "vllm" and written == "--task" and other:
            flags = _embedding_flags_for(t)
            lines.append(f"{written} was removed in vLLM 0.13.0 (accepted by {other[0]}..{other[-1]}); use " + " ".join(f"{k} {v}" if v else k for k, v in flags.items()))
            set_opts.update(flags)
        elif known is not None:
            repl, why = known
            if t.server == "vllm" and written in ("--is-embedding", "--embedding", "--enable-embedding"):
                flags = _embedding_flags_for(t)
                repl_text = " ".join(f"{k} {v}" if v else k for k, v in flags.items())
                lines.append(f"{written}: {why}; vLLM {t.version_str or ''} uses {repl_text}".replace("  ", " "))
                set_opts.update(flags)
            else:
                lines.append(f"{written}: {why}" + (f" -> {repl}" if repl and repl not in why else ""))
                if repl:
                    set_opts.setdefault(repl, None if _nargs0(t, repl) else _value_after(t, issue.index))
        elif written in DOCTOR_OPTIONS:
            lines.append(f"{written} is a qwen-doctor option, not a {t.server} one: put it before the -- (qwen-doctor check {written} ... -- <launch command>)")
        elif other:
            lines.append(f"{written} is not accepted by {t.server} {t.table.version if t.table else ''} (exists in {other[0]}..{other[-1]})")
        else:
            hint = f"; did you mean {', '.join(issue.candidates)}?" if issue.candidates else ""
            lines.append(f"{written} does not exist in any known {t.server} release{hint}")
        drops.append(issue.index)
    # drop the unknown tokens (and a following value that is not an option)
    from ..launch import Occurrence

    args = t.launch.args
    drop_occ = []
    for idx in drops:
        length = 1
        if "=" not in args[idx] and idx + 1 < len(args) and not args[idx + 1].startswith("-") and _value_after(t, idx) is not None and not _positional_ok(t, idx + 1):
            length = 2
        drop_occ.append(Occurrence(idx, length, args[idx], None, None, None, "unknown"))
    fix = _launch_fix(t, "; ".join(lines), drop=drop_occ, set_options=set_opts)
    n = len(issues)
    return Outcome.fail(
        f"{n} unrecognized option{'s' if n > 1 else ''}: {', '.join(i.written for i in issues)} — {t.server} exits at once with `error: unrecognized arguments` (exit code 2)",
        fix,
        unknown=[i.written for i in issues],
        details=lines,
    )


def _nargs0(t: "Target", opt: str) -> bool:
    spec = t.table.lookup(opt) if t.table else None
    return spec is not None and spec.nargs == 0


def _value_after(t: "Target", idx: int) -> str | None:
    args = t.launch.args
    tok = args[idx]
    if "=" in tok:
        return tok.split("=", 1)[1]
    if idx + 1 < len(args) and not args[idx + 1].startswith("-"):
        return args[idx + 1]
    return None


def _positional_ok(t: "Target", idx: int) -> bool:
    """Whether args[idx] was taken as the positional model (then it is not the unknown flag's value)."""
    p = t.launch.parsed
    return p is not None and any(o.kind == "positional" and o.index == idx for o in p.occurrences)


def check_ambiguous_flags(ctx: "Context") -> Outcome:
    """What it checks: no option is an ambiguous abbreviation.

    Why it matters: argparse accepts unique prefixes, but a prefix that matches several options stops the server with
    `error: ambiguous option: --disable-flash could match --disable-flashinfer-autotune, ...` (exit 2). The same prefix
    can be unique in one release and ambiguous in the next (`--disable-flash` in SGLang 0.5.1-0.5.6 silently meant
    `--disable-flashinfer-cutlass-moe-fp4-allgather`).

    How to fix: spell the option out in full.
    """
    t = ctx.target
    issues = _issues(t, "ambiguous")
    if not issues:
        return Outcome.passed("no ambiguous abbreviations")
    return Outcome.fail(
        "; ".join(i.message for i in issues) + f" — {t.server} exits at once (exit code 2)",
        Fix("Spell each option out in full: " + "; ".join(f"{i.written} -> one of {', '.join(i.candidates[:4])}" for i in issues)),
        ambiguous={i.written: list(i.candidates) for i in issues},
    )


def check_flag_values(ctx: "Context") -> Outcome:
    """What it checks: every option has a valid value: present when needed, of the right type, among the choices, and no stray arguments.

    Why it matters: `--is-embedding true` leaves `true` as a stray argument (store_true flags take no value), a missing
    value or an invalid choice (e.g. `--attention-backend flash`) stops the server at once with an argparse error.

    How to fix: as each message says; the corrected launch command is printed where it can be derived.
    """
    t = ctx.target
    issues = _issues(t, "missing-value", "bad-choice", "bad-type", "extra-positional", "bad-value")
    runtime = tuple(t.extra.get("runtime_vars") or ())
    if runtime:  # values filled in at run time ($POD_INDEX, $(VAR), ${VAR}) cannot be judged here
        issues = [i for i in issues if not any(v and v in i.message for v in runtime) and "$" not in i.message]
    if not issues:
        return Outcome.passed("every option value is well-formed")
    from ..launch import Occurrence

    drops = [Occurrence(i.index, 1, i.written, None, None, None, "stray") for i in issues if i.kind == "extra-positional"]
    fix = _launch_fix(t, "; ".join(i.message for i in issues), drop=drops) if drops else Fix("; ".join(i.message for i in issues))
    return Outcome.fail(
        f"{len(issues)} malformed option value{'s' if len(issues) > 1 else ''}: " + "; ".join(i.message for i in issues) + f" — {t.server} exits at once (exit code 2)",
        fix,
        problems=[i.message for i in issues],
    )


def check_abbreviations(ctx: "Context") -> Outcome:
    """What it checks: options written as abbreviations (e.g. `--is-embed` for `--is-embedding`).

    Why it matters: argparse accepts any unique prefix, so the command works today, but a release that adds an option
    with the same prefix turns it into an `ambiguous option` error at start-up. `sglang serve` also pre-scans for the full
    `--model-path`/`--model` names.

    How to fix: spell the options out in full (safe: the meaning does not change).
    """
    t = ctx.target
    issues = _issues(t, "abbrev")
    if not issues:
        return Outcome.passed("no abbreviated options")
    reps = {}
    for i in issues:
        tok = t.launch.args[i.index]
        reps[i.index] = [i.resolved + (tok[len(tok.split("=", 1)[0]):] if "=" in tok else "")]
    return Outcome.warn(
        "abbreviated options work only while the prefix stays unique: " + ", ".join(f"{i.written} = {i.resolved}" for i in issues),
        _launch_fix(t, "Spell the options out in full.", replace_tokens=reps),
        abbreviations={i.written: i.resolved for i in issues},
    )


def check_deprecated_flags(ctx: "Context") -> Outcome:
    """What it checks: options the target release marks as deprecated (e.g. vLLM `--task` in 0.10.1-0.12.0, SGLang `--disable-cuda-graph` from 0.5.16).

    Why it matters: deprecated options are removed in a later release, and then the server refuses to start.

    How to fix: use the replacement the message names.
    """
    t = ctx.target
    issues = _issues(t, "deprecated")
    if not issues:
        return Outcome.passed("no deprecated options")
    lines = []
    set_opts: dict[str, str | None] = {}
    drops = []
    for i in issues:
        if t.server == "vllm" and i.resolved == "--task":
            flags = _embedding_flags_for(t)
            lines.append("--task is deprecated and removed in vLLM 0.13.0; use " + " ".join(f"{k} {v}" if v else k for k, v in flags.items()))
            drops.extend(t.launch.parsed.occurrences_of("task"))
            set_opts.update(flags)
        elif i.resolved == "--disable-cuda-graph":
            lines.append("--disable-cuda-graph is deprecated since SGLang 0.5.16; use --cuda-graph-backend-decode disabled --cuda-graph-backend-prefill disabled")
        else:
            lines.append(i.message)
    fix = _launch_fix(t, "; ".join(lines), drop=drops, set_options=set_opts) if (drops or set_opts) else Fix("; ".join(lines))
    return Outcome.warn("; ".join(lines), fix, deprecated=[i.resolved for i in issues])


def check_embedding_mode(ctx: "Context") -> Outcome:
    """What it checks: that the server will run the model in embedding mode.

    Why it matters: Qwen3-Embedding declares `Qwen3ForCausalLM`, so SGLang (every version) treats it as a generator
    unless `--is-embedding` is given; the server starts fine and then every `/v1/embeddings` call answers HTTP 400
    "This model does not appear to be an embedding model by default. Please add `--is-embedding` ...". vLLM needs
    `--task embed` (0.8.5-0.12.0) or `--runner pooling` / `--convert embed` (0.10.1 and later); it auto-detects pooling
    from the model's sentence-transformers `modules.json` in 0.8.5 and from 0.10.1 on, but not in 0.10.0, and a stale or
    trimmed model copy without modules.json is served as a generator (`/v1/embeddings` then 400 "The model does not
    support Embeddings API" up to 0.13, 404 from 0.20).

    How to fix: SGLang: add `--is-embedding`. vLLM >= 0.10.1: add `--runner pooling --convert embed`; 0.8.5-0.12.0: `--task embed`.
    """
    t = ctx.target
    v = t.version_str
    if t.server == "sglang":
        if t.option("is_embedding") is True:
            return Outcome.passed("--is-embedding is set")
        cfg = read_config(t.model_path)
        archs = (cfg or {}).get("architectures") or []
        if "Qwen3Model" in archs and (v is None or version_at_least(v, "0.5.20")):
            return Outcome.passed("architecture Qwen3Model is auto-detected as an embedding model by SGLang >= 0.5.20", architectures=archs)
        return Outcome.fail(
            f'SGLang will run this model as a generator: no --is-embedding. It starts, then every /v1/embeddings request fails with HTTP 400 "{SGLANG_400}"',
            _launch_fix(t, "Add --is-embedding (Qwen3-Embedding declares Qwen3ForCausalLM, which SGLang never auto-detects as an embedding model).", set_options={"--is-embedding": None}),
            architectures=archs or None,
        )
    # vLLM
    vals = t.launch.parsed.values if t.launch and t.launch.parsed else {}
    task = vals.get("task")
    runner = vals.get("runner")
    convert = vals.get("convert")
    fix = _launch_fix(t, "Put vLLM in embedding mode: " + " ".join(f"{k} {x}" if x else k for k, x in _embedding_flags_for(t).items()), set_options=_embedding_flags_for(t), drop=[o for o in (t.launch.parsed.occurrences if t.launch and t.launch.parsed else ()) if o.dest in ("task",) and (v is None or version_at_least(v, "0.13.0") or version_at_least(v, "0.10.1"))])
    served = "/v1/embeddings answers 404 Not Found" if v is None or version_at_least(v, "0.20.0") else '/v1/embeddings answers 400 "The model does not support Embeddings API"'
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
    if v is not None and version_at_least(v, "0.10.0") and not version_at_least(v, "0.10.1"):
        return Outcome.fail(f"vLLM {v} resolves Qwen3ForCausalLM to the generate runner (no modules.json look-up in 0.10.0): it fails to load the weights (\"There is no module or parameter named 'layers' in Qwen3ForCausalLM\") or serves a generator", fix)
    st = has_st_config(t.model_path)
    if st is True:
        return Outcome.passed(f"no runner flag, but vLLM {v or ''} auto-detects pooling from modules.json in the model directory".replace("  ", " "), auto_detected=True)
    if st is False:
        return Outcome.fail(f"no runner flag and the model directory has no modules.json (stale or trimmed snapshot), so vLLM serves it as a generator: {symptom}", fix, model_dir=t.model_path)
    where = "a Hugging Face repo id" if t.model_path and looks_like_hub_id(t.model_path) else "not readable here"
    return Outcome.warn(
        f"no runner flag: vLLM picks embedding mode only if it finds modules.json in the model, which is {where}; the current Qwen/Qwen3-Embedding repos have it, stale copies do not",
        Fix("Make embedding mode explicit.", launch_command=fix.launch_command, applicability=Applicability.SAFE),
    )


def check_model_path(ctx: "Context") -> Outcome:
    """What it checks: the launch command names a model, and how the model path is written (a trailing slash).

    Why it matters: without a model SGLang stops with "--model-path is required". A trailing slash does *not* break
    loading (a local directory with a trailing slash loads fine), but the served model name defaults to the path
    verbatim, slash included: `/v1/models` lists `/models/Qwen3-Embedding-0.6B/` and vLLM answers 404 "The model ...
    does not exist" to clients that send the name without the slash (SGLang ignores the request's model field).

    How to fix: drop the trailing slash, or set `--served-model-name` to the name clients send.
    """
    t = ctx.target
    mp = t.model_path
    if not mp:
        v = t.version_str
        if t.server == "vllm":
            default = "facebook/opt-125m" if v is not None and not version_at_least(v, "0.10.0") else "Qwen/Qwen3-0.6B"
            return Outcome.fail(
                f"no model given: vLLM then serves its default model {default}, a text generator, not Qwen3-Embedding",
                Fix("Name the model: vllm serve /models/Qwen3-Embedding-0.6B (or --model)."),
            )
        if t.server == "tei" and (v is None or not version_at_least(v, "1.9.0")):
            return Outcome.fail(
                "no --model-id (nor MODEL_ID): TEI before 1.9 then silently serves its default BAAI/bge-large-en-v1.5; 1.9 and later refuse to start",
                Fix("Add --model-id /models/Qwen3-Embedding-0.6B (or set MODEL_ID)."),
            )
        opt = {"sglang": "--model-path", "tei": "--model-id"}.get(t.server or "", "a model")
        return Outcome.fail(f"no model given: the server stops at start-up asking for {opt}", Fix(f"Add {opt}."))
    served = t.option("served_model_name")
    if isinstance(served, list):
        served = served[0] if served else None
    if mp.endswith("/") and len(mp) > 1:
        if served:
            return Outcome.passed(f"model path has a trailing slash, but --served-model-name {served} sets the name clients use", model_path=mp)
        occ = [o for o in (t.launch.parsed.occurrences if t.launch and t.launch.parsed else ()) if o.dest in ("model_path", "model", "model_tag", "model_id")]
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
            "vLLM answers 404 \"The model ... does not exist\" to clients sending the name without it"
            if t.server == "vllm"
            else "SGLang ignores the request's model field, but clients that match on /v1/models see the slash"
        )
        return Outcome.warn(
            f"the served model name defaults to the path verbatim, so it will be '{mp}' with the trailing slash; {consequence} (loading itself works)",
            _launch_fix(t, "Drop the trailing slash (or set --served-model-name).", replace_tokens=reps),
            model_path=mp,
            served_model_name=mp,
        )
    return Outcome.passed(f"model {mp}", model_path=mp, served_model_name=served or mp)


def check_sglang_model_support(ctx: "Context") -> Outcome:
    """What it checks: that this SGLang version loads Qwen3-Embedding weights correctly from this model path.

    Why it matters: SGLang <= 0.4.6 cannot load Qwen3-Embedding at all (`KeyError: 'layers.N.mlp.gate_up_proj.weight'`).
    In 0.4.7 ... 0.5.8.post1 the fix applies only when the case-sensitive string `Embedding` occurs in `--model-path`
    (it adds the `model.` prefix the checkpoint lacks); a directory such as `/models/qwen3-embedding-0.6b` or
    `checkpoint-8000` crashes at weight load with `KeyError: 'layers.0.mlp.gate_up_proj.weight'` after minutes of start-up,
    and a fine-tune whose keys already carry `model.` but whose path contains `Embedding` loads *random* weights
    (only "Parameter model.model.* not found" warnings). 0.5.9 fixed both (prefix added only when missing).

    How to fix: upgrade SGLang to >= 0.5.9, or (0.4.7-0.5.8.post1) keep `Embedding` in the directory name.
    """
    t = ctx.target
    v = t.version_str
    mp = t.model_path or ""
    if v is None:
        if "Embedding" in mp:
            return Outcome.passed("path contains 'Embedding' (needed by SGLang 0.4.7-0.5.8.post1; 0.5.9 and later load from any path)")
        return Outcome.warn(
            "SGLang version unknown: on SGLang 0.4.7-0.5.8.post1 a model path without the case-sensitive 'Embedding' crashes at weight load "
            "(KeyError: 'layers.0.mlp.gate_up_proj.weight'); 0.5.9 and later are fine",
            Fix("Give --server-version (or install SGLang here) so the doctor can tell; or use SGLang >= 0.5.9.", commands=("pip install -U 'sglang>=0.5.9'",), applicability=Applicability.UNSAFE),
            model_path=mp,
        )
    prefix = ctx.evidence("model.weights", "weight_key_prefix")
    upgrade = Fix("Upgrade SGLang to >= 0.5.9 (e.g. pip install -U 'sglang>=0.5.9'), or rename the model directory so its path contains 'Embedding'.", commands=("pip install -U 'sglang>=0.5.9'",), applicability=Applicability.UNSAFE)
    if not version_at_least(v, "0.4.7"):
        return Outcome.fail(
            f"SGLang {v} cannot load Qwen3-Embedding (KeyError: 'layers.N.mlp.gate_up_proj.weight' at weight load; support arrived in 0.4.7)",
            Fix("Upgrade SGLang to >= 0.5.9.", commands=("pip install -U 'sglang>=0.5.9'",), applicability=Applicability.UNSAFE),
        )
    if version_at_least(v, "0.5.9"):
        return Outcome.passed(f"SGLang {v} loads Qwen3-Embedding weights whatever the path")
    has_word = "Embedding" in mp
    if prefix == "model.layers" and has_word:
        return Outcome.fail(
            f"SGLang {v} adds a 'model.' prefix because the path contains 'Embedding', but these weights already carry it: the model loads with random weights (only 'Parameter model.model.* not found' warnings)",
            Fix("Upgrade SGLang to >= 0.5.9, or serve from a path without 'Embedding'.", commands=("pip install -U 'sglang>=0.5.9'",), applicability=Applicability.UNSAFE),
            weight_key_prefix=prefix,
        )
    if prefix == "model.layers":
        return Outcome.passed(f"weights carry the 'model.' prefix, which SGLang {v} expects when the path lacks 'Embedding'", weight_key_prefix=prefix)
    if has_word:
        return Outcome.passed(f"path contains 'Embedding', which SGLang {v} needs to load Qwen3-Embedding weights", weight_key_prefix=prefix)
    if "embedding" in mp.lower():
        why = f"the path contains '{[w for w in mp.split('/') if 'mbedding' in w.lower()][-1]}' but the check in SGLang {v} is case-sensitive ('Embedding')"
    else:
        why = f"the path lacks the case-sensitive string 'Embedding'"
    return Outcome.fail(
        f"SGLang {v} will crash at weight load with KeyError: 'layers.0.mlp.gate_up_proj.weight': {why}",
        upgrade,
        model_path=mp,
        weight_key_prefix=prefix,
    )


def check_context_length(ctx: "Context") -> Outcome:
    """What it checks: `--context-length` (SGLang) / `--max-model-len` (vLLM) against the model's `max_position_embeddings` in config.json.

    Why it matters: SGLang >= 0.5.1 refuses to start ("User-specified context_length (X) is greater than the derived
    context_length (Y)") unless SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1, and earlier versions only warn and then
    run positions the model was never trained on. vLLM refuses likewise unless VLLM_ALLOW_LONG_MAX_MODEL_LEN is set.
    Qwen3-Embedding-0.6B has 32768; read the real config.json rather than assuming (4B/8B configs say 40960).

    How to fix: lower the option to at most the model's value (or drop it: the default is the model's value).
    """
    t = ctx.target
    dest, opt = ("context_length", "--context-length") if t.server == "sglang" else ("max_model_len", "--max-model-len")
    if not t.given(dest):
        return Outcome.passed(f"{opt} not set: the server uses the model's own length")
    value = t.option(dest)
    if not isinstance(value, int):
        return Outcome.skip(f"{opt} value {value!r} is not a number (reported by launch.flag-values)")
    cfg = read_config(t.model_path)
    if cfg is None:
        return Outcome.skip("config.json is not readable here, so the model's maximum is unknown", **{opt: value})
    derived = derived_context_length(cfg)
    if derived is None:
        return Outcome.skip("config.json has no max_position_embeddings", **{opt: value})
    if value <= derived:
        return Outcome.passed(f"{opt} {value} <= model maximum {derived}", context_length=value, max_position_embeddings=derived)
    fix = _launch_fix(t, f"Lower {opt} to at most {derived}.", set_options={opt: str(derived)})
    v = t.version_str
    env = dict(t.env)
    if t.server == "sglang":
        if env.get("SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN", "").lower() in ("1", "true"):
            return Outcome.warn(f"{opt} {value} exceeds the model's {derived}; allowed by SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN, but positions past {derived} were never trained", fix)
        if v is not None and not version_at_least(v, "0.5.1"):
            return Outcome.warn(f"{opt} {value} exceeds the model's {derived}; SGLang {v} only warns, then runs positions the model was never trained on", fix)
        return Outcome.fail(f"SGLang refuses to start: User-specified context_length ({value}) is greater than the derived context_length ({derived})", fix, context_length=value, max_position_embeddings=derived)
    if env.get("VLLM_ALLOW_LONG_MAX_MODEL_LEN", "") not in ("", "0", "false"):
        return Outcome.warn(f"{opt} {value} exceeds the model's {derived}; allowed by VLLM_ALLOW_LONG_MAX_MODEL_LEN, but positions past {derived} were never trained", fix)
    return Outcome.fail(f"vLLM refuses to start: User-specified max_model_len ({value}) is greater than the derived max_model_len ({derived})", fix, max_model_len=value, max_position_embeddings=derived)


def check_served_name(ctx: "Context") -> Outcome:
    """What it checks: the served model name has no ':' on SGLang >= 0.5.6.

    Why it matters: SGLang 0.5.6 and later stop at start-up with "served_model_name cannot contain a colon (':')
    character. The colon is reserved for the 'model:adapter' syntax". The served name defaults to `--model-path`, so a
    path like `/models/qwen3:0.6b` fails even without `--served-model-name`.

    How to fix: set `--served-model-name` to a name without ':'.
    """
    t = ctx.target
    served = t.option("served_model_name") or t.model_path
    if not served:
        return Outcome.skip("no served model name or model path")
    v = t.version_str
    if ":" not in served:
        return Outcome.passed(f"served model name '{served}' has no ':'")
    if v is not None and not version_at_least(v, "0.5.6"):
        return Outcome.passed(f"served model name '{served}' contains ':', which SGLang {v} still accepts (0.5.6 and later refuse it)")
    name = served.rstrip("/").split("/")[-1].replace(":", "-")
    return Outcome.fail(
        f"SGLang refuses to start: served_model_name '{served}' contains ':' (reserved for the 'model:adapter' syntax since 0.5.6)" + ("" if t.given("served_model_name") else "; the name defaults to --model-path"),
        _launch_fix(t, f"Set --served-model-name without a colon, e.g. {name}.", set_options={"--served-model-name": name}),
    )


def check_bind_host(ctx: "Context") -> Outcome:
    """What it checks: the address the server binds, and who can reach it.

    Why it matters: SGLang binds 127.0.0.1 by default, so a server in a container or a pod is unreachable from outside
    (connection refused from the host, failing readiness probes) although it runs fine. vLLM binds every interface by
    default; TEI binds 0.0.0.0.

    How to fix: add `--host 0.0.0.0` (SGLang/vLLM) or `--hostname 0.0.0.0` (TEI) when clients are elsewhere.
    """
    t = ctx.target
    host = t.host or ""
    loopback = host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
    if not loopback:
        return Outcome.passed(f"binds {host}", host=host)
    given = t.given("host") or t.given("hostname")
    kind = t.extra.get("deploy_kind")
    if kind in ("compose", "kubernetes"):
        in_container = not t.extra.get("host_network")
    elif kind is not None or t.pid is not None:
        in_container = False  # a systemd unit or a process seen on this host
    else:
        in_container = os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")
    how = "set by --host" if given else f"the {t.server} default"
    opt = "--hostname" if t.server == "tei" else "--host"
    if in_container:
        return Outcome.warn(
            f"binds {host} ({how}): reachable only from inside this container/pod, not from other hosts, the node or probes on the pod IP",
            _launch_fix(t, f"Add {opt} 0.0.0.0 so clients outside the container can connect.", set_options={opt: "0.0.0.0"}, applicability=Applicability.UNSAFE),
            host=host,
        )
    return Outcome.passed(f"binds {host} ({how}): reachable from this host only; use {opt} 0.0.0.0 for remote clients", host=host)


def check_dtype(ctx: "Context") -> Outcome:
    """What it checks: the dtype the server will run Qwen3-Embedding in.

    Why it matters: Qwen3-Embedding-8B in float16 returns NaN embeddings for some inputs (e.g. text starting with
    "import"; QwenLM/Qwen3-Embedding#164, ollama#12921: "json: unsupported value: NaN"). The checkpoints are bfloat16,
    and `--dtype auto` keeps bf16 on SGLang and vLLM. TEI has no bf16 on its candle backend and defaults to float16 on
    CUDA, so TEI needs `--dtype float32` for the 8B model.

    How to fix: SGLang/vLLM: `--dtype bfloat16` (or drop --dtype); TEI: `--dtype float32`.
    """
    t = ctx.target
    dtype = t.option("dtype")
    cfg = read_config(t.model_path) or {}
    from ..modelfiles import variant_from_name, variant_of

    variant = (variant_of(cfg) if cfg else None) or variant_from_name(t.model_path)
    half = dtype in ("half", "float16", "fp16")
    if t.server == "tei":
        if variant == "8B" and dtype != "float32":
            how = f"--dtype {dtype}" if dtype else "the default float16 on CUDA"
            return Outcome.warn(
                f"Qwen3-Embedding-8B on TEI with {how}: float16 gives NaN embeddings for some inputs, and TEI has no bf16",
                _launch_fix(t, "Run the 8B model in float32 on TEI.", set_options={"--dtype": "float32"}, applicability=Applicability.UNSAFE),
                dtype=dtype, variant=variant,
            )
        return Outcome.passed(f"dtype {dtype or 'default'} for {variant or 'this model'}", dtype=dtype, variant=variant)
    if half and variant == "8B":
        return Outcome.warn(
            f"--dtype {dtype} on Qwen3-Embedding-8B: float16 gives NaN embeddings for some inputs; the checkpoint is bfloat16",
            _launch_fix(t, "Use bfloat16 (the checkpoint's dtype).", set_options={"--dtype": "bfloat16"}),
            dtype=dtype, variant=variant,
        )
    return Outcome.passed(f"dtype {dtype or 'auto'}" + (f" for {variant}" if variant else ""), dtype=dtype, variant=variant)


def check_tei_settings(ctx: "Context") -> Outcome:
    """What it checks: TEI settings that silently change Qwen3-Embedding's vectors: pooling, truncation, version.

    Why it matters: Qwen3-Embedding pools the last token; `--pooling mean` (or `cls`) gives healthy-looking but useless
    vectors. TEI >= 1.9 truncates inputs silently at `--max-batch-tokens` (16384 by default) although the model takes
    32768 (auto-truncate is on by default), which also cuts the end token the model pools on; TEI <= 1.8.2 hangs on
    such inputs instead. TEI 1.7.2 gave non-deterministic and batch-vs-single inconsistent Qwen3 embeddings (fixed in
    1.7.3/1.7.4).

    How to fix: `--pooling last-token` (or leave it to 1_Pooling/config.json); `--max-batch-tokens` at least the model's
    context length (32768 for 0.6B) or accept truncation knowingly; TEI >= 1.7.4.
    """
    t = ctx.target
    v = t.version_str
    problems, set_opts = [], {}
    pooling = t.option("pooling")
    if pooling and pooling != "last-token":
        problems.append(f"--pooling {pooling}: Qwen3-Embedding is trained for last-token pooling; other pooling gives useless vectors")
        set_opts["--pooling"] = "last-token"
    cfg = read_config(t.model_path) or {}
    ctx_len = cfg.get("max_position_embeddings") or 32768
    mbt = t.option("max_batch_tokens", 16384)
    auto = t.option("auto_truncate")
    if auto is None:
        auto = v is None or version_at_least(v, "1.9.0")
    if isinstance(auto, str):
        auto = auto.lower() not in ("false", "0")
    if isinstance(mbt, int) and mbt < ctx_len:
        if auto:
            problems.append(f"--max-batch-tokens {mbt} < the model's {ctx_len} tokens with auto-truncate on: inputs longer than {mbt} tokens are silently truncated (their end token is cut)")
        elif v is not None and not version_at_least(v, "1.8.3"):
            problems.append(f"--max-batch-tokens {mbt} < the model's {ctx_len} tokens: TEI {v} hangs on inputs longer than {mbt} tokens (TEI #723, fixed in 1.8.3)")
        else:
            problems.append(f"--max-batch-tokens {mbt} < the model's {ctx_len} tokens with auto-truncate off: TEI refuses to start")
        set_opts["--max-batch-tokens"] = str(ctx_len)
    if v is not None and not version_at_least(v, "1.7.4"):
        problems.append(f"TEI {v} gives non-deterministic / batch-inconsistent Qwen3 embeddings (fixed in 1.7.3-1.7.4): upgrade to >= 1.7.4")
    if not problems:
        return Outcome.passed("pooling, truncation and version fit Qwen3-Embedding", max_batch_tokens=mbt, auto_truncate=auto)
    status = Outcome.fail if pooling and pooling != "last-token" else Outcome.warn
    return status("; ".join(problems), _launch_fix(t, "; ".join(problems), set_options=set_opts, applicability=Applicability.UNSAFE), max_batch_tokens=mbt, auto_truncate=auto)


def register(registry: "Registry") -> None:
    """Built-in plugin: launch-command checks."""
    add = registry.check
    any_server = _server_in("sglang", "vllm", "tei")
    add("launch.launcher", "Launcher starts the server", "launch", applies=any_server)(check_launcher)
    add("launch.unknown-flags", "Options exist in this server version", "launch", applies=any_server)(check_unknown_flags)
    add("launch.ambiguous-flags", "No ambiguous abbreviations", "launch", applies=any_server)(check_ambiguous_flags)
    add("launch.flag-values", "Option values are well-formed", "launch", applies=any_server)(check_flag_values)
    add("launch.abbreviations", "Options spelled out in full", "launch", severity=Status.WARN, applies=any_server)(check_abbreviations)
    add("launch.deprecated-flags", "No deprecated options", "launch", severity=Status.WARN, applies=any_server)(check_deprecated_flags)
    add("launch.embedding-mode", "Server runs the model in embedding mode", "launch", applies=_server_in("sglang", "vllm"))(check_embedding_mode)
    add("launch.model-path", "Model path given and served name as clients expect", "launch", applies=any_server)(check_model_path)
    add("launch.sglang-weight-loading", "SGLang version loads Qwen3-Embedding weights from this path", "launch", applies=_server_in("sglang"), uses=("model.weights",))(check_sglang_model_support)
    add("launch.context-length", "Context length within the model's maximum", "launch", applies=_server_in("sglang", "vllm"))(check_context_length)
    add("launch.served-model-name", "Served model name accepted by SGLang", "launch", applies=_server_in("sglang"))(check_served_name)
    add("launch.bind-host", "Bind address reachable by clients", "launch", severity=Status.WARN, applies=any_server)(check_bind_host)
    add("launch.dtype", "dtype safe for the model (no fp16 NaN on 8B)", "launch", severity=Status.WARN, applies=any_server)(check_dtype)
    add("launch.tei-settings", "TEI pooling, truncation and version", "launch", applies=_server_in("tei"))(check_tei_settings)
