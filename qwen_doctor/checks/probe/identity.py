"""probe.identity: who answers (kind, release, served names, context length), and in which mode."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ...probe import find_key
from ...results import Fix, Outcome, Status
from ...spec import check
from ...versions import Behaviour, rows
from ._common import REACHABLE, Budget, applies, client, halted
from ._diagnose import auth_outcome, embedding_mode_fix, model_mismatch, network_failure

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...probe.http import Reply

#: the route of SGLang's model info (the other one is tried when the first answers 404)
SGLANG_MODEL_INFO_ROUTES: Behaviour[tuple[str, str]] = Behaviour(
    "sglang.model-info-route",
    "Where SGLang reports is_generation and the server args: /model_info and /server_info from 0.5.6 (the /get_* names stay as aliases).",
    rows(
        "sglang",
        "python/sglang/srt/entrypoints/http_server.py at v0.5.6 (shared/reference/sglang.md 5)",
        (">=0.5.6", ("/model_info", "/server_info")),
        ("<0.5.6", ("/get_model_info", "/get_server_info")),
    ),
)
_ALT = {"/model_info": "/get_model_info", "/get_model_info": "/model_info", "/server_info": "/get_server_info", "/get_server_info": "/server_info"}
#: /server_info keys -> evidence keys
_SERVER_INFO = {
    "version": "server_version",
    "context_length": "context_length",
    "max_total_num_tokens": "kv_capacity",
    "max_req_input_len": "max_req_input_len",
    "allow_auto_truncate": "allow_auto_truncate",
    "is_embedding": "is_embedding",
}
#: /model_info `embedding` object (SGLang 0.5.23) -> evidence keys
_EMBEDDING_INFO = {
    "enabled": "embedding_enabled",
    "requires_embedding_flag": "requires_embedding_flag",
    "normalize": "embedding_normalize",
    "supports_dimensions": "supports_dimensions",
    "task": "embedding_task",
}


@check(
    "probe.identity",
    "Server identity, served name, embedding mode",
    applies=applies,
    requires=REACHABLE,
    reads=("http", "server"),
    claims=(SGLANG_MODEL_INFO_ROUTES.id,),
)
def check_identity(ctx: "Context") -> Outcome:
    """What it checks: who answers: GET /v1/models (served names and max_model_len, compared with --model-name, the name clients send), SGLang's /model_info (>= 0.5.6; /get_model_info before), whose is_generation must be false (0.5.23 also reports an `embedding` object: enabled, normalize, supports_dimensions, and requires_embedding_flag, true for an architecture that is an embedding model only with --is-embedding), and /server_info, vLLM's /version, TEI's /info (no /v1/models there); from these, the server kind and version.

    Why it matters: a server that loaded the model as a generator starts fine and fails every embeddings request; SGLang says so in /model_info (is_generation true without --is-embedding: Qwen3ForCausalLM is never auto-detected, python/sglang/srt/configs/model_config.py is_generation_model at v0.5.23). vLLM answers 404 "The model `X` does not exist." when clients send a name it does not serve (a trailing slash in --model-path becomes part of the served name); SGLang ignores the `model` field (sglang#4293) and answers with the model path in `model`. The reported max_model_len is the context length the long-input probe tests.

    How to fix: start SGLang with --is-embedding (vLLM: --runner pooling); make clients send the served name, or set --served-model-name to the name they send; pass --api-key when the server requires one.
    """
    stop = halted(ctx)  # the server stalled (consecutive timeouts) or the deadline is near
    if stop is not None:
        return stop
    o, t = ctx.options, ctx.target
    declared = t.server
    budget = Budget("probe.identity")
    ev: dict[str, Any] = {}
    kind: str | None = None
    problems: list[tuple[Status, str, Fix | None]] = []
    with client(ctx) as c:

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
                return auth_outcome(ctx, models, "GET /v1/models")
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
                problems.append(
                    (
                        Status.WARN,
                        f"/v1/models answered 200 but not an OpenAI model list ({models.json_failure.message if models.json_failure else models.snippet(80)})",
                        None,
                    )
                )
        elif models is not None and models.failure is not None and models.failure.kind.value in ("redirect", "stalled"):
            return network_failure(ctx, models, "GET /v1/models")
        elif models is not None:
            return Outcome.fail(f"GET /v1/models: {models.failure}", Fix("See probe.reachable."), failure=models.failure.kind.value if models.failure else None)
        if served:
            ev["served_names"] = served
        if owned_by in ("vllm", "sglang", "infinity"):
            kind = owned_by
        if owned_by:
            ev["owned_by"] = owned_by

        if kind == "sglang" or (kind is None and declared in (None, "sglang")):
            kind = _sglang_info(ctx, get, ev) or kind
        if (kind == "vllm" or (kind is None and declared in (None, "vllm"))) and "server_version" not in ev:
            vr = get("/version")
            vb = vr.json() if vr is not None and vr.status == 200 else None
            if isinstance(vb, dict) and isinstance(vb.get("version"), str):
                ev["server_version"] = vb["version"]
                if kind is None and served:
                    kind = "vllm"
        if kind is None and (declared in (None, "tei") or not served):
            info = get("/info")  # TEI: requires the key when the server has one
            if info is not None and info.status == 401:
                return auth_outcome(ctx, info, "GET /info")
            ib = info.json() if info is not None and info.status == 200 else None
            if isinstance(ib, dict) and "model_id" in ib:
                kind = "tei"
                for k, name in (("model_id", "model_id"), ("max_input_length", "max_input_length"), ("auto_truncate", "auto_truncate"), ("max_batch_tokens", "tei_max_batch"),
                                ("max_client_batch_size", "max_client_batch_size"), ("model_type", "model_type"), ("served_model_name", "served_model_name")):  # fmt: skip
                    if ib.get(k) is not None:
                        ev[name] = ib[k]
                if isinstance(ib.get("version"), str):
                    ev["server_version"] = ib["version"]
                if not served:
                    ev["served_names"] = served = [str(ib.get("served_model_name") or ib["model_id"])]
    if kind:
        ev["server_kind"] = kind
    version = ev.get("server_version") if isinstance(ev.get("server_version"), str) else None

    if ev.get("is_generation") is True:
        flag, fix = embedding_mode_fix(ctx, "sglang")
        route = ev.get("model_info_route", "/model_info")
        flagged = " and embedding.enabled=false" if ev.get("embedding_enabled") is False else ""
        return Outcome.fail(
            f'SGLang reports is_generation=true ({route}){flagged}: the model runs as a generator, so /v1/embeddings answers 400 "This model does not appear to be an embedding model by default"; it was started without {flag}',
            fix,
            **ev,
            missing_flag=flag,
            launch_check="launch.embedding-mode",
        )
    mt = ev.get("model_type")
    if kind == "tei" and isinstance(mt, dict) and "embedding" not in mt:
        problems.append(
            (
                Status.FAIL,
                f"TEI serves the model as {', '.join(mt)} (model_type {json.dumps(mt)}), not as an embedding model",
                Fix("Serve an embedding checkpoint (Qwen/Qwen3-Embedding-*) with last-token pooling."),
            )
        )
    if declared and kind and declared != kind:
        problems.append((Status.WARN, f"the URL answers like {kind}, not {declared} as given: is this the server you meant?", None))
    sent = o.model_name
    if sent and served and sent not in served:
        problems.append(_name_problem(ctx, sent, served, kind))
    t_served = t.option("served_model_name") if t.launch is not None and t.given("served_model_name") else None
    if isinstance(t_served, (list, tuple)):
        t_served = t_served[0] if t_served else None
    if t_served and served and t_served not in served:
        problems.append(
            (
                Status.WARN,
                f"the launch command sets --served-model-name {t_served}, but the running server serves {', '.join(served)}: a different deployment, or an older launch?",
                None,
            )
        )
    summary = _summary(kind, version, served, ev)
    if not kind and not served:
        problems.append(
            (
                Status.WARN,
                "could not identify the server: no /v1/models, /model_info, /version or /info answered",
                Fix("Check that --url is the server root of SGLang, vLLM or TEI."),
            )
        )
    if problems:
        worst = max(problems, key=lambda p: p[0].rank)
        text = summary + ". " + " ".join(p[1] for p in problems)
        fix = next((p[2] for p in problems if p[2] is not None and p[0] == worst[0]), None) or next((p[2] for p in problems if p[2] is not None), None)
        if worst[0] == Status.FAIL:
            return Outcome.fail(text, fix, **ev)
        return Outcome.warn(text, fix, **ev)
    return Outcome.passed(summary, **ev)


def _sglang_info(ctx: "Context", get: Any, ev: dict[str, Any]) -> str | None:
    """SGLang's model and server info into ``ev``; "sglang" when the server answered like SGLang."""
    sf = ctx.server if ctx.server is not None and ctx.server.kind == "sglang" else None
    first_mi, first_si = (sf.at(SGLANG_MODEL_INFO_ROUTES) if sf is not None else None) or SGLANG_MODEL_INFO_ROUTES.rows[0].value
    mi = get(first_mi)
    if mi is not None and mi.status == 404:
        mi = get(_ALT[first_mi])
    mib = mi.json() if mi is not None and mi.status == 200 else None
    if not (isinstance(mib, dict) and "is_generation" in mib):
        return None
    ev["model_info_route"] = mi.path
    ev["is_generation"] = bool(mib.get("is_generation"))
    for k in ("model_path", "served_model_name", "architectures"):
        if mib.get(k) is not None:
            ev[k] = mib[k]
    emb = mib.get("embedding")
    if isinstance(emb, dict):
        for k, name in _EMBEDDING_INFO.items():
            v = emb.get(k)
            if v is not None and not isinstance(v, (dict, list)):
                ev[name] = v
    si = get(first_si)
    if si is not None and si.status == 404:
        si = get(_ALT[first_si])
    sib = si.json() if si is not None and si.status == 200 else None
    if isinstance(sib, dict):
        for k, name in _SERVER_INFO.items():
            v = find_key(sib, k)
            if v is not None and not isinstance(v, (dict, list)):
                ev[name] = v
    return "sglang"


def _name_problem(ctx: "Context", sent: str, served: list[str], kind: str | None) -> tuple[Status, str, Fix | None]:
    hint, fix = model_mismatch(ctx, sent, served, kind)
    names = ", ".join(repr(s) for s in served)
    if kind == "sglang":
        return (
            Status.WARN,
            f"clients send model '{sent}' but the server serves {names}; SGLang ignores the `model` field, so requests still work here (they would fail on vLLM).{hint}",
            fix,
        )
    if kind == "infinity":
        return Status.WARN, f"clients send model '{sent}' but the server serves {names}; infinity answers any name with its only model.{hint}", fix
    if kind == "vllm":
        return (
            Status.FAIL,
            f"clients send model '{sent}' but the server serves {names}: vLLM answers 404 \"The model `{sent}` does not exist.\" to every request.{hint}",
            fix,
        )
    return (
        Status.WARN,
        f"clients send model '{sent}' but the server serves {names}: a server that checks the name (vLLM does) refuses every request (probe.embeddings shows what this one does).{hint}",
        fix,
    )


def _summary(kind: str | None, version: str | None, served: list[str], ev: dict[str, Any]) -> str:
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
    return desc + (": " + ", ".join(facts) if facts else "")
