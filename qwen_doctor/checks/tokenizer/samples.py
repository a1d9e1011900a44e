"""tokenizer.samples: the --samples texts, counted with the real tokenizer, against what the server does with long inputs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...facts import as_int
from ...results import Fix, Outcome
from ...spec import check
from ..model._common import more
from ._common import ENDOFTEXT, applies_tokenizer, samples_file, tok_report
from ._limits import input_limit

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


def _n(items: list[Any], what: str = "sample") -> str:
    return f"{len(items)} {what}{'s' if len(items) > 1 else ''}"


@check(
    "tokenizer.samples",
    "Sample inputs fit the context length",
    applies=applies_tokenizer,
    requires=("tokenizer.load",),
    uses=("model.config",),
    reads=("model", "server", "tokenizer"),
    claims=(
        "sglang.embedding-over-scheduler-limit-hangs",
        "tei.auto-truncate-default",
        "tei.max-input-over-max-batch-tokens",
        "tei.too-long-status",
        "tei.auto-truncate-short-batch",
        "tokenizer.truncation-keeps-end-token",
        "sglang.auto-truncate-cuts-end-token",
    ),
)
def check_samples(ctx: "Context") -> Outcome:
    """What it checks: with `--samples FILE` (a text per line, or JSONL with a `text` field and optionally
    `"type": "query"|"document"`), the token count of every sample with the real tokenizer (the appended
    `<|endoftext|>` included) against the context length the server will use: SGLang `--context-length` else
    config.json; vLLM `--max-model-len` else config.json; TEI the model's length capped by `--max-batch-tokens` (16384
    by default) when auto-truncating. Reports the max and p99 token counts, and (for Qwen3-Embedding) whether queries
    have the `Instruct: {task}\\nQuery:{query}` form.

    Why it matters: SGLang answers HTTP 400 for an input of >= context-length tokens, and, through an open bug
    (sglang#40459, 0.4.7 to at least 0.5.23), never answers inputs in the last 6 tokens below it; with
    `--allow-auto-truncate` it cuts the tail, including the end token the model pools on: silently degraded vectors
    (sglang.md 6). vLLM answers 400 above `--max-model-len` (vllm-tei-qwen3.md B.5). TEI >= 1.9 truncates silently
    at 16384 tokens by default although the model takes 32768; it truncates inside the tokenizers library, which keeps
    the appended `<|endoftext|>`, so the text is cut, not the end token (vllm-tei-qwen3.md C.4). TEI 1.8.3-1.8.x
    refuses to start in that case and TEI <= 1.8.2 queues such inputs forever (TEI #723); without truncation TEI
    answers 413 (<= 1.8) or 422 (>= 1.9.0, TEI #818). Queries without the instruction lose retrieval quality; the
    official form has no space after `Query:`, and documents take no prefix.

    How to fix: split long documents into chunks below the limit (or raise the limit within the model's
    max_position_embeddings: TEI `--max-batch-tokens`); build queries as `f"Instruct: {task}\\nQuery:{query}"`.
    """
    from ...tokenizer_tools import SamplesError, p99, query_form_problem

    sf = samples_file(ctx)
    if sf is None:
        return Outcome.skip("no --samples FILE given")
    if isinstance(sf, SamplesError):
        return Outcome.error(str(sf))
    rep = tok_report(ctx)
    lengths = rep.get("sample_lengths")
    if not isinstance(lengths, list) or len(lengths) != len(sf.samples):
        return Outcome.error("the tokenizer process returned no token counts for the samples")
    mf = ctx.model
    qwen3 = mf is None or mf.qwen3_rules_apply()
    cfg = mf.config if mf is not None else None
    lim = input_limit(ctx)
    n = len(lengths)
    mx = max(lengths) if lengths else 0
    p = p99(lengths) or 0
    ev: dict[str, Any] = {
        "samples": n,
        "format": sf.format,
        "longest": mx,
        "p99_length": p,
        "context_length": lim.limit,
        "context_length_source": lim.how,
        "server": lim.server,
    }
    if sf.truncated:
        ev["only_first"] = n
    fails: list[str] = []
    warns: list[str] = []
    by = list(zip(sf.samples, lengths))
    if lim.reject_over is not None:
        rej = [(s, k) for s, k in by if k > lim.reject_over]
        if rej:
            ev["rejected_lines"] = [s.line for s, _ in rej][:50]
            fails.append(f"{_n(rej)} too long ({more([f'line {s.line}: {k} tokens' for s, k in rej], 3)}): {lim.reject_text}")
    if lim.hang_from is not None:
        hang = [(s, k) for s, k in by if k >= lim.hang_from and (lim.reject_over is None or k <= lim.reject_over)]
        if hang:
            ev["hanging_lines"] = [s.line for s, _ in hang][:50]
            fails.append(f"{_n(hang)} ({more([f'line {s.line}: {k} tokens' for s, k in hang], 3)}): {lim.hang_text}")
    if lim.truncate_over is not None:
        cut = [(s, k) for s, k in by if k > lim.truncate_over]
        if cut:
            ev["truncated_lines"] = [s.line for s, _ in cut][:50]
            warns.append(f"{_n(cut)} would be truncated ({more([f'line {s.line}: {k} tokens' for s, k in cut], 3)}): {lim.truncate_text}")
    if lim.limit is None:
        warns.append(f"the context length is {lim.how}: lengths not judged")
    if lim.refuses_to_start:
        fails.append(lim.refuses_to_start)
    warns.extend(x for x in lim.notes if "older than any release" in x)
    # query form (Qwen3-Embedding's instruction format)
    qprobs: dict[str, list[int]] = {}
    if qwen3:
        for s in sf.samples:
            why = query_form_problem(s.text, s.kind)
            if why:
                qprobs.setdefault(why, []).append(s.line)
    if qprobs:
        ev["query_form_problems"] = {k: v[:50] for k, v in qprobs.items()}
        parts = [f"{len(v)} with {k} (line{'s' if len(v) > 1 else ''} {more([str(x) for x in v], 4)})" for k, v in qprobs.items()]
        warns.append("queries not in the form `Instruct: {task}\\nQuery:{query}`: " + "; ".join(parts))
    queries = sum(1 for s in sf.samples if s.kind == "query")
    ev["queries"] = queries
    if sf.problems:
        ev["unusable_lines"] = list(sf.problems[:50])
        warns.append(f"{_n(list(sf.problems), 'line')} of the samples file could not be used ({more(list(sf.problems), 2)})")
    last_ids = rep.get("sample_last_ids") or []
    eot = rep.get("endoftext_id")
    only = f" (only the first {n})" if sf.truncated else ""
    stats = (
        f"{n} sample{'s' if n != 1 else ''}{only}: max {mx} tokens, p99 {p} tokens, context length {lim.limit} (from {lim.how})"
        if lim.limit
        else f"{n} samples: max {mx} tokens, p99 {p} tokens"
    )
    if qwen3 and eot is not None and last_ids and any(x != eot for x in last_ids):
        warns.append(f"the tokenizer does not end samples with {ENDOFTEXT} (see tokenizer.end-token)")
    fix_parts = []
    if fails or any("truncated" in w for w in warns):
        mpe = as_int(cfg.get("max_position_embeddings")) if cfg else None
        if lim.server == "tei" and lim.truncate_over is not None and lim.limit and (mpe or 0) > lim.limit:
            fix_parts.append(f"raise --max-batch-tokens to {mpe} (or chunk the long documents)")
        else:
            fix_parts.append(f"split long inputs into chunks below {lim.limit} tokens (the appended end token counts)")
    if qprobs:
        fix_parts.append('build queries as f"Instruct: {task}\\nQuery:{query}" (no space after Query:, documents without prefix)')
    fix_text = "; ".join(fix_parts)
    fix = Fix(fix_text[:1].upper() + fix_text[1:] + ".") if fix_parts else None
    if fails:
        return Outcome.fail(stats + " — " + "; ".join(fails + warns), fix, **ev)
    if warns:
        return Outcome.warn(stats + " — " + "; ".join(warns), fix, **ev)
    return Outcome.passed(stats + ("; queries in the official form" if queries else ""), **ev)
