"""Prometheus text, read: a real parser (``prometheus_client.parser``, imported lazily), and what two reads of a
server's /metrics say: counter deltas, gauge averages, histogram deltas and their percentiles.

No I/O here (the probe checks fetch the text, see qwen_doctor/checks/probe/_metrics.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

MAX_SAMPLES = 100_000


class MetricsError(ValueError):
    """The body is not Prometheus text the doctor can read (one line)."""


@dataclass
class Scrape:
    """One read of /metrics: samples by sample name (``vllm:request_success_total``, ``..._bucket``), and when."""

    samples: dict[str, list[tuple[dict[str, str], float]]]
    at: float = field(default_factory=time.monotonic)
    size: int = 0

    def has(self, name: str) -> bool:
        return name in self.samples

    def first(self, names: Sequence[str]) -> str | None:
        return next((n for n in names if n in self.samples), None)

    def total(self, name: str | None, **match: str) -> float | None:
        """The sum over every series of a sample name whose labels match (None when absent)."""
        if name is None or name not in self.samples:
            return None
        return math.fsum(v for labels, v in self.samples[name] if all(labels.get(k) == want for k, want in match.items()) and math.isfinite(v))

    def by_label(self, name: str, label: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for labels, v in self.samples.get(name, ()):
            if math.isfinite(v):
                key = labels.get(label, "")
                out[key] = out.get(key, 0.0) + v
        return out


def parse(text: str) -> Scrape:
    """Prometheus text (0.0.4) to a :class:`Scrape`. Raises :class:`MetricsError`."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError as exc:  # pragma: no cover - a runtime dependency
        raise MetricsError(f"prometheus-client is not installed ({exc})") from None
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    n = 0
    try:
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                n += 1
                if n > MAX_SAMPLES:
                    raise MetricsError(f"more than {MAX_SAMPLES:,} samples (stopped reading)")
                samples.setdefault(s.name, []).append((dict(s.labels), float(s.value)))
    except MetricsError:
        raise
    except Exception as exc:  # noqa: BLE001 - the parser raises ValueError, but also IndexError/KeyError on odd input
        from . import one_line

        raise MetricsError(f"not Prometheus text: {one_line(str(exc) or type(exc).__name__, 160)}") from None
    return Scrape(samples, size=len(text))


@dataclass(frozen=True)
class Hist:
    buckets: tuple[tuple[float, float], ...]  # (le, cumulative count), le ascending, +Inf last
    sum: float
    count: float

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count > 0 else None


def hist(s: Scrape, bases: Sequence[str]) -> Hist | None:
    """The first histogram of ``bases`` (base names, without ``_bucket``) present, summed over its series (None:
    none is)."""
    base = next((b for b in bases if f"{b}_bucket" in s.samples), None)
    if base is None:
        return None
    by_le: dict[float, float] = {}
    for labels, v in s.samples[f"{base}_bucket"]:
        try:
            le = float(labels.get("le", "nan"))
        except ValueError:
            continue
        if not math.isnan(le) and math.isfinite(v):
            by_le[le] = by_le.get(le, 0.0) + v
    if not by_le:
        return None
    return Hist(tuple(sorted(by_le.items())), s.total(f"{base}_sum") or 0.0, s.total(f"{base}_count") or 0.0)


def hist_delta(a: Hist | None, b: Hist | None) -> Hist | None:
    """b - a; None when either is missing or a counter went down (the server restarted in between)."""
    if a is None or b is None:
        return None
    old = dict(a.buckets)
    out = []
    for le, c in b.buckets:
        d = c - old.get(le, 0.0)
        if d < 0:
            return None
        out.append((le, d))
    ds, dc = b.sum - a.sum, b.count - a.count
    if dc < 0:
        return None
    return Hist(tuple(out), ds, dc)


@dataclass(frozen=True)
class Quantile:
    value: float  # linear interpolation inside the bucket, like Prometheus' histogram_quantile
    low: float  # the bucket the quantile falls in: (low, high]
    high: float  # math.inf: above the largest finite bucket


def quantile(h: Hist | None, q: float) -> Quantile | None:
    if h is None or not h.buckets:
        return None
    total = h.buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in h.buckets:
        if c >= rank:
            if math.isinf(le):
                return Quantile(prev_le, prev_le, math.inf)
            width = c - prev_c
            v = prev_le + (le - prev_le) * ((rank - prev_c) / width if width > 0 else 1.0)
            return Quantile(v, prev_le, le)
        prev_le, prev_c = le, c
    return None


def show_q(q: Quantile | None, unit: str = "s") -> str:
    """What a histogram says about a percentile: its bucket, never more precise than that."""
    if q is None:
        return "n/a"
    if math.isinf(q.high):
        return f"> {_num(q.low, unit)}"
    if q.low <= 0:
        return f"<= {_num(q.high, unit)}"
    return f"{_num(q.low, unit)}-{_num(q.high, unit)}"


def _num(v: float, unit: str) -> str:
    if unit == "s":
        return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.3g} s"
    return f"{v:g}"


def counter_delta(a: Scrape, b: Scrape, name: str | None, **match: str) -> float | None:
    x, y = a.total(name, **match), b.total(name, **match)
    if x is None or y is None or y < x:
        return None
    return y - x


def gauge_mean(reads: Sequence[Scrape], names: Sequence[str]) -> float | None:
    vals = [v for s in reads if (v := s.total(s.first(names))) is not None]
    return math.fsum(vals) / len(vals) if vals else None


def gauge_max(reads: Sequence[Scrape], names: Sequence[str]) -> float | None:
    vals = [v for s in reads if (v := s.total(s.first(names))) is not None]
    return max(vals) if vals else None
