"""A fork server for the hostile-input corpus: the real CLI (``qwen_doctor.cli.main``) in a fresh child process
per case, without paying the interpreter start and the imports 500 times.

Run as ``python tests/hostile/forkserver.py``; it imports the doctor once (single-threaded), then reads one JSON
request per line on stdin and answers one JSON line on stdout per request:

request: ``{"argv": [...], "cwd": DIR, "env": {...}, "stdout": "file"|"full"|"closed"|"epipe", "stdout_path": P,
"stderr_path": P, "encoding": "utf-8"|"ascii", "as_limit": BYTES, "timeout": SECONDS}``

answer: ``{"rc": int|None, "signal": int|None, "timed_out": bool, "wall_s": float, "max_rss_kb": int}``

The child is a fork of this process: it sets RLIMIT_AS, its own process group, the working directory, the
environment and its standard streams (``closed``: fd 1 closed and ``sys.stdout`` None, as Python starts with a
closed stdout; ``full``: /dev/full; ``epipe``: a pipe whose reader has gone), then calls ``cli.main(argv)`` and
exits with its return value. The parent kills the child's process group at the time limit and reports the
child's own peak RSS (wait4).
"""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import sys
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)


def _warm() -> None:
    """Import what a run imports, so children start at once. Nothing here may start a thread."""
    import qwen_doctor.cli  # noqa: F401
    import qwen_doctor.deployfiles  # noqa: F401
    import qwen_doctor.render.json_format  # noqa: F401
    import qwen_doctor.render.junit  # noqa: F401
    import qwen_doctor.render.markdown  # noqa: F401
    import qwen_doctor.render.prometheus  # noqa: F401
    import qwen_doctor.render.text  # noqa: F401
    import qwen_doctor.runner  # noqa: F401
    from qwen_doctor.registry import default_registry

    default_registry(use_default_dirs=False)  # imports every built-in check module
    import rich.console  # noqa: F401
    import yaml  # noqa: F401


def _child(req: dict) -> None:
    rc = 3
    try:
        os.setpgid(0, 0)
        lim = int(req.get("as_limit") or 0)
        if lim:
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req.get("env") or {})
        dn = os.open(os.devnull, os.O_RDONLY)
        os.dup2(dn, 0)
        err = os.open(req["stderr_path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(err, 2)
        mode = req.get("stdout", "file")
        if mode == "file":
            fd = os.open(req["stdout_path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 1)
        elif mode == "full":
            fd = os.open("/dev/full", os.O_WRONLY)
            os.dup2(fd, 1)
        elif mode == "epipe":
            r, w = os.pipe()
            os.close(r)
            os.dup2(w, 1)
        elif mode == "closed":
            os.close(1)
        enc = req.get("encoding") or "utf-8"
        sys.stdin = None  # type: ignore[assignment]
        sys.stdout = None if mode == "closed" else open(1, "w", encoding=enc, errors="strict", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding=enc, errors="backslashreplace", closefd=False, buffering=1)  # noqa: SIM115
        sys.argv = ["qwen-doctor", *req["argv"]]
        from qwen_doctor.cli import main

        rc = main(list(req["argv"]))
        try:
            if sys.stdout is not None:
                sys.stdout.flush()
        except OSError:
            pass
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - an escaped exception is what the corpus looks for: a traceback, exit 3
        try:
            sys.stderr.write(traceback.format_exc())
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            pass
        rc = 3
    try:
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        pass
    os._exit(rc if isinstance(rc, int) else 3)


def _serve_one(req: dict) -> dict:
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(req)
    timeout = float(req.get("timeout") or 60)
    timed_out = False
    while True:
        got, status, usage = os.wait4(pid, os.WNOHANG)
        if got:
            break
        if time.monotonic() - t0 > timeout:
            timed_out = True
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                os.kill(pid, signal.SIGKILL)
            got, status, usage = os.wait4(pid, 0)
            break
        time.sleep(0.005)
    wall = time.monotonic() - t0
    try:  # threads a check abandoned may live on in the child's group: end them
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    rc = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    return {"rc": rc, "signal": sig, "timed_out": timed_out, "wall_s": round(wall, 3), "max_rss_kb": usage.ru_maxrss}


def main() -> int:
    _warm()
    out = io.TextIOWrapper(os.fdopen(os.dup(1), "wb"), encoding="utf-8", line_buffering=True)
    sys.stdout.write("")
    out.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            res = _serve_one(req)
        except Exception as exc:  # noqa: BLE001 - the harness reports it
            res = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(res) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
