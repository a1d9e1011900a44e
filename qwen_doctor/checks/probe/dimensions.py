"""probe.dimensions: the OpenAI `dimensions` field (Matryoshka truncation) honoured, rejected or ignored."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ...probe import MATRYOSHKA, NORM_TOL, BadVector, extract_vectors, stats
from ...results import Fix, Outcome, Status
from ...spec import check
from ...versions import Behaviour, rows
from ._common import REACHABLE, TEXT_A, Budget, applies, client, embed_body, embeddings_work, halted, kind, launch_fix, live_server, older_than_known

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

#: what SGLang does with `dimensions` on a model whose config has no is_matryoshka (the stock Qwen3-Embedding)
SGLANG_DIMENSIONS: Behaviour[str] = Behaviour(
    "sglang.dimensions",
    "SGLang and the OpenAI `dimensions` field: silently ignored, then validated against is_matryoshka / matryoshka_dimensions.",
    rows(
        "sglang",
        "python/sglang/srt/managers/tokenizer_manager.py _validate_for_matryoshka_dim at v0.5.5 (PR #11142)",
        (">=0.5.5", "validated"),
    )
    + rows("sglang", "python/sglang/srt/entrypoints/openai/protocol.py EmbeddingRequest at v0.5.4 (field accepted, unused)", ("<0.5.5", "ignored")),
)


def _merged_json(ctx: "Context", dest: str) -> str:
    t = ctx.target
    cur: Any = t.option(dest) if t.launch is not None and t.given(dest) else None
    obj: dict[str, Any] = {}
    if isinstance(cur, dict):
        obj = dict(cur)
    elif isinstance(cur, str) and cur.strip():
        try:
            parsed = json.loads(cur)
            if isinstance(parsed, dict):
                obj = parsed
        except ValueError:
            pass
    obj["is_matryoshka"] = True
    return json.dumps(obj, separators=(", ", ": "))


def _matryoshka_fix(ctx: "Context", k: str | None) -> Fix:
    if k == "sglang":
        sf = live_server(ctx)
        if sf is not None and sf.at(SGLANG_DIMENSIONS) == "ignored":
            return Fix(
                f"SGLang {sf.version} ignores `dimensions`: upgrade to >= 0.5.5 and enable Matryoshka (--json-model-override-args '{{\"is_matryoshka\": true}}'), or truncate and re-normalize on the client."
            )
        return launch_fix(
            ctx, "sglang",
            "Enable Matryoshka on SGLang (>= 0.5.5): --json-model-override-args '{\"is_matryoshka\": true}' (or '{\"matryoshka_dimensions\": [...]}'). Only needed if clients send `dimensions`.",
            {"--json-model-override-args": _merged_json(ctx, "json_model_override_args")},
        )  # fmt: skip
    if k == "vllm":
        return launch_fix(
            ctx, "vllm",
            "Enable Matryoshka on vLLM: --hf-overrides '{\"is_matryoshka\": true}'. Only needed if clients send `dimensions`.",
            {"--hf-overrides": _merged_json(ctx, "hf_overrides")},
        )  # fmt: skip
    return Fix(
        "Enable Matryoshka: SGLang --json-model-override-args '{\"is_matryoshka\": true}'; vLLM --hf-overrides '{\"is_matryoshka\": true}'. Only needed if clients send `dimensions`."
    )


def _ignored_why(ctx: "Context", k: str | None) -> str:
    if k not in ("sglang", None):
        return ""
    sf = live_server(ctx)
    if sf is not None and sf.kind == "sglang":
        old = older_than_known(sf)
        if old:
            return f" ({old}; SGLang before 0.5.5 ignores the field)"
        if sf.version and sf.at(SGLANG_DIMENSIONS) == "validated":
            return f" (SGLang {sf.version} validates the field, so something in front of it drops it)"
    ignored = next(r for r in SGLANG_DIMENSIONS if r.value == "ignored")
    return f" (SGLang {ignored.range} ignores the field)"


@check(
    "probe.dimensions",
    "Matryoshka `dimensions` honoured",
    severity=Status.WARN,
    applies=applies,
    requires=REACHABLE,
    uses=("probe.embeddings", "probe.identity"),
    reads=("http", "server"),
    claims=(SGLANG_DIMENSIONS.id,),
)
def check_dimensions(ctx: "Context") -> Outcome:
    """What it checks: whether the server honours the OpenAI `dimensions` field (Matryoshka / MRL truncation): a request for fewer dimensions must return that many, re-normalized.

    Why it matters: Qwen3-Embedding supports output dimensions from 32 to the full size, but its config has no is_matryoshka, so SGLang >= 0.5.5 (tokenizer_manager.py _validate_for_matryoshka_dim, PR #11142; real 0.5.23: 400 "Model '...' does not support matryoshka representation, changing output dimensions will lead to poor results.") and vLLM reject `dimensions` with 400 unless told, and SGLang <= 0.5.4 silently ignores the field (full-size vectors come back, and an index built for 256 dimensions breaks). Only matters when clients send `dimensions`, hence a warning at most.

    How to fix: SGLang >= 0.5.5: --json-model-override-args '{"is_matryoshka": true}'; vLLM: --hf-overrides '{"is_matryoshka": true}'; or truncate and re-normalize on the client.
    """
    stop = halted(ctx)  # the server stalled (consecutive timeouts) or the deadline is near
    if stop is not None:
        return stop
    skip = embeddings_work(ctx)
    if skip:
        return Outcome.skip(skip)
    full = ctx.evidence("probe.embeddings", "dim")
    if not isinstance(full, int) or full < 2:
        return Outcome.skip("the full dimension is unknown (probe.embeddings did not measure it)")
    want = 256 if full >= 512 else max(1, full // 4)  # Qwen3 MRL: 32..full; 256 is a common choice
    k = kind(ctx)
    budget = Budget("probe.dimensions")
    with client(ctx) as c:
        r = c.post_json("/v1/embeddings", embed_body(ctx, TEXT_A, dimensions=want), read_timeout=budget.read(ctx.options.probe_timeout))
    ev: dict[str, Any] = {"requested": want, "full_dim": full, "http_status": r.status}
    if r.failure is not None:
        return Outcome.warn(f"request with dimensions={want}: {r.failure}", None, **ev)
    msg = r.message(240)
    if r.status == 200:
        try:
            (v,) = extract_vectors(r.json(), 1)
        except BadVector as exc:
            return Outcome.warn(f"dimensions={want}: HTTP 200 but {exc}", None, **ev)
        s = stats(v)
        ev.update(dim=s.dim, norm=round(s.norm, 6) if s.finite else None)
        if s.dim == want:
            if s.finite and abs(s.norm - 1.0) > NORM_TOL:
                return Outcome.warn(
                    f"dimensions={want} honoured but the truncated vectors are not re-normalized (norm {s.norm:.4f})",
                    Fix("Normalize on the client after truncation."),
                    **ev,
                )
            return Outcome.passed(f"dimensions={want} honoured: {s.dim}-d vectors, norm {s.norm:.4f}", **ev)
        if s.dim == full:
            return Outcome.warn(
                f"`dimensions` is silently ignored{_ignored_why(ctx, k)}: asked for {want}, got {s.dim}; clients that rely on it get full-size vectors",
                Fix(
                    "Upgrade SGLang to >= 0.5.5 and enable Matryoshka (--json-model-override-args '{\"is_matryoshka\": true}'), or truncate to the first N values and re-normalize on the client."
                ),
                **ev,
            )
        return Outcome.warn(f"asked for {want} dimensions, got {s.dim}", None, **ev)
    if r.status == 401:
        return Outcome.skip("the server requires an API key (see probe.embeddings)", **ev)
    if r.status in (400, 422) and MATRYOSHKA in msg.lower():
        fix = _matryoshka_fix(ctx, k)
        return Outcome.warn(
            f'`dimensions` rejected: HTTP {r.status} "{msg}". Qwen3-Embedding supports 32 up to its full size, but its config does not declare is_matryoshka',
            fix,
            **ev,
            server_message=msg,
        )
    return Outcome.warn(f'dimensions={want}: HTTP {r.status} "{msg}"', _matryoshka_fix(ctx, k) if r.status in (400, 422) else None, **ev, server_message=msg)
