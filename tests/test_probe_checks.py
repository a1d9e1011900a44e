"""probe.* checks end to end (Registry -> Runner -> Result -> renderers) against real loopback servers.

vLLM and infinity answers are REAL recorded responses (tests/data/responses, from shared/fixtures);
SGLang cannot run here (GPU only), so its behaviour is replayed from the bodies documented in
shared/reference/sglang.md, with synthetic vectors where it answers 200 (see tests/probe_servers.py).
The real vLLM server is exercised in test_probe_live.py.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qwen_doctor.checks import probe as probe_checks
from qwen_doctor.context import RunOptions
from qwen_doctor.results import Status
from qwen_doctor.registry import Registry
from qwen_doctor.render import RenderOptions, Report
from qwen_doctor.render.json_format import render_json
from qwen_doctor.render.text import render_text
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target
from tests import probe_servers as ps

IDS = ["probe.reachable", "probe.identity", "probe.health", "probe.embeddings", "probe.dimensions", "probe.content-type", "probe.latency", "probe.long-input"]
KEY = "sk-doctor-SECRET-0123456789"


def opts(**kw) -> RunOptions:
    base = dict(probe_timeout=1.0, connect_timeout=1.0, requests=5)
    base.update(kw)
    return RunOptions(**base)


def run(target, options: RunOptions | None = None) -> dict:
    reg = Registry()
    probe_checks.register(reg)
    results = Runner(reg, options or opts()).run([target])
    return {r.id: r for r in results}


def run_url(url: str, options: RunOptions | None = None, **target_kw) -> dict:
    return run(build_target(url=url, **target_kw), options)


def statuses(res: dict) -> dict:
    return {k: r.status for k, r in res.items()}


# -- registration ---------------------------------------------------------------------------------------


def test_registers_the_eight_checks_with_docs_in_three_paragraphs():
    reg = Registry()
    probe_checks.register(reg)
    assert reg.ids() == IDS
    for c in reg:
        assert c.category == "probe"
        paras = [p for p in c.doc.split("\n\n") if p.strip()]
        assert [p.split(":")[0] for p in paras] == ["What it checks", "Why it matters", "How to fix"], c.id
        if c.id != "probe.reachable":
            assert c.depends_on == ("probe.reachable",)
    assert reg.get("probe.embeddings").uses[-2:] == ("model.config", "tokenizer.load")
    assert reg.get("probe.dimensions").severity is Status.WARN


def test_no_heavy_imports_at_module_top():
    code = (
        "import sys; import qwen_doctor.checks.probe as m; from qwen_doctor.registry import Registry; m.register(Registry()); "
        "bad = [x for x in ('transformers', 'torch', 'pynvml', 'tokenizers', 'httpx') if x in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=str(Path(__file__).resolve().parents[1]))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_no_module_level_heavy_import_in_probe_package():
    root = Path(probe_checks.__file__).resolve().parents[1]
    for path in (root / "probe" / "__init__.py", root / "probe" / "http.py", root / "checks" / "probe.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.split(".")[0] in ("transformers", "torch", "pynvml") for n in names), (path, names)


# -- applicability, offline, not started ------------------------------------------------------------------


def test_no_url_means_skip_with_a_reason():
    res = run(build_target(model_path="/nonexistent"))
    assert all(r.status is Status.SKIP for r in res.values())
    assert "no server URL" in res["probe.reachable"].summary


def test_offline_skips_everything_without_a_connection():
    with ps.replay_server("vllm") as srv:
        res = run_url(srv.url, opts(offline=True))
        assert srv.requests == []
    assert statuses(res) == {i: Status.SKIP for i in IDS}
    assert "--offline" in res["probe.reachable"].summary
    assert res["probe.embeddings"].blocked_by == ("probe.reachable",)


def test_launch_command_not_started_is_skip_not_fail():
    """Pre-flight: the server of this launch command was never started, nothing listens: not a CI failure."""
    port = ps.refused_port()
    t = build_target(["sglang", "serve", "--model-path", "/models/Qwen3-Embedding-0.6B", "--is-embedding", "--port", str(port)])
    assert t.url == f"http://127.0.0.1:{port}"
    res = run(t)
    r = res["probe.reachable"]
    assert r.status is Status.SKIP
    assert r.summary.startswith("not running (expected before deployment)")
    assert r.evidence["not_running"] is True
    assert all(res[i].status is Status.SKIP for i in IDS)


def test_explicit_url_that_refuses_is_a_fail_with_causes():
    port = ps.refused_port()
    r = run_url(f"http://127.0.0.1:{port}")["probe.reachable"]
    assert r.status is Status.FAIL
    assert "connection refused" in r.summary and "still loading the weights" in r.summary
    assert "binds its port only after loading" in r.summary
    assert r.evidence["failure"] == "refused"


def test_launch_plus_explicit_url_that_refuses_is_a_fail():
    port, other = ps.refused_port(), ps.refused_port()
    t = build_target(["vllm", "serve", "/models/x", "--runner", "pooling", "--port", str(port)], url=f"http://127.0.0.1:{other}")
    assert run(t)["probe.reachable"].status is Status.FAIL


def test_running_process_that_refuses_names_the_pid():
    port = ps.refused_port()
    t = build_target(host="127.0.0.1", port=port, pid=os.getpid(), server="sglang")
    r = run(t)["probe.reachable"]
    assert r.status is Status.FAIL and f"pid {os.getpid()}" in r.summary and "loading the weights" in r.summary


def test_dns_failure():
    r = run_url("http://qwen-doctor-test.invalid:30000")["probe.reachable"]
    assert r.status is Status.FAIL and r.summary.startswith("cannot resolve 'qwen-doctor-test.invalid'")


def test_https_on_a_plain_http_port():
    with ps.replay_server("vllm") as srv:
        r = run_url(srv.url.replace("http://", "https://"))["probe.reachable"]
    assert r.status is Status.FAIL and "plain HTTP" in r.summary and r.fix.text.startswith("Use http://")


# -- vLLM (real recorded responses) -----------------------------------------------------------------------


def test_vllm_recorded_embedding_server():
    with ps.replay_server("vllm") as srv:
        res = run_url(srv.url)
    st = statuses(res)
    assert st["probe.reachable"] is st["probe.health"] is st["probe.identity"] is Status.PASS
    idn = res["probe.identity"].evidence
    assert idn["server_kind"] == "vllm" and idn["server_version"] == "0.32.0"
    assert idn["served_names"] == ["tiny-qwen3"] and idn["max_model_len"] == 512
    emb = res["probe.embeddings"]
    assert emb.status is Status.PASS, emb.summary
    assert emb.evidence["dim"] == 64 and abs(emb.evidence["norm"] - 1) < 1e-3
    assert emb.evidence["batch_cosine"] >= 0.999 and emb.evidence["model_sent"] == "tiny-qwen3"
    dims = res["probe.dimensions"]
    assert dims.status is Status.WARN and "does not support Matryoshka" in dims.summary
    assert "--hf-overrides '{\"is_matryoshka\": true}'" in dims.fix.text
    ct = res["probe.content-type"]
    assert ct.status is Status.PASS and "HTTP 400 (not 415)" in ct.summary and "Unsupported Media Type" in ct.summary
    lat = res["probe.latency"]
    assert lat.status is Status.PASS and lat.evidence["ok"] == 5 and lat.evidence["p50_ms"] <= lat.evidence["p95_ms"] <= lat.evidence["max_ms"]
    li = res["probe.long-input"]
    assert li.status is Status.PASS and li.evidence["verdict"] == "rejected"
    assert "This model's maximum context length is 512 tokens" in li.summary


def test_vllm_generate_mode_names_the_flag_and_the_launch_check():
    with ps.replay_server("vllm-generate-mode") as srv:
        res = run_url(srv.url)
    emb = res["probe.embeddings"]
    assert emb.status is Status.FAIL
    assert '404 {"detail":"Not Found"}' in emb.summary and "--runner pooling" in emb.summary
    assert emb.evidence["missing_flag"] == "--runner pooling --convert embed"
    assert emb.evidence["launch_check"] == "launch.embedding-mode" and "launch.embedding-mode" in emb.fix.text
    for dep in ("probe.dimensions", "probe.content-type", "probe.latency", "probe.long-input"):
        assert res[dep].status is Status.SKIP and "see probe.embeddings" in res[dep].summary


def test_vllm_generate_mode_fix_edits_the_launch_command():
    with ps.replay_server("vllm-generate-mode") as srv:
        t = build_target(["vllm", "serve", "/models/Qwen3-Embedding-0.6B", "--runner", "generate", "--port", str(srv.port)], server_version="0.32.0")
        assert t.url == srv.url
        res = run(t)
    fix = res["probe.embeddings"].fix
    assert fix.launch_command and "--runner pooling" in fix.launch_command and "generate" not in fix.launch_command


def test_vllm_model_name_mismatch_with_a_trailing_slash():
    with ps.replay_server("vllm") as srv:
        res = run_url(srv.url, opts(model_name="tiny-qwen3/"))
    idn, emb = res["probe.identity"], res["probe.embeddings"]
    assert idn.status is Status.FAIL and "trailing slash" in idn.summary
    assert emb.status is Status.FAIL and "does not exist" in emb.summary and "trailing slash" in emb.summary
    assert "--served-model-name" in emb.fix.text


def test_expected_dimension_mismatch_fails():
    with ps.replay_server("vllm") as srv:
        res = run_url(srv.url, opts(expect_dim=1024))
    emb = res["probe.embeddings"]
    assert emb.status is Status.FAIL and "64 dimensions, expected 1024 (from --expect-dim)" in emb.summary


def test_latency_with_concurrency():
    with ps.replay_server("vllm") as srv:
        lat = run_url(srv.url, opts(requests=12, concurrency=4, progress=True))["probe.latency"]
    assert lat.status is Status.PASS
    assert lat.evidence["requests"] == 12 and lat.evidence["ok"] == 12 and lat.evidence["concurrency"] == 4


def test_latency_request_count_is_bounded():
    with ps.replay_server("vllm") as srv:
        lat = run_url(srv.url, opts(requests=10**6, concurrency=10**4))["probe.latency"]
        posts = sum(1 for r in srv.requests if r.method == "POST")
    assert lat.evidence["requests"] == probe_checks.MAX_LATENCY_REQUESTS
    assert lat.evidence["concurrency"] == probe_checks.MAX_CONCURRENCY
    assert posts < probe_checks.MAX_LATENCY_REQUESTS + 20


# -- infinity (real recorded responses): lenient ----------------------------------------------------------


def test_infinity_recorded_lenient_server(tiny_model_dir):
    with ps.replay_server("infinity") as srv:
        res = run_url(srv.url, model_path=str(tiny_model_dir))
    assert res["probe.identity"].evidence["server_kind"] == "infinity"
    dims = res["probe.dimensions"]
    # a real finding of the recording: infinity truncates to `dimensions` without re-normalizing
    assert dims.status is Status.WARN and "not re-normalized" in dims.summary and dims.evidence["dim"] == 16
    assert res["probe.content-type"].status is Status.PASS and "422" in res["probe.content-type"].summary
    li = res["probe.long-input"]
    assert li.status is Status.WARN and li.evidence["verdict"] == "truncated" and "infinity truncates" in li.summary
    assert li.evidence["context_length_source"].endswith("config.json")  # infinity's /v1/models has no max_model_len


# -- SGLang (replayed from the documented bodies; SGLang needs a GPU) ---------------------------------------


def test_sglang_embedding_server():
    with ps.replay_server("sglang") as srv:
        res = run_url(srv.url)
    assert all(res[i].status is Status.PASS for i in IDS if i != "probe.dimensions"), {i: res[i].summary for i in IDS}
    idn = res["probe.identity"].evidence
    assert idn["server_kind"] == "sglang" and idn["is_generation"] is False and idn["model_info_route"] == "/model_info"
    assert res["probe.embeddings"].evidence["expected_dim"] == 1024  # from the served name Qwen3-Embedding-0.6B
    assert "/ready 200" in res["probe.health"].summary
    li = res["probe.long-input"]
    assert "The input (521 tokens) is longer than the model's context length (512 tokens)." in li.summary
    dims = res["probe.dimensions"]
    assert dims.status is Status.WARN and "does not support matryoshka representation" in dims.summary
    assert "--json-model-override-args '{\"is_matryoshka\": true}'" in dims.fix.text


def test_sglang_without_is_embedding():
    with ps.replay_server("sglang", is_embedding=False) as srv:
        t = build_target(["python", "-m", "sglang.launch_server", "--model-path", "/models/Qwen3-Embedding-0.6B", "--port", str(srv.port)])
        res = run(t)
    emb = res["probe.embeddings"]
    assert emb.status is Status.FAIL
    assert "does not appear to be an embedding model by default" in emb.summary and "--is-embedding" in emb.summary
    assert emb.evidence["missing_flag"] == "--is-embedding" and emb.evidence["launch_check"] == "launch.embedding-mode"
    assert emb.fix.launch_command.endswith("--is-embedding") and "launch.embedding-mode" in emb.fix.text
    idn = res["probe.identity"]
    assert idn.status is Status.FAIL and "is_generation=true" in idn.summary


def test_sglang_before_0_5_6_uses_get_model_info_and_no_ready():
    with ps.replay_server("sglang", new_routes=False) as srv:
        res = run_url(srv.url)
    assert res["probe.identity"].evidence["model_info_route"] == "/get_model_info"
    assert "no /ready route" in res["probe.health"].summary


def test_sglang_starting_is_503():
    with ps.replay_server("sglang", starting=True) as srv:
        h = run_url(srv.url)["probe.health"]
    assert h.status is Status.FAIL and "503" in h.summary and "while starting" in h.summary


def test_sglang_auto_truncate_warns_about_the_end_token():
    with ps.replay_server("sglang", allow_auto_truncate=True) as srv:
        t = build_target(["sglang", "serve", "--model-path", "/models/Qwen3-Embedding-0.6B", "--is-embedding", "--allow-auto-truncate", "--port", str(srv.port)])
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


def test_sglang_model_name_mismatch_is_only_a_warning():
    with ps.replay_server("sglang") as srv:
        res = run_url(srv.url, opts(model_name="Qwen3-Embedding-0.6B"))
    assert res["probe.identity"].status is Status.WARN and "SGLang ignores the `model` field" in res["probe.identity"].summary
    assert res["probe.embeddings"].status is Status.PASS


# -- TEI (built from the documented /info and errors) ---------------------------------------------------


def test_tei_identity_and_silent_truncation():
    with ps.replay_server("tei") as srv:
        res = run_url(srv.url)
    idn = res["probe.identity"].evidence
    assert idn["server_kind"] == "tei" and idn["server_version"] == "1.9.3" and idn["auto_truncate"] is True
    li = res["probe.long-input"]
    assert li.status is Status.WARN and "TEI >= 1.9 truncates by default" in li.summary and "--auto-truncate false" in li.fix.text


def test_tei_without_auto_truncate_rejects_with_422():
    with ps.replay_server("tei", auto_truncate=False) as srv:
        li = run_url(srv.url)["probe.long-input"]
    assert li.status is Status.PASS and "422" in li.summary


# -- API key: required, and never printed -----------------------------------------------------------------


def test_missing_api_key_is_named():
    with ps.replay_server("sglang", api_key=KEY) as srv:
        res = run_url(srv.url)
    assert res["probe.health"].status is Status.PASS  # /health is exempt from --api-key
    assert res["probe.identity"].status is Status.FAIL and "requires an API key" in res["probe.identity"].summary
    assert res["probe.embeddings"].status is Status.FAIL and "401" in res["probe.embeddings"].summary


def test_api_key_is_used_and_never_appears_in_any_output():
    with ps.replay_server("sglang", api_key=KEY) as srv:
        t = build_target(url=srv.url)
        reg = Registry()
        probe_checks.register(reg)
        results = Runner(reg, opts(api_key=KEY)).run([t])
        sent = {r.headers.get("authorization") for r in srv.requests if not r.path.startswith(("/health", "/ready"))}
    assert sent == {f"Bearer {KEY}"}
    assert all(r.status in (Status.PASS, Status.WARN) for r in results), [(r.id, r.summary) for r in results]
    report = Report((t,), tuple(results))
    text = render_text(report, RenderOptions(verbose=True))
    js = render_json(report, RenderOptions(verbose=True))
    assert KEY not in text and KEY not in js and KEY not in repr(results)
    json.loads(js)


def test_a_server_echoing_the_key_does_not_leak_it():
    def echo(req: ps.Request) -> ps.Reply:
        if req.path == "/v1/embeddings":
            return ps.Reply(400, {"error": {"message": f"bad key {req.headers.get('authorization')}"}})
        return ps.Reply(200, {"object": "list", "data": [{"id": f"m {req.headers.get('authorization')}"}]})

    with ps.LoopbackServer(echo) as srv:
        res = run_url(srv.url, opts(api_key=KEY))
    blob = json.dumps([r.to_dict() for r in res.values()])
    assert res["probe.embeddings"].status is Status.FAIL
    assert KEY not in blob


# -- hostile servers: every case ends as a clean result within its time limit ---------------------------------


@pytest.mark.parametrize("mode,check,status,text", [
    ("slow-body", "probe.health", Status.FAIL, "no complete answer"),
    ("huge-body", "probe.identity", Status.FAIL, "body-too-large"),
    ("huge-declared", "probe.health", Status.FAIL, "Content-Length 1,000,000,000"),
    ("invalid-json", "probe.embeddings", Status.FAIL, "not JSON"),
    ("nan", "probe.embeddings", Status.FAIL, "NaN"),
    ("zero-vector", "probe.embeddings", Status.FAIL, "all zeros"),
    ("redirect-loop", "probe.embeddings", Status.FAIL, "redirect loop"),
    ("500", "probe.embeddings", Status.FAIL, "HTTP 500"),
    ("hang-long", "probe.long-input", Status.FAIL, "hangs on over-length input"),
    ("hang-all", "probe.reachable", Status.FAIL, "no HTTP answer"),
    ("garbage", "probe.reachable", Status.FAIL, "without a valid HTTP answer"),
])
def test_hostile_server(mode, check, status, text):
    with ps.hostile_server(mode) as srv:
        t0 = time.monotonic()
        res = run_url(srv.url, opts(probe_timeout=0.5, connect_timeout=0.5))
        took = time.monotonic() - t0
    assert set(res) == set(IDS)
    for r in res.values():
        assert r.status is not Status.ERROR, (r.id, r.summary)
        assert r.duration_ms / 1000 < probe_checks.TIMEOUTS[r.id]
    assert res[check].status is status, res[check].summary
    assert text in res[check].summary
    assert took < 15, took


def test_hostile_nan_names_the_fp16_cause():
    with ps.hostile_server("nan") as srv:
        emb = run_url(srv.url)["probe.embeddings"]
    assert "fp16" in emb.summary and "bf16" in emb.fix.text
    assert "cosine nan" not in emb.summary  # no comparisons on NaN vectors


# -- correctness quirks of the vectors and token counts -------------------------------------------------------


def quirky_route(*, scale: float = 1.0, nondeterministic: bool = False, batch_differs: bool = False, count=None):
    """An OpenAI-style server with one quirk; `count(text)` gives usage.prompt_tokens (a real tokenizer)."""
    calls = {"n": 0}

    def route(req: ps.Request) -> ps.Reply:
        if req.path == "/v1/models":
            return ps.Reply(200, {"object": "list", "data": [{"id": "m", "owned_by": "quirky", "max_model_len": 512}]})
        if req.path != "/v1/embeddings":
            return ps.Reply(200 if req.path == "/health" else 404, b"")
        body = req.json() or {}
        inp = body.get("input")
        items = inp if isinstance(inp, list) else [inp]
        calls["n"] += 1
        out = ps.embeddings_body(inp, 64)
        for i, d in enumerate(out["data"]):
            seed = items[i] + (f"#{calls['n']}" if nondeterministic else "") + ("#batch" if batch_differs and isinstance(inp, list) else "")
            d["embedding"] = [x * scale for x in ps.unit_vector(seed, 64)]
        if count is not None:
            out["usage"]["prompt_tokens"] = sum(count(x) for x in items)
        return ps.Reply(200, out)

    return route


def _count_with(d):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    return lambda text: len(tok.encode(text).ids)


def test_server_tokenizer_without_the_end_token_is_detected(real_tokenizer_dir, stale_tokenizer_dir):
    """The server counts with an old snapshot's tokenizer (no <|endoftext|>), the doctor with the current one."""
    with ps.LoopbackServer(quirky_route(count=_count_with(stale_tokenizer_dir))) as srv:
        emb = run(build_target(url=srv.url, model_path=str(real_tokenizer_dir)), opts(expect_dim=64))["probe.embeddings"]
    assert emb.status is Status.WARN
    assert "does not append it" in emb.summary and "[1944, 151643]" in emb.fix.text
    assert emb.evidence["usage_prompt_count"] == emb.evidence["local_count"] - 1
    assert emb.evidence["count_source"].endswith("tokenizer.json")


