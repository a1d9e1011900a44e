"""``--format prometheus``: the Prometheus text exposition format (0.0.4).

For node_exporter's textfile collector (``--output /var/lib/node_exporter/textfile/qwen_doctor.prom``:
the file is replaced atomically, so the collector never reads half of it) and ``qwen-doctor serve``'s
``/metrics``. Every metric is a gauge describing the last run:

- ``qwen_doctor_check_status{id,target,category,status}``: one series per check, target and status
  (pass, warn, fail, skip, error); 1 for the check's current status and 0 for the four others (a
  "state set"), so ``qwen_doctor_check_status{status="fail"} == 1`` selects every failing check.
- ``qwen_doctor_check_duration_seconds{id,target,category}``: how long the check ran.
- ``qwen_doctor_check_ignored{id,target,category,ignored_by}``: 1 for each result that ``--ignore`` touched
  (a FAIL/ERROR demoted to WARN), with the "ignored by ..." text.
- ``qwen_doctor_checks_total{status}``: the number of results per status in the run.
- ``qwen_doctor_target_info{target,server,server_version}``: 1 per target examined.
- ``qwen_doctor_last_run_timestamp_seconds``: Unix time the run finished;
  ``qwen_doctor_last_run_duration_seconds``: how long it took.
- ``qwen_doctor_build_info{version}``: 1.

Label values are escaped (backslash, double quote, newline). No sample carries a timestamp.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

from ..results import Result, Status
from . import RenderOptions, Report

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATUSES = tuple(s.value for s in Status)  # pass, warn, fail, skip, error


def escape_label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(v: float) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def family(name: str, kind: str, help_text: str, samples: Iterable[tuple[Mapping[str, object], float]]) -> list[str]:
    """One metric family: HELP, TYPE and its samples. In this (0.0.4) format HELP and TYPE name the sample
    itself, so a counter is declared with its ``_total`` suffix."""
    if kind == "counter" and not name.endswith("_total"):
        name += "_total"
    lines = [f"# HELP {name} {escape_help(help_text)}", f"# TYPE {name} {kind}"]
    sample_name = name
    for labels, value in samples:
        if labels:
            lab = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
            lines.append(f"{sample_name}{{{lab}}} {format_value(value)}")
        else:
            lines.append(f"{sample_name} {format_value(value)}")
    return lines


def _unique(results: Sequence[Result]) -> list[Result]:
    """One result per (id, target): duplicate series would make the whole textfile unreadable."""
    by: dict[tuple[str, str], Result] = {}
    for r in results:
        key = (r.id, r.target)
        if key not in by or r.status.rank > by[key].status.rank:
            by[key] = r
    return list(by.values())


def report_lines(report: Report) -> list[str]:
    results = _unique(report.results)
    lines: list[str] = []
    lines += family(
        "qwen_doctor_check_status",
        "gauge",
        "Status of each check on each target in the last run: 1 for its current status, 0 for the others.",
        (({"id": r.id, "target": r.target, "category": r.category, "status": s}, 1 if r.status.value == s else 0) for r in results for s in STATUSES),
    )
    lines += family(
        "qwen_doctor_check_duration_seconds",
        "gauge",
        "How long each check ran in the last run, seconds.",
        (({"id": r.id, "target": r.target, "category": r.category}, r.duration_ms / 1000) for r in results),
    )
    lines += family(
        "qwen_doctor_check_ignored",
        "gauge",
        "1 for each result that --ignore touched (a FAIL or ERROR demoted to WARN), with the reason.",
        (({"id": r.id, "target": r.target, "category": r.category, "ignored_by": r.ignored_by}, 1) for r in results if r.ignored_by),
    )
    counts = report.counts
    lines += family(
        "qwen_doctor_checks_total",
        "gauge",
        "Number of check results per status in the last run.",
        (({"status": s}, counts[s]) for s in STATUSES),
    )
    lines += family(
        "qwen_doctor_target_info",
        "gauge",
        "The targets examined in the last run.",
        (({"target": t.label, "server": t.server or "", "server_version": t.version_str or ""}, 1) for t in report.targets),
    )
    lines += family("qwen_doctor_last_run_timestamp_seconds", "gauge", "Unix time the last run finished.", [({}, round(report.finished_at, 3))])
    lines += family("qwen_doctor_last_run_duration_seconds", "gauge", "How long the last run took, seconds.", [({}, round(report.duration_s, 6))])
    lines += family("qwen_doctor_build_info", "gauge", "The qwen-doctor version that wrote these metrics.", [({"version": report.tool_version}, 1)])
    from .onduty import knee_lines  # probe.load's knee point (--load)

    lines += knee_lines(report)
    return lines


def render_prometheus(report: Report, options: RenderOptions) -> str:
    lines = [f"# note: {line}" for note in report.notes for line in note.splitlines() if line.strip()]
    return "\n".join(lines + report_lines(report)) + "\n"
