"""Shared helpers of the probe.* tests: run the probe checks (Registry -> Runner) on a target.

vLLM and infinity answers are REAL recorded responses (tests/data/responses, from shared/fixtures); SGLang's
are replayed from the bodies documented in shared/reference/sglang.md and the real 0.5.23 answers in
shared/recipes/SGLANG_CPU.md, with synthetic vectors where it answers 200 (see tests/probe_servers.py).
The real vLLM server is exercised in tests/test_probe_live.py, the real SGLang in tests/test_sglang_live.py.
"""

from __future__ import annotations

from qwen_doctor.checks import probe as probe_checks
from qwen_doctor.context import RunOptions
from qwen_doctor.registry import Registry
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target
from tests import probe_servers as ps

IDS = [
    "probe.reachable",
    "probe.identity",
    "probe.health",
    "probe.embeddings",
    "probe.parity",
    "probe.dimensions",
    "probe.content-type",
    "probe.latency",
    "probe.long-input",
    "probe.metrics",
    "probe.load",
]
KEY = "sk-doctor-SECRET-0123456789"


def opts(**kw) -> RunOptions:
    base = dict(probe_timeout=1.0, connect_timeout=1.0, requests=5)
    base.update(kw)
    return RunOptions(**base)


def run(target, options: RunOptions | None = None) -> dict:
    reg = Registry()
    probe_checks.register(reg)
    results = Runner(reg, options or opts()).run([target])
    return {r.id: r for r in results}


def run_url(url: str, options: RunOptions | None = None, **target_kw) -> dict:
    return run(build_target(url=url, **target_kw), options)


def statuses(res: dict) -> dict:
    return {k: r.status for k, r in res.items()}


def quirky_route(*, scale: float = 1.0, nondeterministic: bool = False, batch_differs: bool = False, count=None):
    """An OpenAI-style server with one quirk; `count(text)` gives usage.prompt_tokens (a real tokenizer)."""
    calls = {"n": 0}

    def route(req: ps.Request) -> ps.Reply:
        if req.path == "/v1/models":
            return ps.Reply(200, {"object": "list", "data": [{"id": "m", "owned_by": "quirky", "max_model_len": 512}]})
        if req.path != "/v1/embeddings":
            return ps.Reply(200 if req.path == "/health" else 404, b"")
        body = req.json() or {}
        inp = body.get("input")
        items = inp if isinstance(inp, list) else [inp]
        calls["n"] += 1
        out = ps.embeddings_body(inp, 64)
        for i, d in enumerate(out["data"]):
            seed = items[i] + (f"#{calls['n']}" if nondeterministic else "") + ("#batch" if batch_differs and isinstance(inp, list) else "")
            d["embedding"] = [x * scale for x in ps.unit_vector(seed, 64)]
        if count is not None:
            out["usage"]["prompt_tokens"] = sum(count(x) for x in items)
        return ps.Reply(200, out)

    return route


def _default_embeddings(req: ps.Request) -> ps.Reply:
    body = req.json() or {}
    return ps.Reply(200, ps.embeddings_body(body.get("input"), 64, "/models/Qwen3-Embedding-0.6B"))


def sglang_like(version: str, *, embeddings=None, health: ps.Reply | None = None):
    """A minimal SGLang of a given release (what /get_server_info reports), on the pre-0.5.6 route names."""

    def route(req: ps.Request) -> ps.Reply:
        p = req.path
        if p == "/v1/models":
            return ps.Reply(200, {"object": "list", "data": [{"id": "m", "owned_by": "sglang", "max_model_len": 512}]})
        if p == "/get_model_info":
            return ps.Reply(200, {"model_path": "/models/Qwen3-Embedding-0.6B", "is_generation": False})
        if p == "/get_server_info":
            return ps.Reply(200, {"version": version, "context_length": 512})
        if p == "/health":
            return health or ps.Reply(200, b"")
        if p == "/v1/embeddings" and req.method == "POST":
            return (embeddings or _default_embeddings)(req)
        return ps.Reply(404, {"detail": "Not Found"})

    return route


def vllm_like(version: str, *, embeddings=None):
    """A minimal vLLM of a given release (what /version reports)."""

    def route(req: ps.Request) -> ps.Reply:
        p = req.path
        if p == "/v1/models":
            return ps.Reply(200, {"object": "list", "data": [{"id": "m", "owned_by": "vllm", "max_model_len": 512}]})
        if p == "/version":
            return ps.Reply(200, {"version": version})
        if p == "/health":
            return ps.Reply(200, b"")
        if p == "/v1/embeddings" and req.method == "POST":
            return (embeddings or _default_embeddings)(req)
        return ps.Reply(404, {"detail": "Not Found"})

    return route
