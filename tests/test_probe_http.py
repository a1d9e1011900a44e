"""The live probe's HTTP client against real loopback sockets: every way a request can go wrong ends as a
classified Reply (never an exception), within its time limit, and the API key never leaves the header."""

from __future__ import annotations

import math
import time

import pytest

from qwen_doctor.probe import (
    BadVector,
    cosine,
    error_message,
    extract_vectors,
    long_text,
    over_length_target,
    percentile,
    stats,
    to_vector,
    variant_from_name,
)
from qwen_doctor.probe.http import Failure, ProbeClient, classify, is_loopback_host, normalize_base_url
from tests import probe_servers as ps

KEY = "sk-probe-test-0123456789abcdef"


def client(url: str, **kw) -> ProbeClient:
    kw.setdefault("connect_timeout", 1.0)
    kw.setdefault("read_timeout", 1.0)
    return ProbeClient(url, **kw)


def test_ok_reply_json_and_latency():
    with ps.replay_server("vllm") as srv, client(srv.url) as c:
        r = c.get("/v1/models")
    assert r.answered and r.status == 200 and r.failure is None
    assert r.json()["data"][0]["id"] == "tiny-qwen3"
    assert r.elapsed_s > 0 and r.ms >= 0
    assert r.describe().startswith("GET /v1/models -> 200")


def test_refused():
    with client(f"http://127.0.0.1:{ps.refused_port()}") as c:
        r = c.get("/health")
    assert r.status is None and r.failure.kind is Failure.REFUSED
    assert not r.answered


def test_connect_timeout_on_a_full_backlog():
    with ps.BacklogFull() as b:
        if not b.fill():
            pytest.skip("this kernel completes handshakes past the backlog; cannot produce a connect timeout on loopback")
        t0 = time.monotonic()
        with client(f"http://127.0.0.1:{b.port}", connect_timeout=0.5) as c:
            r = c.get("/health")
        assert r.failure.kind is Failure.CONNECT_TIMEOUT
        assert time.monotonic() - t0 < 3


def test_read_timeout_when_nothing_answers():
    with ps.hostile_server("hang-all") as srv, client(srv.url, read_timeout=0.5) as c:
        t0 = time.monotonic()
        r = c.get("/health")
    assert r.failure.kind is Failure.READ_TIMEOUT and "no answer within 0.5 s" in r.failure.message
    assert time.monotonic() - t0 < 3


def test_trickled_body_is_cut_at_the_deadline():
    """A server that sends one byte every 50 ms would keep a per-read timeout happy forever: the whole
    answer has a time limit."""
    with ps.hostile_server("slow-body") as srv, client(srv.url, read_timeout=0.5, connect_timeout=0.5) as c:
        t0 = time.monotonic()
        r = c.get("/health")
        took = time.monotonic() - t0
    assert r.status == 200  # the headers came
    assert r.failure.kind is Failure.READ_TIMEOUT and not r.answered
    assert took < 2.5, took


@pytest.mark.parametrize("mode,expect", [("huge-body", "stopped reading"), ("huge-declared", "Content-Length 1,000,000,000")])
def test_body_cap(mode, expect):
    with ps.hostile_server(mode) as srv, client(srv.url, max_body=1024 * 1024) as c:
        r = c.get("/v1/models")
    assert r.failure.kind is Failure.BODY_TOO_LARGE and expect in r.failure.message
    assert len(r.body) <= 1024 * 1024


def test_redirect_loop_is_named_without_following_it():
    with ps.hostile_server("redirect-loop") as srv, client(srv.url) as c:
        r = c.get("/v1/models")
        n = len(srv.requests)
    assert r.failure.kind is Failure.TOO_MANY_REDIRECTS and "redirect loop" in r.failure.message
    assert n == 1  # redirects are never followed


