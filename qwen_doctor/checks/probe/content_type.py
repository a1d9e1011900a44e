"""probe.content-type: how the server treats a JSON body sent without `Content-Type: application/json`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ...probe import UNSUPPORTED_MEDIA
from ...results import Outcome, Status
from ...spec import check
from ._common import REACHABLE, TEXT_A, Budget, applies, client, embed_body, embeddings_work, halted

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


@check(
    "probe.content-type",
    "Behaviour without the JSON content type",
    severity=Status.WARN,
    applies=applies,
    requires=REACHABLE,
    uses=("probe.embeddings", "probe.dimensions"),
    reads=("http",),
)
def check_content_type(ctx: "Context") -> Outcome:
    """What it checks: how the server treats a JSON body sent without the `Content-Type: application/json` header (informational; the probe itself always sends it).

    Why it matters: SGLang >= 0.4.9 (http_server.py validate_json_request, verified on 0.5.23) and vLLM answer 400 "Unsupported Media Type: Only 'application/json' is allowed" (a 400, not a 415); FastAPI-style servers (infinity) answer 422; older SGLang accepted it. A client library or curl command that omits the header then fails with a message about media types, not about the model.

    How to fix: always send `Content-Type: application/json` (curl -H 'Content-Type: application/json'; `requests.post(..., json=...)` sets it).
    """
    stop = halted(ctx)  # the server stalled (consecutive timeouts) or the deadline is near
    if stop is not None:
        return stop
    skip = embeddings_work(ctx)
    if skip:
        return Outcome.skip(skip)
    budget = Budget("probe.content-type")
    raw = json.dumps(embed_body(ctx, TEXT_A)).encode()
    with client(ctx) as c:
        r = c.request("POST", "/v1/embeddings", content=raw, read_timeout=budget.read(ctx.options.probe_timeout))
    ev: dict[str, Any] = {"http_status": r.status}
    if r.failure is not None:
        return Outcome.warn(f"request without Content-Type: {r.failure}", None, **ev)
    msg = r.message(200)
    if r.status == 200:
        return Outcome.passed("accepts a JSON body without Content-Type: application/json (lenient; clients should still send it)", **ev)
    if r.status == 400 and UNSUPPORTED_MEDIA in msg.lower():
        return Outcome.passed(
            f'rejects a body without Content-Type: application/json with HTTP 400 (not 415): "{msg}"; clients must send the header', **ev, server_message=msg
        )
    if r.status in (415, 422, 400):
        return Outcome.passed(
            f'rejects a body without Content-Type: application/json with HTTP {r.status}: "{msg}"; clients must send the header', **ev, server_message=msg
        )
    if r.status == 401:
        return Outcome.skip("the server requires an API key (see probe.embeddings)", **ev)
    return Outcome.warn(f'a body without Content-Type gets HTTP {r.status}: "{msg}"', None, **ev, server_message=msg)
