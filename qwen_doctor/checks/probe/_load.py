"""What probe.load sends and how one concurrency step is measured.

Inputs: the --samples texts when given, else a mix of lengths that includes long inputs (up to about 3/4 of the
context length, counted with the model's own tokenizer when it is here). Every request's text starts differently,
so a prefix cache cannot answer it from memory. One step sends a fixed number of requests with a fixed number in
flight, and samples the server's /metrics while it runs (gauges) and around it (counter deltas).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ...probe import TOO_LONG, percentile
from . import _metrics as M
from ._common import embed_body
from ._local import context_length, local_tokenizer, token_ids

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...probe.http import ProbeClient

WORDS = "the quick brown fox jumps over a lazy dog while vector search ranks passages by meaning and not by words".split()
#: the mix, in words (the last entry stands for "long": replaced by the context-bounded long length)
MIX = (12, 40, 12, 160, 12, 40, 12, -1)
MAX_TEXTS = 1000  # texts kept from --samples
MAX_SAMPLE_CHARS = 200_000  # a sample longer than this is cut (the server would refuse it anyway)
DEFAULT_CONTEXT = 512  # when the context length is unknown


def text_of(words: int, seed: int) -> str:
    n = len(WORDS)
    return f"{seed}: " + " ".join(WORDS[(seed + j) % n] for j in range(max(1, words)))


def inputs(ctx: "Context") -> tuple[list[str], str]:
    """(the texts to send in turn, where they come from)."""
    if ctx.options.samples:
        texts = _sample_texts(ctx)
        if texts:
            return texts, f"--samples ({len(texts)} texts)"
    clen, src = context_length(ctx)
    clen = clen or DEFAULT_CONTEXT
    long_words = _long_words(ctx, int(clen * 0.75))
    words = [min(w, long_words) if w > 0 else long_words for w in MIX]  # every length bounded by the context length
    texts = [text_of(w, i) for i, w in enumerate(words)]
    where = f" ({src})" if src else ""
    return texts, f"a mix of lengths ({', '.join(map(str, words))} words; the long one ~3/4 of the context length {clen}{where})"


def _sample_texts(ctx: "Context") -> list[str]:
    from ...tokenizer_tools import SamplesError, SamplesFile, read_samples

    path = ctx.options.samples or ""

    def load() -> Any:
        try:
            return read_samples(path)
        except SamplesError as exc:
            return exc

    sf = ctx.facts.once(("samples", path), load)  # the same key as tokenizer.samples: read once per run
    if not isinstance(sf, SamplesFile):
        return []
    return [s.text[:MAX_SAMPLE_CHARS] for s in sf.samples[:MAX_TEXTS] if s.text.strip()]


def _long_words(ctx: "Context", target_tokens: int) -> int:
    """Words for a text of about ``target_tokens`` tokens: counted with the local tokenizer, else half as many words
    as tokens (every word is at least one token, so the text stays under the context length)."""
    target_tokens = max(16, target_tokens)
    tok, _ = local_tokenizer(ctx)
    if tok is None:
        return max(8, target_tokens // 2)
    words = target_tokens
    try:
        for _ in range(4):
            n = len(token_ids(tok, text_of(words, 0)))
            if n <= target_tokens:
                break
            words = max(8, int(words * target_tokens / n) - 1)
    except Exception:  # noqa: BLE001 - fall back to the safe bound
        return max(8, target_tokens // 2)
    return words


@dataclass
class Step:
    concurrency: int
    planned: int
    sent: int = 0
    ok: int = 0
    errors: int = 0
    first_error: str | None = None
    rejected: int = 0  # refused as longer than the server's context length (the client's input, not the load)
    first_rejected: str | None = None
    wall_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    tokens: int = 0  # prompt tokens the server reported (usage.prompt_tokens), else estimated
    tokens_estimated: bool = False
    stopped: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    def p(self, q: float) -> float | None:
        return percentile(self.latencies, q) if self.latencies else None

    def row(self) -> dict[str, Any]:
        def ms(v: float | None) -> float | None:
            return None if v is None else round(v * 1000, 1)

        wall = max(self.wall_s, 1e-9)
        return {
            "concurrency": self.concurrency,
            "requests": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "error_rate": round(self.errors / self.sent, 4) if self.sent else None,
            "rejected_too_long": self.rejected,
            "rps": round(self.ok / wall, 2) if self.sent else None,
            "tokens_per_s": round(self.tokens / wall, 1) if self.sent else None,
            "tokens_estimated": self.tokens_estimated,
            "p50_ms": ms(self.p(50)),
            "p95_ms": ms(self.p(95)),
            "p99_ms": ms(self.p(99)),
            "wall_s": round(self.wall_s, 3),
            **({"first_error": self.first_error} if self.first_error else {}),
            **({"first_rejected": self.first_rejected} if self.first_rejected else {}),
            **({"stopped": self.stopped} if self.stopped else {}),
            **({"metrics": self.metrics} if self.metrics else {}),
        }


def run_step(
    ctx: "Context",
    c: "ProbeClient",
    step: Step,
    texts: Sequence[str],
    offset: int,
    left: Callable[[], float],
    on_done: Callable[[], None],
    metrics: "MetricsSampler | None",
) -> None:
    """Send ``step.planned`` requests, ``step.concurrency`` at a time, until done or the time is up."""
    lock = threading.Lock()
    read_t = float(ctx.options.probe_timeout)
    if metrics is not None:
        metrics.start()
    t0 = time.monotonic()

    def one(i: int) -> None:
        why = "time limit" if left() < 1.0 else (c.guard.halted() if c.guard is not None else None)
        if why:
            with lock:
                step.stopped = step.stopped or why
            return
        text = texts[(offset + i) % len(texts)]
        r = c.post_json("/v1/embeddings", embed_body(ctx, f"{offset + i} {text}"), read_timeout=max(0.2, min(read_t, left())))
        with lock:
            step.sent += 1
            if r.answered and r.status == 200:
                step.ok += 1
                step.latencies.append(r.elapsed_s)
                body = r.json()
                usage = body.get("usage") if isinstance(body, dict) else None
                pt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
                if isinstance(pt, int) and not isinstance(pt, bool) and pt > 0:
                    step.tokens += pt
                else:
                    step.tokens += len(text.split()) + 1
                    step.tokens_estimated = True
            elif r.answered and r.status in (400, 413, 422) and TOO_LONG.search(r.message(300)):
                step.rejected += 1
                if step.first_rejected is None:
                    step.first_rejected = f"HTTP {r.status}: {r.message(120)}"
            else:
                step.errors += 1
                if step.first_error is None:
                    step.first_error = r.describe() if r.failure else f"HTTP {r.status}: {r.message(120)}"
        on_done()

    if step.concurrency == 1:
        for i in range(step.planned):
            one(i)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=step.concurrency, thread_name_prefix="qwen-doctor-load") as pool:
            list(pool.map(one, range(step.planned)))
    step.wall_s = time.monotonic() - t0
    if metrics is not None:
        step.metrics = metrics.stop()


class MetricsSampler:
    """Reads /metrics before a step, every ``every`` seconds during it (gauges), and after it (counter deltas)."""

    MAX_READS = 20

    def __init__(self, ctx: "Context", url: str, dialect: str, every: float) -> None:
        base = url[: -len("/metrics")] if url.endswith("/metrics") else url
        self.ctx, self.base, self.dialect, self.every = ctx, base, dialect, max(0.25, every)
        self.names, _ = M.names_for(dialect, None)
        self._stop = threading.Event()
        self._reads: list[M.Scrape] = []
        self._thread: threading.Thread | None = None

    def _read(self) -> M.Scrape | None:
        with M.client(self.ctx, self.base, min(5.0, float(self.ctx.options.probe_timeout))) as c:
            _, s, _ = M.fetch(c)
        return s

    def start(self) -> None:
        self._stop.clear()
        self._reads = [s] if (s := self._read()) is not None else []

        def loop() -> None:
            while not self._stop.wait(self.every) and len(self._reads) < self.MAX_READS:
                s = self._read()
                if s is not None:
                    self._reads.append(s)

        self._thread = threading.Thread(target=loop, name="qwen-doctor-load-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        during = self._reads[1:]
        last = self._read()
        out: dict[str, Any] = {}
        if not self._reads or last is None:
            return out
        first = self._reads[0]
        reqs = M.requests_window(first, last, self.dialect)
        if reqs is not None:
            out["requests"] = {k: int(v) for k, v in reqs.items() if v}
        if during:
            for key, names in (("running_max", self.names.running), ("waiting_max", self.names.waiting), ("cache_usage_max", self.names.usage)):
                v = M.gauge_max(during, names) if names else None
                if v is not None:
                    out[key] = round(v, 3)
        e2e = M.hist_delta(M.hist(first, self.names.e2e), M.hist(last, self.names.e2e))
        if e2e is not None and e2e.count > 0:
            out["e2e_p95"] = M.show_q(M.quantile(e2e, 0.95))
        queue = M.hist_delta(M.hist(first, self.names.queue), M.hist(last, self.names.queue))
        if queue is not None and queue.mean is not None:
            out["queue_mean_ms"] = round(queue.mean * 1000, 1)
        pre = M.counter_delta(first, last, first.first(self.names.preempt)) if self.names.preempt else None
        if pre:
            out["preemptions"] = int(pre)
        return out


class Progress:
    """A rich progress bar on stderr, only when the run shows progress (a TTY); never breaks the check."""

    def __init__(self, total: int, enabled: bool, label: str = "probe.load") -> None:
        self.total, self.enabled, self.label = total, enabled, label
        self._p: Any = None
        self._task: Any = None
        self._lock = threading.Lock()

    def __enter__(self) -> "Progress":
        if self.enabled:
            try:
                from rich.console import Console
                from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
                from rich.progress import Progress as RichProgress

                self._p = RichProgress(
                    TextColumn(self.label),
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=Console(stderr=True),
                    transient=True,
                )
                self._p.__enter__()
                self._task = self._p.add_task("", total=self.total)
            except Exception:  # noqa: BLE001
                self._p = None
        return self

    def describe(self, text: str) -> None:
        if self._p is not None:
            with self._lock:
                try:
                    self._p.update(self._task, description=text)
                except Exception:  # noqa: BLE001
                    pass

    def advance(self) -> None:
        if self._p is not None:
            with self._lock:
                try:
                    self._p.advance(self._task)
                except Exception:  # noqa: BLE001
                    pass

    def __exit__(self, *exc: Any) -> None:
        if self._p is not None:
            try:
                self._p.__exit__(None, None, None)
            except Exception:  # noqa: BLE001
                pass
