"""probe.content-type: a JSON body without the Content-Type header."""

from __future__ import annotations

from qwen_doctor.results import Status
from tests import probe_servers as ps
from tests.checks.probe.conftest import quirky_route, run_url


def test_sglang_rejects_with_400_not_415():
    with ps.replay_server("sglang") as srv:
        ct = run_url(srv.url)["probe.content-type"]
    assert ct.status is Status.PASS and "HTTP 400 (not 415)" in ct.summary and ct.evidence["http_status"] == 400


def test_a_lenient_server_passes_with_a_note():
    with ps.LoopbackServer(quirky_route()) as srv:
        ct = run_url(srv.url)["probe.content-type"]
    assert ct.status is Status.PASS and "lenient" in ct.summary
