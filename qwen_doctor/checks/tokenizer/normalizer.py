"""tokenizer.normalizer: the tokenizer normalizes Unicode to NFC itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Fix, Outcome, Status
from ...spec import check
from ._common import qwen3_tokenizer_rule, tok_report

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


@check(
    "tokenizer.normalizer",
    "Tokenizer normalizes Unicode (NFC)",
    severity=Status.WARN,
    applies=qwen3_tokenizer_rule("the NFC normalizer of the Qwen tokenizer"),
    requires=("tokenizer.load",),
    reads=("model", "tokenizer"),
)
def check_normalizer(ctx: "Context") -> Outcome:
    """What it checks: whether the tokenizer normalizes Unicode to NFC itself, by encoding the same text in NFC and NFD
    form (accents, Hangul, kana, Greek) and comparing the ids; also reports its normalizer. Skipped for a model that
    is clearly not Qwen3-Embedding.

    Why it matters: the Qwen2/Qwen3 tokenizer has an NFC normalizer (vllm-tei-qwen3.md A.3), so NFC and NFD input give
    identical ids and clients need no Unicode normalization step (advice to NFC-normalize non-Latin text client-side
    is folklore for this tokenizer). A tokenizer without it would embed the same text differently depending on where
    it came from (macOS file names are NFD).

    How to fix: nothing when it normalizes; otherwise take tokenizer.json from the model repository (or normalize to NFC
    in the client).
    """
    rep = tok_report(ctx)
    same = rep.get("nfc_equals_nfd")
    norm = rep.get("normalizer")
    ev = {"nfc_equals_nfd": same, "normalizer": norm, "normalizer_type": rep.get("normalizer_type")}
    if same:
        return Outcome.passed(
            f"the tokenizer normalizes to NFC itself (normalizer {norm}): NFC and NFD input give the same ids, so clients need no NFC step", **ev
        )
    return Outcome.warn(
        f"NFC and NFD forms of the same text give different ids (normalizer {norm or 'none'}): text from sources that use decomposed Unicode (e.g. macOS file names) embeds differently",
        Fix("Take tokenizer.json from the model repository (the Qwen tokenizer normalizes to NFC), or normalize inputs to NFC in the client."),
        **ev,
    )
