"""The runner: every applicable check on every target, concurrently, each under its own timeout.

- A check whose ``applies`` returns a reason is SKIP with that reason.
- A check whose hard dependency (``depends_on``) did not pass (FAIL, ERROR, SKIP) is SKIP naming it.
- A check that raises becomes ERROR with a one-line reason; one that outlives its timeout (or the global
  deadline) becomes ERROR and is abandoned (its daemon thread cannot hold up the report).
- Results come back in registry order per target, whatever order they finished in.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from .context import Context, RunOptions
from .facts import FactsStore
from .redact import redact_obj, redact_text
from .registry import Check, PluginProblem, Registry
from .results import Fix, Outcome, Result, Status
from .target import Target

MAX_WORKERS = 32


@dataclass(eq=False)
class _Job:
    target: Target
    check: Check
    index: int
    deps: tuple[int, ...] = ()
    uses: tuple[int, ...] = ()
    result: Result | None = None
    applicable: "bool | Outcome | None" = None  # None: not evaluated yet
    started: float | None = None
    thread: threading.Thread | None = None
    queued: bool = False  # handed to consider() once
    abandoned: bool = False  # timed out; its worker exits when (if ever) the check returns
    tindex: int = 0  # the target's position


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else ""
    if len(msg) > 300:
        msg = msg[:297] + "..."
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _make_result(job: _Job, outcome: Outcome, duration_s: float, options: RunOptions) -> Result:
    check = job.check
    status = outcome.status
    if status == Status.FAIL and check.severity == Status.WARN:
        status = Status.WARN
    secrets = options.secrets
    fix = outcome.fix
    if fix is not None:
        fix = Fix(
            text=redact_text(fix.text, secrets),
            commands=tuple(redact_text(c, secrets) for c in fix.commands),
            launch_command=redact_text(fix.launch_command, secrets) if fix.launch_command else None,
            applicability=fix.applicability,
        )
    return Result(
        id=check.id,
        title=check.title,
        category=check.category,
        status=status,
        summary=redact_text(outcome.summary, secrets),
        evidence=redact_obj(dict(outcome.evidence), secrets),
        fix=fix,
        duration_ms=int(duration_s * 1000),
        target=job.target.label,
        plugin=check.plugin,
        blocked_by=outcome.blocked_by,
    )


def problem_results(problems: Iterable[PluginProblem], target_label: str = "") -> list[Result]:
    return [
        Result(
            id=p.id,
            title=f"plugin {p.plugin}",
            category="plugins",
            status=Status.ERROR,
            summary=f"{p.source}: {p.message}",
            evidence={"file": p.source, "plugin": p.plugin},
            fix=Fix(f"Fix or remove {p.source}; the other checks ran without it."),
            duration_ms=0,
            target=target_label,
            plugin=p.plugin,
        )
        for p in problems
    ]


class Runner:
    def __init__(
        self,
        registry: Registry,
        options: RunOptions | None = None,
        *,
        select: Callable[[Check], bool] | None = None,
        deadline: float | None = None,
        deadline_at: float | None = None,
        max_workers: int = MAX_WORKERS,
        on_start: Callable[[Target, Check], None] | None = None,
        on_finish: Callable[[Result], None] | None = None,
    ) -> None:
        self.registry = registry
        self.options = options or RunOptions()
        self.select = select
        self.deadline = deadline  # --deadline as given, for messages
        self.deadline_at = deadline_at  # time.monotonic() it ends at (clock.deadline_at()); else now + deadline
        self.max_workers = max_workers
        self.on_start = on_start
        self.on_finish = on_finish

    def _checks(self) -> list[Check]:
        checks = list(self.registry)
        if self.select is None:
            return checks
        chosen = {c.id for c in checks if self.select(c)}
        # hard dependencies of chosen checks run too, or the chosen ones could only SKIP
        frontier = list(chosen)
        while frontier:
            c = self.registry.get(frontier.pop())
            for d in c.depends_on if c else ():
                if d not in chosen and self.registry.get(d) is not None:
                    chosen.add(d)
                    frontier.append(d)
        return [c for c in checks if c.id in chosen]

    def run(self, targets: Sequence[Target], facts: FactsStore | None = None) -> list[Result]:
        """Run every selected check on every target. ``facts``: the run's store (a new one by default).

        While checks run, ``print`` from any check (a drop-in's included) goes to stderr, so a report on stdout
        (JSON, JUnit, ...) is never corrupted."""
        import contextlib

        with contextlib.redirect_stdout(sys.stderr):
            return self._run(targets, facts if facts is not None else FactsStore())

    def _run(self, targets: Sequence[Target], facts: FactsStore) -> list[Result]:
        """Event-driven and linear in the number of jobs: a job is looked at when it is created, when one of its
        dependencies settles, and when it finishes or times out; never by rescanning every pending job."""
        import heapq

        checks = self._checks()
        jobs: list[_Job] = []
        self._by_key: dict[tuple[int, str], _Job] = {}
        for ti, t in enumerate(targets):
            base = len(jobs)
            pos = {c.id: base + i for i, c in enumerate(checks)}
            for i, c in enumerate(checks):
                job = _Job(t, c, base + i)
                jobs.append(job)
                self._by_key[(ti, c.id)] = job
                job.tindex = ti
            for i, c in enumerate(checks):
                j = jobs[base + i]
                j.deps = tuple(pos[d] for d in c.depends_on if d in pos)
                j.uses = tuple(pos[d] for d in c.uses if d in pos)
        dependents: list[list[int]] = [[] for _ in jobs]
        waiting = [0] * len(jobs)  # unsettled deps + uses of each job
        for j in jobs:
            for k in dict.fromkeys((*j.deps, *j.uses)):
                dependents[k].append(j.index)
                waiting[j.index] += 1

        lock = threading.Lock()
        done = threading.Condition(lock)
        finished: list[_Job] = []  # settled by a worker thread, to be propagated by the scheduler
        t0 = time.monotonic()
        hard_deadline = self.deadline_at if self.deadline_at is not None else (t0 + self.deadline if self.deadline else None)
        self._hard_deadline = hard_deadline
        facts.deadline_at = hard_deadline  # the live probe keeps its requests within it (probe/guard.py)

        def notify(result: Result) -> None:
            if self.on_finish:
                try:
                    self.on_finish(result)
                except Exception:
                    pass

        def execute(job: _Job) -> None:
            deps = {jobs[k].check.id: jobs[k].result for k in (*job.deps, *job.uses) if jobs[k].result is not None}
            ctx = Context(job.target, self.options, deps, facts, check=job.check)
            start = time.monotonic()
            try:
                outcome = job.check.func(ctx)
                if not isinstance(outcome, Outcome):
                    raise TypeError(f"check returned {type(outcome).__name__}, not Outcome")
            except BaseException as exc:  # noqa: BLE001 - a check never breaks the run (SystemExit included)
                outcome = Outcome.error(f"check crashed: {_one_line(exc)}")
            result = _make_result(job, outcome, time.monotonic() - start, self.options)
            with done:
                if job.result is not None:  # already timed out
                    return
                job.result = result
                finished.append(job)
                done.notify_all()
            notify(result)

        import queue

        work: queue.SimpleQueue = queue.SimpleQueue()
        idle = [0]  # workers waiting for a job
        workers: list[threading.Thread] = []

        def worker() -> None:
            while True:
                job = work.get()
                if job is None:
                    return
                job.thread = threading.current_thread()
                execute(job)
                with done:
                    if job.abandoned:  # it timed out: a new worker took this one's place
                        return
                    idle[0] += 1

        def spawn() -> None:
            th = threading.Thread(target=worker, name=f"check-worker-{len(workers)}", daemon=True)
            workers.append(th)
            th.start()

        ready: list[tuple[int, _Job]] = []  # heap: to start, in registry order
        running: dict[int, _Job] = {}
        timeouts: list[tuple[float, int]] = []  # heap of (deadline, job index)
        settle: list[_Job] = []  # settled jobs whose dependents must be told

        def settle_now(job: _Job, outcome: Outcome) -> None:
            job.result = _make_result(job, outcome, 0.0, self.options)
            notify(job.result)
            settle.append(job)

        def consider(job: _Job) -> None:
            """All of a job's deps and uses have settled (or it has none): block it, or make it ready."""
            if job.queued:
                return
            job.queued = True
            quick = self._blocked(job, jobs)
            if quick is not None:
                settle_now(job, quick)
            else:
                heapq.heappush(ready, (job.index, job))

        def propagate() -> None:
            while settle:
                j = settle.pop()
                for k in dependents[j.index]:
                    dj = jobs[k]
                    waiting[k] -= 1
                    if dj.result is None and waiting[k] == 0 and dj.applicable is True:
                        consider(dj)

        # 1. applicability first: a check that does not apply is SKIP at once, whatever it waits for
        for n, job in enumerate(jobs):
            if hard_deadline is not None and n % 64 == 0 and time.monotonic() > hard_deadline:
                break  # the rest are SKIP "not started before the --deadline" below
            quick = self._applicability(job, facts)
            if quick is not None:
                settle_now(job, quick)
        propagate()
        for job in jobs:
            if job.result is None and waiting[job.index] == 0 and job.applicable is True:
                consider(job)
        propagate()

        with done:
            while True:
                # propagate what workers finished
                while finished:
                    j = finished.pop()
                    running.pop(j.index, None)
                    settle.append(j)
                    propagate()
                now = time.monotonic()
                # hand what is ready to the worker pool, up to max_workers at once (a worker per job in flight)
                while ready and len(running) < self.max_workers:
                    _, job = heapq.heappop(ready)
                    job.started = now
                    running[job.index] = job
                    heapq.heappush(timeouts, (now + job.check.timeout, job.index))
                    if self.on_start:
                        try:
                            self.on_start(job.target, job.check)
                        except Exception:
                            pass
                    work.put(job)
                    if idle[0] > 0:
                        idle[0] -= 1
                    else:
                        spawn()
                # timeouts
                while timeouts and timeouts[0][0] <= now:
                    _, k = heapq.heappop(timeouts)
                    job = jobs[k]
                    if job.result is None and k in running:
                        running.pop(k)
                        job.abandoned = True  # its worker is stuck in it: the pool grows by one in its place
                        job.result = _make_result(job, Outcome.error(f"timed out after {job.check.timeout:g} s"), now - (job.started or now), self.options)
                        notify(job.result)
                        settle.append(job)
                        propagate()
                if hard_deadline is not None and now > hard_deadline:
                    # checks that were running: ERROR; checks still waiting: SKIP naming what held them up
                    for job in jobs:
                        if job.result is None and job.started is not None:
                            elapsed = now - job.started if job.started else 0.0
                            job.result = _make_result(job, Outcome.error(f"not finished before the --deadline of {self.deadline:g} s"), elapsed, self.options)
                    for job in jobs:
                        if job.result is None:
                            quick = self._blocked(job, jobs) if all(jobs[k].result is not None for k in job.deps) else None
                            job.result = _make_result(
                                job, quick or Outcome.skip(f"not started before the --deadline of {self.deadline:g} s"), 0.0, self.options
                            )
                    break
                if not ready and not running and not finished:
                    break
                if finished or (ready and len(running) < self.max_workers):
                    continue
                waits = [timeouts[0][0] - now] if timeouts else []
                if hard_deadline is not None:
                    waits.append(hard_deadline - now)
                done.wait(timeout=max(0.005, min(waits, default=0.05)))
        for _ in workers:
            work.put(None)  # idle workers exit; a worker stuck in a timed-out check is a daemon and exits when it returns
        return [j.result for j in jobs if j.result is not None]

    def _applicability(self, job: _Job, facts: FactsStore) -> Outcome | None:
        if job.applicable is None:
            box: list = []

            def call() -> None:
                try:
                    box.append(("ok", job.check.applies(Context(job.target, self.options, {}, facts))))
                except BaseException as exc:  # noqa: BLE001 - SystemExit in a drop-in's applies() included
                    box.append(("err", exc))

            if job.check.plugin == "builtin":
                call()  # the built-ins' tests are pure and fast
            else:  # a third-party applies() may hang: cut it off at the check's timeout
                th = threading.Thread(target=call, name=f"applies-{job.check.id}", daemon=True)
                th.start()
                hard = getattr(self, "_hard_deadline", None)
                th.join(job.check.timeout if hard is None else max(0.0, min(job.check.timeout, hard - time.monotonic())))
            if not box:
                job.applicable = Outcome.error(f"applicability test did not return within {job.check.timeout:g} s (or before the --deadline)")
                return job.applicable
            kind, applies = box[0]
            if kind == "err":
                job.applicable = Outcome.error(f"applicability test crashed: {_one_line(applies)}")
                return job.applicable
            if applies is True:
                job.applicable = True
            else:
                reason = applies if isinstance(applies, str) and applies else "does not apply to this target"
                job.applicable = Outcome.skip(reason, not_applicable=True)
        return None if job.applicable is True else job.applicable

    def _blocked(self, job: _Job, jobs: list[_Job]) -> Outcome | None:
        blockers: list[Result] = []
        for k in job.deps:
            r = jobs[k].result
            if r is not None and r.status not in (Status.PASS, Status.WARN):
                blockers.append(r)
        if not blockers:
            return None
        # name the root cause, not a chain: a SKIP blocked by a SKIP points at what blocked that one
        roots: dict[str, Result] = {}
        for r in blockers:
            while r.status is Status.SKIP and r.blocked_by:
                upj = self._by_key.get((job.tindex, r.blocked_by[0]))
                up = upj.result if upj is not None else None
                if up is None:
                    break
                r = up
            roots.setdefault(r.id, r)
        text = "; ".join(f"{r.id} ({r.status.value}): {r.summary}" if r.status is Status.SKIP else f"{r.id} ({r.status.value})" for r in roots.values())
        return Outcome.skip("blocked by " + text, blocked_by=tuple(roots))
