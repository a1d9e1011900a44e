"""tokenizer.samples: the --samples file, the query form, and lengths against what each server release does.

Token counts are cross-checked with the `tokenizers` library directly (an independent path), and, in the live test,
with a real vLLM server's `usage.prompt_tokens` and its real accept/reject decisions.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qwen_doctor import tokenizer_tools as tt
from qwen_doctor.checks.tokenizer._limits import SGLANG_EMBED_OVERLENGTH_HANG, TEI_AUTO_TRUNCATE_DEFAULT, TEI_OVER_MAX_BATCH_TOKENS, TEI_TOO_LONG_STATUS
from qwen_doctor.results import Status
from tests.testkit import modeldirs as md

from .conftest import DATA, TASK, run, run_many

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
    res = run_many(
        {
            "sglang": {"argv": ["sglang", "serve", "--model-path", d, "--is-embedding", "--context-length", "64"], "server_version": "0.5.23"},
            "sglang-trunc": {
                "argv": ["sglang", "serve", "--model-path", d, "--is-embedding", "--context-length", "64", "--allow-auto-truncate"],
                "server_version": "0.5.23",
            },
            "vllm": {"argv": ["vllm", "serve", d, "--runner", "pooling", "--max-model-len", "64"], "server_version": "0.33.0"},
            "tei": {"argv": ["text-embeddings-router", "--model-id", d, "--max-batch-tokens", "64"], "server_version": "1.9.2"},
            "tei-no-trunc": {
                "argv": ["text-embeddings-router", "--model-id", d, "--max-batch-tokens", "64", "--auto-truncate", "false"],
                "server_version": "1.9.2",
            },
            "tei-1.8.2": {"argv": ["text-embeddings-router", "--model-id", d, "--max-batch-tokens", "64"], "server_version": "1.8.2"},
            "no-server": {"model_path": d},
        },
        ids=("tokenizer.samples",),
        samples=str(boundary_samples),
    )
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
    # TEI >= 1.9 auto-truncates at --max-batch-tokens silently (keeping the end token: text is lost, not <|endoftext|>)
    assert s["tei"].status is Status.WARN and s["tei"].evidence["truncated_lines"] == [5] and s["tei"].evidence["context_length"] == 64
    assert "--max-batch-tokens" in s["tei"].fix.text
    assert "keeps the appended <|endoftext|>" in s["tei"].summary and "cutting the appended" not in s["tei"].summary
    # TEI with --auto-truncate false and a model longer than --max-batch-tokens does not start
    assert s["tei-no-trunc"].status is Status.FAIL and "refuses to start" in s["tei-no-trunc"].summary
    # TEI <= 1.8.2 (no auto-truncate by default, no start-up check): longer than --max-batch-tokens queues forever
    assert s["tei-1.8.2"].status is Status.FAIL and s["tei-1.8.2"].evidence["hanging_lines"] == [5]
    assert "#723" in s["tei-1.8.2"].summary
    # no server: judged against the model's 32768
    assert s["no-server"].status is Status.PASS and s["no-server"].evidence["context_length"] == 32768
    assert s["no-server"].evidence["p99_length"] == 65


def test_sample_lengths_by_release_tables(real_tokenizer_dir, boundary_samples):
    """The release-dependent rows: TEI 1.8.3 refuses to start instead of hanging, 413 before 1.9.0 and 422 from it,
    SGLang's scheduler hang only from 0.4.7, and a release older than any known one is named as such."""
    d = str(real_tokenizer_dir)
    tei = ["text-embeddings-router", "--model-id", d, "--auto-truncate", "false"]
    res = run_many(
        {
            "tei-1.8.3": {"argv": ["text-embeddings-router", "--model-id", d, "--max-batch-tokens", "64"], "server_version": "1.8.3"},
            "tei-1.8.0-short": {"argv": [*tei, "--max-batch-tokens", "40000"], "server_version": "1.8.0"},
            "tei-1.9.2-short": {"argv": [*tei, "--max-batch-tokens", "40000"], "server_version": "1.9.2"},
            "tei-1.0": {"argv": ["text-embeddings-router", "--model-id", d, "--max-batch-tokens", "64"], "server_version": "1.0.0"},
            "sglang-0.4.6": {"argv": ["sglang", "serve", "--model-path", d, "--is-embedding", "--context-length", "64"], "server_version": "0.4.6.post5"},
        },
        ids=("tokenizer.samples",),
        samples=str(boundary_samples),
    )
    s = {k: v["tokenizer.samples"] for k, v in res.items()}
    assert s["tei-1.8.3"].status is Status.FAIL and "refuses to start" in s["tei-1.8.3"].summary and "hanging_lines" not in s["tei-1.8.3"].evidence
    assert s["tei-1.8.0-short"].evidence["context_length"] == 32768 and s["tei-1.8.0-short"].status is Status.PASS
    assert s["tei-1.9.2-short"].status is Status.PASS
    assert "older than any release the doctor knows" in s["tei-1.0"].summary
    assert s["sglang-0.4.6"].evidence["rejected_lines"] == [4, 5] and "hanging_lines" not in s["sglang-0.4.6"].evidence
    assert TEI_TOO_LONG_STATUS.at("tei", "1.8.2") == 413 and TEI_TOO_LONG_STATUS.at("tei", "1.9.0") == 422
    assert TEI_AUTO_TRUNCATE_DEFAULT.at("tei", "1.9.0") is True and TEI_AUTO_TRUNCATE_DEFAULT.at("tei", "1.8.3") is False
    assert TEI_OVER_MAX_BATCH_TOKENS.at("tei", "1.8.2") == "hangs" and TEI_OVER_MAX_BATCH_TOKENS.at("tei", "1.8.3") == "refuses to start"
    assert SGLANG_EMBED_OVERLENGTH_HANG.at("sglang", "0.5.23") is True and SGLANG_EMBED_OVERLENGTH_HANG.at("sglang", "0.4.6.post5") is None
    for table in (TEI_TOO_LONG_STATUS, TEI_AUTO_TRUNCATE_DEFAULT, TEI_OVER_MAX_BATCH_TOKENS, SGLANG_EMBED_OVERLENGTH_HANG):
        assert all(r.source for r in table)


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


