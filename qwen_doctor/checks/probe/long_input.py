"""probe.long-input: one request just over the context length: rejected (safe), truncated, or hung."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...probe import SGLANG_HANG_BUG, TEI_HANG_BUG, TOO_LONG, long_text, over_length_target
from ...results import Applicability, Fix, Outcome
from ...spec import check
from ...versions import Behaviour, rows
from ._common import MODEL_USES, REACHABLE, Budget, applies, client, embed_body, embeddings_work, halted, kind, launch_fix, live_server
from ._diagnose import diagnose, known_refusal
from ._local import context_length, local_tokenizer, token_ids

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...facts import ServerFacts

MAX_LONG_TOKENS = 131_072  # ~0.8 MB of text at most: the probe never sends megabytes
LONG_TIMEOUT_FACTOR = 3.0  # an over-length request may take longer than a small one before we call it a hang

_TEI_SRC = "router/src/lib.rs (shared/reference/vllm-tei-qwen3.md C.4)"
#: what TEI does with an input longer than --max-batch-tokens
TEI_OVER_LENGTH: Behaviour[str] = Behaviour(
    "tei.over-length-input",
    "TEI and an input over --max-batch-tokens: hangs (<= 1.8.2), refuses to start without --auto-truncate (1.8.3), truncates by default (>= 1.9.0).",
    rows("tei", f"{_TEI_SRC} at v1.9.0 (#829: --auto-truncate defaults to true)", (">=1.9.0", "truncates"))
    + rows("tei", f"{_TEI_SRC} at v1.8.3 (#725: startup check)", (">=1.8.3,<1.9.0", "startup-check"))
    + rows("tei", f"{TEI_HANG_BUG} (fixed in 1.8.3 by #725)", ("<1.8.3", "hangs")),
)


def _hang_fix(k: str | None, sf: "ServerFacts | None") -> Fix:
    if k == "tei":
        known_hang = sf is None or sf.kind != "tei" or sf.at(TEI_OVER_LENGTH) in ("hangs", None)
        lead = (
            f"TEI <= 1.8.2 hangs when an input exceeds --max-batch-tokens ({TEI_HANG_BUG}): upgrade to >= 1.8.3, or raise"
            if known_hang
            else f"{sf.describe()} is not known to hang on over-length input ({TEI_HANG_BUG} was fixed in 1.8.3): check --max-batch-tokens and raise"
        )  # type: ignore[union-attr]
        return Fix(f"{lead} --max-batch-tokens to at least the model's max input length.", applicability=Applicability.UNSAFE)
    return Fix(
        f"SGLang bug {SGLANG_HANG_BUG} (open): an over-length embedding request that passes the tokenizer check but not the scheduler's (KV pool smaller than the context length) is queued and never answered. "
        "Keep the KV pool >= the context length (raise --mem-fraction-static or --max-total-tokens), lower --context-length, or use --allow-auto-truncate (which cuts the end token last-token pooling needs: degraded vectors). Clients must not send over-length inputs.",
        applicability=Applicability.UNSAFE,
    )


def _kv_note(ctx: "Context", clen: int) -> str:
    """SGLang /server_info: a KV pool smaller than the context length is the condition of sglang#40459."""
    kv = ctx.evidence("probe.identity", "kv_capacity")
    if isinstance(kv, int) and 0 < kv < clen:
        return f" the KV pool holds {kv} tokens, fewer than the context length {clen}: requests between about {kv - 6} and {clen} tokens pass the length check and then hang ({SGLANG_HANG_BUG})"
    return ""


def _build_text(ctx: "Context", target_tokens: int) -> tuple[str, int, int | None, str]:
    """(text, words, counted tokens or None, count source): counted with the local tokenizer when there is one."""
    tok, tok_src = local_tokenizer(ctx)
    words = target_tokens
    text = long_text(words)
    counted = None
    if tok is not None:
        try:
            for _ in range(3):
                counted = len(token_ids(tok, text))
                if counted >= target_tokens:
                    break
                words += target_tokens - counted + 1
                text = long_text(words)
        except Exception:  # noqa: BLE001 - fall back to the words >= tokens bound
            counted = None
    return text, words, counted, tok_src if counted is not None else "heuristic: one token per word at least"


