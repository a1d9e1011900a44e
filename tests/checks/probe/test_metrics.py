"""probe.metrics: the server's own /metrics, read twice, turned into verdicts naming the launch setting.

Real parts: the real vLLM 0.32 CPU server (--max-num-seqs 2) and the real SGLang 0.5.23 CPU server (--enable-metrics
--max-running-requests 2; and without --enable-metrics), driven past their limits by a bounded load the tests send
themselves (a thread pool, a fixed request count and time, loopback only). Recorded real /metrics of both (tests/data/
metrics, recorded on this machine under such a load) are served by a real loopback server for the unit cases. TEI
cannot run here: its recording is SYNTHETIC, built from the metric names in TEI's source, and says so in its header.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from qwen_doctor.checks.probe import _metrics as M
from qwen_doctor.context import RunOptions
from qwen_doctor.registry import Registry
from qwen_doctor.results import Applicability, Status
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target
from tests import probe_servers as ps

DATA = Path(__file__).resolve().parents[2] / "data" / "metrics"
IDS = {"probe.metrics"}


def opts(**kw) -> RunOptions:
    base = dict(probe_timeout=2.0, connect_timeout=1.0, requests=3, metrics_interval=0.3)
    base.update(kw)
    return RunOptions(**base)


def run_metrics(target, options: RunOptions | None = None, ids=IDS):
    from qwen_doctor.checks import probe

    reg = Registry()
    probe.register(reg)
    results = Runner(reg, options or opts(), select=lambda c: c.id in ids).run([target])
    return {r.id: r for r in results}["probe.metrics"]


def metrics_route(base_route, bodies: list[str]):
    """The API routes of ``base_route``; /metrics answers the recorded bodies in turn (the last one again)."""
    calls = {"n": 0}

    def route(req: ps.Request) -> ps.Reply:
        if req.path.split("?")[0] == "/metrics" and req.method == "GET":
            body = bodies[min(calls["n"], len(bodies) - 1)]
            calls["n"] += 1
            return ps.Reply(200, body, {"content-type": "text/plain; version=0.0.4; charset=utf-8"})
        return base_route(req)

    return route


def rec(name: str) -> str:
    return (DATA / name).read_text()


# -- parsing and arithmetic --------------------------------------------------------------------------------


def test_histogram_quantile_and_delta():
    a = M.parse('# TYPE h histogram\nh_bucket{le="0.1"} 10\nh_bucket{le="1.0"} 10\nh_bucket{le="+Inf"} 10\nh_sum 0.5\nh_count 10\n')
    b = M.parse('# TYPE h histogram\nh_bucket{le="0.1"} 10\nh_bucket{le="1.0"} 100\nh_bucket{le="+Inf"} 110\nh_sum 80.5\nh_count 110\n')
    d = M.hist_delta(M.hist(a, ["h"]), M.hist(b, ["h"]))
    assert d is not None and d.count == 100 and d.mean == pytest.approx(0.8)
    q50 = M.quantile(d, 0.5)
    assert q50 is not None and (q50.low, q50.high) == (0.1, 1.0) and 0.1 < q50.value < 1.0
    q99 = M.quantile(d, 0.99)
    assert q99 is not None and q99.high == float("inf") and M.show_q(q99) == "> 1 s"
    assert M.hist_delta(M.hist(b, ["h"]), M.hist(a, ["h"])) is None  # went down: the server restarted


def test_parser_refuses_malformed_text_in_one_line():
    with pytest.raises(M.MetricsError) as e:
        M.parse('vllm:num_requests_running{engine="0" 1.0\n')
    assert "\n" not in str(e.value) and str(e.value).startswith("not Prometheus text")


def test_names_table_matches_the_real_recordings():
    for dialect, name in (("vllm", "vllm-0.32.0-load-b.prom"), ("sglang", "sglang-0.5.23-load-b.prom")):
        s = M.parse(rec(name))
        assert M.dialect_of(s) == dialect
        names, row = M.names_for(dialect, "0.32.0" if dialect == "vllm" else "0.5.23")
        assert row is not None and row.source
        assert s.first(names.running) and s.first(names.waiting) and s.first(names.usage)
        assert M.hist(s, names.e2e) is not None and M.hist(s, names.prompt_hist) is not None


# -- recorded real servers, served by a real loopback server -----------------------------------------------


def test_vllm_recorded_under_load_backlog_names_max_num_seqs_with_corrected_command():
    route = metrics_route(ps.openai_replay("vllm"), [rec("vllm-0.32.0-load-a.prom"), rec("vllm-0.32.0-load-b.prom")])
    with ps.LoopbackServer(route) as srv:
        argv = ["vllm", "serve", "Qwen/Qwen3-Embedding-0.6B", "--runner", "pooling", "--max-num-seqs", "2", "--port", str(srv.port)]
        r = run_metrics(build_target(argv, url=srv.url), ids={"probe.identity", "probe.metrics"})
    assert r.status is Status.WARN, r.summary
    assert "backlog" in r.summary and r.evidence["dialect"] == "vllm"
    v = {x["id"]: x for x in r.evidence["verdicts"]}
    assert v["backlog"]["setting"] == "--max-num-seqs"
    # 402 tokens per request on average (the recording's prompts) against vLLM's 512 (/v1/models max_model_len)
    assert v["long-inputs"]["setting"] == "--max-num-batched-tokens" and "mean 402 tokens per request" in v["long-inputs"]["text"]
    assert r.evidence["requests"]["total"] == 80 and r.evidence["requests_per_s"] > 0
    assert r.fix is not None and r.fix.launch_command and "--max-num-seqs 4" in r.fix.launch_command
    assert r.fix.applicability is Applicability.UNSAFE


def test_vllm_recorded_at_rest_passes_without_verdicts():
    route = metrics_route(ps.openai_replay("vllm"), [rec("vllm-0.32.0-rest.prom")])
    with ps.LoopbackServer(route) as srv:
        r = run_metrics(build_target(url=srv.url, server="vllm"))
    assert r.status is Status.PASS, r.summary
    assert r.evidence["verdicts"] == [] and "no requests finished" in r.summary
    assert r.evidence["running"] == 0 and r.evidence["waiting"] == 0


def test_sglang_recorded_under_load_backlog_and_slow():
    route = metrics_route(ps.sglang_replay(ps.SglangConfig()), [rec("sglang-0.5.23-load-a.prom"), rec("sglang-0.5.23-load-b.prom")])
    with ps.LoopbackServer(route) as srv:
        r = run_metrics(build_target(url=srv.url, server="sglang"))
    assert r.status is Status.WARN, r.summary
    ids = {x["id"]: x for x in r.evidence["verdicts"]}
    assert ids["backlog"]["setting"] == "--max-running-requests"
    assert ids["slow"]["setting"] == "--chunked-prefill-size"
    assert r.evidence["e2e_p95"] == "4 s-6 s"


def test_tei_synthetic_recording_overloaded_on_its_prometheus_port():
    """SYNTHETIC TEI recording (metric names from TEI's source). The main port has no /metrics here, so the doctor
    reads --prometheus-port: two real loopback servers, like TEI's router and its Prometheus listener."""

    def main_route(req: ps.Request) -> ps.Reply:
        if req.path.startswith("/metrics"):
            return ps.Reply(404, b"")
        return ps.tei_replay(ps.TeiConfig())(req)

    with ps.LoopbackServer(metrics_route(lambda req: ps.Reply(404, b""), [rec("tei-SYNTHETIC-a.prom"), rec("tei-SYNTHETIC-b.prom")])) as prom:
        with ps.LoopbackServer(main_route) as srv:
            argv = ["text-embeddings-router", "--model-id", "Qwen/Qwen3-Embedding-0.6B", "--port", str(srv.port), "--prometheus-port", str(prom.port)]
            r = run_metrics(build_target(argv, url=srv.url))
    assert "# NOTE: SYNTHETIC" in rec("tei-SYNTHETIC-a.prom")
    assert r.status is Status.WARN, r.summary
    assert r.evidence["metrics_url"] == f"http://127.0.0.1:{prom.port}/metrics"
    ids = {x["id"]: x for x in r.evidence["verdicts"]}
    assert ids["errors"]["setting"] == "--max-concurrent-requests" and "429" in ids["errors"]["text"]
    assert ids["backlog"]["setting"] == "--max-batch-tokens"  # --max-batch-requests not set: batches by tokens
    cmd = r.fix.launch_command if r.fix is not None else ""
    assert "--max-concurrent-requests 1024" in cmd and "--max-batch-tokens 32768" in cmd  # twice the 1.9 defaults
    assert "--max-batch-requests" not in cmd  # unset (no request limit): never invented


def test_vllm_without_engine_metrics_says_disable_log_stats_and_drops_it():
    text = "\n".join(line for line in rec("vllm-0.32.0-rest.prom").splitlines() if "vllm:" not in line) + "\n"
    with ps.LoopbackServer(metrics_route(ps.openai_replay("vllm"), [text])) as srv:
        argv = ["vllm", "serve", "Qwen/Qwen3-Embedding-0.6B", "--runner", "pooling", "--disable-log-stats", "--port", str(srv.port)]
        r = run_metrics(build_target(argv, url=srv.url))
    assert r.status is Status.WARN and "--disable-log-stats" in r.summary
    assert r.fix is not None and r.fix.launch_command and "--disable-log-stats" not in r.fix.launch_command


# -- hostile /metrics: every one ends as a clean result within its timeout -------------------------------------


@pytest.mark.parametrize(
    "reply,expect",
    [
        (ps.Reply(200, b"# TYPE x counter\n", stream_bytes=64 * 1024 * 1024), "body-too-large"),
        (ps.Reply(200, b"ok", declare_length=10**9), "body-too-large"),
        (ps.Reply(200, 'vllm:num_requests_running{engine="0" 1.0\n'), "not Prometheus text"),
        (ps.Reply(200, "x" * 300, trickle_s=0.05), "timeout"),
        (ps.Reply(hang=True), "timeout"),
        (ps.Reply(garbage=b"\x16\x03\x01 not http\r\n"), ""),
    ],
    ids=["huge-stream", "huge-declared", "malformed", "slow-trickle", "hang", "garbage"],
)
def test_hostile_metrics_end_clean_within_timeout(reply, expect):
    def route(req: ps.Request) -> ps.Reply:
        return reply if req.path.startswith("/metrics") else ps.openai_replay("vllm")(req)

    with ps.LoopbackServer(route) as srv:
        t0 = time.monotonic()
        r = run_metrics(build_target(url=srv.url, server="vllm"), opts(probe_timeout=1.0))
        took = time.monotonic() - t0
    assert r.status is Status.WARN and r.summary.startswith("cannot read the server's metrics"), r.summary
    assert expect in r.summary and "\n" not in r.summary
    assert took < 15


# -- serve: the verdicts as gauges -------------------------------------------------------------------------------


def test_serve_metrics_exposes_verdict_gauges():
    from prometheus_client.parser import text_string_to_metric_families

    from qwen_doctor.render import Report
    from qwen_doctor.serve import DoctorService

    route = metrics_route(ps.openai_replay("vllm"), [rec("vllm-0.32.0-load-a.prom"), rec("vllm-0.32.0-load-b.prom")])
    with ps.LoopbackServer(route) as srv:
        t = build_target(url=srv.url, server="vllm")
        r = run_metrics(t)
    svc = DoctorService(lambda: Report((t,), (r,)), cache_s=60)
    code, _, text = svc.metrics()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert code == 200
    backlog = fams["qwen_doctor_server_backlog_ratio"].samples[0]
    assert backlog.labels["target"] == t.label and backlog.value == r.evidence["backlog_ratio"] >= 1
    verdicts = {s.labels["verdict"]: s.labels["setting"] for s in fams["qwen_doctor_server_verdict"].samples}
    assert verdicts["backlog"] == "--max-num-seqs"
    assert "qwen_doctor_server_error_ratio" in fams and "qwen_doctor_server_latency_p95_seconds" in fams


# -- real servers, driven past their limits by the test's own bounded load ---------------------------------------


class Driver:
    """A bounded load on loopback: ``clients`` threads, each sending distinct long inputs until ``seconds`` pass or
    ``max_requests`` were sent in all."""

    def __init__(self, url: str, body: dict, clients: int = 16, seconds: float = 40.0, max_requests: int = 2000, words: int = 90) -> None:
        self.url, self.body, self.clients, self.words = url.rstrip("/") + "/v1/embeddings", body, clients, words
        self.until = time.monotonic() + seconds
        self.left = max_requests
        self.lock = threading.Lock()
        self.sent = self.ok = 0
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(clients)]

    def _run(self, i: int) -> None:
        rnd = random.Random(i)
        vocab = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda".split()
        while time.monotonic() < self.until:
            with self.lock:
                if self.left <= 0:
                    return
                self.left -= 1
                self.sent += 1
            text = " ".join(rnd.choice(vocab) for _ in range(self.words))
            data = json.dumps({**self.body, "input": f"{i}-{rnd.random()} {text}"}).encode()
            req = urllib.request.Request(self.url, data=data, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    resp.read()
                    with self.lock:
                        self.ok += 1
            except Exception:  # noqa: BLE001 - counted by what did not succeed
                pass

    def __enter__(self) -> "Driver":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.until = 0.0
        for t in self.threads:
            t.join(timeout=70)


@pytest.mark.live_server
def test_real_vllm_backlog_and_queueing_under_load_not_at_rest(vllm_small_batch_server):
    srv = vllm_small_batch_server
    t = build_target(list(srv.command), url=srv.url)
    rest = run_metrics(t, opts(metrics_interval=1.0))
    assert rest.status is Status.PASS, rest.summary
    assert not rest.evidence["verdicts"]
    with Driver(srv.url, {"model": srv.served_model_name}, clients=16, seconds=60, words=90) as d:
        time.sleep(4)  # the queue builds up
        busy = run_metrics(t, opts(metrics_interval=2.0, probe_timeout=10.0))
    assert d.ok > 0
    ids = {x["id"]: x for x in busy.evidence["verdicts"]}
    assert busy.status is Status.WARN, busy.summary
    assert "backlog" in ids and ids["backlog"]["setting"] == "--max-num-seqs", busy.summary
    assert "queueing" in ids, busy.summary  # the latency verdict: most of the time is spent queued
    assert busy.fix is not None and "--max-num-seqs 4" in (busy.fix.launch_command or "")


@pytest.mark.live_sglang
def test_real_sglang_backlog_and_latency_under_load_not_at_rest(sglang_metrics_server):
    srv = sglang_metrics_server
    t = build_target(list(srv.command), url=srv.url)
    rest = run_metrics(t, opts(metrics_interval=1.0, probe_timeout=10.0))
    assert rest.status is Status.PASS, rest.summary
    assert not rest.evidence["verdicts"]
    with Driver(srv.url, {}, clients=24, seconds=150, words=120) as d:  # short inputs complete in the window, and queue past 2 s
        time.sleep(8)
        for _ in range(3):  # a window in which no request completed has no latency histogram delta: read again
            busy = run_metrics(t, opts(metrics_interval=4.0, probe_timeout=10.0))
            if {"slow", "queueing"} & {x["id"] for x in busy.evidence["verdicts"]}:
                break
    assert d.ok > 0
    ids = {x["id"]: x for x in busy.evidence["verdicts"]}
    assert busy.status is Status.WARN, busy.summary
    assert ids.get("backlog", {}).get("setting") == "--max-running-requests", busy.summary
    assert "slow" in ids or "queueing" in ids, busy.summary  # the latency verdict
    assert busy.fix is not None and "--max-running-requests 4" in (busy.fix.launch_command or "")


@pytest.mark.live_sglang
def test_real_sglang_without_enable_metrics_says_turn_it_on(sglang_embed_server):
    srv = sglang_embed_server
    r = run_metrics(build_target(list(srv.command), url=srv.url), opts(probe_timeout=10.0))
    assert r.status is Status.WARN and "--enable-metrics" in r.summary and "404" in r.summary
    assert r.fix is not None and r.fix.launch_command and r.fix.launch_command.endswith("--enable-metrics")
    assert r.evidence["metrics"] == "off"


@pytest.mark.parametrize("version,printed", [("0.4.5", False), ("0.4.6.post5", True), ("0.5.23", True)])
def test_enable_metrics_claim_printed_only_inside_its_range(version, printed):
    """The claim `sglang.metrics-need-enable-metrics` (>=0.4.6) at its boundary: a release older than every one the
    doctor knows still gets the "turn it on" result, but not the sourced statement."""
    from tests.checks.probe.conftest import sglang_like

    with ps.LoopbackServer(sglang_like(version)) as srv:
        r = run_metrics(build_target(url=srv.url), ids={"probe.identity", "probe.metrics"})  # identity: the release
    assert r.status is Status.WARN and "--enable-metrics" in r.summary and r.evidence["metrics"] == "off"
    assert ("(404 without it)" in r.summary) is printed, r.summary


def test_sglang_retracted_gauge_and_full_token_pool_name_their_settings():
    """The real SGLang 0.5.23 recording, edited: token pool 95% used and 3 requests retracted now (the gauge 0.5.23
    publishes; it has no retraction counter)."""
    edit = {"sglang:token_usage{": "0.95", "sglang:num_retracted_reqs{": "3.0"}

    def edited(name: str) -> str:
        lines = []
        for line in rec(name).splitlines():
            for prefix, value in edit.items():
                if line.startswith(prefix):
                    line = line.rsplit(" ", 1)[0] + " " + value
            lines.append(line)
        return "\n".join(lines) + "\n"

    route = metrics_route(ps.sglang_replay(ps.SglangConfig()), [edited("sglang-0.5.23-load-a.prom"), edited("sglang-0.5.23-load-b.prom")])
    with ps.LoopbackServer(route) as srv:
        argv = ["python", "-m", "sglang.launch_server", "--model-path", "/m/Qwen3-Embedding-0.6B", "--is-embedding", "--port", str(srv.port)]
        r = run_metrics(build_target(argv, url=srv.url))
    ids = {x["id"]: x for x in r.evidence["verdicts"]}
    assert ids["cache"]["setting"] == "--mem-fraction-static" and "95% used" in ids["cache"]["text"]
    assert ids["preemptions"]["setting"] == "--mem-fraction-static" and "3 requests retracted at once" in ids["preemptions"]["text"]
    assert r.evidence["cache_usage"] == 0.95