def test_matching_token_counts_pass(real_tokenizer_dir):
    with ps.LoopbackServer(quirky_route(count=_count_with(real_tokenizer_dir))) as srv:
        emb = run(build_target(url=srv.url, model_path=str(real_tokenizer_dir)), opts(expect_dim=64))["probe.embeddings"]
    assert emb.status is Status.PASS, emb.summary
    assert emb.evidence["usage_prompt_count"] == emb.evidence["local_count"]


def test_stale_local_copy_is_only_noted(real_tokenizer_dir, stale_tokenizer_dir):
    with ps.LoopbackServer(quirky_route(count=_count_with(real_tokenizer_dir))) as srv:
        emb = run(build_target(url=srv.url, model_path=str(stale_tokenizer_dir)), opts(expect_dim=64))["probe.embeddings"]
    assert emb.status is Status.PASS and "the local copy does not append <|endoftext|>" in emb.summary


def test_unnormalized_vectors_warn_with_the_norm():
    with ps.LoopbackServer(quirky_route(scale=3.0)) as srv:
        emb = run_url(srv.url)["probe.embeddings"]
    assert emb.status is Status.WARN and "not L2-normalized (norm 3.0000)" in emb.summary
    assert abs(emb.evidence["norm"] - 3.0) < 1e-6


