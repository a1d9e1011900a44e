"""The on-call results in every format: probe.load's per-step table and knee, and probe.metrics' verdicts as gauges.

- Markdown: a table of the load steps (concurrency, requests/s, tokens/s, p50/p95/p99, errors) under the target.
- Prometheus (``--format prometheus`` and ``serve``'s /metrics): gauges of the knee point,
  ``qwen_doctor_load_knee_{concurrency,requests_per_second,tokens_per_second,p95_seconds}{target}``.
- ``serve``'s /metrics also: probe.metrics' readings and verdicts, so an alert can fire on them:
  ``qwen_doctor_server_backlog_ratio``, ``qwen_doctor_server_error_ratio``, ``qwen_doctor_server_latency_p95_seconds``
  ``{target,kind="e2e"|"queue"}``, ``qwen_doctor_server_cache_usage_ratio``, ``qwen_doctor_server_requests_per_second``
  and ``qwen_doctor_server_verdict{target,verdict,setting}`` (1 per verdict in the last run).

Results are read, never re-derived: everything here comes from the checks' evidence.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ..results import Result
from . import Report

LOAD_ID = "probe.load"
METRICS_ID = "probe.metrics"


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def load_table(results: Iterable[Result], esc: Callable[[object], str]) -> list[str]:
    """Markdown lines: the load probe's steps, when it ran on this target."""
    out: list[str] = []
    for r in results:
        steps = r.evidence.get("steps") if r.id == LOAD_ID else None
        if not isinstance(steps, list) or not steps:
            continue
        out += ["", f"#### Load probe ({esc(r.evidence.get('inputs', ''))})", ""]
        out += [
            "| concurrency | requests | req/s | tokens/s | p50 ms | p95 ms | p99 ms | error rate | server metrics |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for s in steps:
            if not isinstance(s, dict):
                continue
            m = s.get("metrics") or {}
            seen = ", ".join(_metric_cell(k, v) for k, v in m.items()) if isinstance(m, dict) else ""
            cells = [s.get(k) for k in ("concurrency", "requests", "rps", "tokens_per_s", "p50_ms", "p95_ms", "p99_ms", "error_rate")]
            out.append("| " + " | ".join(esc("-" if c is None else c) for c in cells) + f" | {esc(seen or '-')} |")
        knee = r.evidence.get("knee")
        out += ["", f"Knee: concurrency {esc(knee.get('concurrency'))}" if isinstance(knee, dict) else "No knee: no step completed without errors."]
        out.append(f"Stopped: {esc(r.evidence.get('stopped', ''))}")
    return out


def _metric_cell(key: str, value: Any) -> str:
    """One reading of the server's metrics during a step: ``requests 20 (2 failed)``, ``waiting_max 9``."""
    if isinstance(value, dict):
        total = value.get("total", 0)
        rest = ", ".join(f"{v} {k}" for k, v in value.items() if k != "total" and v)
        return f"{key} {total}" + (f" ({rest})" if rest else "")
    return f"{key} {value}"


def knee_lines(report: Report) -> list[str]:
    """Prometheus gauges of the load probe's knee point, one series per target that ran it."""
    from .prometheus import family

    rows = []
    for r in report.results:
        knee = r.evidence.get("knee") if r.id == LOAD_ID else None
        if isinstance(knee, dict):
            rows.append((r.target, knee))
    if not rows:
        return []
    out: list[str] = []
    for key, name, help_text, scale in (
        ("concurrency", "qwen_doctor_load_knee_concurrency", "probe.load: the highest concurrency before errors or a doubled p95.", 1.0),
        ("rps", "qwen_doctor_load_knee_requests_per_second", "probe.load: requests per second at the knee.", 1.0),
        ("tokens_per_s", "qwen_doctor_load_knee_tokens_per_second", "probe.load: prompt tokens per second at the knee.", 1.0),
        ("p95_ms", "qwen_doctor_load_knee_p95_seconds", "probe.load: p95 latency at the knee, seconds.", 0.001),
    ):
        samples = [({"target": t}, round(v * scale, 6)) for t, k in rows if (v := _num(k.get(key))) is not None]
        if samples:
            out += family(name, "gauge", help_text, samples)
    return out


def server_lines(report: Report) -> list[str]:
    """Prometheus gauges of probe.metrics' readings and verdicts (``qwen-doctor serve``'s /metrics)."""
    from .prometheus import family

    res = [r for r in report.results if r.id == METRICS_ID]
    if not res:
        return []
    out: list[str] = []
    for key, name, help_text in (
        ("backlog_ratio", "qwen_doctor_server_backlog_ratio", "probe.metrics: requests waiting per request running (averaged over the reads)."),
        ("error_ratio", "qwen_doctor_server_error_ratio", "probe.metrics: failed, aborted and refused requests as a share of the window's requests."),
        ("cache_usage", "qwen_doctor_server_cache_usage_ratio", "probe.metrics: KV cache / token pool usage, 0 to 1."),
        ("requests_per_s", "qwen_doctor_server_requests_per_second", "probe.metrics: requests finished per second in the window."),
    ):
        samples = [({"target": r.target}, v) for r in res if (v := _num(r.evidence.get(key))) is not None]
        if samples:
            out += family(name, "gauge", help_text, samples)
    lat = [({"target": r.target, "kind": k}, v) for r in res for k in ("e2e", "queue") if (v := _num(r.evidence.get(f"{k}_p95_s"))) is not None]
    if lat:
        out += family(
            "qwen_doctor_server_latency_p95_seconds", "gauge", "probe.metrics: p95 latency in the window from the server's histograms (e2e, queue).", lat
        )
    verdicts = [
        ({"target": r.target, "verdict": v.get("id", ""), "setting": v.get("setting", "")}, 1)
        for r in res
        for v in r.evidence.get("verdicts") or ()
        if isinstance(v, dict)
    ]
    out += family(
        "qwen_doctor_server_verdict", "gauge", "probe.metrics: 1 for each verdict of the last run, with the launch setting that governs it.", verdicts
    )
    return out
