"""``--format json``: only JSON on stdout, schema_version 1.

Timestamps are ISO 8601 strings in UTC with the offset written out (``2024-06-07T12:34:56.789+00:00``):
``started_at`` and ``finished_at``; ``started_at_unix`` carries the same instant as Unix seconds."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from . import SCHEMA_VERSION, RenderOptions, Report


def iso_timestamp(unix_s: float) -> str:
    """ISO 8601 with a time zone (UTC, ``+00:00``), to the millisecond."""
    return datetime.fromtimestamp(unix_s, timezone.utc).isoformat(timespec="milliseconds")


def report_dict(report: Report, secrets: tuple[str, ...] = ()) -> dict:
    from ..redact import redact_obj

    return {
        "schema_version": SCHEMA_VERSION,
        "tool_version": report.tool_version,
        "started_at": iso_timestamp(report.started_at),
        "finished_at": iso_timestamp(report.finished_at),
        "started_at_unix": round(report.started_at, 3),
        "duration_ms": int(report.duration_s * 1000),
        "targets": [
            {
                **redact_obj(t.to_dict(), secrets),  # a URL's password, a DSN in the environment, ...
                "corrected_launch_command": report.corrected.get(t.label, (None,))[0],
                "corrected_by": list(report.corrected.get(t.label, (None, ()))[1]),
            }
            for t in report.targets
        ],
        "results": [r.to_dict() for r in report.results],
        "counts": report.counts,
        "notes": list(report.notes),
    }


def render_json(report: Report, options: RenderOptions) -> str:
    return json.dumps(report_dict(report, options.secrets), indent=2, ensure_ascii=options.ascii_only, allow_nan=False) + "\n"
