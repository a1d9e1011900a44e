"""Redirects, check by check: the probe follows none (SGLang, vLLM and TEI never redirect their API routes), says
where each one points, and sends nothing to another origin (a second real loopback server on another port)."""

from __future__ import annotations

import json

from qwen_doctor.results import Status
from tests import probe_servers as ps
from tests.checks.probe.conftest import KEY, opts, run_url


def _front(location: str, *, root: ps.Reply | None = None):
    """Answers GET / itself (or `root`), redirects everything else to `location` + the path."""

    def route(req: ps.Request) -> ps.Reply:
        if req.path == "/":
            return root or ps.Reply(404, {"detail": "Not Found"})
        return ps.Reply(307, b"", {"location": location + req.path})

    return route


def test_a_proxy_redirecting_to_another_origin_gets_warnings_and_the_other_origin_nothing():
    with ps.replay_server("vllm") as other, ps.LoopbackServer(_front(other.url)) as front:
        res = run_url(front.url, opts(api_key=KEY))
        assert other.requests == []  # not one request, so not the key either
        assert {q.headers.get("authorization") for q in front.requests} == {f"Bearer {KEY}"}
    assert res["probe.reachable"].status is Status.PASS
    for cid, what in (("probe.identity", "GET /v1/models"), ("probe.health", "GET /health"), ("probe.embeddings", "POST /v1/embeddings")):
        r = res[cid]
        assert r.status is Status.WARN, (cid, r.summary)
        assert f"{what} -> 307 redirect to another origin, {other.url}" in r.summary and "not followed" in r.summary
        assert r.evidence["redirect_to"].startswith(other.url)
    blob = json.dumps([r.to_dict() for r in res.values()])
    assert KEY not in blob


def test_a_same_origin_redirect_is_named_as_a_proxy_or_path_rule():
    with ps.LoopbackServer(_front("/api")) as srv:
        srv.route = _front(srv.url + "/api")  # absolute Location, same scheme, host and port
        res = run_url(srv.url)
    e = res["probe.embeddings"]
    assert e.status is Status.WARN and "redirect to /api/v1/embeddings on the same server" in e.summary
    assert "a proxy or path rule stands in front of the server, or the URL is wrong" in e.summary


def test_get_root_redirecting_is_still_reachable_and_says_where():
    with ps.replay_server("vllm") as other:
        root = ps.Reply(302, b"", {"location": other.url + "/docs"})
        with ps.LoopbackServer(_front(other.url, root=root)) as front:
            res = run_url(front.url)
        assert other.requests == []
    r = res["probe.reachable"]
    assert r.status is Status.PASS and "GET / -> 302 redirect to another origin" in r.summary
    assert r.evidence["redirect_to"] == other.url + "/docs"
