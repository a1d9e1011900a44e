"""tokenizer.end-token: the tokenizer appends <|endoftext|>, the token Qwen3-Embedding pools on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Applicability, Fix, Outcome
from ...spec import check
from ..model._common import download
from ._common import ENDOFTEXT, REAL_ENDOFTEXT_ID, REAL_TEST_IDS, REAL_VOCAB_TOKENS, qwen3_tokenizer_rule, tok_dir, tok_report

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


@check(
    "tokenizer.end-token",
    "Tokenizer appends <|endoftext|>",
    applies=qwen3_tokenizer_rule("last-token pooling on <|endoftext|>"),
    requires=("tokenizer.load",),
    reads=("model", "tokenizer"),
    claims=("tokenizer.appends-endoftext",),
)
def check_end_token(ctx: "Context") -> Outcome:
    """What it checks: that the tokenizer appends `<|endoftext|>` to every input: `"test"` must encode to
    `[1944, 151643]` with the real vocabulary (any vocabulary: the last id must be `<|endoftext|>`'s). Skipped for a
    model that is clearly not Qwen3-Embedding.

    Why it matters: Qwen3-Embedding pools the hidden state of the last token, trained to be `<|endoftext|>` (151643,
    the pad token; not the eos token `<|im_end|>` 151645). No server adds it: SGLang, vLLM and TEI all rely on the
    tokenizer.json post-processor (vllm-tei-qwen3.md A.3, B.5 `add_special_tokens`, C.4 EOS). Early snapshots lack
    that post-processor (as does a tokenizer rebuilt from vocab.json + merges.txt), so the model pools the last word
    instead and the vectors are quietly worse.

    How to fix: take tokenizer.json (and tokenizer_config.json, modules.json, 1_Pooling/) from the current model
    repository, e.g. `hf download Qwen/Qwen3-Embedding-0.6B tokenizer.json --local-dir DIR`. Vectors already stored
    were computed with the wrong token: re-embed them after the fix.
    """
    rep = tok_report(ctx)
    d, _ = tok_dir(ctx)
    ids = list(rep.get("ids_for_test") or [])
    eot = rep.get("endoftext_id")
    real = eot == REAL_ENDOFTEXT_ID and rep.get("vocab_size") == REAL_VOCAB_TOKENS
    ev = {"ids_for_test": ids, "endoftext_id": eot, "post_processor": rep.get("post_processor_type"), "expected": REAL_TEST_IDS if real else None}
    repo, dl = download(ctx, d, ("tokenizer.json", "tokenizer_config.json"))
    fix = Fix(
        f"Take tokenizer.json from the current model repo ({repo}); then re-embed stored vectors (they were pooled on the wrong token).",
        commands=dl,
        applicability=Applicability.UNSAFE,
    )
    if eot is None:
        return Outcome.fail(
            f'the tokenizer has no {ENDOFTEXT} token at all ("test" -> {ids}): not the Qwen tokenizer; the model pools the wrong token', fix, **ev
        )
    if real and ids == REAL_TEST_IDS:
        return Outcome.passed(f'"test" -> {ids}: the tokenizer appends {ENDOFTEXT} ({eot}), the token the model pools', **ev)
    if not real and ids and ids[-1] == eot and (len(ids) < 2 or ids[-2] != eot):
        return Outcome.passed(f'"test" -> {ids}: ends with {ENDOFTEXT} ({eot}), the token the model pools', **ev)
    if ids and ids[-1] == rep.get("eos_token_id") and ids[-1] != eot:
        what = f"appends {rep.get('eos_token')} ({ids[-1]}) instead of {ENDOFTEXT} ({eot})"
    elif ids.count(eot) > 1:
        what = f"appends {ENDOFTEXT} more than once"
    elif real and ids[:1] == [REAL_TEST_IDS[0]] and len(ids) == 2:
        what = f"gives {ids} instead of {REAL_TEST_IDS}"
    else:
        what = f"appends no {ENDOFTEXT} ({eot}); post-processor: {rep.get('post_processor_type') or 'none'}"
    expected = REAL_TEST_IDS if real else "[..., " + str(eot) + "]"
    return Outcome.fail(f'stale tokenizer: the model pools the wrong token ("test" -> {ids}: {what}; expected {expected})', fix, **ev)
