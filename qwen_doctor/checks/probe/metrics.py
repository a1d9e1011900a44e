"""probe.metrics: the server's own Prometheus metrics, read twice, turned into verdicts that name the launch setting."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ...results import Applicability, Fix, Outcome, Status
from ...spec import check
from . import _metrics as M
from ._common import REACHABLE, Budget, applies, halted, kind, launch_fix, live_server
from ._local import context_length

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

BACKLOG_RATIO = 1.0  # waiting / running at or above this (and at least one waiting, on average) is a backlog
ERROR_SHARE = 0.05  # failed + aborted requests at or above this share of the window's requests
QUEUE_SHARE = 0.5  # mean queue time at or above this share of the mean end-to-end time ...
QUEUE_MIN_S = 0.05  # ... and at least this long
SLOW_P95_S = 2.0  # end-to-end p95 certainly above this (the bucket's lower bound): slow
CACHE_NEAR = 0.9  # KV cache / token pool usage at or above this
LONG_SHARE = 0.5  # prompt tokens per request (p95, else mean) at or above this share of the context length

#: the launch settings that govern each verdict, per server: (option as written, dest)
GOVERN = {
    "vllm": {
        "requests": ("--max-num-seqs", "max_num_seqs"),
        "tokens": ("--max-num-batched-tokens", "max_num_batched_tokens"),
        "memory": ("--gpu-memory-utilization", "gpu_memory_utilization"),
    },
    "sglang": {
        "requests": ("--max-running-requests", "max_running_requests"),
        "tokens": ("--chunked-prefill-size", "chunked_prefill_size"),
        "memory": ("--mem-fraction-static", "mem_fraction_static"),
        "pool": ("--max-total-tokens", "max_total_tokens"),
    },
    "tei": {
        "requests": ("--max-batch-requests", "max_batch_requests"),
        "tokens": ("--max-batch-tokens", "max_batch_tokens"),
        "admission": ("--max-concurrent-requests", "max_concurrent_requests"),
    },
}
SERVER_NAME = {"vllm": "vLLM", "sglang": "SGLang", "tei": "TEI"}


@check(
    "probe.metrics",
    "The server's own metrics: backlog, errors, latency, cache, long inputs",
    applies=applies,
    requires=REACHABLE,
    # after the probe's own requests: the window then sees the server's traffic, not the doctor's
    uses=("probe.identity", "probe.embeddings", "probe.dimensions", "probe.content-type", "probe.latency", "probe.long-input"),
    reads=("http", "server", "model"),
    severity=Status.WARN,
    claims=(M.NAMES, M.ENDPOINTS, M.SGLANG_METRICS_OFF.id, M.VLLM_NO_STATS.id, M.TEI_OVERLOADED.id),
)
def check_metrics(ctx: "Context") -> Outcome:
    """What it checks: the server's own Prometheus metrics (vLLM `/metrics`, always on; SGLang `/metrics` with `--enable-metrics`; TEI `/metrics`, also on `--prometheus-port`, default 9000), read twice `--metrics-interval` seconds apart (1.5 s) with a timeout and a 4 MiB cap, and parsed with a real Prometheus parser. From the difference: requests waiting versus running (a backlog), failed and aborted requests as a share of the window's requests, end-to-end and queue latency percentiles from the histograms, KV cache / token pool usage near its limit, preemptions (vLLM) and retractions (SGLang), and prompt tokens per request against the context length.

    Why it matters: on call, the server is up but embeddings are slow, time out or fail. Requests queue when the engine's batch is full: `--max-num-seqs` / `--max-num-batched-tokens` (vLLM, vllm/v1/core/sched/scheduler.py), `--max-running-requests` / `--chunked-prefill-size` / `--max-total-tokens` (SGLang, srt/managers/scheduler.py), `--max-batch-requests` / `--max-batch-tokens` (TEI, core/src/queue.rs; `--max-concurrent-requests` refuses the rest with 429 "overloaded", router/src/http/server.rs). Long inputs take the whole token budget of a step, so short requests wait behind them. Metric names per release: vllm/v1/metrics/loggers.py at v0.32.0, sglang srt/observability/metrics_collector.py at v0.5.23 (both checked against the real servers' /metrics), TEI router/src/http/server.rs, core/src/queue.rs, core/src/infer.rs at v1.7.2 - v1.9.2. SGLang serves /metrics only with --enable-metrics (srt/entrypoints/http_server.py; 404 without it, verified on 0.5.23). vLLM started with --disable-log-stats serves /metrics without its engine metrics (vllm/v1/engine/async_llm.py at v0.32.0: no stat loggers).
    Where a server publishes no queue-time histogram (SGLang 0.5.23), the time requests spend queued is estimated with
    Little's law: the time a request runs is the mean number running divided by the requests per second, and the rest
    of its mean end-to-end time is queueing.

    How to fix: each verdict names the setting that governs it and, where the launch command is known, prints it corrected (a starting point: doubled limits cost memory; watch the cache usage after the change, or add replicas). SGLang: add --enable-metrics. vLLM: drop --disable-log-stats.
    """
    stop = halted(ctx)
    if stop is not None:
        return stop
    k = kind(ctx)
    sf = live_server(ctx)
    budget = Budget("probe.metrics")
    interval = max(0.1, float(ctx.options.metrics_interval))
    read_t = max(0.5, min(float(ctx.options.probe_timeout), 10.0))
    tried: list[str] = []
    first = None
    base_used = None
    where = (sf.at(M.ENDPOINTS) if sf is not None else None) or M.ENDPOINTS.at(k, None) or ""
    if k is not None and not where:  # a release the table has no row for: the newest row's behaviour
        where = next((r.value for r in M.ENDPOINTS if r.server == k), "")
    for base, why_here in _endpoints(ctx, k, where):
        with M.client(ctx, base, read_t) as c:
            r, s, why = M.fetch(c, read_timeout=budget.read(read_t))
        tried.append(f"{base}/metrics ({why_here}): {why or 'ok'}")
        if s is not None:
            first, base_used = s, base
            break
        if r.status == 404 and where == "enable-metrics":
            return _sglang_off(ctx, sf)
    ev: dict[str, Any] = {"endpoints_tried": tried, "interval_s": interval}
    if first is None:
        return _unreadable(ctx, k, tried, ev)
    dialect = M.dialect_of(first) or (k if k in M.BY_DIALECT else None)
    ev.update(metrics_url=f"{base_used}/metrics", dialect=dialect, bytes=first.size)
    if dialect is None:
        return Outcome.warn(
            f"{base_used}/metrics answers, but with no vllm:, sglang: or te_ metrics: not a vLLM, SGLang or TEI server's own metrics",
            Fix("Point --url at the server itself, not a proxy or another exporter."),
            **ev,
        )
    names, row = M.names_for(dialect, sf.version if sf is not None and sf.kind == dialect else None)
    ev["names_source"] = row.source if row is not None else ""
    if dialect == "vllm" and first.first(names.running) is None:
        return _vllm_no_stats(ctx, sf, base_used or "", ev)
    reads = [first]
    with M.client(ctx, base_used or "", read_t) as c:
        for _ in range(2):
            wait = min(interval / 2, budget.left() - read_t - 1)
            if wait <= 0:
                break
            time.sleep(wait)
            _, s, why = M.fetch(c, read_timeout=budget.read(read_t))
            if s is None:
                ev["later_read_failed"] = why
                break
            reads.append(s)
    verdicts = _verdicts(ctx, dialect, names, reads, ev)
    return _outcome(ctx, dialect, verdicts, reads, ev)


def _endpoints(ctx: "Context", k: str | None, where: str) -> list[tuple[str, str]]:
    """The base URLs to read /metrics from, in order (``where``: the ENDPOINTS behaviour of the server)."""
    base = (ctx.target.url or "").rstrip("/")
    out = [(base, "the server's port")]
    if where == "prometheus-port":
        port = ctx.target.option("prometheus_port", 9000) if ctx.target.server == "tei" else 9000
        p = urlsplit(base)
        host = p.hostname or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        try:
            other = urlunsplit((p.scheme or "http", f"{host}:{int(port)}", "", "", ""))
        except (TypeError, ValueError):
            other = None
        if other and other != base:
            out.append((other, f"TEI --prometheus-port {port}"))
    return out


def _sglang_off(ctx: "Context", sf: Any) -> Outcome:
    said = ctx.claim("sglang.metrics-need-enable-metrics", server=sf) or "SGLang's /metrics needs --enable-metrics"
    text = (
        f"SGLang's metrics are off: /metrics answers 404 ({said}). "
        "Add --enable-metrics to see queue, latency, errors and token-pool usage (the doctor's and your monitoring's)."
    )
    return Outcome.warn(text, launch_fix(ctx, "sglang", text, {"--enable-metrics": None}), metrics="off", setting="--enable-metrics")


def _vllm_no_stats(ctx: "Context", sf: Any, base: str, ev: dict[str, Any]) -> Outcome:
    given = ctx.target.launch is not None and ctx.target.server == "vllm" and ctx.target.given("disable_log_stats")
    why = "it was started with --disable-log-stats" if given else "the server was most likely started with --disable-log-stats"
    said = ctx.claim("vllm.disable-log-stats-no-engine-metrics", server=sf)
    text = f"vLLM's {base}/metrics has no vllm: engine metrics (only HTTP ones): {why}" + (f" ({said})" if said else "") + ". Drop --disable-log-stats."
    fix = launch_fix(ctx, "vllm", text, drop_dest="disable_log_stats") if given else Fix(text)
    return Outcome.warn(text, fix, metrics="engine-off", setting="--disable-log-stats", **ev)


def _unreadable(ctx: "Context", k: str | None, tried: list[str], ev: dict[str, Any]) -> Outcome:
    what = "; ".join(tried)
    hint = "The doctor cannot settle the server's load without them."
    if k == "tei":
        hint += " TEI serves them on --prometheus-port (default 9000): make it reachable from here."
    elif k is None and any(": HTTP 404" in x for x in tried):
        hint += " If this is SGLang, start it with --enable-metrics (it serves /metrics only then)."
    return Outcome.warn(f"cannot read the server's metrics: {what}", Fix(hint), metrics="unreadable", **ev)


# -- verdicts -----------------------------------------------------------------------------------------------


def _verdicts(ctx: "Context", dialect: str, names: M.Names, reads: list[M.Scrape], ev: dict[str, Any]) -> list[dict[str, Any]]:
    a, b = reads[0], reads[-1]
    span = max(1e-6, b.at - a.at) if len(reads) > 1 else 0.0
    ev["window_s"] = round(span, 3)
    out: list[dict[str, Any]] = []
    running, waiting = M.gauge_mean(reads, names.running), M.gauge_mean(reads, names.waiting)
    run_max = M.gauge_max(reads, names.running)
    ev.update(running=_r(running), waiting=_r(waiting))
    if waiting is not None and running is not None:
        ratio = waiting / max(running, 1.0)
        ev["backlog_ratio"] = _r(ratio)
        if waiting >= 1 and ratio >= BACKLOG_RATIO:
            out.append(_backlog(ctx, dialect, running, waiting, run_max or 0.0))
    reqs = M.requests_window(a, b, dialect) if span else None
    if reqs is not None:
        ev["requests"] = {k: int(v) for k, v in reqs.items()}
        if span:
            ev["requests_per_s"] = _r(reqs["total"] / span)
        bad = reqs["failed"] + reqs["aborted"] + reqs["overloaded"]
        if reqs["total"] > 0:
            ev["error_ratio"] = _r(bad / reqs["total"], 4)
            if bad >= 1 and bad / reqs["total"] >= ERROR_SHARE:
                out.append(_errors(ctx, dialect, reqs, bad))
    e2e = M.hist_delta(M.hist(a, names.e2e), M.hist(b, names.e2e)) if span else None
    queue = M.hist_delta(M.hist(a, names.queue), M.hist(b, names.queue)) if span else None
    if e2e is not None and e2e.count > 0:
        qs = {p: M.quantile(e2e, p / 100) for p in (50, 95, 99)}
        ev.update({f"e2e_p{p}": M.show_q(q) for p, q in qs.items()})
        ev["e2e_p95_s"] = _r(qs[95].value, 4) if qs[95] else None
        ev["e2e_mean_s"] = _r(e2e.mean, 4)
        if qs[95] is not None and qs[95].low >= SLOW_P95_S:
            out.append(_slow(ctx, dialect, ev["e2e_p95"]))
    if queue is not None and queue.count > 0:
        q95 = M.quantile(queue, 0.95)
        ev.update(queue_p95=M.show_q(q95), queue_p95_s=_r(q95.value, 4) if q95 else None, queue_mean_s=_r(queue.mean, 4))
        em = e2e.mean if e2e is not None else None
        if queue.mean is not None and em and queue.mean >= QUEUE_MIN_S and queue.mean / em >= QUEUE_SHARE:
            out.append(_queueing(ctx, dialect, queue.mean, em, ev.get("queue_p95", "n/a"), run_max or 0.0))
    elif e2e is not None and e2e.count > 0 and e2e.mean and running is not None and waiting and ev.get("requests_per_s"):
        # no queue-time histogram (SGLang 0.5.23): Little's law gives the time a request spends running,
        # mean running / throughput; the rest of its end-to-end time it waited in the queue
        service = running / ev["requests_per_s"]
        qmean = max(0.0, e2e.mean - service)
        ev.update(queue_mean_s=_r(qmean, 4), queue_estimate="Little's law: end-to-end mean - mean running / requests per second")
        if qmean >= QUEUE_MIN_S and qmean / e2e.mean >= QUEUE_SHARE:
            out.append(_queueing(ctx, dialect, qmean, e2e.mean, "n/a (estimated with Little's law)", run_max or 0.0))
    usage = M.gauge_max(reads, names.usage)
    if usage is not None:
        ev["cache_usage"] = _r(usage, 4)
        if usage >= CACHE_NEAR:
            out.append(_cache(ctx, dialect, usage))
    pre = M.counter_delta(a, b, a.first(names.preempt)) if span and names.preempt else None
    now = pre is None and bool(names.preempt_gauge)  # SGLang 0.5.23: only a gauge of the requests retracted now
    if now:
        pre = M.gauge_max(reads, names.preempt_gauge)
    if pre is not None:
        ev["preemptions"] = int(pre)
        if pre >= 1:
            out.append(_preempted(ctx, dialect, pre, "at once" if now else f"in {span:.1f} s"))
    long_v = _long_inputs(ctx, dialect, names, a, b, reqs, ev) if span else None
    if long_v is not None:
        out.append(long_v)
    return out


def _opt(ctx: "Context", dialect: str, role: str) -> tuple[str, int | None]:
    """(the option as written, its value in the launch command or the release's default) for a governing setting."""
    opt, dest = GOVERN[dialect][role]
    t = ctx.target
    value = None
    if t.server == dialect:
        from ...facts import as_int

        value = as_int(t.option(dest))
    return opt, value


def _raise(ctx: "Context", dialect: str, role: str, current: int | None) -> tuple[str, dict[str, str]]:
    opt, value = _opt(ctx, dialect, role)
    cur = value or current
    if not cur or cur < 1:
        return opt, {}
    return opt, {opt: str(int(cur) * 2)}


def _verdict(vid: str, setting: str, text: str, advice: str, set_options: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": vid, "setting": setting, "text": text, "advice": advice, "set_options": dict(set_options or {}), **extra}


def _backlog(ctx: "Context", dialect: str, running: float, waiting: float, run_max: float) -> dict[str, Any]:
    """The request limit governs a backlog. The running gauge is a snapshot taken between steps (vLLM 0.32 on CPU
    shows 0 running with 10 waiting), so fewer seen running than the limit does not prove the token budget is what
    fills the batch: both are named then, and the request limit is the one corrected."""
    opt, limit = _opt(ctx, dialect, "requests")
    tok, tok_value = _opt(ctx, dialect, "tokens")
    if dialect == "tei" and limit is None:  # --max-batch-requests is optional: without it TEI batches by tokens only
        setting, edits = _raise(ctx, dialect, "tokens", None)
        why = f"the batch is full at {tok}{f' {tok_value}' if tok_value else ''} ({opt} is not set)"
        advice = f"raise {tok} if the accelerator has headroom, else add replicas"
        return _verdict("backlog", setting, f"backlog: {_n(waiting)} requests waiting vs {_n(running)} in the batch on average; {why}", advice, edits)
    setting, edits = _raise(ctx, dialect, "requests", int(run_max) if run_max >= 1 else None)
    if limit and 1 <= run_max < limit:
        why = (
            f"the batch holds {opt} {limit} requests and {tok} tokens, and at most {_n(run_max)} were seen running: long inputs may fill the token budget first"
        )
        advice = (
            f"raise {opt} (and {tok} when long inputs fill it) if the accelerator has headroom (cache usage well below {CACHE_NEAR:.0%}), else add replicas"
        )
    else:
        where = f"{opt} {limit}" if limit else f"the limit in effect ({opt}; up to {_n(run_max)} seen running)"
        why = f"the batch is full at {where}"
        advice = f"raise {opt} if the accelerator has headroom (cache usage well below {CACHE_NEAR:.0%}), else add replicas"
    return _verdict("backlog", setting, f"backlog: {_n(waiting)} requests waiting vs {_n(running)} running on average; {why}", advice, edits)


def _queueing(ctx: "Context", dialect: str, qmean: float, emean: float, q95: str, run_max: float) -> dict[str, Any]:
    _, limit = _opt(ctx, dialect, "requests")
    role = "tokens" if dialect == "tei" and limit is None else "requests"  # TEI without --max-batch-requests: tokens
    setting, edits = _raise(ctx, dialect, role, int(run_max) if run_max >= 1 and role == "requests" else None)
    text = f"latency is queueing: requests wait {qmean * 1000:.0f} ms on average in the queue ({qmean / emean:.0%} of their {emean * 1000:.0f} ms end to end; queue p95 {q95})"
    return _verdict("queueing", setting, text, f"raise {setting} (bigger batches) or add replicas", edits)


def _slow(ctx: "Context", dialect: str, p95: str) -> dict[str, Any]:
    opt, _ = _opt(ctx, dialect, "tokens")
    text = f"slow: end-to-end p95 {p95} (over {SLOW_P95_S:g} s) in the window"
    return _verdict("slow", opt, text, f"long prefills hold the engine: check {opt} and the input lengths clients send")


def _errors(ctx: "Context", dialect: str, reqs: dict[str, float], bad: float) -> dict[str, Any]:
    parts = [f"{int(reqs[k])} {k}" for k in ("failed", "aborted", "overloaded") if reqs[k]]
    text = f"errors: {bad / reqs['total']:.0%} of {int(reqs['total'])} requests in the window ({', '.join(parts)})"
    if dialect == "tei" and reqs["overloaded"]:
        setting, edits = _raise(ctx, dialect, "admission", None)
        said = ctx.claim("tei.overloaded-429", server=live_server(ctx)) or f"TEI refused requests for capacity ({setting})"
        return _verdict("errors", setting, f"{text}: {said}", f"raise {setting}, or spread the load over replicas", edits)
    opt, _ = _opt(ctx, dialect, "requests")
    advice = (
        "aborted requests are clients that gave up (their timeout is shorter than the queue wait): see the backlog"
        if reqs["aborted"]
        else "see the server log for the failures"
    )
    return _verdict("errors", opt, text, advice)


def _cache(ctx: "Context", dialect: str, usage: float) -> dict[str, Any]:
    what = {"vllm": "KV cache", "sglang": "token pool (KV cache)", "tei": "batch"}[dialect]
    opt, _ = _opt(ctx, dialect, "memory" if dialect != "tei" else "tokens")
    req, _ = _opt(ctx, dialect, "requests")
    text = f"{what} {usage:.0%} used: near its limit, new requests wait for room (and long ones may be preempted)"
    return _verdict("cache", opt, text, f"give the cache more memory ({opt}) or admit fewer requests at once ({req})")


def _preempted(ctx: "Context", dialect: str, n: float, when: str) -> dict[str, Any]:
    what = "retracted" if dialect == "sglang" else "preempted"
    opt, _ = _opt(ctx, dialect, "memory")
    req, _ = _opt(ctx, dialect, "requests")
    text = f"{int(n)} requests {what} {when}: the cache ran out and their work is redone"
    return _verdict("preemptions", opt, text, f"give the cache more memory ({opt}) or lower {req}")


def _long_inputs(
    ctx: "Context", dialect: str, names: M.Names, a: M.Scrape, b: M.Scrape, reqs: dict[str, float] | None, ev: dict[str, Any]
) -> dict[str, Any] | None:
    h = M.hist_delta(M.hist(a, names.prompt_hist), M.hist(b, names.prompt_hist))
    mean = h.mean if h is not None and h.count > 0 else None
    p95 = M.quantile(h, 0.95) if mean is not None else None
    if mean is None and names.prompt_total and reqs and reqs["total"] > 0:
        tok = M.counter_delta(a, b, a.first(names.prompt_total))
        mean = tok / reqs["total"] if tok is not None else None
    if mean is None:
        return None
    ev["prompt_tokens_mean"] = _r(mean, 1)
    if p95 is not None:
        ev["prompt_tokens_p95"] = M.show_q(p95, "tokens")
    clen, src = context_length(ctx)
    if not clen:
        return None
    ev["context_length"] = clen
    long_at = LONG_SHARE * clen
    # the mean is exact (sum / count); a histogram bucket only bounds the p95 from below
    seen, what = (p95.low, f"p95 at least {p95.low:.0f}, mean {mean:.0f}") if p95 is not None and p95.low > mean else (mean, f"mean {mean:.0f}")
    if seen < long_at:
        return None
    opt, _ = _opt(ctx, dialect, "tokens")
    text = f"long inputs: {what} tokens per request against a context length of {clen} ({src}); each takes much of a step's token budget"
    return _verdict("long-inputs", opt, text, f"check {opt} against the input lengths, and have clients chunk long documents")


def _outcome(ctx: "Context", dialect: str, verdicts: list[dict[str, Any]], reads: list[M.Scrape], ev: dict[str, Any]) -> Outcome:
    name = SERVER_NAME.get(dialect, dialect)
    how = f"read {len(reads)} times over {ev.get('window_s', 0):.1f} s" if len(reads) > 1 else "read once (no rates)"
    numbers = _numbers(ev)
    if not ev.get("requests", {}).get("total") and len(reads) > 1:
        numbers = "no requests finished in the window" + (f"; {numbers}" if numbers else "")
    ev["verdicts"] = [{k: v for k, v in x.items() if k != "set_options"} for x in verdicts]
    if not verdicts:
        return Outcome.passed(f"{name} metrics ({how}): {numbers or 'nothing to report'}", **ev)
    edits: dict[str, str] = {}
    for v in verdicts:
        for k2, val in v["set_options"].items():
            edits.setdefault(k2, val)
    text = "; ".join(f"{v['text']} -> {v['advice']} ({v['setting']})" for v in verdicts)
    fix = launch_fix(ctx, dialect, text, edits or None, applicability=Applicability.UNSAFE) if edits else Fix(text)
    return Outcome.warn(f"{name} metrics ({how}): " + "; ".join(v["text"] for v in verdicts), fix, **ev)


def _r(v: float | None, nd: int = 2) -> float | None:
    return None if v is None else round(float(v), nd)


def _numbers(ev: dict[str, Any]) -> str:
    """A short 'what the metrics say' clause from the evidence."""
    parts = []
    if ev.get("requests_per_s"):
        parts.append(f"{_n(ev['requests_per_s'])} req/s")
    if ev.get("running") is not None:
        parts.append(f"running {_n(ev['running'])}, waiting {_n(ev.get('waiting') or 0)}")
    if ev.get("e2e_p95"):
        parts.append(f"e2e p95 {ev['e2e_p95']}")
    if ev.get("cache_usage") is not None:
        parts.append(f"cache {ev['cache_usage'] * 100:.0f}% used")
    return ", ".join(parts)


def _n(v: float) -> str:
    """A gauge average for people: 10.3, 2, 0.5."""
    return f"{v:.1f}".removesuffix(".0")
