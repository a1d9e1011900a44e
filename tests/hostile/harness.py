"""The hostile-input corpus harness: run cases as child processes of the real CLI and judge every one the same way.

A :class:`Case` is a command line (``{d}`` stands for the case's own temp dir), a setup that writes its inputs,
and what is known about it (the output format, the exit codes it may end with, the secrets it holds, the paths
outside it that must not change). :class:`Pool` runs cases two or three at a time, each as a fork of a warmed
server process (tests/hostile/forkserver.py; ``fresh=True``: a new ``python -m qwen_doctor`` process, for cases
about the interpreter's own start, e.g. its stdout encoding), with RLIMIT_AS and a wall-time limit.

:func:`judge` asserts, for every case: the exit code is documented (0, 1, 2, 4: never 3, never a signal, never
the time limit) and the one the case expects; no traceback or "internal error" on stderr; stdout (and the -o
file) parse in the requested format; no ESC byte from the input reaches text, markdown or stderr; no secret
appears in stdout, stderr or the -o file; the sentinel paths are as they were; the peak RSS and the wall time
are within the case's limits.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import resource
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parents[2]
PY = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
DOCUMENTED = {0, 1, 2, 4}
AS_LIMIT = 2 * 1024**3  # address space; with MALLOC_ARENA_MAX=2 a run needs far less (RSS is judged separately)
DEFAULT_RSS_MB = 300.0
WORKERS = int(os.environ.get("QWEN_DOCTOR_CORPUS_WORKERS", "3"))

BASE_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": os.environ.get("HOME", "/root"),
    "LANG": "C.UTF-8",
    "NO_COLOR": "1",
    "MALLOC_ARENA_MAX": "2",
    "PYTHONPATH": str(REPO),
}


@dataclass
class Case:
    id: str
    argv: list[str]
    fmt: Optional[str] = None  # json | junit | text | markdown | prometheus | None (not a report)
    rc: Optional[set[int]] = None  # the exit codes this case may end with (else any documented one)
    secrets: tuple[str, ...] = ()
    stdout: str = "file"  # file | full | closed | epipe
    env: dict[str, str] = field(default_factory=dict)
    output: Optional[str] = None  # the -o path (``{d}`` = the case dir), read and judged like stdout
    sentinels: tuple[str, ...] = ()  # paths (``{d}`` allowed) that must be left exactly as they were
    setup: Optional[Callable[[Path], None]] = None
    wall: float = 30.0  # seconds
    rss_mb: float = DEFAULT_RSS_MB
    fresh: bool = False
    encoding: str = "utf-8"
    stderr_has: Optional[str] = None  # a substring stderr must hold (the message naming the file, ...)
    no_fake_line: Optional[str] = None  # a line that must never start a line of text/markdown output
    slow: bool = False


@dataclass
class Outcome:
    case: Case
    rc: Optional[int]
    signal: Optional[int]
    timed_out: bool
    wall_s: float
    max_rss_kb: int
    stdout: bytes
    stderr: bytes
    output: Optional[bytes]
    problems: list[str]


class _Server:
    def __init__(self) -> None:
        env = dict(BASE_ENV)
        self.proc = subprocess.Popen(
            [PY, str(Path(__file__).with_name("forkserver.py"))], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=str(REPO), text=True
        )
        ready = self.proc.stdout.readline()
        if not ready:
            raise RuntimeError("the fork server did not start")

    def run(self, req: dict) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the fork server went away")
        return json.loads(line)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            self.proc.kill()


def _limit_as() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
    os.setsid()


def _run_fresh(case: Case, argv: list[str], env: dict, out_path: Path, err_path: Path, cwd: Path) -> dict:
    stdout: object
    if case.stdout == "file":
        stdout = open(out_path, "wb")  # noqa: SIM115
    elif case.stdout == "full":
        stdout = open("/dev/full", "wb")  # noqa: SIM115
    elif case.stdout == "closed":
        stdout = None
    else:
        r, w = os.pipe()
        os.close(r)
        stdout = os.fdopen(w, "wb")
    cmd = [PY, "-m", "qwen_doctor", *argv]
    t0 = time.monotonic()
    with open(err_path, "wb") as err:
        kwargs: dict = {"stdin": subprocess.DEVNULL, "stdout": stdout, "stderr": err, "env": env, "cwd": str(cwd), "preexec_fn": _limit_as}
        if case.stdout == "closed":
            kwargs["stdout"] = subprocess.DEVNULL
            kwargs["preexec_fn"] = lambda: (_limit_as(), os.close(1))
        proc = subprocess.Popen(cmd, **kwargs)
        timed_out = False
        # VmHWM of the child's own address space, sampled only once it runs the doctor: between fork and exec the child
        # is a copy of this pytest process (and ru_maxrss keeps that copy's peak across exec), so a process too quick to
        # be sampled after its exec is left unmeasured (0) rather than charged with pytest's own memory
        hwm_kb = 0
        while True:
            hwm_kb = max(hwm_kb, _vm_hwm_kb(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > case.wall + 10:
                timed_out = True
                os.killpg(proc.pid, 9)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        proc.returncode = 0  # reaped by wait4
    if stdout is not None and hasattr(stdout, "close"):
        stdout.close()
    wall = time.monotonic() - t0
    return {
        "rc": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "timed_out": timed_out,
        "wall_s": wall,
        "max_rss_kb": hwm_kb,
    }


def _vm_hwm_kb(pid: int) -> int:
    """Peak resident set of a running process since its exec (Linux /proc/PID/status VmHWM), 0 when unreadable or
    when the process has not exec'd the doctor yet (a forked copy of this pytest process)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            if b"-m\x00qwen_doctor" not in fh.read():
                return 0
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _fill(s: str, d: Path) -> str:
    return s.replace("{d}", str(d))


