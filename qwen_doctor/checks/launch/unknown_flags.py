"""launch.unknown-flags: every option exists in the target release's real argument parser."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...flags import load_table, table_versions
from ...launch import Occurrence
from ...results import Outcome
from ...spec import check
from ._common import ANY_SERVER, embedding_flags, flags_text, issues

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

_EMBED = "SGLang's embedding switch is --is-embedding"

# Mistakes seen in the wild, per server: written option -> (replacement or None, explanation)
KNOWN_MISTAKES: dict[str, dict[str, tuple[str | None, str]]] = {
    "sglang": {
        "--embedding": ("--is-embedding", _EMBED),
        "--embeddings": ("--is-embedding", _EMBED),
        "--enable-embedding": ("--is-embedding", _EMBED),
        "--enable-embeddings": ("--is-embedding", _EMBED),
        "--disable-flash-attn": (
            None,
            "--disable-flash-attn does not exist in any SGLang release; to choose the attention kernels use "
            "--attention-backend (triton, torch_native, flashinfer, fa3, ...), e.g. --attention-backend triton. "
            "Memory is governed by --mem-fraction-static and --max-total-tokens, not by the attention kernel",
        ),
        "--max-num-seqs": ("--max-running-requests", "--max-num-seqs is vLLM's option; SGLang's is --max-running-requests"),
        "--max-model-len": ("--context-length", "--max-model-len is vLLM's option; SGLang's is --context-length"),
        "--gpu-memory-utilization": (
            "--mem-fraction-static",
            "--gpu-memory-utilization is vLLM's option; SGLang's nearest is --mem-fraction-static (a different rule: see qwen-doctor explain gpu.memory-fit)",
        ),
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
DOCTOR_OPTIONS = frozenset(
    {
        "--server", "--server-version", "--url", "--format", "--output", "--fail-on", "--deadline", "--checks-dir",
        "--select", "--ignore", "--model-name", "--expect-dim", "--requests", "--concurrency", "--as-user", "--samples",
        "--deep", "--offline", "--from", "--verbose",
    }
)  # fmt: skip

_VLLM_EMBED_FOLKLORE = ("--is-embedding", "--embedding", "--enable-embedding")


def versions_with(ctx: "Context", server: str, opt: str) -> tuple[str, ...]:
    """The releases whose flag table has ``opt`` (computed once per run)."""

    def compute() -> tuple[str, ...]:
        return tuple(v for v in table_versions(server) if load_table(server, v)[0].has(opt))

    return ctx.facts.once(("launch.versions-with", server, opt), compute)


def _nargs0(ctx: "Context", opt: str) -> bool:
    table = ctx.target.table
    spec = table.lookup(opt) if table else None
    return spec is not None and spec.nargs == 0


def _value_after(ctx: "Context", idx: int) -> str | None:
    args = ctx.target.launch.args
    tok = args[idx]
    if "=" in tok:
        return tok.split("=", 1)[1]
    if idx + 1 < len(args) and not args[idx + 1].startswith("-"):
        return args[idx + 1]
    return None


def _positional_ok(ctx: "Context", idx: int) -> bool:
    """Whether args[idx] was taken as the positional model (then it is not the unknown flag's value)."""
    p = ctx.target.launch.parsed
    return p is not None and any(o.kind == "positional" and o.index == idx for o in p.occurrences)


@check(
    "launch.unknown-flags",
    "Options exist in this server version",
    applies=ANY_SERVER,
    reads=("server",),
    claims=("launch.unknown-option-exit", "launch.flag-tables"),
)
def check_unknown_flags(ctx: "Context") -> Outcome:
    """What it checks: every option in the launch command exists in the target server version's real argument parser.

    Why it matters: the server rejects an unknown option at once: SGLang's and vLLM's argparse with
    `error: unrecognized arguments: --embedding`, TEI's clap with `error: unexpected argument '--embedding' found`
    (exit code 2 for all three).
    Folklore flags such as `--embedding`, `--enable-embedding`, `--disable-flash-attn` and, on SGLang, vLLM's
    `--max-num-seqs` do not exist; `--task` was removed from vLLM in 0.13.0 ([vLLM 0.13.0] vllm/engine/arg_utils.py,
    vllm-tei-qwen3.md B.1). The flag tables are generated from the parsers of 15 SGLang and 8 vLLM releases.

    How to fix: use the suggested option (`--is-embedding`, `--max-running-requests`, `--attention-backend triton`,
    `--runner pooling`), or drop the flag; the corrected launch command is printed.
    """
    t = ctx.target
    found = issues(ctx, "unknown")
    table_version = t.table.version if t.table else ""
    if not found:
        return Outcome.passed(f"every option exists in {t.server} {table_version}".strip())
    lines: list[str] = []
    set_opts: dict[str, str | None] = {}
    drops: list[int] = []
    for issue in found:
        written = issue.written.split("=", 1)[0]
        known = KNOWN_MISTAKES.get(t.server or "", {}).get(written)
        other = list(versions_with(ctx, t.server, written)) if t.server else []
        if t.server == "vllm" and written == "--task" and other:
            flags = embedding_flags(ctx)
            lines.append(f"{written} was removed in vLLM 0.13.0 (accepted by {other[0]}..{other[-1]}); use " + flags_text(flags))
            set_opts.update(flags)
        elif known is not None:
            repl, why = known
            if t.server == "vllm" and written in _VLLM_EMBED_FOLKLORE:
                flags = embedding_flags(ctx)
                lines.append(f"{written}: {why}; vLLM {ctx.server.version or ''} uses {flags_text(flags)}".replace("  ", " "))
                set_opts.update(flags)
            else:
                lines.append(f"{written}: {why}" + (f" -> {repl}" if repl and repl not in why else ""))
                if repl:
                    set_opts.setdefault(repl, None if _nargs0(ctx, repl) else _value_after(ctx, issue.index))
        elif written in DOCTOR_OPTIONS:
            lines.append(f"{written} is a qwen-doctor option, not a {t.server} one: put it before the -- (qwen-doctor check {written} ... -- <launch command>)")
        elif other:
            lines.append(f"{written} is not accepted by {t.server} {table_version} (exists in {other[0]}..{other[-1]})")
        else:
            hint = f"; did you mean {', '.join(issue.candidates)}?" if issue.candidates else ""
            lines.append(f"{written} does not exist in any known {t.server} release{hint}")
        drops.append(issue.index)
    # drop the unknown tokens (and a following value that is not an option)
    args = t.launch.args
    drop_occ = []
    for idx in drops:
        length = 1
        if (
            "=" not in args[idx]
            and idx + 1 < len(args)
            and not args[idx + 1].startswith("-")
            and _value_after(ctx, idx) is not None
            and not _positional_ok(ctx, idx + 1)
        ):
            length = 2
        drop_occ.append(Occurrence(idx, length, args[idx], None, None, None, "unknown"))
    fix = ctx.relaunch.fix("; ".join(lines), drop=drop_occ, set_options=set_opts)
    n = len(found)
    said = ctx.claim("launch.unknown-option-exit", options=" ".join(i.written for i in found), first=found[0].written)
    return Outcome.fail(
        f"{n} unrecognized option{'s' if n > 1 else ''}: {', '.join(i.written for i in found)} — {said or f'{t.server} exits at once (exit code 2)'}",
        fix,
        unknown=[i.written for i in found],
        details=lines,
    )
