"""Runner and registry behaviour with small real checks (no mocks: real threads, real timeouts, real files)."""

from __future__ import annotations

import os
import textwrap
import threading
import time

import pytest

from qwen_doctor.context import RunOptions
from qwen_doctor.registry import Registry, RegistryError, default_registry
from qwen_doctor.results import Outcome, Status, exit_code_for
from qwen_doctor.runner import Runner, problem_results
from qwen_doctor.target import build_target


@pytest.fixture()
def target():
    return build_target(["sglang", "serve", "--model-path", "/models/Qwen3-Embedding-0.6B", "--is-embedding"], server_version="0.5.23")


def _reg(*checks):
    reg = Registry()
    for cid, func, kw in checks:
        reg.check(cid, cid, **kw)(func)
    return reg


def test_crash_becomes_error_and_others_go_on(target):
    def boom(ctx):
        raise RuntimeError("kaboom\nsecond line is dropped")

    def fine(ctx):
        return Outcome.passed("ok")

    results = Runner(_reg(("t.boom", boom, {}), ("t.fine", fine, {}))).run([target])
    by = {r.id: r for r in results}
    assert by["t.boom"].status is Status.ERROR
    assert by["t.boom"].summary == "check crashed: RuntimeError: kaboom"
    assert by["t.fine"].status is Status.PASS


def test_timeout_becomes_error_without_waiting_for_the_check(target):
    release = threading.Event()

    def hang(ctx):
        release.wait(30)
        return Outcome.passed("late")

    def quick(ctx):
        return Outcome.passed("ok")

    t0 = time.monotonic()
    results = Runner(_reg(("t.hang", hang, {"timeout": 0.3}), ("t.quick", quick, {}))).run([target])
    elapsed = time.monotonic() - t0
    release.set()
    by = {r.id: r for r in results}
    assert by["t.hang"].status is Status.ERROR
    assert "timed out after 0.3 s" in by["t.hang"].summary
    assert by["t.quick"].status is Status.PASS
    assert elapsed < 10  # not the 30 s the check would have taken


def test_global_deadline(target):
    release = threading.Event()

    def slow(ctx):
        release.wait(30)
        return Outcome.passed("late")

    results = Runner(_reg(("t.slow", slow, {"timeout": 60})), deadline=0.3).run([target])
    release.set()
    assert results[0].status is Status.ERROR
    assert "--deadline" in results[0].summary


def test_dependency_failure_skips_with_blocker(target):
    def a(ctx):
        return Outcome.fail("broken")

    def b(ctx):
        return Outcome.passed("should not run")

    results = Runner(_reg(("t.a", a, {}), ("t.b", b, {"depends_on": ("t.a",)}))).run([target])
    by = {r.id: r for r in results}
    assert by["t.b"].status is Status.SKIP
    assert by["t.b"].blocked_by == ("t.a",)
    assert "t.a (fail)" in by["t.b"].summary


def test_soft_dependency_evidence_flows(target):
    def a(ctx):
        return Outcome.passed("made", weight_bytes=1234)

    def b(ctx):
        return Outcome.passed(f"saw {ctx.evidence('t.a', 'weight_bytes')}")

    results = Runner(_reg(("t.b", b, {"uses": ("t.a",)}), ("t.a", a, {}))).run([target])
    assert [r.id for r in results] == ["t.b", "t.a"]  # registry order kept
    assert results[0].summary == "saw 1234"


def test_checks_run_concurrently(target):
    barrier = threading.Barrier(3, timeout=5)

    def meet(ctx):
        barrier.wait()  # only passes when three checks run at the same time
        return Outcome.passed("met")

    reg = _reg(("t.a", meet, {}), ("t.b", meet, {}), ("t.c", meet, {}))
    results = Runner(reg).run([target])
    assert all(r.status is Status.PASS for r in results)


def test_not_applicable_is_skip_with_reason(target):
    def a(ctx):
        return Outcome.passed("x")

    reg = _reg(("t.a", a, {"applies": lambda t: "needs a GPU"}))
    (r,) = Runner(reg).run([target])
    assert r.status is Status.SKIP and r.summary == "needs a GPU"


def test_secrets_redacted_in_results(target):
    def leak(ctx):
        return Outcome.fail("server said: key sk-abcdefghijklmnop and Authorization: Bearer hunter2hunter2", header="Authorization: Bearer hunter2hunter2")

    (r,) = Runner(_reg(("t.leak", leak, {})), RunOptions(api_key="hunter2hunter2")).run([target])
    dumped = str(r.to_dict())
    assert "hunter2" not in dumped and "sk-abcdefghijklmnop" not in dumped


