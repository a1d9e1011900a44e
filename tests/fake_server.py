"""Processes that look like SGLang, vLLM and TEI servers, for discovery tests.

:func:`write_fake_install` writes, under a directory, what a real install puts on disk, with a tiny body:

- ``pkgs/sglang/launch_server.py``, ``pkgs/vllm/entrypoints/openai/api_server.py`` (run with
  ``python -m ...`` and ``PYTHONPATH=pkgs``, so ``/proc/PID/cmdline`` reads exactly like the real thing);
- ``bin/sglang``, ``bin/vllm``, ``bin/text-embeddings-router`` (console scripts: ``sglang serve ...``);
- ``bin/docker`` and ``bin/qwen-doctor``: a container client and another doctor run whose command lines
  name a server but are not one.

The body binds the port the command line asks for (``--port``/``--host``; TEI ``-p/--port``/``$PORT``,
``--hostname``; the servers' defaults otherwise), answers ``GET /health`` with 200 (other routes 404; ``FAKE_SERVER_LATENCY=s`` delays every answer), prints ``READY <port>``,
and exits when its stdin closes (so a crashed test never leaves it behind). ``FAKE_SERVER_MODE=loading``
never binds (a server still loading its model); ``FAKE_SERVER_CHILD=1`` forks a child that keeps the
command line (like forked workers). Only the standard library; nothing here is a mock of the code under test.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator, Sequence

HERE = Path(__file__).resolve().parent
DEFAULT_PORTS = {"sglang": 30000, "vllm": 8000, "tei": 3000}


def _opt(argv: Sequence[str], *names: str) -> str | None:
    value = None
    for i, tok in enumerate(argv):
        for n in names:
            if tok == n and i + 1 < len(argv):
                value = argv[i + 1]
            elif tok.startswith(n + "=") and n.startswith("--"):
                value = tok.split("=", 1)[1]
    return value


def _watch_stdin() -> None:
    def run() -> None:
        try:
            while sys.stdin.buffer.read(1024):
                pass
        except Exception:
            pass
        os._exit(0)

    threading.Thread(target=run, daemon=True).start()


def _delay() -> None:
    """FAKE_SERVER_LATENCY=seconds: answer like a busy server (benchmarks)."""
    try:
        time.sleep(float(os.environ.get("FAKE_SERVER_LATENCY") or 0))
    except ValueError:
        pass


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        _delay()
        code = 200 if self.path in ("/health", "/ping") else 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802
        _delay()
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:  # quiet
        pass


def serve(kind: str, argv: Sequence[str] | None = None) -> None:
    """Behave like the server `kind` started with these arguments."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if kind == "tei":
        port = int(_opt(argv, "-p", "--port") or os.environ.get("PORT") or DEFAULT_PORTS["tei"])
        host = _opt(argv, "--hostname") or "0.0.0.0"
    else:
        port = int(_opt(argv, "--port") or DEFAULT_PORTS[kind])
        host = _opt(argv, "--host") or ("127.0.0.1" if kind == "sglang" else "0.0.0.0")
    if os.environ.get("FAKE_SERVER_CHILD") == "1":
        pid = os.fork()
        if pid == 0:  # a worker that keeps the parent's command line
            _watch_stdin()
            while True:
                time.sleep(3600)
    _watch_stdin()
    if os.environ.get("FAKE_SERVER_MODE") == "loading":
        print("LOADING", flush=True)
        while True:
            time.sleep(3600)
    httpd = ThreadingHTTPServer((host, port), _Handler)
    print(f"READY {httpd.server_address[1]}", flush=True)
    httpd.serve_forever()


def console(kind: str) -> None:
    """A console script: `sglang serve ...`, `vllm serve ...`, `text-embeddings-router ...`."""
    argv = sys.argv[1:]
    if kind in ("sglang", "vllm"):
        if not argv or argv[0] != "serve":
            sys.exit(f"usage: {kind} serve ...")
        argv = argv[1:]
    serve(kind, argv)


def idle() -> None:
    """A process that only sleeps until its stdin closes (a docker client, another doctor run)."""
    _watch_stdin()
    print("READY 0", flush=True)
    while True:
        time.sleep(3600)


_PRELUDE = "import sys\nsys.path.insert(0, {here!r})\nimport fake_server\n"


def write_fake_install(root: os.PathLike | str) -> Path:
    """Write the fake packages and console scripts under root; returns root."""
    root = Path(root)
    pk = root / "pkgs"
    files = {
        pk / "sglang" / "__init__.py": "",
        pk / "sglang" / "launch_server.py": _PRELUDE + "fake_server.serve('sglang')\n",
        pk / "vllm" / "__init__.py": "",
        pk / "vllm" / "entrypoints" / "__init__.py": "",
        pk / "vllm" / "entrypoints" / "openai" / "__init__.py": "",
        pk / "vllm" / "entrypoints" / "openai" / "api_server.py": _PRELUDE + "fake_server.serve('vllm')\n",
    }
    for path, body in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body.format(here=str(HERE)) if body else "")
    scripts = {
        "sglang": "fake_server.console('sglang')",
        "vllm": "fake_server.console('vllm')",
        "text-embeddings-router": "fake_server.console('tei')",
        "docker": "fake_server.idle()",
        "qwen-doctor": "fake_server.idle()",
    }
    (root / "bin").mkdir(parents=True, exist_ok=True)
    for name, call in scripts.items():
        p = root / "bin" / name
        p.write_text(f"#!{sys.executable}\n" + _PRELUDE.format(here=str(HERE)) + call + "\n")
        p.chmod(0o755)
    return root


_GIVEN: set[int] = set()


def free_port() -> int:
    """A free TCP port on 127.0.0.1, never the same twice in this process (tests start several at once)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


@contextlib.contextmanager
def running(root: os.PathLike | str, argv: Sequence[str], env: dict[str, str] | None = None, timeout: float = 20.0) -> Iterator[subprocess.Popen]:
    """Start argv (with PYTHONPATH at the fake packages), wait for READY/LOADING, stop it afterwards."""
    full_env = {**os.environ, "PYTHONPATH": str(Path(root) / "pkgs"), **(env or {})}
    proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, start_new_session=True)
    try:
        line = b""
        deadline = time.monotonic() + timeout
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith((b"READY", b"LOADING")) or not line:
                break
        if not line.startswith((b"READY", b"LOADING")):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)
            err = proc.stderr.read().decode(errors="replace") if proc.poll() is not None and proc.stderr else ""
            raise RuntimeError(f"fake server {list(argv)[:4]} did not start: {line!r} {err[-2000:]}")
        yield proc
    finally:
        with contextlib.suppress(Exception):
            assert proc.stdin is not None
            proc.stdin.close()  # the fake exits on EOF
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)  # its own session: the server and its forked child
            proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, 9)  # a forked child that outlived its parent


if __name__ == "__main__":  # python tests/fake_server.py {sglang|vllm|tei} ARGS...
    serve(sys.argv[1], sys.argv[2:])