def _snapshot(paths: list[str]) -> dict[str, object]:
    snap: dict[str, object] = {}
    for p in paths:
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            snap[p] = None
            continue
        entry: list[object] = [st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino]
        if os.path.islink(p):
            entry.append(os.readlink(p))
        elif os.path.isfile(p) and st.st_size < 1 << 20:
            entry.append(hashlib.sha256(Path(p).read_bytes()).hexdigest())
        snap[p] = entry
    return snap


class Pool:
    """WORKERS fork servers; :meth:`run_all` runs cases on them in parallel and returns their outcomes."""

    def __init__(self, root: Path, outside: Path) -> None:
        self.root = root
        self.outside = outside  # a directory outside every case dir: it must never change
        self.servers: "queue.Queue[_Server]" = queue.Queue()
        self._all: list[_Server] = []
        for _ in range(WORKERS):
            s = _Server()
            self._all.append(s)
            self.servers.put(s)
        self.stats: list[Outcome] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        for s in self._all:
            s.close()

    def _outside_paths(self) -> list[str]:
        return [str(p) for p in sorted(self.outside.rglob("*"))] + [str(self.outside)]

    def run(self, case: Case) -> Outcome:
        d = self.root / case.id.replace("/", "_")
        d.mkdir(parents=True, exist_ok=False)
        if case.setup is not None:
            case.setup(d)
        argv = [_fill(a, d) for a in case.argv]
        env = dict(BASE_ENV, **{k: _fill(v, d) for k, v in case.env.items()})
        out_path, err_path = d / ".stdout", d / ".stderr"
        sentinels = [_fill(s, d) for s in case.sentinels] + self._outside_paths()
        before = _snapshot(sentinels)
        if case.fresh:
            res = _run_fresh(case, argv, env, out_path, err_path, d)
        else:
            req = {
                "argv": argv,
                "cwd": str(d),
                "env": env,
                "stdout": case.stdout,
                "stdout_path": str(out_path),
                "stderr_path": str(err_path),
                "encoding": case.encoding,
                "as_limit": AS_LIMIT,
                "timeout": case.wall + 10,
            }
            server = self.servers.get()
            try:
                res = server.run(req)
            finally:
                self.servers.put(server)
        after = _snapshot(sentinels)
        stdout = out_path.read_bytes() if out_path.exists() else b""
        stderr = err_path.read_bytes() if err_path.exists() else b""
        output = None
        if case.output:
            op = Path(_fill(case.output, d))
            try:
                output = op.read_bytes() if op.is_file() and not op.is_symlink() else None
            except OSError:
                output = None
        o = Outcome(
            case,
            res.get("rc"),
            res.get("signal"),
            bool(res.get("timed_out")),
            float(res.get("wall_s", 0)),
            int(res.get("max_rss_kb", 0)),
            stdout,
            stderr,
            output,
            [],
        )
        if "error" in res:
            o.problems.append(f"harness: {res['error']}")
        o.problems += judge(o, before, after)
        with self._lock:
            self.stats.append(o)
        return o

    def run_all(self, cases: list[Case]) -> list[Outcome]:
        ids = [c.id for c in cases]
        assert len(ids) == len(set(ids)), "case IDs must be unique"
        with ThreadPoolExecutor(max_workers=WORKERS) as ex:
            return list(ex.map(self.run, cases))


