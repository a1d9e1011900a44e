"""model.sentence-transformers: what each server does with and without modules.json / 1_Pooling, by release."""

from __future__ import annotations

import json

from qwen_doctor.checks.model.sentence_transformers import VLLM_ST_AUTODETECT
from qwen_doctor.results import Status

from .conftest import run, variant


def test_sentence_transformers_present_and_stale(tmp_path, tiny):
    r = run(model_path=tiny, ids=("model.sentence-transformers",))["model.sentence-transformers"]
    assert r.status is Status.PASS and r.evidence["pooling_mode"] == "lasttoken"
    stale = variant(tmp_path, "stale")
    r = run(model_path=stale, ids=("model.sentence-transformers",))["model.sentence-transformers"]
    assert r.status is Status.WARN and "stale snapshot" in r.summary and "0.10.0 never auto-detects" in r.summary


def test_sentence_transformers_absence_by_server(tmp_path):
    stale = variant(tmp_path, "stale")
    ids = ("model.sentence-transformers",)
    v101 = run(["vllm", "serve", str(stale)], server_version="0.10.1.1", ids=ids)[ids[0]]
    assert v101.status is Status.WARN and "runs a generator" in v101.summary
    v100 = run(["vllm", "serve", str(stale), "--task", "embed"], server_version="0.10.0", ids=ids)[ids[0]]
    assert v100.status is Status.WARN and "because the launch command says so" in v100.summary
    v100_auto = run(["vllm", "serve", str(stale)], server_version="0.10.0", ids=ids)[ids[0]]
    assert "never auto-detects" in v100_auto.summary
    tei = run(["text-embeddings-router", "--model-id", str(stale)], ids=ids)[ids[0]]
    assert tei.status is Status.FAIL and "could not find a pooling configuration" in tei.summary
    tei_ok = run(["text-embeddings-router", "--model-id", str(stale), "--pooling", "last-token"], ids=ids)[ids[0]]
    assert tei_ok.status is Status.WARN
    sg = run(["sglang", "serve", "--model-path", str(stale), "--is-embedding"], server_version="0.5.23", ids=ids)[ids[0]]
    assert sg.status is Status.WARN and "SGLang does not read these files" in sg.summary


def test_vllm_release_older_than_any_known_is_named(tmp_path):
    stale = variant(tmp_path, "stale")
    ids = ("model.sentence-transformers",)
    old = run(["vllm", "serve", str(stale)], server_version="0.7.3", ids=ids)[ids[0]]
    assert old.status is Status.WARN and "vLLM 0.7.3 is older than any release the doctor knows" in old.summary


def test_autodetect_table_has_sources_and_ranges():
    assert VLLM_ST_AUTODETECT.at("vllm", "0.10.0") is False
    assert VLLM_ST_AUTODETECT.at("vllm", "0.10.1.1") is True and VLLM_ST_AUTODETECT.at("vllm", "0.8.5") is True
    assert VLLM_ST_AUTODETECT.at("vllm", "0.10.1rc1") is False  # a 0.10.1 pre-release is still before 0.10.1
    assert all(r.source for r in VLLM_ST_AUTODETECT)


def test_sentence_transformers_wrong_pooling(tiny):
    pool = tiny / "1_Pooling" / "config.json"
    cfg = json.loads(pool.read_text())
    cfg.update(pooling_mode_lasttoken=False, pooling_mode_mean_tokens=True)
    pool.write_text(json.dumps(cfg))
    ids = ("model.sentence-transformers",)
    r = run(["vllm", "serve", str(tiny), "--runner", "pooling"], server_version="0.33.0", ids=ids)[ids[0]]
    assert r.status is Status.FAIL and "mean_tokens pooling" in r.summary
    r = run(["sglang", "serve", "--model-path", str(tiny), "--is-embedding"], server_version="0.5.23", ids=ids)[ids[0]]
    assert r.status is Status.WARN and "SGLang ignores it" in r.summary
    r = run(["text-embeddings-router", "--model-id", str(tiny), "--pooling", "mean"], ids=ids)[ids[0]]
    assert r.status is Status.FAIL and "--pooling mean" in r.summary


def test_another_model_skips_the_last_token_rule(tiny):
    """Mean pooling is right for a BERT model: the Qwen3-Embedding rule is skipped, naming the model seen."""
    (tiny / "config.json").write_text(
        json.dumps({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 768, "num_hidden_layers": 12, "max_position_embeddings": 512})
    )
    r = run(["vllm", "serve", str(tiny), "--runner", "pooling"], server_version="0.33.0", ids=("model.sentence-transformers",))["model.sentence-transformers"]
    assert r.status is Status.SKIP and "BertModel model" in r.summary and "Qwen3-Embedding rule" in r.summary