def test_nondeterministic_vectors_fail():
    with ps.LoopbackServer(quirky_route(nondeterministic=True)) as srv:
        emb = run_url(srv.url)["probe.embeddings"]
    assert emb.status is Status.FAIL and "the same input gave different vectors" in emb.summary


def test_batch_single_inconsistency_fails():
    with ps.LoopbackServer(quirky_route(batch_differs=True)) as srv:
        emb = run_url(srv.url)["probe.embeddings"]
    assert emb.status is Status.FAIL and "alone and in a batch" in emb.summary
    assert emb.evidence["batch_cosine"] < 0.999 and emb.evidence["determinism_cosine"] > 0.9999


def test_long_input_is_built_with_the_local_tokenizer(real_tokenizer_dir):
    """Just over the context length by the real tokenizer's count, a few KB, not megabytes."""
    with ps.LoopbackServer(quirky_route()) as srv:
        li = run(build_target(url=srv.url, model_path=str(real_tokenizer_dir)), opts(expect_dim=64))["probe.long-input"]
        body = max((r for r in srv.requests if r.method == "POST"), key=lambda r: len(r.body))
    assert li.evidence["context_length"] == 512 and li.evidence["context_length_source"] == "/v1/models max_model_len"
    assert 512 < li.evidence["sent_length"] <= 530 and li.evidence["count_source"].endswith("tokenizer.json")
    assert len(body.body) < 10_000
    assert li.status is Status.WARN  # this server embeds anything: silently truncated
