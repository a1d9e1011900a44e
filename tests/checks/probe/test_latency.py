"""probe.latency: request count, concurrency, bounds."""

from __future__ import annotations

from qwen_doctor.checks.probe.latency import MAX_CONCURRENCY, MAX_LATENCY_REQUESTS
from qwen_doctor.results import Status
from tests import probe_servers as ps
from tests.checks.probe.conftest import opts, run_url


def test_latency_with_concurrency():
    with ps.replay_server("vllm") as srv:
        lat = run_url(srv.url, opts(requests=12, concurrency=4, progress=True))["probe.latency"]
    assert lat.status is Status.PASS
    assert lat.evidence["requests"] == 12 and lat.evidence["ok"] == 12 and lat.evidence["concurrency"] == 4


def test_latency_request_count_is_bounded():
    with ps.replay_server("vllm") as srv:
        lat = run_url(srv.url, opts(requests=10**6, concurrency=10**4))["probe.latency"]
        posts = sum(1 for r in srv.requests if r.method == "POST")
    assert lat.evidence["requests"] == MAX_LATENCY_REQUESTS
    assert lat.evidence["concurrency"] == MAX_CONCURRENCY
    assert posts < MAX_LATENCY_REQUESTS + 20
