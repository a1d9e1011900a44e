"""tokenizer.* checks on the REAL Qwen3-Embedding-0.6B tokenizer (rebuilt by the test kit from the upstream
vocab/merges, with and without the end-token post-processor) and on the tiny model's tokenizer.

The tokenizer is loaded by the doctor in a child process, as in production. Several targets are examined in
one Runner run where possible, so their loads run side by side. Token counts are cross-checked with the
`tokenizers` library directly (an independent path), and, in the live test, with a real vLLM server's
`usage.prompt_tokens` and its real accept/reject decisions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qwen_doctor import tokenizer_tools as tt
from qwen_doctor.checks import model as mc
from qwen_doctor.context import RunOptions
from qwen_doctor.results import Status
from qwen_doctor.registry import Registry
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target
from tests.testkit import modeldirs as md

DATA = Path(__file__).parent / "data" / "samples"
TOK_IDS = ("model.tokenizer-files", "tokenizer.load", "tokenizer.end-token", "tokenizer.normalizer", "tokenizer.samples")
TASK = "Given a web search query, retrieve relevant passages that answer the query"


def run_many(specs, ids=TOK_IDS, on_finish=None, **opts):
    """specs: {label: dict(argv=..., model_path=..., server_version=...)} -> {label: {check id: Result}}, one Runner run."""
    reg = Registry()
    mc.register(reg)
    targets = []
    for label, spec in specs.items():
        mp = spec.get("model_path")
        targets.append(build_target(spec.get("argv"), model_path=str(mp) if mp else None, server_version=spec.get("server_version"), label=label))
    wanted = set(ids)
    results = Runner(reg, RunOptions(**opts), select=lambda c: c.id in wanted, on_finish=on_finish).run(targets)
    out: dict[str, dict] = {}
    for r in results:
        out.setdefault(r.target, {})[r.id] = r
    return out


def run(model_path=None, argv=None, server_version=None, ids=TOK_IDS, **opts):
    return run_many({"t": {"model_path": model_path, "argv": argv, "server_version": server_version}}, ids, **opts)["t"]


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# =============================================================================================
# load, end token, normalizer


def test_real_and_stale_and_rebuilt_tokenizers(tmp_path, real_tokenizer_dir, stale_tokenizer_dir):
    rebuilt = _copy(real_tokenizer_dir, tmp_path / "vocab-merges-only")
    (rebuilt / "tokenizer.json").unlink()
    res = run_many({
        "real": {"model_path": real_tokenizer_dir},
        "stale": {"model_path": stale_tokenizer_dir},
        "rebuilt": {"model_path": rebuilt},
    })
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
    assert "tokenizer.json" in stale.fix.text and stale.fix.commands == (f"hf download Qwen/Qwen3-Embedding-0.6B tokenizer.json tokenizer_config.json --local-dir {stale_tokenizer_dir}",)
    assert res["stale"]["tokenizer.normalizer"].status is Status.PASS  # NFC normalizer is there even in old snapshots

    # no tokenizer.json: transformers rebuilds it from vocab+merges, without the end token
    assert res["rebuilt"]["model.tokenizer-files"].status is Status.WARN
    assert res["rebuilt"]["tokenizer.end-token"].status is Status.FAIL
    assert res["rebuilt"]["tokenizer.end-token"].evidence["ids_for_test"] == [1944]


def test_required_evidence_keys_survive_redaction(tmp_path):
    d = md.build_tiny_model_dir(tmp_path, name="tiny")
    r = run(model_path=d, ids=("tokenizer.load",))["tokenizer.load"]
    assert r.evidence["tokenizer_class"] == "Qwen2Tokenizer"


def test_tiny_tokenizers_and_missing_tokenizer(tmp_path):
    res = run_many({
        "tiny": {"model_path": md.build_tiny_model_dir(tmp_path, name="tiny")},
        "no-eos": {"model_path": md.build_tiny_model_dir(tmp_path, name="no-eos", append_eos=False)},
        "missing": {"model_path": md.build_tiny_model_dir(tmp_path, name="missing", variant="missing-tokenizer")},
    })
    tiny = res["tiny"]["tokenizer.end-token"]
    assert tiny.status is Status.PASS and tiny.evidence["ids_for_test"][-1] == tiny.evidence["endoftext_id"] == 0
    assert res["no-eos"]["tokenizer.end-token"].status is Status.FAIL
    assert 0 not in res["no-eos"]["tokenizer.end-token"].evidence["ids_for_test"]
    # without tokenizer files the load is not even attempted (transformers would build an empty tokenizer)
    miss = res["missing"]
    assert miss["model.tokenizer-files"].status is Status.FAIL
    assert miss["tokenizer.load"].status is Status.SKIP and miss["tokenizer.load"].blocked_by == ("model.tokenizer-files",)
    assert miss["tokenizer.end-token"].status is Status.SKIP


def test_vocab_size_against_config(tmp_path, real_tokenizer_dir):
    def with_vocab(name, n):
        d = _copy(real_tokenizer_dir, tmp_path / name)
        cfg = json.loads((d / "config.json").read_text())
        cfg["vocab_size"] = n
        (d / "config.json").write_text(json.dumps(cfg))
        return d

    tiny = md.build_tiny_model_dir(tmp_path, name="tiny-big-vocab")
    cfg = json.loads((tiny / "config.json").read_text())
    cfg["vocab_size"] = 5000
    (tiny / "config.json").write_text(json.dumps(cfg))
    res = run_many({
        "4b-like": {"model_path": with_vocab("v151665", 151665)},
        "smaller-table": {"model_path": with_vocab("v151000", 151000)},
        "tiny": {"model_path": tiny},
    }, ids=("tokenizer.load",))
    four = res["4b-like"]["tokenizer.load"]
    assert four.status is Status.PASS and "no embedding row" in four.summary
    assert four.evidence["ids_past_embedding_table"] == ["<tool_response>", "</tool_response>", "<think>", "</think>"]
    assert res["smaller-table"]["tokenizer.load"].status is Status.FAIL and "another model's tokenizer" in res["smaller-table"]["tokenizer.load"].summary
    assert res["tiny"]["tokenizer.load"].status is Status.FAIL and "only 1000 tokens" in res["tiny"]["tokenizer.load"].summary


def test_tokenizer_load_does_not_hold_up_the_other_checks(real_tokenizer_dir):
    tt.clear_cache()  # a real, cold load
    order: list[str] = []
    run(model_path=real_tokenizer_dir, ids=("model.config", "model.sentence-transformers", "model.permissions", "tokenizer.load"), on_finish=lambda r: order.append(r.id))
    assert order[-1] == "tokenizer.load"  # the others finished while the tokenizer was still loading
    assert {"model.config", "model.sentence-transformers", "model.permissions"} <= set(order[:-1])


# =============================================================================================
# the loader itself


def test_load_report_is_bounded_by_its_timeout(real_tokenizer_dir):
    """Importing transformers and parsing the real 11 MB tokenizer.json takes over a second: with a 0.2 s bound
    the child is stopped and the report says so (instead of the check hanging)."""
    rep = tt.load_report(real_tokenizer_dir, timeout=0.2)
    assert not rep.ok and rep.stage == "timeout" and "did not load within 0.2 s" in rep.error


def test_a_fifo_in_place_of_tokenizer_json_is_never_opened(tmp_path, real_tokenizer_dir):
    """A FIFO blocks any reader forever (like a stalled mount): the doctor's file checks must not open it."""
    d = _copy(real_tokenizer_dir, tmp_path / "fifo")
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
    d = _copy(real_tokenizer_dir, tmp_path / "planted")
    (d / "tokenizers.py").write_text("raise SystemExit('planted module imported')\n")
    cwd = os.getcwd()
    os.chdir(d)
    try:
        rep = tt.load_report(d, ["hello"])
    finally:
        os.chdir(cwd)
    assert rep.ok, rep.error
    assert rep.get("ids_for_test") == [1944, 151643] and rep.get("sample_lengths") == [2]


