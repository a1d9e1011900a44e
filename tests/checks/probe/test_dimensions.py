"""probe.dimensions: honoured, rejected (Matryoshka not enabled), or silently ignored, per server release."""

from __future__ import annotations

from qwen_doctor.results import Status
from qwen_doctor.target import build_target
from tests import probe_servers as ps
from tests.checks.probe.conftest import run, run_url, sglang_like


def _ignoring(req: ps.Request) -> ps.Reply:
    body = req.json() or {}
    return ps.Reply(200, ps.embeddings_body(body.get("input"), 1024, "/models/Qwen3-Embedding-0.6B"))


def test_sglang_without_matryoshka_rejects_with_the_real_message_and_the_launch_fix():
    with ps.replay_server("sglang") as srv:
        t = build_target(["sglang", "serve", "--model-path", "/models/Qwen3-Embedding-0.6B", "--is-embedding", "--port", str(srv.port)])
        dims = run(t)["probe.dimensions"]
    assert dims.status is Status.WARN and "does not support matryoshka representation" in dims.summary
    assert dims.fix.launch_command and "--json-model-override-args" in dims.fix.launch_command and "is_matryoshka" in dims.fix.launch_command


def test_sglang_matryoshka_enabled_is_honoured():
    with ps.replay_server("sglang", matryoshka=True) as srv:
        dims = run_url(srv.url)["probe.dimensions"]
    assert dims.status is Status.PASS and dims.evidence["dim"] == 256


def test_sglang_0_5_4_ignores_dimensions():
    with ps.LoopbackServer(sglang_like("0.5.4", embeddings=_ignoring)) as srv:
        dims = run_url(srv.url)["probe.dimensions"]
    assert dims.status is Status.WARN and "silently ignored (SGLang <0.5.5 ignores the field)" in dims.summary


def test_sglang_0_5_23_full_size_answer_means_something_drops_the_field():
    with ps.LoopbackServer(sglang_like("0.5.23", embeddings=_ignoring)) as srv:
        dims = run_url(srv.url)["probe.dimensions"]
    assert dims.status is Status.WARN and "SGLang 0.5.23 validates the field, so something in front of it drops it" in dims.summary
