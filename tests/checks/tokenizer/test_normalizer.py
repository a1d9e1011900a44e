"""tokenizer.normalizer: the Qwen tokenizer normalizes to NFC itself (and so did early snapshots)."""

from __future__ import annotations

from qwen_doctor.results import Status

from .conftest import run_many

IDS = ("model.tokenizer-files", "tokenizer.load", "tokenizer.normalizer")


def test_real_and_stale_tokenizers_normalize_to_nfc(real_tokenizer_dir, stale_tokenizer_dir):
    res = run_many({"real": {"model_path": real_tokenizer_dir}, "stale": {"model_path": stale_tokenizer_dir}}, ids=IDS)
    real = res["real"]["tokenizer.normalizer"]
    assert real.status is Status.PASS and real.evidence["nfc_equals_nfd"] is True
    assert "clients need no NFC step" in real.summary
    assert res["stale"]["tokenizer.normalizer"].status is Status.PASS  # NFC normalizer is there even in old snapshots