# =============================================================================================
# --samples: the file, the query form


def test_read_samples_formats_and_problems(tmp_path):
    sf = tt.read_samples(DATA / "queries.jsonl")
    assert sf.format == "jsonl" and len(sf.samples) == 8 and sf.problems == ()
    assert [s.kind for s in sf.samples] == ["query"] * 5 + ["document"] * 2 + [None]
    assert sf.samples[0].text == f"Instruct: {TASK}\nQuery:What is the capital of China?"
    txt = tt.read_samples(DATA / "docs.txt")
    assert txt.format == "text" and [s.line for s in txt.samples] == [1, 3, 4, 5] and txt.blank_lines == 1
    broken = tt.read_samples(DATA / "broken.jsonl")
    assert [s.line for s in broken.samples] == [1, 5]
    assert [p.split(":")[0] for p in broken.problems] == ["line 2", "line 3", "line 4"]
    big = tmp_path / "big.txt"
    big.write_text("x\n" * 30)
    assert len(tt.read_samples(big, max_samples=10).samples) == 10 and tt.read_samples(big, max_samples=10).truncated
    with pytest.raises(tt.SamplesError, match="no such file"):
        tt.read_samples(tmp_path / "nope.txt")
    (tmp_path / "blank.txt").write_text("\n\n")
    with pytest.raises(tt.SamplesError, match="no samples"):
        tt.read_samples(tmp_path / "blank.txt")
    (tmp_path / "latin1.txt").write_bytes(b"ok\ncaf\xe9\n")
    lat = tt.read_samples(tmp_path / "latin1.txt")
    assert len(lat.samples) == 1 and lat.problems[0].startswith("line 2: not valid UTF-8")