def _truncated(ctx: "Context", k: str | None, sf: "ServerFacts | None", sent: str, clen: int, r: Any, ev: dict[str, Any]) -> Outcome:
    ev["verdict"] = "truncated"
    body = r.json()
    usage = body.get("usage") if isinstance(body, dict) else None
    pt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    if isinstance(pt, int):
        ev["usage_prompt_count"] = pt
    tei = sf.at(TEI_OVER_LENGTH) if sf is not None and sf.kind == "tei" else None
    why = {
        "sglang": "SGLang does this only with --allow-auto-truncate, which keeps the head and cuts the appended <|endoftext|> that last-token pooling uses: the vector is silently degraded",
        "tei": "TEI >= 1.9 truncates by default (--auto-truncate), at --max-batch-tokens (16384 by default) even though the model takes 32768"
        if tei in ("truncates", None)
        else f"{sf.describe()} truncates only when started with --auto-truncate, at --max-batch-tokens",  # type: ignore[union-attr]
        "infinity": "infinity truncates over-long inputs without an error",
        "vllm": "vLLM truncates only when asked (truncate_prompt_tokens)",
    }.get(k or "", "the tail of long documents never reaches the model")
    if k == "sglang":
        fix = launch_fix(
            ctx,
            None,
            "Drop --allow-auto-truncate so over-length inputs get HTTP 400, and split long documents on the client.",
            drop_dest="allow_auto_truncate",
            applicability=Applicability.UNSAFE,
        )
    elif k == "tei":
        fix = Fix(
            "Start TEI with --auto-truncate false and --max-batch-tokens >= the model's max input length (--auto-truncate false parses from 1.9.2), and split long documents on the client.",
            applicability=Applicability.UNSAFE,
        )
    else:
        fix = Fix("Split long documents on the client so nothing is cut silently.")
    counted_txt = f"; the server counted {pt} prompt tokens" if isinstance(pt, int) else ""
    return Outcome.warn(f"an input of {sent} (context length {clen}) was accepted (HTTP 200): silently truncated{counted_txt}; {why}", fix, **ev)


