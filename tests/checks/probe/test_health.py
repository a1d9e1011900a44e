"""probe.health: /health and /ready."""

from __future__ import annotations

from qwen_doctor.results import Status
from tests import probe_servers as ps
from tests.checks.probe.conftest import run_url, sglang_like


def test_sglang_starting_is_503():
    with ps.replay_server("sglang", starting=True) as srv:
        h = run_url(srv.url)["probe.health"]
    assert h.status is Status.FAIL and "503" in h.summary and "while starting" in h.summary


def test_sglang_before_0_4_10_never_answers_503_itself():
    with ps.LoopbackServer(sglang_like("0.4.9.post6", health=ps.Reply(503, b""))) as srv:
        h = run_url(srv.url)["probe.health"]
    assert h.status is Status.FAIL and "always answers 200, so a 503 comes from something in front of it" in h.summary


def test_sglang_older_than_every_known_release_is_named():
    with ps.LoopbackServer(sglang_like("0.3.6", health=ps.Reply(503, b""))) as srv:
        h = run_url(srv.url)["probe.health"]
    assert h.status is Status.FAIL and "older than any release the doctor knows" in h.summary