def _redirect_to(location: str, *, status: int = 302, keep_root: bool = False):
    def route(req: ps.Request) -> ps.Reply:
        if keep_root and req.path == "/":
            return ps.Reply(404, {"detail": "Not Found"})
        return ps.Reply(status, b"", {"location": location.format(path=req.path)})

    return route


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_redirect_to_another_port_is_not_followed_and_the_key_never_goes_there(status, method):
    """A second loopback server on another port is another origin: it receives nothing, the key least of all."""
    with ps.replay_server("vllm") as other, ps.LoopbackServer(_redirect_to(other.url + "{path}", status=status)) as front:
        with client(front.url, api_key=KEY) as c:
            r = c.get("/v1/models") if method == "GET" else c.post_json("/v1/embeddings", {"input": "x"})
        assert other.requests == []
        assert [q.headers.get("authorization") for q in front.requests] == [f"Bearer {KEY}"]
    assert r.status == status and r.failure.kind is Failure.REDIRECT and not r.answered
    assert "another origin" in r.failure.message and f":{other.port}/" in r.failure.message
    assert "the API key is never sent there" in r.failure.message
    assert r.redirect_to == f"{other.url}{'/v1/models' if method == 'GET' else '/v1/embeddings'}"
    assert KEY not in repr(r) and KEY not in r.failure.message


@pytest.mark.parametrize(
    "location",
    [
        "https://127.0.0.1:{port}/v1/models",  # another scheme (an http -> https upgrade too)
        "http://localhost:{port}/v1/models",  # another host name for the same socket
        "//127.0.0.2:{port}/v1/models",  # scheme-relative, another host
    ],
)
def test_scheme_and_host_changes_are_other_origins(location):
    with ps.LoopbackServer(lambda q: ps.Reply(200, {"data": []})) as srv:
        loc = location.format(port=srv.port)
        with ps.LoopbackServer(_redirect_to(loc)) as front, client(front.url, api_key=KEY) as c:
            r = c.get("/v1/models")
            sent = len(front.requests)
        assert srv.requests == [] and sent == 1
    assert r.failure.kind is Failure.REDIRECT and "another origin" in r.failure.message


def test_same_origin_redirect_is_reported_not_followed():
    with ps.LoopbackServer(_redirect_to("/api{path}", status=307)) as srv, client(srv.url, api_key=KEY) as c:
        r = c.get("/v1/models")
        paths = [q.path for q in srv.requests]
    assert paths == ["/v1/models"]
    assert r.failure.kind is Failure.REDIRECT and "to /api/v1/models on the same server" in r.failure.message
    assert "another origin" not in r.failure.message and "proxy" in r.failure.message


def test_credentials_in_a_location_are_never_shown():
    loc = "http://admin:hunter2-pw@127.0.0.9:81/v1/models?token=tok-in-query-123#frag"
    with ps.LoopbackServer(_redirect_to(loc)) as srv, client(srv.url) as c:
        r = c.get("/v1/models")
    assert r.failure.kind is Failure.REDIRECT
    shown = f"{r.failure.message} {r.redirect_to}"
    assert "hunter2" not in shown and "admin" not in shown and "tok-in-query" not in shown
    assert "http://127.0.0.9:81/v1/models" in shown


def test_invalid_json_is_reported_not_raised():
    with ps.hostile_server("invalid-json") as srv, client(srv.url) as c:
        r = c.post_json("/v1/embeddings", {"input": "x"})
    assert r.answered and r.status == 200
    assert r.json() is None and r.json_failure.kind is Failure.INVALID_JSON


def test_tls_to_a_plain_http_port():
    with ps.replay_server("vllm") as srv, client(srv.url.replace("http://", "https://")) as c:
        r = c.get("/health")
    assert r.failure.kind is Failure.TLS


def test_dns_failure_is_classified_and_bounded():
    # a name under the reserved .invalid TLD: a resolver lookup only, no connection to any address
    t0 = time.monotonic()
    with client("http://qwen-doctor-test.invalid:8000", connect_timeout=1.0) as c:
        r = c.get("/health")
    assert r.failure.kind is Failure.DNS
    assert time.monotonic() - t0 < 3


def test_garbage_is_a_protocol_error():
    with ps.hostile_server("garbage") as srv, client(srv.url) as c:
        r = c.get("/")
    assert r.failure.kind in (Failure.PROTOCOL, Failure.RESET)