@pytest.mark.parametrize(
    "text, kind, problem",
    [
        (f"Instruct: {TASK}\nQuery:What is X?", "query", None),
        (f"Instruct: {TASK}\nQuery:What is X?", None, None),
        (f"Instruct: {TASK}\nQuery: What is X?", "query", "a space after `Query:`"),
        (f"Instruct: {TASK}\\nQuery:What is X?", None, "a literal backslash-n"),
        (f"Instruct: {TASK} Query:What is X?", None, "`Query:` not on a new line"),
        (f"Instruct: {TASK}\nquery: What is X?", None, "spelled differently"),
        (f"Instruct: {TASK}", "query", "no `\\nQuery:`"),
        (f"Instruct:{TASK}\nQuery:What is X?", None, "not one space after `Instruct:`"),
        (f"Instruct: {TASK}\nQuery:", "query", "nothing after `Query:`"),
        ("What is X?", "query", "no instruction"),
        ("query: what is x", None, "E5 style"),
        ("Query:What is X?", None, "without the `Instruct: {task}` line"),
        ("What is X?", None, None),  # unknown kind: could be a document
        ("The capital of China is Beijing.", "document", None),
        (f"Instruct: {TASK}\nQuery:Beijing", "document", "documents take no prefix"),
    ],
)
def test_query_form(text, kind, problem):
    got = tt.query_form_problem(text, kind)
    if problem is None:
        assert got is None
    else:
        assert got is not None and problem in got


def test_p99_nearest_rank():
    assert tt.p99([]) is None
    assert tt.p99([5]) == 5
    assert tt.p99(list(range(1, 101))) == 99
    assert tt.p99(list(range(1, 201))) == 198


# =============================================================================================
# --samples: lengths against what each server does


