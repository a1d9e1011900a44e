"""What the probe.* checks share: the HTTP client and its time budget, the server seen live, the request body,
and the corrected launch command.

Every request goes through :mod:`qwen_doctor.probe.http` (explicit connect/read timeouts, a time limit on the
whole answer, capped bodies, redirects not followed, classified errors, API key only in the Authorization header),
with one :class:`~qwen_doctor.probe.guard.RequestGuard` per target and run: after consecutive timeouts the server
counts as stalled and the checks not started yet SKIP (:func:`halted`) instead of each waiting out its own.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ...results import Applicability, Fix, Outcome
from ..timeouts import TIMEOUTS

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...facts import ServerFacts
    from ...probe.guard import RequestGuard
    from ...probe.http import ProbeClient

TEXT_A = "qwen-doctor live probe: the quick brown fox jumps over the lazy dog."
TEXT_B = "A second, different sentence about vector search and embeddings."

WHERE_LAUNCH = "see `qwen-doctor explain launch.embedding-mode`"
#: the checks every probe.* check but probe.reachable requires
REACHABLE = ("probe.reachable",)
#: the static checks whose results the probe reads after (ordering: the model facts are shared with them)
MODEL_USES = ("model.config", "tokenizer.load")


def applies(ctx: "Context") -> bool | str:
    if not ctx.target.url:
        return "no server URL to probe (give --url, or a launch command or --port of a running server)"
    return True


class Budget:
    """The time left to a check: every request's read timeout is capped by it."""

    def __init__(self, check_id: str) -> None:
        self.end = time.monotonic() + TIMEOUTS[check_id] - 3.0

    def left(self) -> float:
        return self.end - time.monotonic()

    def read(self, want: float) -> float:
        return max(0.2, min(want, self.left()))


def guard(ctx: "Context") -> "RequestGuard":
    """The request guard of this target in this run: shared by every probe.* check (consecutive timeouts, deadline)."""
    from ...probe.guard import RequestGuard

    return ctx.memo("probe.guard", lambda: RequestGuard(deadline_at=ctx.facts.deadline_at))


def halted(ctx: "Context") -> Outcome | None:
    """SKIP when no more requests go to this server: it stalled (consecutive timeouts) or the deadline is near."""
    why = guard(ctx).halted()
    if why is None:
        return None
    return Outcome.skip(why, stalled=guard(ctx).stalled)


def client(ctx: "Context", *, read_timeout: float | None = None, max_connections: int = 4) -> "ProbeClient":
    from ...probe.http import ProbeClient

    o = ctx.options
    return ProbeClient(
        ctx.target.url or "",
        api_key=o.api_key,
        connect_timeout=o.connect_timeout,
        read_timeout=o.probe_timeout if read_timeout is None else read_timeout,
        max_connections=max_connections,
        guard=guard(ctx),
    )


# -- the server seen live -----------------------------------------------------------------------------------


def kind(ctx: "Context") -> str | None:
    """The server kind: as probe.identity identified it, else as declared."""
    return ctx.evidence("probe.identity", "server_kind") or ctx.target.server


def live_server(ctx: "Context") -> "ServerFacts | None":
    """The facts of the server that answers: the target's own when probe.identity agrees (or saw no version), else
    the kind and release the server reported about itself. Behaviour tables are read at its release."""
    k = kind(ctx)
    if k is None:
        return None
    v = ctx.evidence("probe.identity", "server_version")
    sf = ctx.server
    if sf is not None and sf.kind == k and (not v or v == sf.version):
        return sf
    from ...facts.server import seen_server

    return seen_server(ctx.target, k, v if isinstance(v, str) and v else None, "reported by the running server")


def version(ctx: "Context") -> str | None:
    sf = live_server(ctx)
    return sf.version if sf is not None else None


def older_than_known(sf: "ServerFacts | None") -> str:
    """A clause for a release below every one the doctor knows ("" otherwise)."""
    if sf is None or not sf.below_known:
        return ""
    return f"{sf.describe()} is older than any release the doctor knows (the oldest is {sf.oldest_known})"


# -- requests -----------------------------------------------------------------------------------------------


def model_name(ctx: "Context") -> str | None:
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


def embed_body(ctx: "Context", inp: Any, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"input": inp}
    name = model_name(ctx)
    if name:
        body["model"] = name
    body.update(extra)
    return body


def embeddings_work(ctx: "Context") -> str | None:
    """None when probe.embeddings got a 200, else why the dependent check is skipped."""
    st = ctx.evidence("probe.embeddings", "http_status")
    if ctx.result("probe.embeddings") is None or st == 200:
        return None
    return f"embeddings requests fail (HTTP {st or 'no answer'}; see probe.embeddings)"


# -- fixes --------------------------------------------------------------------------------------------------


def launch_fix(
    ctx: "Context",
    server_kind: str | None,
    text: str,
    set_options: Mapping[str, str | None] | None = None,
    *,
    drop_dest: str | None = None,
    applicability: Applicability = Applicability.SAFE,
) -> Fix:
    """A fix with the target's launch command corrected (``ctx.relaunch``), when that command starts the server
    that answered (``server_kind``); display-only otherwise."""
    L = ctx.target.launch
    if L is None or (server_kind is not None and L.server != server_kind) or not (set_options or drop_dest):
        return Fix(text)
    drop: Sequence[Any] = ()
    if drop_dest is not None:
        drop = [o for o in (L.parsed.occurrences if L.parsed is not None else ()) if o.dest == drop_dest]
        if not drop and not set_options:
            return Fix(text)
    return ctx.relaunch.fix(text, set_options=set_options, drop=drop, applicability=applicability)