def test_api_key_only_in_the_authorization_header():
    with ps.replay_server("sglang", api_key=KEY) as srv:
        with client(srv.url, api_key=KEY) as c:
            ok = c.get("/v1/models")
        with client(srv.url) as c:
            denied = c.get("/v1/models")
        sent = [r.headers.get("authorization") for r in srv.requests]
    assert ok.status == 200 and denied.status == 401
    assert sent == [f"Bearer {KEY}", None]
    for r in (ok, denied):
        assert KEY not in repr(r) and KEY not in r.body.decode()
    assert denied.message() == "Unauthorized"


def test_failure_messages_are_redacted():
    exc = RuntimeError(f"boom with {KEY} inside")
    f = classify(exc, (KEY,))
    assert KEY not in f.message and f.kind is Failure.OTHER


def test_json_body_sets_content_type_and_raw_body_does_not():
    with ps.replay_server("vllm") as srv, client(srv.url) as c:
        c.post_json("/v1/embeddings", {"model": "tiny-qwen3", "input": "a"})
        c.request("POST", "/v1/embeddings", content=b'{"input": "a"}')
        types = [r.headers.get("content-type") for r in srv.requests]
    assert types == ["application/json", None]


def test_base_url_normalization():
    assert normalize_base_url("http://h:8000/v1/") == ("http://h:8000", normalize_base_url("http://h:8000/v1/")[1])
    assert "ends in /v1" in normalize_base_url("http://h:8000/v1")[1]
    assert normalize_base_url("127.0.0.1:30000") == ("http://127.0.0.1:30000", None)
    assert normalize_base_url("https://gw.example/embed/") == ("https://gw.example/embed", None)


def test_v1_suffix_is_dropped_when_probing():
    with ps.replay_server("vllm") as srv, client(srv.url + "/v1") as c:
        r = c.get("/v1/models")
        assert c.url_note and srv.requests[-1].path == "/v1/models"
    assert r.status == 200


@pytest.mark.parametrize(
    "host,loop",
    [("127.0.0.1", True), ("127.8.9.1", True), ("localhost", True), ("[::1]", True), ("::1", True), ("10.0.0.1", False), ("example.com", False), ("", False)],
)
def test_is_loopback_host(host, loop):
    assert is_loopback_host(host) is loop


# -- pure helpers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,msg",
    [
        ({"error": {"message": "nested", "type": "BadRequestError"}}, "nested"),  # vLLM >= 0.10.1
        ({"object": "error", "message": "flat", "code": 400}, "flat"),  # SGLang, vLLM <= 0.10.0
        ({"detail": "Not Found"}, "Not Found"),  # FastAPI
        ({"detail": [{"msg": "Field required"}, {"msg": "other"}]}, "Field required; other"),
        ({"error": "Unauthorized"}, "Unauthorized"),  # auth middleware
        ({"error": "Input validation error", "error_type": "validation"}, "Input validation error"),  # TEI
    ],
)
def test_error_message_dialects(body, msg):
    assert error_message(body) == msg


def test_error_message_falls_back_to_raw_text():
    assert error_message(None, b"<html>Bad Gateway</html>") == "<html>Bad Gateway</html>"


def test_vectors_and_stats():
    import base64
    import struct

    assert to_vector([1, 0.5]) == [1.0, 0.5]
    b64 = base64.b64encode(struct.pack("<3f", 1.0, 2.0, 2.0)).decode()
    assert to_vector(b64) == [1.0, 2.0, 2.0] and stats(to_vector(b64)).norm == 3.0
    s = stats([float("nan"), 1.0])
    assert not s.finite and s.bad_values == 1 and math.isnan(s.norm)
    with pytest.raises(BadVector):
        to_vector(["a"])
    with pytest.raises(BadVector):
        to_vector([True])
    assert cosine([1, 0], [1, 0]) == 1.0 and math.isnan(cosine([0, 0], [1, 0]))


