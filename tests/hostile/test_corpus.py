"""The hostile-input corpus of issue 13: every case runs the real CLI in its own process, with a wall-time limit
and RLIMIT_AS, and is judged by tests/hostile/harness.py:judge (documented exit code, never 3 or a traceback;
stdout and -o parse in the requested format; no raw escape in text; no secret anywhere; nothing outside the
case's dir changed; within its time and memory limits).

Classes: unbounded reads (devices, FIFOs, sockets, huge and sparse files, alias bombs, deep nesting, in --config,
--from, .env, --samples, model files and checks.d), bad stdout (/dev/full, closed, EPIPE), names that do not
encode, numbers out of range (flags, environment, TOML), output-file targets, secrets in every form and format,
drop-ins (placement, print, exit, cycles, bad timeouts, hangs), escapes and newlines, and garbage files.
Not covered: a drop-in calling ``os._exit`` or writing to fd 1 with ``os.write`` (no Python code can stop
either inside the doctor's own process; they are the drop-in author's doing, and a refused placement keeps
strangers' drop-ins out).
"""

from __future__ import annotations

import pytest

from . import cases as C

CLASSES = {
    "unbounded_reads": C.unbounded_reads,
    "bad_stdout": C.bad_stdout,
    "bad_names": C.bad_names,
    "numbers": C.numbers,
    "output_targets": C.output_targets,
    "secrets": C.secrets,
    "dropins": C.dropins,
    "escapes": C.escapes,
    "garbage": C.garbage,
}


def _report(outcomes) -> str:
    bad = [o for o in outcomes if o.problems]
    lines = [f"{len(bad)} of {len(outcomes)} cases failed:"]
    for o in bad[:40]:
        lines.append(f"- {o.case.id} (exit {o.rc}, {o.wall_s:.1f} s, {o.max_rss_kb // 1024} MB): " + "; ".join(p[:400] for p in o.problems))
    return "\n".join(lines)


@pytest.mark.parametrize("name", list(CLASSES))
def test_hostile_class(pool, name):
    outcomes = pool.run_all(CLASSES[name]())
    assert outcomes, "a class with no cases"
    assert not any(o.problems for o in outcomes), _report(outcomes)


def test_corpus_size(outside):
    C.OUTSIDE.update(dir=outside, file=outside / "sentinel.txt")
    total = sum(len(make()) for make in CLASSES.values())
    assert total >= 500, f"the corpus has {total} cases, fewer than 500"
