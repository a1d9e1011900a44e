"""probe.load (--load N): opt-in, only to a named target, bounded, stepping concurrency up to the knee.

Real parts: the real vLLM 0.32 CPU server (--max-num-seqs 2) for the live run; real loopback servers (tests/
probe_servers.py) for the bounds and the overload case; the real command line for the usage error.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from qwen_doctor.checks.probe.load import steps_for
from qwen_doctor.context import RunOptions
from qwen_doctor.registry import Registry
from qwen_doctor.results import Status
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target
from tests import probe_servers as ps

IDS = {"probe.load", "probe.embeddings"}


def opts(**kw) -> RunOptions:
    base = dict(probe_timeout=5.0, connect_timeout=1.0, requests=3, metrics_interval=0.5)
    base.update(kw)
    return RunOptions(**base)


def run(target, options: RunOptions, ids=IDS) -> dict:
    from qwen_doctor.checks import probe

    reg = Registry()
    probe.register(reg)
    results = Runner(reg, options, select=lambda c: c.id in ids).run([target])
    return {r.id: r for r in results}


def posts(srv) -> int:
    return sum(1 for r in srv.requests if r.method == "POST" and r.path == "/v1/embeddings")


def test_steps_double_up_to_concurrency():
    assert steps_for(1) == [1]
    assert steps_for(8) == [1, 2, 4, 8]
    assert steps_for(6) == [1, 2, 4, 6]
    assert steps_for(10**6)[-1] == 64


def test_off_by_default_and_never_to_a_discovered_server():
    with ps.replay_server("vllm") as srv:
        res = run(build_target(url=srv.url), opts())
        assert res["probe.load"].status is Status.SKIP and "--load" in res["probe.load"].summary
        without_load = posts(srv)  # probe.embeddings' own requests
        discovered = build_target(["vllm", "serve", "m", "--port", str(srv.port)], pid=4242, listening=(srv.port,), source="process")
        res = run(discovered, opts(load=5))
        with_load = posts(srv) - without_load
    assert res["probe.load"].status is Status.SKIP and "never to one discovered" in res["probe.load"].summary
    assert with_load == without_load  # no load was sent


def test_request_cap_is_hard():
    with ps.replay_server("vllm") as srv:
        base = posts(srv)
        r = run(build_target(url=srv.url, server="vllm"), opts(load=7, concurrency=64))["probe.load"]
        sent = posts(srv) - base
    assert r.evidence["requests_sent"] <= 7 and r.evidence["cap_requests"] == 7
    assert sent <= 7 + 6  # + probe.embeddings' own requests
    assert "request cap" in r.evidence["stopped"]


def overloaded_route(limit: int = 1, delay: float = 0.05):
    """A TEI-like server that refuses requests past `limit` in flight with 429 "overloaded" (its
    --max-concurrent-requests), and answers the others after `delay` seconds."""
    inflight = {"n": 0}
    lock = threading.Lock()
    base = ps.openai_replay("vllm")

    def route(req: ps.Request) -> ps.Reply:
        if req.method == "POST" and req.path == "/v1/embeddings":
            with lock:
                inflight["n"] += 1
                over = inflight["n"] > limit
            try:
                if over:
                    return ps.Reply(429, {"error": "Model is overloaded", "error_type": "overloaded"})
                time.sleep(delay)
                return base(req)
            finally:
                with lock:
                    inflight["n"] -= 1
        return base(req)

    return route


def test_stops_at_the_first_step_with_errors_and_reports_the_knee():
    with ps.LoopbackServer(overloaded_route(limit=1)) as srv:
        r = run(build_target(url=srv.url, server="vllm"), opts(load=60, concurrency=8))["probe.load"]
    assert r.status is Status.WARN, r.summary
    steps = r.evidence["steps"]
    assert steps[0]["concurrency"] == 1 and steps[0]["errors"] == 0
    assert steps[-1]["errors"] > 0 and steps[-1]["concurrency"] > 1
    assert len(steps) < 4  # stopped at the first step with errors: concurrency 8 never ran
    assert r.evidence["knee"]["concurrency"] == steps[-2]["concurrency"]
    assert "429" in steps[-1]["first_error"] and "errors at concurrency" in r.summary


def test_inputs_over_the_context_length_are_rejections_not_load_errors():
    """A server that refuses inputs over 64 words with vLLM's real 400 "maximum context length": the long inputs of
    the mix are counted as refused, apart from the errors, and the load goes on."""
    with ps.LoopbackServer(ps.openai_replay("vllm", max_model_len=64)) as srv:
        r = run(build_target(url=srv.url, server="vllm"), opts(load=24, concurrency=2))["probe.load"]
    assert r.evidence["rejected_too_long"] > 0, r.summary
    assert all(s["errors"] == 0 for s in r.evidence["steps"]) and len(r.evidence["steps"]) == 2
    assert "refused as longer than the server's context length" in r.summary
    assert "maximum context length" in r.evidence["steps"][0]["first_rejected"]


def test_formats_show_the_steps_and_the_knee():
    from prometheus_client.parser import text_string_to_metric_families

    from qwen_doctor.render import RenderOptions, Report
    from qwen_doctor.render.markdown import render_markdown
    from qwen_doctor.render.prometheus import render_prometheus

    with ps.replay_server("vllm") as srv:
        t = build_target(url=srv.url, server="vllm")
        res = run(t, opts(load=12, concurrency=2))
    r = res["probe.load"]
    assert r.status is Status.PASS, r.summary
    report = Report((t,), tuple(res.values()))
    md = render_markdown(report, RenderOptions())
    assert "#### Load probe" in md and "| concurrency | requests | req/s |" in md
    assert md.count("\n| 1 |") == 1 and md.count("\n| 2 |") == 1
    fams = {f.name: f for f in text_string_to_metric_families(render_prometheus(report, RenderOptions()))}
    knee = fams["qwen_doctor_load_knee_concurrency"].samples[0]
    assert knee.labels["target"] == t.label and knee.value == r.evidence["knee"]["concurrency"]
    assert fams["qwen_doctor_load_knee_requests_per_second"].samples[0].value > 0
    assert r.to_dict()["evidence"]["steps"][0]["concurrency"] == 1  # JSON: the table in the evidence


def test_cli_refuses_load_without_an_explicit_target(tmp_path):
    p = subprocess.run([sys.executable, "-m", "qwen_doctor", "check", "--load", "5", "--offline"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1 and "--load 5 needs an explicit target: --url URL or a launch command" in p.stderr


@pytest.mark.live_server
def test_real_vllm_load_steps_are_bounded_and_read_the_servers_metrics(vllm_small_batch_server):
    srv = vllm_small_batch_server
    t = build_target(list(srv.command), url=srv.url)
    t0 = time.monotonic()
    res = run(t, opts(load=40, concurrency=8, probe_timeout=30.0), ids={"probe.load", "probe.metrics"})
    took = time.monotonic() - t0
    r = res["probe.load"]
    assert r.status in (Status.PASS, Status.WARN), r.summary
    assert r.evidence["requests_sent"] <= 40 and took < 300
    steps = r.evidence["steps"]
    assert steps[0]["concurrency"] == 1 and steps[0]["ok"] > 0
    assert all(s["rps"] and s["tokens_per_s"] and s["p95_ms"] for s in steps if s["ok"])
    assert not steps[0]["tokens_estimated"]  # vLLM reports usage.prompt_tokens
    assert "long" not in r.evidence["inputs"] or "3/4 of the context length 512" in r.evidence["inputs"]
    seen = steps[0]["metrics"]["requests"]["total"]  # the server's own counters moved during the step
    assert seen >= steps[0]["ok"]