def test_extract_vectors_orders_by_index_and_checks_shape():
    body = {"data": [{"index": 1, "embedding": [0, 1]}, {"index": 0, "embedding": [1, 0]}]}
    assert extract_vectors(body, 2) == [[1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(BadVector, match="2 embeddings for 1 inputs"):
        extract_vectors(body, 1)
    with pytest.raises(BadVector, match="no 'data' list"):
        extract_vectors({"embedding": [1]}, 1)
    with pytest.raises(BadVector, match="indexes"):
        extract_vectors({"data": [{"index": 3, "embedding": [1]}]}, 1)


def test_long_text_has_a_token_per_word_and_stays_small():
    t = long_text(over_length_target(32768))
    assert len(t.split()) == over_length_target(32768) > 32768
    assert len(t.encode()) < 250_000  # hundreds of KB, never megabytes


def test_percentile_nearest_rank():
    xs = list(range(1, 21))
    assert percentile(xs, 50) == 10 and percentile(xs, 95) == 19 and percentile(xs, 100) == 20
    assert percentile([5], 95) == 5


def test_variant_helpers():
    assert variant_from_name("Qwen/Qwen3-Embedding-4B") == "4B"
    assert variant_from_name("/models/qwen3-embedding-0.6b") == "0.6B"
    assert variant_from_name("tiny-qwen3") is None


# -- the request guard: a stalled server, the run's deadline ---------------------------------------------
def _hang_on(*paths: str):
    def route(req: ps.Request) -> ps.Reply:
        return ps.Reply(hang=True) if req.path in paths else ps.Reply(200, {"ok": True})

    return route


def test_after_three_consecutive_timeouts_nothing_more_is_sent():
    from qwen_doctor.probe.guard import STALL_LIMIT, RequestGuard

    g = RequestGuard()
    with ps.LoopbackServer(_hang_on("/hang")) as srv, client(srv.url, read_timeout=0.3, guard=g) as c:
        first = [c.get("/hang") for _ in range(STALL_LIMIT)]
        t0 = time.monotonic()
        refused = c.get("/ok")
        took = time.monotonic() - t0
        sent = [q.path for q in srv.requests]
    assert STALL_LIMIT == 3
    assert all(r.failure.kind is Failure.READ_TIMEOUT for r in first)
    assert sent == ["/hang"] * 3  # the fourth request never left
    assert refused.failure.kind is Failure.STALLED and took < 0.1
    assert (
        refused.failure.message
        == "not sent: server stalled: 3 consecutive requests timed out (GET /hang, GET /hang, GET /hang); no more requests are sent to it"
    )
    assert g.stalled and g.halted() is not None


def test_an_answer_in_between_resets_the_count():
    from qwen_doctor.probe.guard import RequestGuard

    g = RequestGuard()
    with ps.LoopbackServer(_hang_on("/hang")) as srv, client(srv.url, read_timeout=0.3, guard=g) as c:
        out = [c.get(p) for p in ("/hang", "/hang", "/ok", "/hang", "/hang")]
        assert not g.stalled and out[2].status == 200
        c.get("/hang")
        assert g.stalled
        assert c.get("/ok").failure.kind is Failure.STALLED
        assert len(srv.requests) == 6


def test_refused_connections_are_not_a_stall():
    from qwen_doctor.probe.guard import RequestGuard

    g = RequestGuard()
    with client(f"http://127.0.0.1:{ps.refused_port()}", guard=g) as c:
        rs = [c.get("/health") for _ in range(5)]
    assert all(r.failure.kind is Failure.REFUSED for r in rs) and not g.stalled


def test_a_request_never_runs_past_the_run_deadline():
    from qwen_doctor.probe.guard import RequestGuard

    g = RequestGuard(deadline_at=time.monotonic() + 1.5)
    with ps.hostile_server("hang-all") as srv, client(srv.url, read_timeout=30.0, guard=g) as c:
        t0 = time.monotonic()
        r = c.get("/health")
        took = time.monotonic() - t0
        late = c.get("/health")
        n = len(srv.requests)
    assert r.failure.kind is Failure.READ_TIMEOUT and "cut short by the run's --deadline" in r.failure.message
    assert 0.8 < took < 1.4, took  # ended 0.5 s before the deadline, not after 30 s
    assert late.failure.kind is Failure.STALLED and "--deadline" in late.failure.message
    assert n == 1
