"""tokenizer.end-token: "test" -> [1944, 151643] with the real tokenizer; stale and rebuilt tokenizers fail."""

from __future__ import annotations

from qwen_doctor.results import Status
from tests.testkit import modeldirs as md

from .conftest import TOK_IDS, copy, run_many


def test_real_and_stale_and_rebuilt_tokenizers(tmp_path, real_tokenizer_dir, stale_tokenizer_dir):
    rebuilt = copy(real_tokenizer_dir, tmp_path / "vocab-merges-only")
    (rebuilt / "tokenizer.json").unlink()
    res = run_many(
        {
            "real": {"model_path": real_tokenizer_dir},
            "stale": {"model_path": stale_tokenizer_dir},
            "rebuilt": {"model_path": rebuilt},
        }
    )
    real = res["real"]
    assert all(real[i].status is Status.PASS for i in TOK_IDS if i != "tokenizer.samples")
    assert real["tokenizer.samples"].status is Status.SKIP and "no --samples" in real["tokenizer.samples"].summary
    ev = real["tokenizer.load"].evidence
    assert real["tokenizer.load"].summary.startswith("Qwen2Tokenizer")
    assert ev["vocab_size"] == 151669 and ev["base_vocab_size"] == 151643 and ev["config_vocab_size"] == 151669
    assert ev["model_max_length"] == 131072
    assert real["tokenizer.end-token"].evidence["ids_for_test"] == [1944, 151643]
    assert real["tokenizer.normalizer"].evidence["nfc_equals_nfd"] is True
    assert "clients need no NFC step" in real["tokenizer.normalizer"].summary

    stale = res["stale"]["tokenizer.end-token"]
    assert stale.status is Status.FAIL
    assert stale.summary.startswith("stale tokenizer: the model pools the wrong token")
    assert stale.evidence["ids_for_test"] == [1944]
    assert "tokenizer.json" in stale.fix.text and stale.fix.commands == (
        f"hf download Qwen/Qwen3-Embedding-0.6B tokenizer.json tokenizer_config.json --local-dir {stale_tokenizer_dir}",
    )
    assert res["stale"]["tokenizer.normalizer"].status is Status.PASS  # NFC normalizer is there even in old snapshots

    # no tokenizer.json: transformers rebuilds it from vocab+merges, without the end token
    assert res["rebuilt"]["model.tokenizer-files"].status is Status.WARN
    assert res["rebuilt"]["tokenizer.end-token"].status is Status.FAIL
    assert res["rebuilt"]["tokenizer.end-token"].evidence["ids_for_test"] == [1944]


def test_tiny_tokenizers_and_missing_tokenizer(tmp_path):
    res = run_many(
        {
            "tiny": {"model_path": md.build_tiny_model_dir(tmp_path, name="tiny")},
            "no-eos": {"model_path": md.build_tiny_model_dir(tmp_path, name="no-eos", append_eos=False)},
            "missing": {"model_path": md.build_tiny_model_dir(tmp_path, name="missing", variant="missing-tokenizer")},
        }
    )
    tiny = res["tiny"]["tokenizer.end-token"]
    assert tiny.status is Status.PASS and tiny.evidence["ids_for_test"][-1] == tiny.evidence["endoftext_id"] == 0
    assert res["no-eos"]["tokenizer.end-token"].status is Status.FAIL
    assert 0 not in res["no-eos"]["tokenizer.end-token"].evidence["ids_for_test"]
    # without tokenizer files the load is not even attempted (transformers would build an empty tokenizer)
    miss = res["missing"]
    assert miss["model.tokenizer-files"].status is Status.FAIL
    assert miss["tokenizer.load"].status is Status.SKIP and miss["tokenizer.load"].blocked_by == ("model.tokenizer-files",)
    assert miss["tokenizer.end-token"].status is Status.SKIP
