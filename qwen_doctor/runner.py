"""The runner: every applicable check on every target, concurrently, each under its own timeout.

- A check whose ``applies`` returns a reason is SKIP with that reason.
- A check whose hard dependency (``depends_on``) did not pass (FAIL, ERROR, SKIP) is SKIP naming it.
- A check that raises becomes ERROR with a one-line reason; one that outlives its timeout (or the global
  deadline) becomes ERROR and is abandoned (its daemon thread cannot hold up the report).
- Results come back in registry order per target, whatever order they finished in.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Sequence

from .context import Context, RunOptions
from .facts import FactsStore
from .results import Fix, Outcome, Result, Status
from .redact import redact_obj, redact_text
from .registry import Check, PluginProblem, Registry
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
        max_workers: int = MAX_WORKERS,
        on_start: Callable[[Target, Check], None] | None = None,
        on_finish: Callable[[Result], None] | None = None,
    ) -> None:
        self.registry = registry
        self.options = options or RunOptions()
        self.select = select
        self.deadline = deadline
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
        """Run every selected check on every target. ``facts``: the run's store (a new one by default)."""
        return self._run(targets, facts if facts is not None else FactsStore())

    def _run(self, targets: Sequence[Target], facts: FactsStore) -> list[Result]:
        checks = self._checks()
        jobs: list[_Job] = []
        for t in targets:
            base = len(jobs)
            pos = {c.id: base + i for i, c in enumerate(checks)}
            for i, c in enumerate(checks):
                jobs.append(_Job(t, c, base + i))
            for i, c in enumerate(checks):
                j = jobs[base + i]
                j.deps = tuple(pos[d] for d in c.depends_on if d in pos)
                j.uses = tuple(pos[d] for d in c.uses if d in pos)
        lock = threading.Lock()
        done = threading.Condition(lock)
        t0 = time.monotonic()
        hard_deadline = t0 + self.deadline if self.deadline else None

        def finish(job: _Job, result: Result) -> None:
            with done:
                if job.result is not None:  # already timed out
                    return
                job.result = result
                done.notify_all()
            if self.on_finish:
                try:
                    self.on_finish(result)
                except Exception:
                    pass

        def execute(job: _Job) -> None:
            deps = {jobs[k].check.id: jobs[k].result for k in (*job.deps, *job.uses) if jobs[k].result is not None}
            ctx = Context(job.target, self.options, deps, facts)
            start = time.monotonic()
            try:
                outcome = job.check.func(ctx)
                if not isinstance(outcome, Outcome):
                    raise TypeError(f"check returned {type(outcome).__name__}, not Outcome")
            except BaseException as exc:  # noqa: BLE001 - a check never breaks the run
                outcome = Outcome.error(f"check crashed: {_one_line(exc)}")
            finish(job, _make_result(job, outcome, time.monotonic() - start, self.options))

        pending = list(jobs)
        running: list[_Job] = []
        while True:
            with done:
                # settle jobs that need no thread: not applicable, or blocked by a dependency
                progressed = True
                while progressed:
                    progressed = False
                    for job in list(pending):
                        # settle what needs no waiting first: not applicable, or a hard dependency that failed
                        quick = self._applicability(job, facts)
                        if quick is None:
                            if any(jobs[k].result is None for k in job.deps):
                                continue
                            quick = self._blocked(job, jobs)
                            if quick is None and any(jobs[k].result is None for k in job.uses):
                                continue
                        pending.remove(job)
                        progressed = True
                        if quick is not None:
                            job.result = _make_result(job, quick, 0.0, self.options)
                            if self.on_finish:
                                try:
                                    self.on_finish(job.result)
                                except Exception:
                                    pass
                        else:
                            job.started = -1.0  # ready
                            running.append(job)
                now = time.monotonic()
                active = [j for j in running if j.thread is not None and j.result is None]
                for job in running:
                    if job.thread is None and len(active) < self.max_workers:
                        job.started = now
                        job.thread = threading.Thread(target=execute, args=(job,), name=f"check-{job.check.id}", daemon=True)
                        active.append(job)
                        if self.on_start:
                            try:
                                self.on_start(job.target, job.check)
                            except Exception:
                                pass
                        job.thread.start()
                # timeouts
                now = time.monotonic()
                for job in running:
                    if job.result is None and job.thread is not None and job.started is not None and now - job.started > job.check.timeout:
                        job.result = _make_result(job, Outcome.error(f"timed out after {job.check.timeout:g} s"), now - job.started, self.options)
                        if self.on_finish:
                            try:
                                self.on_finish(job.result)
                            except Exception:
                                pass
                if hard_deadline is not None and now > hard_deadline:
                    # checks that were running: ERROR; checks still waiting: SKIP naming what held them up
                    for job in jobs:
                        if job.result is None and job.thread is not None:
                            elapsed = now - job.started if job.started and job.started > 0 else 0.0
                            job.result = _make_result(job, Outcome.error(f"not finished before the --deadline of {self.deadline:g} s"), elapsed, self.options)
                    for job in jobs:
                        if job.result is None:
                            quick = self._blocked(job, jobs) if all(jobs[k].result is not None for k in job.deps) else None
                            job.result = _make_result(job, quick or Outcome.skip(f"not started before the --deadline of {self.deadline:g} s"), 0.0, self.options)
                    break
                running = [j for j in running if j.result is None]
                if not pending and not running:
                    break
                waits = [j.started + j.check.timeout - now for j in running if j.thread is not None and j.started]
                if hard_deadline is not None:
                    waits.append(hard_deadline - now)
                done.wait(timeout=max(0.005, min(waits, default=0.05)))
        return [j.result for j in jobs if j.result is not None]

    def _applicability(self, job: _Job, facts: FactsStore) -> Outcome | None:
        if job.applicable is None:
            try:
                applies = job.check.applies(Context(job.target, self.options, {}, facts))
            except Exception as exc:
                job.applicable = Outcome.error(f"applicability test crashed: {_one_line(exc)}")
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
                up = next((jobs[k].result for k in range(len(jobs)) if jobs[k].target is job.target and jobs[k].check.id == r.blocked_by[0] and jobs[k].result is not None), None)
                if up is None:
                    break
                r = up
            roots.setdefault(r.id, r)
        text = "; ".join(f"{r.id} ({r.status.value}): {r.summary}" if r.status is Status.SKIP else f"{r.id} ({r.status.value})" for r in roots.values())
        return Outcome.skip("blocked by " + text, blocked_by=tuple(roots))
