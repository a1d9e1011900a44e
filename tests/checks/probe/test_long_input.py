"""probe.long-input: rejected, truncated, hung; built with the local tokenizer."""

from __future__ import annotations

import time

from qwen_doctor.results import Status
from qwen_doctor.target import build_target
from tests import probe_servers as ps
from tests.checks.probe.conftest import opts, quirky_route, run, run_url


def test_sglang_auto_truncate_warns_about_the_end_token():
    with ps.replay_server("sglang", allow_auto_truncate=True) as srv:
        t = build_target(
            ["sglang", "serve", "--model-path", "/models/Qwen3-Embedding-0.6B", "--is-embedding", "--allow-auto-truncate", "--port", str(srv.port)]
        )
        li = run(t)["probe.long-input"]
    assert li.status is Status.WARN and "--allow-auto-truncate" in li.summary and "<|endoftext|>" in li.summary
    assert li.fix.launch_command and "--allow-auto-truncate" not in li.fix.launch_command


def test_sglang_hang_on_long_input_cites_the_bug_and_the_kv_pool():
    with ps.replay_server("sglang", hang_over=400, kv_tokens=300) as srv:
        t0 = time.monotonic()
        res = run_url(srv.url, opts(probe_timeout=0.5))
        took = time.monotonic() - t0
    li = res["probe.long-input"]
    assert li.status is Status.FAIL and li.evidence["verdict"] == "hang"
    assert "sglang#40459" in li.summary and "KV pool holds 300 tokens" in li.summary
    assert "--mem-fraction-static" in li.fix.text and "--context-length" in li.fix.text and "--allow-auto-truncate" in li.fix.text
    assert res["probe.identity"].evidence["kv_capacity"] == 300
    assert took < 10


def test_sglang_kv_pool_smaller_than_context_warns_even_when_rejected():
    with ps.replay_server("sglang", kv_tokens=300) as srv:
        li = run_url(srv.url)["probe.long-input"]
    assert li.status is Status.WARN and "KV pool holds 300 tokens" in li.summary


def test_tei_without_auto_truncate_rejects_with_422():
    with ps.replay_server("tei", auto_truncate=False) as srv:
        li = run_url(srv.url)["probe.long-input"]
    assert li.status is Status.PASS and "422" in li.summary


def test_long_input_is_built_with_the_local_tokenizer(real_tokenizer_dir):
    """Just over the context length by the real tokenizer's count, a few KB, not megabytes."""
    with ps.LoopbackServer(quirky_route()) as srv:
        li = run(build_target(url=srv.url, model_path=str(real_tokenizer_dir)), opts(expect_dim=64))["probe.long-input"]
        body = max((r for r in srv.requests if r.method == "POST"), key=lambda r: len(r.body))
    assert li.evidence["context_length"] == 512 and li.evidence["context_length_source"] == "/v1/models max_model_len"
    assert 512 < li.evidence["sent_length"] <= 530 and li.evidence["count_source"].endswith("tokenizer.json")
    assert len(body.body) < 10_000
    assert li.status is Status.WARN  # this server embeds anything: silently truncated


def tei_route(version: str, hang_over: int = 50):
    """A TEI of a given release whose over-length requests never get an answer (TEI <= 1.8.2, #723)."""

    def route(req: ps.Request) -> ps.Reply:
        p = req.path
        if p == "/info":
            return ps.Reply(
                200,
                {"model_id": "Qwen/Qwen3-Embedding-0.6B", "max_input_length": 64, "version": version, "model_type": {"embedding": {"pooling": "last_token"}}},
            )
        if p == "/health":
            return ps.Reply(200, b"")
        if p == "/v1/embeddings" and req.method == "POST":
            body = req.json() or {}
            if ps.n_words(body.get("input")) > hang_over:
                return ps.Reply(hang=True)
            return ps.Reply(200, ps.embeddings_body(body.get("input"), 1024, "Qwen/Qwen3-Embedding-0.6B"))
        return ps.Reply(404, b"")

    return route


def test_tei_1_8_2_hang_is_the_known_bug():
    with ps.LoopbackServer(tei_route("1.8.2")) as srv:
        li = run_url(srv.url, opts(probe_timeout=0.5))["probe.long-input"]
    assert li.status is Status.FAIL and li.evidence["verdict"] == "hang" and "TEI hangs" in li.summary
    assert "TEI <= 1.8.2 hangs" in li.fix.text and "upgrade to >= 1.8.3" in li.fix.text


def test_tei_1_8_3_hang_is_not_the_known_bug():
    with ps.LoopbackServer(tei_route("1.8.3")) as srv:
        li = run_url(srv.url, opts(probe_timeout=0.5))["probe.long-input"]
    assert li.status is Status.FAIL and li.evidence["verdict"] == "hang"
    assert "is not known to hang" in li.fix.text