def _parse(fmt: str, data: bytes, what: str) -> list[str]:
    if not data.strip():
        return [f"{what} is empty"]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [f"{what} is not UTF-8: {exc}"]
    try:
        if fmt == "json":
            json.loads(text)
        elif fmt == "junit":
            ET.fromstring(text)
        elif fmt == "prometheus":
            for ln in text.splitlines():
                if ln and not ln.startswith("#") and len(ln.split()) < 2:
                    return [f"{what}: not Prometheus exposition: {ln[:80]!r}"]
    except ValueError as exc:
        return [f"{what} is not {fmt}: {exc}"]
    except ET.ParseError as exc:
        return [f"{what} is not XML: {exc}"]
    return []


def judge(o: Outcome, before: dict, after: dict) -> list[str]:
    c = o.case
    bad: list[str] = []
    if o.timed_out:
        bad.append(f"ran past its time limit ({o.wall_s:.1f} s)")
    if o.signal is not None:
        bad.append(f"killed by signal {o.signal}")
    if o.rc is not None and o.rc not in DOCUMENTED:
        bad.append(f"exit {o.rc}, not a documented exit code")
    if c.rc is not None and o.rc not in c.rc:
        bad.append(f"exit {o.rc}, expected one of {sorted(c.rc)}")
    err = o.stderr.decode("utf-8", "replace")
    if "Traceback (most recent call last)" in err or "internal error" in err:
        bad.append(f"stderr holds a traceback or an internal error: {err[-600:]}")
    if c.stderr_has is not None and c.stderr_has not in err:
        bad.append(f"stderr lacks {c.stderr_has!r}: {err[-300:]!r}")
    if o.wall_s > c.wall:
        bad.append(f"took {o.wall_s:.1f} s, over {c.wall:g} s")
    if o.max_rss_kb / 1024 > c.rss_mb:
        bad.append(f"peak RSS {o.max_rss_kb / 1024:.0f} MB, over {c.rss_mb:g} MB")
    reports = []
    if c.fmt and o.rc in (0, 1):
        if c.stdout == "file" and not (c.output and c.output != "-"):
            reports.append(("stdout", o.stdout))
        if c.output and c.output != "-":
            if o.output is None:
                bad.append("no -o file was written")
            else:
                reports.append(("-o file", o.output))
        for what, data in reports:
            bad += _parse(c.fmt, data, what)
    if o.rc == 2 and o.stdout.strip() and c.fmt in ("json", "junit"):
        bad.append(f"a usage error left text on stdout: {o.stdout[:120]!r}")
    for what, data in (("stdout", o.stdout), ("stderr", o.stderr), ("-o file", o.output or b"")):
        if b"\x1b" in data and (what != "stdout" or c.fmt in ("text", "markdown", None)):
            bad.append(f"{what} holds a raw ESC byte")
        if c.no_fake_line and what != "stderr" and c.fmt in ("text", "markdown"):
            for ln in data.decode("utf-8", "replace").splitlines():
                if ln.lstrip().startswith(c.no_fake_line):
                    bad.append(f"{what} has a fake report line: {ln[:120]!r}")
        for s in c.secrets:
            if s and s.encode() in data:
                bad.append(f"{what} shows the secret {s!r}")
    for p in before:
        if before[p] != after[p]:
            bad.append(f"{p} changed: {before[p]} -> {after[p]}")
    return bad