def test_non_latin_samples_count_like_the_tokenizers_library(real_tokenizer_dir):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(real_tokenizer_dir / "tokenizer.json"))
    sf = tt.read_samples(DATA / "docs.txt")
    rep = tt.load_report(real_tokenizer_dir, [s.text for s in sf.samples])
    assert rep.ok
    assert rep.get("sample_lengths") == [len(tok.encode(s.text).ids) for s in sf.samples]
    assert set(rep.get("sample_last_ids")) == {151643}


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
    argv = [
        "python",
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(srv.model_dir),
        "--runner",
        "pooling",
        "--convert",
        "embed",
        "--max-model-len",
        str(limit),
    ]
    r = run(argv=argv, server_version="0.33.0", ids=("tokenizer.samples",), samples=str(samples))["tokenizer.samples"]
    assert r.evidence["rejected_lines"] == [4]  # the doctor: only the limit+1 sample is rejected
    got = []
    for t in texts:
        resp = httpx.post(srv.url + "/v1/embeddings", json={"model": srv.served_model_name, "input": t}, timeout=60)
        got.append((resp.status_code, resp.json().get("usage", {}).get("prompt_tokens") if resp.status_code == 200 else None))
    rep = tt.load_report(srv.model_dir, texts)
    assert [n for _, n in got[:3]] == rep.get("sample_lengths")[:3]  # the server counts what the doctor counts
    assert [c for c, _ in got] == [200, 200, 200, 400]  # and accepts/rejects exactly where the doctor said
