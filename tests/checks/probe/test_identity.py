"""probe.identity: server kind and release, served names, embedding mode, API key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qwen_doctor.results import Status
from qwen_doctor.target import build_target
from tests import probe_servers as ps
from tests.checks.probe.conftest import KEY, opts, run, run_url


def test_vllm_model_name_mismatch_with_a_trailing_slash():
    with ps.replay_server("vllm") as srv:
        res = run_url(srv.url, opts(model_name="tiny-qwen3/"))
    idn, emb = res["probe.identity"], res["probe.embeddings"]
    assert idn.status is Status.FAIL and "trailing slash" in idn.summary
    assert emb.status is Status.FAIL and "does not exist" in emb.summary and "trailing slash" in emb.summary
    assert "--served-model-name" in emb.fix.text


def test_sglang_before_0_5_6_uses_get_model_info_and_no_ready():
    with ps.replay_server("sglang", new_routes=False) as srv:
        res = run_url(srv.url)
    assert res["probe.identity"].evidence["model_info_route"] == "/get_model_info"
    assert "no /ready route" in res["probe.health"].summary


def test_sglang_model_name_mismatch_is_only_a_warning():
    with ps.replay_server("sglang") as srv:
        res = run_url(srv.url, opts(model_name="Qwen3-Embedding-0.6B"))
    assert res["probe.identity"].status is Status.WARN and "SGLang ignores the `model` field" in res["probe.identity"].summary
    assert res["probe.embeddings"].status is Status.PASS


def test_tei_identity_and_silent_truncation():
    with ps.replay_server("tei") as srv:
        res = run_url(srv.url)
    idn = res["probe.identity"].evidence
    assert idn["server_kind"] == "tei" and idn["server_version"] == "1.9.3" and idn["auto_truncate"] is True
    li = res["probe.long-input"]
    assert li.status is Status.WARN and "TEI >= 1.9 truncates by default" in li.summary and "--auto-truncate false" in li.fix.text


def test_missing_api_key_is_named():
    with ps.replay_server("sglang", api_key=KEY) as srv:
        res = run_url(srv.url)
    assert res["probe.health"].status is Status.PASS  # /health is exempt from --api-key
    assert res["probe.identity"].status is Status.FAIL and "requires an API key" in res["probe.identity"].summary
    assert res["probe.embeddings"].status is Status.FAIL and "401" in res["probe.embeddings"].summary


def _real_model_info(mode: str):
    """The REAL SGLang 0.5.23 /get_model_info of this machine (tests/data/responses/sglang-0.5.23), skip when absent."""
    path = Path(__file__).resolve().parents[2] / "data" / "responses" / "sglang-0.5.23" / mode / "get_model_info.json"
    if not path.is_file():
        pytest.skip(f"no recording {path}")
    return json.loads(path.read_text(encoding="utf-8"))["response"]["body"]


def _sglang_with_model_info(info: dict):
    def route(req: ps.Request) -> ps.Reply:
        if req.path == "/v1/models":
            return ps.Reply(200, {"object": "list", "data": [{"id": "m", "owned_by": "sglang", "max_model_len": 512}]})
        if req.path in ("/model_info", "/get_model_info"):
            return ps.Reply(200, info)
        return ps.Reply(404, {"detail": "Not Found"})

    return route


def test_sglang_generate_mode_the_real_model_info():
    """Real SGLang 0.5.23 without --is-embedding: is_generation true, embedding.enabled false."""
    with ps.LoopbackServer(_sglang_with_model_info(_real_model_info("generate"))) as srv:
        idn = run_url(srv.url)["probe.identity"]
    assert idn.status is Status.FAIL and idn.evidence["missing_flag"] == "--is-embedding"
    assert "is_generation=true (/model_info) and embedding.enabled=false" in idn.summary
    assert idn.evidence["embedding_enabled"] is False and idn.evidence["requires_embedding_flag"] is False


def test_sglang_embedding_mode_the_real_model_info_is_recorded():
    with ps.LoopbackServer(_sglang_with_model_info(_real_model_info("embedding"))) as srv:
        idn = run_url(srv.url)["probe.identity"]
    assert idn.status is Status.PASS and "is_generation=false" in idn.summary
    ev = idn.evidence
    assert ev["embedding_enabled"] is True and ev["requires_embedding_flag"] is True and ev["embedding_normalize"] is True
    assert ev["supports_dimensions"] is False and ev["embedding_task"] == "embed"


def test_a_declared_sglang_before_0_5_6_asks_the_old_routes_first():
    with ps.replay_server("sglang", new_routes=False) as srv:
        res = run(build_target(url=srv.url, server="sglang", server_version="0.5.4"))
        paths = [r.path for r in srv.requests if r.method == "GET"]
    assert res["probe.identity"].evidence["model_info_route"] == "/get_model_info"
    assert "/model_info" not in paths and "/server_info" not in paths