@check(
    "probe.long-input",
    "Over-length input rejected, not truncated or hung",
    applies=applies,
    requires=REACHABLE,
    uses=("probe.embeddings", "probe.identity", "probe.latency", *MODEL_USES),
    reads=("http", "server", "model", "tokenizer"),
    claims=(
        TEI_OVER_LENGTH.id,
        "sglang.auto-truncate-cuts-end-token",
        "tokenizer.truncation-keeps-end-token",
    ),
)
def check_long_input(ctx: "Context") -> Outcome:
    """What it checks: one request just over the server's context length (max_model_len from /v1/models, TEI's max_input_length, else the launch command's --context-length / --max-model-len, else the model config), built with the local tokenizer when available (else a text with at least one token per word): a 4xx rejection is safe (PASS), a 200 means silent truncation (WARN), no answer within the timeout is a hang (FAIL). The request is at most ~0.8 MB; it runs after the other probes.

    Why it matters: SGLang rejects an input of >= context-length tokens with 400 "The input (N tokens) is longer than the model's context length (C tokens)." unless --allow-auto-truncate, which keeps the head and cuts the appended <|endoftext|> that last-token pooling uses (silently degraded vectors); vLLM answers 400 "This model's maximum context length is ..."; TEI >= 1.9 truncates silently by default (--auto-truncate, at --max-batch-tokens 16384 although the model takes 32768; router/src/lib.rs at v1.9.0, #829); infinity truncates. SGLang bug #40459: when the KV pool holds fewer tokens than the context length, an over-length request hangs instead of failing; TEI <= 1.8.2 hung the same way (#723, fixed in 1.8.3).

    How to fix: for a hang: keep KV capacity >= context length (--mem-fraction-static / --max-total-tokens), lower --context-length, or --allow-auto-truncate; for truncation: drop --allow-auto-truncate (SGLang), set --auto-truncate false with --max-batch-tokens >= the max input length (TEI >= 1.9.2), and split long documents on the client.
    """
    stop = halted(ctx)  # the server stalled (consecutive timeouts) or the deadline is near
    if stop is not None:
        return stop
    skip = embeddings_work(ctx)
    if skip:
        return Outcome.skip(skip)
    o = ctx.options
    k = kind(ctx)
    sf = live_server(ctx)
    clen, src = context_length(ctx)
    if not clen:
        return Outcome.skip("the context length is unknown (no max_model_len from /v1/models, no model config): give --model-path")
    target_tokens = over_length_target(clen)
    if target_tokens > MAX_LONG_TOKENS:
        return Outcome.skip(f"context length {clen} is too large to test without sending megabytes (limit {MAX_LONG_TOKENS} tokens)")
    text, words, counted, count_src = _build_text(ctx, target_tokens)
    ev: dict[str, Any] = {
        "context_length": clen,
        "context_length_source": src,
        "sent_length": counted if counted is not None else f">= {words}",
        "sent_bytes": len(text),
        "count_source": count_src,
    }
    budget = Budget("probe.long-input")
    read = budget.read(o.probe_timeout * LONG_TIMEOUT_FACTOR)
    ev["timeout_s"] = round(read, 1)
    with client(ctx) as c:
        r = c.post_json("/v1/embeddings", embed_body(ctx, text), read_timeout=read)
    ev.update(http_status=r.status, elapsed_ms=r.ms)
    sent = f"{counted} tokens" if counted is not None else f"{words} words (>= {words} tokens)"
    kv_note = _kv_note(ctx, clen)
    if r.failure is not None:
        from ...probe.http import Failure

        if r.failure.kind is Failure.READ_TIMEOUT:
            ev["verdict"] = "hang"
            who = "TEI" if k == "tei" else "the server"
            return Outcome.fail(
                f"no answer within {read:g} s to an input of {sent} (context length {clen}): {who} hangs on over-length input instead of rejecting it"
                + (f" (sglang#40459){kv_note}" if k in (None, "sglang") else "")
                + "; the stuck request may still occupy the server",
                _hang_fix(k, sf),
                **ev,
            )
        ev["verdict"] = "error"
        return Outcome.fail(
            f"over-length input ({sent}): {r.failure}", Fix("Read the server log: the server dropped the connection instead of answering 400."), **ev
        )
    msg = r.message(240)
    st = r.status or 0
    if st == 200:
        return _truncated(ctx, k, sf, sent, clen, r, ev)
    if st == 401:
        return Outcome.skip("the server requires an API key (see probe.embeddings)", **ev)
    if st == 400 and known_refusal(msg) and not TOO_LONG.search(msg):
        # refused for another reason than the length (embedding mode, content type, an emptied body): not a verdict on length
        out = diagnose(ctx, r, f"over-length input ({sent})")
        return Outcome.fail(out.summary, out.fix, **{**ev, **out.evidence, "verdict": "error"})
    if 400 <= st < 500 and (TOO_LONG.search(msg) or st in (400, 413, 422)):
        ev["verdict"] = "rejected"
        ev["server_message"] = msg
        if kv_note:
            return Outcome.warn(f"over-length input ({sent}) rejected with HTTP {st}, but{kv_note}", _hang_fix("sglang", sf), **ev)
        return Outcome.passed(f'over-length input ({sent}, context length {clen}) rejected safely: HTTP {st} "{msg}"', **ev)
    ev["verdict"] = "error"
    ev["server_message"] = msg
    return Outcome.fail(
        f'over-length input ({sent}): HTTP {st} "{msg}"', Fix("Read the server log: an over-length input should get a 4xx, not a server error."), **ev
    )