def test_exit_codes():
    from qwen_doctor.results import Result

    def res(status):
        return Result("a.b", "t", "c", status, "s", {}, None, 0, "x")

    assert exit_code_for([res(Status.PASS), res(Status.SKIP)]) == 0
    assert exit_code_for([res(Status.WARN)]) == 0
    assert exit_code_for([res(Status.WARN)], "warn") == 1
    assert exit_code_for([res(Status.FAIL)]) == 1
    assert exit_code_for([res(Status.ERROR)]) == 1


def test_duplicate_id_and_bad_id_rejected():
    reg = Registry()
    reg.check("x.one", "one")(lambda ctx: Outcome.passed("1"))
    with pytest.raises(RegistryError):
        reg.check("x.one", "again")(lambda ctx: Outcome.passed("1"))
    with pytest.raises(RegistryError):
        reg.check("NoDots", "bad")(lambda ctx: Outcome.passed("1"))


def _write(d, name, body, mode=0o644):
    p = d / name
    p.write_text(textwrap.dedent(body))
    os.chmod(p, mode)
    return p


def test_dropins_broken_world_writable_duplicate_become_problems(tmp_path, target):
    d = tmp_path / "checks.d"
    d.mkdir()
    os.chmod(d, 0o755)
    _write(
        d,
        "a_good.py",
        """
        from qwen_doctor.results import Outcome
        def register(registry):
            @registry.check("site.good", "good")
            def good(ctx):
                '''What it checks: x.'''
                return Outcome.passed("fine")
    """,
    )
    _write(d, "b_broken.py", "def register(registry):\n    raise ImportError('nope'\n")  # SyntaxError
    _write(
        d,
        "c_dup.py",
        """
        from qwen_doctor.results import Outcome
        def register(registry):
            registry.check("site.other", "other")(lambda ctx: Outcome.passed("x"))
            registry.check("host.port", "dup")(lambda ctx: Outcome.passed("x"))
    """,
    )
    _write(d, "d_open.py", "def register(registry):\n    pass\n", mode=0o666)
    reg = default_registry([str(d)], use_default_dirs=False)
    assert reg.get("site.good") is not None
    assert reg.get("site.other") is None  # all-or-nothing for a plugin that failed half-way
    assert reg.get("host.port").plugin == "builtin"
    problems = {os.path.basename(p.source): p.message for p in reg.problems}
    assert "SyntaxError" in problems["b_broken.py"]
    assert "duplicate check ID 'host.port'" in problems["c_dup.py"]
    assert "world-writable" in problems["d_open.py"]
    errs = problem_results(reg.problems, target.label)
    assert {r.status for r in errs} == {Status.ERROR}
    assert any("b_broken.py" in r.summary for r in errs)
    # and the run still works
    results = Runner(reg).run([target])
    assert any(r.id == "site.good" and r.status is Status.PASS for r in results)


def test_builtin_checks_are_plugins_with_docs():
    reg = default_registry(use_default_dirs=False)
    assert len(reg) >= 10
    assert not reg.problems, reg.problems
    for chk in reg:
        doc = chk.doc
        assert "What it checks:" in doc and "Why it matters:" in doc and "How to fix:" in doc, chk.id


def test_deadline_skips_dependents_and_settles_inapplicable_checks_without_waiting(target):
    release = threading.Event()

    def slow(ctx):
        release.wait(30)
        return Outcome.passed("late")

    def dependent(ctx):
        return Outcome.passed("never")

    def not_here(ctx):
        return Outcome.passed("never")

    reg = _reg(
        ("t.slow", slow, {"timeout": 60}),
        ("t.dep", dependent, {"depends_on": ("t.slow",)}),
        ("t.na", not_here, {"uses": ("t.slow",), "applies": lambda t: "not for this target"}),
    )
    by = {r.id: r for r in Runner(reg, deadline=0.3).run([target])}
    release.set()
    assert by["t.slow"].status is Status.ERROR
    assert by["t.dep"].status is Status.SKIP and by["t.dep"].blocked_by == ("t.slow",)
    assert by["t.na"].status is Status.SKIP and by["t.na"].summary == "not for this target"


def test_redacted_shell_command_stays_balanced():
    from qwen_doctor.launch import split_command
    from qwen_doctor.redact import redact_text

    t = build_target(["VLLM_API_KEY=sk-live-abcdef1234567890 vllm serve /m/Qwen3-Embedding-0.6B --api-key 'two words'"], server_version="0.33.0")
    shown = redact_text(t.launch.display())
    assert "sk-live" not in shown and "two words" not in shown
    assert split_command(shown)[0] == "VLLM_API_KEY=***"  # quotes still balanced: pasteable
