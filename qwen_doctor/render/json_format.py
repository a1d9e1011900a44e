"""``--format json``: only JSON on stdout, schema_version 1."""

from __future__ import annotations

import json

from . import SCHEMA_VERSION, RenderOptions, Report


def report_dict(report: Report) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool_version": report.tool_version,
        "started_at": report.started_at,
        "duration_ms": int(report.duration_s * 1000),
        "targets": [
            {**t.to_dict(), "corrected_launch_command": report.corrected.get(t.label, (None,))[0], "corrected_by": list(report.corrected.get(t.label, (None, ()))[1])}
            for t in report.targets
        ],
        "results": [r.to_dict() for r in report.results],
        "counts": report.counts,
        "notes": list(report.notes),
    }


def render_json(report: Report, options: RenderOptions) -> str:
    return json.dumps(report_dict(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
