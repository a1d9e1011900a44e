"""tokenizer.load, and the bounded offline loader it uses (one load per run per distinct tokenizer)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from qwen_doctor import tokenizer_tools as tt
from qwen_doctor.results import Status
from tests.testkit import modeldirs as md

from .conftest import copy, run, run_many


def test_required_evidence_keys_survive_redaction(tmp_path):
    d = md.build_tiny_model_dir(tmp_path, name="tiny")
    r = run(model_path=d, ids=("tokenizer.load",))["tokenizer.load"]
    assert r.evidence["tokenizer_class"] == "Qwen2Tokenizer"


def test_vocab_size_against_config(tmp_path, real_tokenizer_dir):
    def with_vocab(name, n):
        d = copy(real_tokenizer_dir, tmp_path / name)
        cfg = json.loads((d / "config.json").read_text())
        cfg["vocab_size"] = n
        (d / "config.json").write_text(json.dumps(cfg))
        return d

    tiny = md.build_tiny_model_dir(tmp_path, name="tiny-big-vocab")
    cfg = json.loads((tiny / "config.json").read_text())
    cfg["vocab_size"] = 5000
    (tiny / "config.json").write_text(json.dumps(cfg))
    res = run_many(
        {
            "4b-like": {"model_path": with_vocab("v151665", 151665)},
            "smaller-table": {"model_path": with_vocab("v151000", 151000)},
            "tiny": {"model_path": tiny},
        },
        ids=("tokenizer.load",),
    )
    four = res["4b-like"]["tokenizer.load"]
    assert four.status is Status.PASS and "no embedding row" in four.summary
    assert four.evidence["ids_past_embedding_table"] == ["<tool_response>", "</tool_response>", "<think>", "</think>"]
    assert res["smaller-table"]["tokenizer.load"].status is Status.FAIL and "another model's tokenizer" in res["smaller-table"]["tokenizer.load"].summary
    assert res["tiny"]["tokenizer.load"].status is Status.FAIL and "only 1000 tokens" in res["tiny"]["tokenizer.load"].summary


def test_tokenizer_load_does_not_hold_up_the_other_checks(real_tokenizer_dir):
    tt.clear_cache()  # a real, cold load (each run loads afresh anyway)
    order: list[str] = []
    run(
        model_path=real_tokenizer_dir,
        ids=("model.config", "model.sentence-transformers", "model.permissions", "tokenizer.load"),
        on_finish=lambda r: order.append(r.id),
    )
    assert order[-1] == "tokenizer.load"  # the others finished while the tokenizer was still loading
    assert {"model.config", "model.sentence-transformers", "model.permissions"} <= set(order[:-1])


def test_targets_sharing_a_tokenizer_load_it_once_per_run(tmp_path, monkeypatch):
    """Ten targets on one directory plus a byte-identical copy: one load in the run, shared by every check and target;
    the next run loads again (nothing is kept between runs)."""
    d = md.build_tiny_model_dir(tmp_path, name="tiny")
    twin = copy(d, tmp_path / "twin")
    calls = []
    real = tt.load_report
    monkeypatch.setattr(tt, "load_report", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    specs = {f"t{i}": {"model_path": d} for i in range(10)} | {"twin": {"model_path": twin}}
    res = run_many(specs, ids=("tokenizer.load", "tokenizer.end-token", "tokenizer.normalizer"))
    assert all(r.status is Status.PASS for per in res.values() for r in per.values() if r.id.startswith("tokenizer."))
    assert len(calls) == 1
    run_many(specs, ids=("tokenizer.load",))
    assert len(calls) == 2


def test_another_model_skips_the_qwen3_tokenizer_rules(tmp_path):
    """A model that is clearly not Qwen3-Embedding: the tokenizer still loads; the Qwen3-only rules SKIP naming the model."""
    d = md.build_tiny_model_dir(tmp_path, name="bert-like")
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(architectures=["BertModel"], model_type="bert")
    (d / "config.json").write_text(json.dumps(cfg))
    res = run(model_path=d, ids=("tokenizer.load", "tokenizer.end-token", "tokenizer.normalizer"))
    assert res["tokenizer.load"].status in (Status.PASS, Status.FAIL)  # judged on its own terms (vocab vs config)
    for cid in ("tokenizer.end-token", "tokenizer.normalizer"):
        assert res[cid].status is Status.SKIP and "BertModel model" in res[cid].summary and "Qwen3-Embedding rule" in res[cid].summary


# =============================================================================================
# the loader itself


def test_load_report_is_bounded_by_its_timeout(real_tokenizer_dir):
    """Importing transformers and parsing the real 11 MB tokenizer.json takes over a second: with a 0.2 s bound
    the child is stopped and the report says so (instead of the check hanging)."""
    rep = tt.load_report(real_tokenizer_dir, timeout=0.2)
    assert not rep.ok and rep.stage == "timeout" and "did not load within 0.2 s" in rep.error


def test_a_fifo_in_place_of_tokenizer_json_is_never_opened(tmp_path, real_tokenizer_dir):
    """A FIFO blocks any reader forever (like a stalled mount): the doctor's file checks must not open it."""
    d = copy(real_tokenizer_dir, tmp_path / "fifo")
    (d / "tokenizer.json").unlink()
    os.mkfifo(d / "tokenizer.json")
    res = run(model_path=d, ids=("model.tokenizer-files", "model.permissions", "model.sentence-transformers", "tokenizer.load"))
    assert res["model.tokenizer-files"].status is Status.FAIL and "not a regular file" in res["model.tokenizer-files"].summary
    assert res["tokenizer.load"].status is Status.SKIP
    assert res["model.permissions"].status is Status.PASS


