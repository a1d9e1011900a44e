"""A server that stalls: the probe checks of one target share one request guard (probe/guard.py), so after three
consecutive timeouts the rest SKIP saying so, and no request outlives the run's --deadline.

Real loopback servers (tests/probe_servers.py): one that reads every request and never answers, and a "stuck
engine" whose HTTP loop answers GET / at once but holds every other request (what a wedged SGLang/vLLM engine
behind a live uvicorn loop looks like to a client).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from qwen_doctor.results import Status
from tests import probe_servers as ps
from tests.checks.probe.conftest import IDS, opts, run_url

ROOT = Path(__file__).resolve().parents[3]
STALLED = "server stalled: 3 consecutive requests timed out"
AFTER_REACHABLE = ("probe.identity", "probe.health", "probe.embeddings", "probe.dimensions", "probe.content-type", "probe.latency", "probe.long-input")


def stuck_engine(req: ps.Request) -> ps.Reply:
    if req.path == "/":
        return ps.Reply(404, {"detail": "Not Found"})
    return ps.Reply(hang=True)


def test_after_three_timeouts_the_other_checks_skip_without_sending_anything():
    with ps.LoopbackServer(stuck_engine) as srv:
        t0 = time.monotonic()
        res = run_url(srv.url, opts(probe_timeout=0.5, connect_timeout=0.5))
        took = time.monotonic() - t0
        sent = [(q.method, q.path) for q in srv.requests]
    st = {k: r.status for k, r in res.items()}
    assert st["probe.reachable"] is Status.PASS
    for cid in ("probe.identity", "probe.health", "probe.embeddings"):  # the three timeouts, each reported
        assert st[cid] is Status.FAIL and "no answer within 0.5 s" in res[cid].summary, (cid, res[cid].summary)
    for cid in ("probe.dimensions", "probe.content-type", "probe.latency", "probe.long-input"):
        assert st[cid] is Status.SKIP and res[cid].summary.startswith(STALLED), (cid, res[cid].summary)
        assert "(GET /v1/models, GET /health, POST /v1/embeddings)" in res[cid].summary
        assert res[cid].evidence.get("stalled") is True
    # nothing after the third timeout; /ready is not asked after /health timed out
    assert sent == [("GET", "/"), ("GET", "/v1/models"), ("GET", "/health"), ("POST", "/v1/embeddings")]
    assert took < 6, took


def test_the_stall_count_is_per_target():
    """Two targets in one run: a stalled one does not stop the probe of a healthy one."""
    from qwen_doctor.checks import probe as probe_checks
    from qwen_doctor.registry import Registry
    from qwen_doctor.runner import Runner
    from qwen_doctor.target import build_target

    with ps.LoopbackServer(stuck_engine) as bad, ps.replay_server("vllm") as good:
        reg = Registry()
        probe_checks.register(reg)
        results = Runner(reg, opts(probe_timeout=0.5, connect_timeout=0.5)).run([build_target(url=bad.url), build_target(url=good.url)])
    assert len(results) == 2 * len(IDS)  # in target order, then registry order
    stalled = {r.id: r for r in results[: len(IDS)]}
    healthy = {r.id: r for r in results[len(IDS) :]}
    assert stalled["probe.latency"].summary.startswith(STALLED)
    assert healthy["probe.embeddings"].status in (Status.PASS, Status.WARN), healthy["probe.embeddings"].summary
    assert healthy["probe.latency"].status in (Status.PASS, Status.WARN), healthy["probe.latency"].summary


class Timed:
    """A route wrapper that notes when the first request arrived (the doctor's clock is running by then)."""

    def __init__(self, route) -> None:
        self.route = route
        self.first: float | None = None

    def __call__(self, req: ps.Request) -> ps.Reply:
        if self.first is None:
            self.first = time.monotonic()
        return self.route(req)


def _doctor(url: str, *args: str, timeout: float = 120) -> tuple[dict, float, int]:
    """Run `check --url` as a subprocess: (probe results, wall time, exit code)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_DOCTOR")}
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "qwen_doctor", "check", "--url", url, "--format", "json", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(ROOT),
        env=env,
    )
    took = time.monotonic() - t0
    assert out.stdout, out.stderr[-2000:]
    return {r["id"]: r for r in json.loads(out.stdout)["results"] if r["id"].startswith("probe.")}, took, out.returncode


def test_cli_against_a_server_that_never_answers_ends_within_the_deadline():
    timed = Timed(ps.hostile_route("hang-all"))
    with ps.LoopbackServer(timed) as srv:
        res, took, rc = _doctor(srv.url, "--deadline", "20")
        end = time.monotonic()
    assert timed.first is not None and end - timed.first < 20.5  # --deadline counts from the command's start
    assert took < 25, took  # with Python's start-up (slower on a loaded machine)
    assert rc == 1
    assert res["probe.reachable"]["status"] == "fail" and "no HTTP answer" in res["probe.reachable"]["summary"]
    for cid in AFTER_REACHABLE:
        assert res[cid]["status"] == "skip" and res[cid]["summary"].startswith("blocked by probe.reachable"), res[cid]


def test_cli_against_a_stuck_engine_ends_within_the_deadline_with_verdicts_not_errors():
    """GET / answers, everything else hangs; default --timeout (10 s) and --deadline 20: identity times out at 10 s,
    health is cut short before the deadline, and the checks with no time left SKIP instead of ERROR."""
    timed = Timed(stuck_engine)
    with ps.LoopbackServer(timed) as srv:
        res, took, rc = _doctor(srv.url, "--deadline", "20")
        end = time.monotonic()
    assert timed.first is not None and end - timed.first < 20.5
    assert took < 25, took
    assert rc == 1
    st = {k: r["status"] for k, r in res.items()}
    assert "error" not in st.values(), res
    assert st["probe.reachable"] == "pass"
    assert st["probe.identity"] == "fail" and "no answer within 10 s" in res["probe.identity"]["summary"]
    assert st["probe.health"] == "fail" and "cut short by the run's --deadline" in res["probe.health"]["summary"]
    for cid in ("probe.embeddings", "probe.dimensions", "probe.content-type", "probe.latency", "probe.long-input"):
        assert st[cid] == "skip" and "--deadline" in res[cid]["summary"], res[cid]


def test_cli_stalled_server_with_a_short_timeout_says_stalled():
    with ps.LoopbackServer(stuck_engine) as srv:
        res, took, rc = _doctor(srv.url, "--timeout", "2", "--deadline", "20")
    assert took < 15, took
    assert rc == 1
    assert [res[c]["status"] for c in ("probe.identity", "probe.health", "probe.embeddings")] == ["fail"] * 3
    for cid in ("probe.dimensions", "probe.content-type", "probe.latency", "probe.long-input"):
        assert res[cid]["status"] == "skip" and res[cid]["summary"].startswith(STALLED), res[cid]