def _exact_texts(tok_json: Path, counts: list[int]) -> dict[int, str]:
    """Texts whose token count (with the appended end token) is exactly each of ``counts``, checked with the
    `tokenizers` library directly (not through transformers, as the doctor does)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tok_json))
    out = {}
    for n in counts:
        text = "test" + " test" * (n - 2)
        assert len(tok.encode(text).ids) == n, (n, len(tok.encode(text).ids))
        out[n] = text
    return out


@pytest.fixture(scope="module")
def boundary_samples(tmp_path_factory, real_tokenizer_dir):
    texts = _exact_texts(real_tokenizer_dir / "tokenizer.json", [57, 58, 63, 64, 65])
    p = tmp_path_factory.mktemp("samples") / "lengths.txt"
    p.write_text("".join(texts[n] + "\n" for n in (57, 58, 63, 64, 65)), encoding="utf-8")
    return p  # line k holds the k-th count above


def test_sample_lengths_per_server(real_tokenizer_dir, boundary_samples):
    d = str(real_tokenizer_dir)
    res = run_many({
        "sglang": {"argv": ["sglang", "serve", "--model-path", d, "--is-embedding", "--context-length", "64"], "server_version": "0.5.23"},
        "sglang-trunc": {"argv": ["sglang", "serve", "--model-path", d, "--is-embedding", "--context-length", "64", "--allow-auto-truncate"], "server_version": "0.5.23"},
        "vllm": {"argv": ["vllm", "serve", d, "--runner", "pooling", "--max-model-len", "64"], "server_version": "0.33.0"},
        "tei": {"argv": ["text-embeddings-router", "--model-id", d, "--max-batch-tokens", "64"], "server_version": "1.9.2"},
        "tei-no-trunc": {"argv": ["text-embeddings-router", "--model-id", d, "--max-batch-tokens", "64", "--auto-truncate", "false"], "server_version": "1.9.2"},
        "tei-1.8.2": {"argv": ["text-embeddings-router", "--model-id", d, "--max-batch-tokens", "64"], "server_version": "1.8.2"},
        "no-server": {"model_path": d},
    }, ids=("tokenizer.samples",), samples=str(boundary_samples))
    s = {k: v["tokenizer.samples"] for k, v in res.items()}
    for r in s.values():
        assert r.evidence["longest"] == 65 and r.evidence["samples"] == 5
    # SGLang: >= 64 -> 400; 58..63 pass that check but hang in the scheduler (sglang#40459); 57 is fine
    assert s["sglang"].status is Status.FAIL
    assert s["sglang"].evidence["rejected_lines"] == [4, 5] and s["sglang"].evidence["hanging_lines"] == [2, 3]
    assert "HTTP 400" in s["sglang"].summary and "sglang#40459" in s["sglang"].summary
    # --allow-auto-truncate: no errors, but the end token is cut from 58 tokens on
    assert s["sglang-trunc"].status is Status.WARN and s["sglang-trunc"].evidence["truncated_lines"] == [2, 3, 4, 5]
    assert "<|endoftext|>" in s["sglang-trunc"].summary
    # vLLM: only > 64 is rejected
    assert s["vllm"].status is Status.FAIL and s["vllm"].evidence["rejected_lines"] == [5]
    assert "maximum context length is 64 tokens" in s["vllm"].summary
    # TEI >= 1.9 auto-truncates at --max-batch-tokens silently
    assert s["tei"].status is Status.WARN and s["tei"].evidence["truncated_lines"] == [5] and s["tei"].evidence["context_length"] == 64
    assert "--max-batch-tokens" in s["tei"].fix.text
    # TEI with --auto-truncate false and a model longer than --max-batch-tokens does not start
    assert s["tei-no-trunc"].status is Status.FAIL and "refuses to start" in s["tei-no-trunc"].summary
    # TEI <= 1.8.2 (no auto-truncate by default, no start-up check): longer than --max-batch-tokens queues forever
    assert s["tei-1.8.2"].status is Status.FAIL and s["tei-1.8.2"].evidence["hanging_lines"] == [5]
    assert "#723" in s["tei-1.8.2"].summary
    # no server: judged against the model's 32768
    assert s["no-server"].status is Status.PASS and s["no-server"].evidence["context_length"] == 32768
    assert s["no-server"].evidence["p99_length"] == 65


def test_samples_query_form_and_broken_files(tmp_path):
    d = str(md.build_tiny_model_dir(tmp_path, name="tiny"))  # the query form does not depend on the vocabulary
    specs = {"t": {"model_path": d}}
    bad = run_many(specs, ids=("tokenizer.samples",), samples=str(DATA / "queries.jsonl"))["t"]["tokenizer.samples"]
    assert bad.status is Status.WARN
    probs = bad.evidence["query_form_problems"]
    assert sorted(sum(probs.values(), [])) == [2, 3, 4, 5, 7]
    assert any("space after `Query:`" in k for k in probs) and "no space after Query:" in bad.fix.text
    good = run_many(specs, ids=("tokenizer.samples",), samples=str(DATA / "good.jsonl"))["t"]["tokenizer.samples"]
    assert good.status is Status.PASS and "queries in the official form" in good.summary and good.evidence["queries"] == 2
    broken = run_many(specs, ids=("tokenizer.samples",), samples=str(DATA / "broken.jsonl"))["t"]["tokenizer.samples"]
    assert broken.status is Status.WARN and broken.evidence["samples"] == 2 and len(broken.evidence["unusable_lines"]) == 3
    missing = run_many(specs, ids=("tokenizer.samples",), samples=str(tmp_path / "nope.jsonl"))["t"]["tokenizer.samples"]
    assert missing.status is Status.ERROR and "no such file" in missing.summary


def test_targets_with_identical_tokenizer_files_share_one_load(tmp_path, real_tokenizer_dir):
    copy = _copy(real_tokenizer_dir, tmp_path / "copy")
    tt.clear_cache()
    first = tt.cached_load_report(real_tokenizer_dir)
    assert tt.cached_load_report(copy) is first  # same bytes: the copy is not loaded again
    with open(copy / "tokenizer_config.json", "a", encoding="utf-8") as fh:
        fh.write("\n")
    assert tt.cached_load_report(copy) is not first  # one byte differs: loaded on its own


def test_non_latin_samples_count_like_the_tokenizers_library(real_tokenizer_dir):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(real_tokenizer_dir / "tokenizer.json"))
    sf = tt.read_samples(DATA / "docs.txt")
    rep = tt.load_report(real_tokenizer_dir, [s.text for s in sf.samples])
    assert rep.ok
    assert rep.get("sample_lengths") == [len(tok.encode(s.text).ids) for s in sf.samples]
    assert set(rep.get("sample_last_ids")) == {151643}


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
from qwen_doctor.checks import model
reg = Registry(); model.register(reg)
res = Runner(reg, RunOptions()).run([build_target(model_path={str(d)!r})])
assert {{r.id: r.status.value for r in res}}["tokenizer.end-token"] == "pass", res
bad = [m for m in ("transformers", "torch", "tokenizers") if m in sys.modules]
print(bad)
sys.exit(1 if bad else 0)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[1])
    assert p.returncode == 0, p.stdout + p.stderr


# =============================================================================================
# live: a real vLLM server agrees with the doctor's counts and limits


@pytest.mark.live_server
def test_doctor_predicts_what_a_real_vllm_server_does(vllm_embed_server, tmp_path):
    import httpx
    from tokenizers import Tokenizer

    srv = vllm_embed_server
    limit = srv.max_model_len
    tok = Tokenizer.from_file(str(Path(srv.model_dir) / "tokenizer.json"))
    # texts of exactly limit and limit + 1 tokens (the appended <|endoftext|> included), plus short ones
    by_len = {}
    k = 1
    while len(by_len) < 2 and k < 4 * limit:
        text = "a" + " a" * (k - 1)
        n = len(tok.encode(text).ids)
        if n in (limit, limit + 1) and n not in by_len:
            by_len[n] = text
        k += 1
    assert set(by_len) == {limit, limit + 1}
    short = ["Embeddings map text to vectors.", f"Instruct: {TASK}\nQuery:what is qwen?"]
    texts = short + [by_len[limit], by_len[limit + 1]]
    samples = tmp_path / "s.txt"
    samples.write_text(json.dumps({"text": texts[0]}) + "\n" + "".join(json.dumps({"text": t}) + "\n" for t in texts[1:]), encoding="utf-8")
    argv = ["python", "-m", "vllm.entrypoints.openai.api_server", "--model", str(srv.model_dir), "--runner", "pooling", "--convert", "embed", "--max-model-len", str(limit)]
    r = run(argv=argv, server_version="0.33.0", ids=("tokenizer.samples",), samples=str(samples))["tokenizer.samples"]
    assert r.evidence["rejected_lines"] == [4]  # the doctor: only the limit+1 sample is rejected
    got = []
    for t in texts:
        resp = httpx.post(srv.url + "/v1/embeddings", json={"model": srv.served_model_name, "input": t}, timeout=60)
        got.append((resp.status_code, resp.json().get("usage", {}).get("prompt_tokens") if resp.status_code == 200 else None))
    rep = tt.load_report(srv.model_dir, texts)
    assert [n for _, n in got[:3]] == rep.get("sample_lengths")[:3]  # the server counts what the doctor counts
    assert [c for c, _ in got] == [200, 200, 200, 400]  # and accepts/rejects exactly where the doctor said