def test_load_report_never_goes_to_the_hub(tmp_path):
    rep = tt.load_report(tmp_path / "Qwen" / "Qwen3-Embedding-0.6B", timeout=30)
    assert not rep.ok and rep.stage == "load"  # fails at once, offline, instead of trying a download
    env = tt._child_env()
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1"


def test_load_report_ignores_a_planted_module_in_the_model_dir(tmp_path, real_tokenizer_dir):
    """The child runs isolated (-I): a tokenizers.py in the model directory or the current directory is never imported."""
    d = copy(real_tokenizer_dir, tmp_path / "planted")
    (d / "tokenizers.py").write_text("raise SystemExit('planted module imported')\n")
    cwd = os.getcwd()
    os.chdir(d)
    try:
        rep = tt.load_report(d, ["hello"])
    finally:
        os.chdir(cwd)
    assert rep.ok, rep.error
    assert rep.get("ids_for_test") == [1944, 151643] and rep.get("sample_lengths") == [2]


def test_targets_with_identical_tokenizer_files_share_one_load(tmp_path, real_tokenizer_dir):
    copy_ = copy(real_tokenizer_dir, tmp_path / "copy")
    tt.clear_cache()
    first = tt.cached_load_report(real_tokenizer_dir)
    assert tt.cached_load_report(copy_) is first  # same bytes: the copy is not loaded again
    with open(copy_ / "tokenizer_config.json", "a", encoding="utf-8") as fh:
        fh.write("\n")
    assert tt.cached_load_report(copy_) is not first  # one byte differs: loaded on its own


# =============================================================================================
# import discipline


def test_a_full_run_never_imports_transformers_into_the_doctor(tmp_path):
    d = md.build_tiny_model_dir(tmp_path, name="tiny")
    code = f"""
import sys
from qwen_doctor.registry import Registry
from qwen_doctor.runner import Runner
from qwen_doctor.context import RunOptions
from qwen_doctor.target import build_target
from qwen_doctor.checks import model, tokenizer
reg = Registry(); model.register(reg); tokenizer.register(reg)
res = Runner(reg, RunOptions()).run([build_target(model_path={str(d)!r})])
assert {{r.id: r.status.value for r in res}}["tokenizer.end-token"] == "pass", res
bad = [m for m in ("transformers", "torch", "tokenizers") if m in sys.modules]
print(bad)
sys.exit(1 if bad else 0)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[3])
    assert p.returncode == 0, p.stdout + p.stderr
