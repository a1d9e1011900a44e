"""The probe package as a whole: registration, imports, whole recorded servers, the API key, hostile servers."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qwen_doctor.checks import probe as probe_checks
from qwen_doctor.checks.timeouts import TIMEOUTS
from qwen_doctor.registry import Registry
from qwen_doctor.render import RenderOptions, Report
from qwen_doctor.render.json_format import render_json
from qwen_doctor.render.text import render_text
from qwen_doctor.results import Status
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target
from tests import probe_servers as ps
from tests.checks.probe.conftest import IDS, KEY, opts, run_url, statuses


def test_registers_the_nine_checks_with_docs_in_three_paragraphs():
    reg = Registry()
    probe_checks.register(reg)
    assert reg.ids() == IDS
    for c in reg:
        assert c.category == "probe"
        paras = [p for p in c.doc.split("\n\n") if p.strip()]
        assert [p.split(":")[0] for p in paras] == ["What it checks", "Why it matters", "How to fix"], c.id
        if c.id == "probe.load":  # the server's own context length bounds the load's long inputs
            assert c.depends_on == ("probe.reachable", "probe.identity")
        elif c.id != "probe.reachable":
            assert c.depends_on == ("probe.reachable",)
    assert reg.get("probe.embeddings").uses[-2:] == ("model.config", "tokenizer.load")
    assert reg.get("probe.dimensions").severity is Status.WARN


def test_no_heavy_imports_at_module_top():
    code = (
        "import sys; import qwen_doctor.checks.probe as m; from qwen_doctor.registry import Registry; m.register(Registry()); "
        "bad = [x for x in ('transformers', 'torch', 'pynvml', 'tokenizers', 'httpx') if x in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=str(Path(__file__).resolve().parents[3]))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_no_module_level_heavy_import_in_probe_package():
    root = Path(probe_checks.__file__).resolve().parents[2]
    for path in (root / "probe" / "__init__.py", root / "probe" / "http.py", *sorted((root / "checks" / "probe").glob("*.py"))):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.split(".")[0] in ("transformers", "torch", "pynvml") for n in names), (path, names)


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


def test_sglang_embedding_server():
    with ps.replay_server("sglang") as srv:
        res = run_url(srv.url)
    assert all(res[i].status is Status.PASS for i in IDS if i not in ("probe.dimensions", "probe.metrics", "probe.load", "probe.parity")), {
        i: res[i].summary for i in IDS
    }
    assert res["probe.parity"].status is Status.SKIP and "no local model directory" in res["probe.parity"].summary  # replayed vectors: no weights
    assert res["probe.metrics"].status is Status.WARN and "--enable-metrics" in res["probe.metrics"].summary  # 404: off
    assert res["probe.load"].status is Status.SKIP  # opt-in (--load N)
    idn = res["probe.identity"].evidence
    assert idn["server_kind"] == "sglang" and idn["is_generation"] is False and idn["model_info_route"] == "/model_info"
    assert res["probe.embeddings"].evidence["expected_dim"] == 1024  # from the served name Qwen3-Embedding-0.6B
    assert "/ready 200" in res["probe.health"].summary
    li = res["probe.long-input"]
    assert "The input (521 tokens) is longer than the model's context length (512 tokens)." in li.summary
    dims = res["probe.dimensions"]
    assert dims.status is Status.WARN and "does not support matryoshka representation" in dims.summary
    assert "--json-model-override-args '{\"is_matryoshka\": true}'" in dims.fix.text


def test_api_key_is_used_and_never_appears_in_any_output():
    with ps.replay_server("sglang", api_key=KEY) as srv:
        t = build_target(url=srv.url)
        reg = Registry()
        probe_checks.register(reg)
        results = Runner(reg, opts(api_key=KEY)).run([t])
        sent = {r.headers.get("authorization") for r in srv.requests if not r.path.startswith(("/health", "/ready"))}
    assert sent == {f"Bearer {KEY}"}
    assert all(r.status in (Status.PASS, Status.WARN) for r in results if r.id not in ("probe.load", "probe.parity")), [(r.id, r.summary) for r in results]
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


@pytest.mark.parametrize(
    "mode,check,status,text",
    [
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
    ],
)
def test_hostile_server(mode, check, status, text):
    with ps.hostile_server(mode) as srv:
        t0 = time.monotonic()
        res = run_url(srv.url, opts(probe_timeout=0.5, connect_timeout=0.5))
        took = time.monotonic() - t0
    assert set(res) == set(IDS)
    for r in res.values():
        assert r.status is not Status.ERROR, (r.id, r.summary)
        assert r.duration_ms / 1000 < TIMEOUTS[r.id]
    assert res[check].status is status, res[check].summary
    assert text in res[check].summary
    assert took < 15, took
