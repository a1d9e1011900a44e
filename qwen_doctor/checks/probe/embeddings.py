"""probe.embeddings: the answer's shape, dimension, values, norm, determinism, batch consistency and token count."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...probe import BATCH_COSINE_MIN, DETERMINISM_COSINE_MIN, NORM_TOL, BadVector, cosine, extract_vectors, max_abs_diff, stats
from ...results import Fix, Outcome
from ...spec import check
from ._common import MODEL_USES, REACHABLE, TEXT_A, TEXT_B, Budget, applies, client, embed_body, halted, kind, model_name
from ._diagnose import diagnose, json_or_fail
from ._local import appended_id, expected_dim, local_tokenizer, token_ids

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...probe.http import Reply

Finding = tuple[str, "Fix | None"]


@check(
    "probe.embeddings",
    "Embeddings have the right shape, norm and consistency",
    applies=applies,
    requires=REACHABLE,
    uses=("probe.identity", "probe.health", *MODEL_USES),
    reads=("http", "server", "model", "tokenizer"),
    claims=("vllm.normalize-switch",),
)
def check_embeddings(ctx: "Context") -> Outcome:
    """What it checks: POST /v1/embeddings with Content-Type: application/json: the answer's shape, the dimension (from --expect-dim, else the model's config or variant), finite values, the L2 norm (reported; PASS near 1), determinism (the same input twice), batch vs single consistency (cosine >= 0.999), and usage.prompt_tokens against the local tokenizer when the model directory is known. The answer's `model` field is recorded, not judged: SGLang answers with the model path, not the served name (serving_embedding.py _build_embedding_response, every release; sglang#4293 "intended").

    Why it matters: "the server is up" is not "the server returns correct embeddings". A 400/404 here usually means the model runs as a generator (SGLang without --is-embedding: 400 "This model does not appear to be an embedding model by default. Please add `--is-embedding` when launching the server...", tokenizer_manager.py 0.4.6-0.5.23; vLLM without --runner pooling: 400 up to 0.13, 404 from 0.20); 401 means the server wants an API key. SGLang always L2-normalizes Qwen3-Embedding, vLLM and TEI do by default, so the norm is measured, not assumed. NaN appears with fp16 on the 8B model. A server whose tokenizer does not append <|endoftext|> (151643) counts one token less than the current tokenizer and pools the wrong token.

    How to fix: follow the named flag (SGLang --is-embedding, vLLM --runner pooling --convert embed) — the launch.embedding-mode check explains it; pass --api-key; serve the 8B in bf16 or fp32, not fp16; update a stale tokenizer.json (the current one appends <|endoftext|>); batch/single differences point at padding bugs (TEI before 1.7.3).
    """
    stop = halted(ctx)  # the server stalled (consecutive timeouts) or the deadline is near
    if stop is not None:
        return stop
    o = ctx.options
    budget = Budget("probe.embeddings")
    exp_dim, dim_src = expected_dim(ctx)
    with client(ctx) as c:

        def post(inp: Any) -> "Reply":
            return c.post_json("/v1/embeddings", embed_body(ctx, inp), read_timeout=budget.read(o.probe_timeout))

        r1 = post(TEXT_A)
        if r1.status != 200 or r1.failure is not None:
            return diagnose(ctx, r1, "POST /v1/embeddings")
        body1, bad = json_or_fail(r1, "POST /v1/embeddings")
        if bad:
            return bad
        try:
            (v1,) = extract_vectors(body1, 1)
        except BadVector as exc:
            return Outcome.fail(
                f"POST /v1/embeddings: HTTP 200 but not an OpenAI embeddings answer: {exc}",
                Fix("Check that the URL is an OpenAI-compatible embedding server."),
                http_status=200,
            )
        r2 = post(TEXT_A)
        r3 = post([TEXT_A, TEXT_B])
    s1 = stats(v1)
    ev: dict[str, Any] = {
        "http_status": 200,
        "dim": s1.dim,
        "norm": round(s1.norm, 6) if s1.finite else None,
        "latency_ms": r1.ms,
        "model_sent": model_name(ctx),
    }
    answered_model = body1.get("model") if isinstance(body1, dict) else None
    if isinstance(answered_model, str):
        ev["response_model"] = answered_model
        if kind(ctx) == "sglang" and answered_model != ev["model_sent"]:
            ev["response_model_note"] = "SGLang answers with the model path, not the served name (sglang#4293); not an error"
    if exp_dim:
        ev.update(expected_dim=exp_dim, expected_dim_source=dim_src)
    fails: list[Finding] = []
    warns: list[Finding] = []
    facts: list[str] = [f"{s1.dim}-d"]

    if not s1.finite:
        fails.append(
            (
                f"{s1.bad_values} of {s1.dim} values are NaN/inf (Qwen3-Embedding-8B in fp16 overflows to NaN for some inputs)",
                Fix("Serve in bf16 or fp32 (SGLang/vLLM --dtype bfloat16; TEI has no bf16 on CUDA: --dtype float32)."),
            )
        )
    if exp_dim and s1.dim != exp_dim:
        fails.append(
            (
                f"vectors have {s1.dim} dimensions, expected {exp_dim} (from {dim_src}): a different model is served, or a dimension override is in effect",
                Fix("Check which model the server loaded (probe.identity) and the expected dimension (--expect-dim)."),
            )
        )
    elif not exp_dim:
        facts.append("no expected dimension known (give --expect-dim or --model-path)")
    if s1.finite:
        if s1.norm == 0:
            fails.append(
                (
                    "the vector is all zeros: the input was embedded as padding",
                    Fix("Check the tokenizer: an input that tokenizes to nothing gives an all-zero vector."),
                )
            )
        elif abs(s1.norm - 1.0) <= NORM_TOL:
            facts.append(f"L2 norm {s1.norm:.4f}")
        else:
            warns.append(
                (
                    f"vectors are not L2-normalized (norm {s1.norm:.4f}): cosine similarity is unaffected, but dot-product / inner-product indexes rank differently. SGLang always normalizes Qwen3-Embedding; vLLM and TEI do by default, so a pooler or client setting turned it off",
                    Fix(
                        "Normalize on the client, or restore the server default ("
                        + "; ".join(x for x in (ctx.claim("vllm.normalize-switch"), "TEI /embed: normalize=true") if x)
                        + ")."
                    ),
                )
            )
    if s1.finite and s1.norm != 0:  # comparisons are meaningless on NaN or zero vectors (already a failure)
        _determinism(v1, r2, ev, fails, warns, facts)
        _batch(v1, r3, ev, fails, facts)
    _token_count(ctx, body1, ev, warns, facts)
    summary_facts = ", ".join(facts)
    if fails:
        return Outcome.fail(
            "; ".join(m for m, _ in fails) + f" ({summary_facts})", next((f for _, f in fails if f), None) or next((f for _, f in warns if f), None), **ev
        )
    if warns:
        return Outcome.warn("; ".join(m for m, _ in warns) + f" ({summary_facts})", next((f for _, f in warns if f), None), **ev)
    return Outcome.passed(f"embeddings OK in {r1.ms} ms: {summary_facts}", **ev)


def _r(x: float) -> float | None:
    return None if x != x else round(x, 6)


def _determinism(v1: list[float], r2: "Reply", ev: dict[str, Any], fails: list[Finding], warns: list[Finding], facts: list[str]) -> None:
    if not (r2.answered and r2.status == 200):
        warns.append((f"second identical request failed: {r2.describe()}", None))
        return
    try:
        (v2,) = extract_vectors(r2.json(), 1)
    except BadVector as exc:
        warns.append((f"second identical request: {exc}", None))
        return
    cos, diff = cosine(v1, v2), max_abs_diff(v1, v2)
    ev.update(determinism_cosine=_r(cos), determinism_max_abs_diff=_r(diff))
    if not (cos >= DETERMINISM_COSINE_MIN):
        (fails if cos < 0.99 else warns).append(
            (
                f"the same input gave different vectors (cosine {cos:.5f}): nondeterministic batching (TEI 1.7.2 did this; fixed in 1.7.3/1.7.4)",
                Fix("Upgrade the server (TEI >= 1.7.4); report the server version and model."),
            )
        )
    else:
        facts.append("deterministic")


def _batch(v1: list[float], r3: "Reply", ev: dict[str, Any], fails: list[Finding], facts: list[str]) -> None:
    if not (r3.answered and r3.status == 200):
        fails.append((f"batch request (2 inputs) failed: {r3.describe()} {r3.message(120) if r3.answered else ''}".strip(), None))
        return
    try:
        b1, b2 = extract_vectors(r3.json(), 2)
    except BadVector as exc:
        fails.append((f"batch request: {exc}", None))
        return
    cos = cosine(v1, b1)
    ev["batch_cosine"] = _r(cos)
    if len(b1) != len(v1) or len(b2) != len(v1):
        fails.append((f"batch vectors have {len(b1)}/{len(b2)} dimensions, single {len(v1)}", None))
    elif not (cos >= BATCH_COSINE_MIN):
        fails.append(
            (
                f"the same text embeds differently alone and in a batch (cosine {cos:.5f} < {BATCH_COSINE_MIN}): a padding / last-token bug (TEI before 1.7.3 had one for Qwen3, #646/#648)",
                Fix("Upgrade the server; Qwen3 last-token pooling needs left padding or the attention-mask index."),
            )
        )
    else:
        facts.append(f"batch = single (cosine {cos:.4f})")


def _token_count(ctx: "Context", body1: Any, ev: dict[str, Any], warns: list[Finding], facts: list[str]) -> None:
    usage = body1.get("usage") if isinstance(body1, dict) else None
    pt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    if not isinstance(pt, int):
        return
    ev["usage_prompt_count"] = pt  # (evidence keys avoid "token": redact_obj hides keys containing it)
    tok, tok_src = local_tokenizer(ctx)
    if tok is None:
        if pt == len(TEXT_A):
            facts.append(f"usage.prompt_tokens ({pt}) counts characters, not tokens")
        return
    try:
        ids = token_ids(tok, TEXT_A)
    except Exception as exc:  # noqa: BLE001
        facts.append(f"local tokenizer failed: {type(exc).__name__}")
        return
    ev.update(local_count=len(ids), count_source=tok_src)
    appends = bool(ids) and ids[-1] == appended_id(tok, ids)
    if pt == len(ids):
        facts.append(f"{pt} prompt tokens, as the local tokenizer counts")
    elif pt == len(ids) - 1 and appends:
        warns.append(
            (
                f"the server counts {pt} prompt tokens, the local tokenizer {len(ids)} including the appended <|endoftext|>: the server's tokenizer does not append it (an old snapshot), so last-token pooling pools the wrong token",
                Fix('Update the server\'s model files: the current Qwen3-Embedding tokenizer.json appends <|endoftext|> ("test" -> [1944, 151643]).'),
            )
        )
    elif pt == len(ids) + 1 and not appends:
        facts.append(f"server counts {pt} tokens, the local tokenizer {len(ids)}: the local copy does not append <|endoftext|> (stale), the server's does")
    elif pt == len(TEXT_A):
        facts.append(f"usage.prompt_tokens ({pt}) counts characters, not tokens (infinity does)")
    else:
        warns.append(
            (
                f"the server counts {pt} prompt tokens, the local tokenizer {len(ids)}: the server uses a different tokenizer than the model directory",
                Fix("Check that the server and --model-path hold the same model files."),
            )
        )
