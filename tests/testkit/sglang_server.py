"""Start and stop a REAL, unmodified SGLang 0.5.23 server on loopback, on this CPU-only machine.

The server runs from its own venv (``scripts/install_sglang_cpu.sh`` makes ``<repo>/.venv-sglang``;
``$QWEN_DOCTOR_SGLANG_PYTHON`` overrides the interpreter; the venv also holds ``libcuda/libcuda.so.1``, which
sglang-kernel links). It serves the tiny random-weight Qwen3 of :mod:`tests.testkit.modeldirs`.

Usage::

    cfg = SglangConfig(name="embed")                        # --is-embedding
    with sglang_server(model_dir, cfg) as srv:
        httpx.post(srv.url + "/v1/embeddings", json={"input": "hi"})

A configuration (:class:`SglangConfig`) says how it is launched: embedding mode or not, the served name, the
model path as typed (a trailing slash is kept), ``--context-length``, ``--api-key``, and the launcher
(``python -m sglang.launch_server`` or the ``sglang serve`` console script).

Facts this relies on (measured here, SGLang 0.5.23 on 2 cores):

* ``SGLANG_USE_CPU_ENGINE=1`` is required with ``--device cpu``; ``--attention-backend torch_native`` is what
  SGLang falls back to anyway without AMX; ``--dtype float32`` gives vectors equal to HF's.
* ``--max-total-tokens`` bounds the KV cache (without it the KV pool takes ~70 % of the machine's RAM).
* The port is bound only once the model has loaded; ``/health`` is 200 once the warm-up request is done
  (``/health`` is exempt from ``--api-key``). Start -> ``/health`` 200 takes 40-60 s (imports dominate).
* The server is 3 processes (HTTP server, scheduler, detokenizer) in one process group (started with
  ``start_new_session``): stopped with SIGTERM to the HTTP server (it stops its children), then SIGTERM and
  SIGKILL to the whole group after a grace period, and waited for until no process of the group is left.
  RSS ~3 GB in all, so :class:`SglangPool` keeps at most one configuration running.
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
from typing import Callable, Iterator

REPO_ROOT = Path(__file__).resolve().parents[2]
SGLANG_VERSION = "0.5.23"
#: the tiny model's directory name, as a real deployment names it (SGLang's Qwen3 loader adds the ``model.`` prefix
#: to prefix-less weight names, so the real Qwen3-Embedding layout of the test kit's model loads as it is)
MODEL_DIR_NAME = "Qwen3-Embedding-0.6B-tiny"
MAX_TOTAL_TOKENS = 8192
READY_TIMEOUT = 300.0  # 40-60 s on a quiet machine; 150 s seen while other test runs share the 2 cores
STOP_GRACE = 15.0

SERVER_ENV = {
    "SGLANG_USE_CPU_ENGINE": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "2",
}


class SglangServerError(RuntimeError):
    """The server exited or did not become ready; the message carries the log tail."""


def sglang_python() -> Path | None:
    """The SGLang venv's python (``$QWEN_DOCTOR_SGLANG_PYTHON`` or ``<repo>/.venv-sglang/bin/python``), if present.

    The path is not resolved: a venv's ``bin/python`` is a symlink to the base interpreter, and the venv is
    what matters (its site-packages, its ``libcuda/``)."""
    env = os.environ.get("QWEN_DOCTOR_SGLANG_PYTHON")
    p = Path(env) if env else REPO_ROOT / ".venv-sglang" / "bin" / "python"
    if not (p.is_file() and os.access(p, os.X_OK)):
        return None
    return p if (venv_dir(p) / "libcuda" / "libcuda.so.1").is_file() else None


def venv_dir(python: os.PathLike | str) -> Path:
    """The venv of an interpreter path ``VENV/bin/python`` (without resolving the symlink)."""
    return Path(os.path.abspath(python)).parent.parent


def missing_reason() -> str:
    env = os.environ.get("QWEN_DOCTOR_SGLANG_PYTHON")
    where = env or str(REPO_ROOT / ".venv-sglang" / "bin" / "python")
    return (
        f"SGLang CPU venv not found or incomplete at {where} (needs bin/python and libcuda/libcuda.so.1): "
        "run scripts/install_sglang_cpu.sh, or set QWEN_DOCTOR_SGLANG_PYTHON"
    )


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether the server could bind 127.0.0.1:port now (uvicorn sets SO_REUSEADDR, so TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass(frozen=True)
class SglangConfig:
    """How a server is launched. ``served_model_name=None``: SGLang's default (the model path as typed)."""

    name: str = "embed"
    is_embedding: bool = True
    served_model_name: str | None = None
    trailing_slash: bool = False  # pass --model-path with a trailing "/"
    context_length: int | None = None
    api_key: str | None = None
    launcher: str = "python-m"  # "python-m": python -m sglang.launch_server; "cli": the `sglang serve` console script
    max_total_tokens: int = MAX_TOTAL_TOKENS
    extra_args: tuple[str, ...] = ()


def model_path_arg(model_dir: os.PathLike | str, cfg: SglangConfig) -> str:
    """--model-path as the configuration types it (absolute; a trailing slash when asked)."""
    p = str(Path(model_dir).resolve())
    return p + "/" if cfg.trailing_slash else p


def build_command(python: os.PathLike | str, model_dir: os.PathLike | str, port: int, cfg: SglangConfig) -> list[str]:
    """The server's argv: ``VENV/bin/python -m sglang.launch_server ...`` or ``VENV/bin/sglang serve ...``."""
    python = os.path.abspath(python)
    if cfg.launcher == "cli":
        head = [str(venv_dir(python) / "bin" / "sglang"), "serve"]
    elif cfg.launcher == "python-m":
        head = [python, "-m", "sglang.launch_server"]
    else:
        raise ValueError(f"launcher must be 'python-m' or 'cli', not {cfg.launcher!r}")
    args = ["--model-path", model_path_arg(model_dir, cfg)]
    if cfg.served_model_name:
        args += ["--served-model-name", cfg.served_model_name]
    if cfg.is_embedding:
        args.append("--is-embedding")
    args += [
        "--device",
        "cpu",
        "--attention-backend",
        "torch_native",
        "--dtype",
        "float32",
        "--max-total-tokens",
        str(cfg.max_total_tokens),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    if cfg.context_length:
        args += ["--context-length", str(cfg.context_length)]
    if cfg.api_key:
        args += ["--api-key", cfg.api_key]
    return head + args + list(cfg.extra_args)


def server_env(python: os.PathLike | str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the server runs with: ours plus SERVER_ENV and LD_LIBRARY_PATH=VENV/libcuda."""
    lib = str(venv_dir(python) / "libcuda")
    old = os.environ.get("LD_LIBRARY_PATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_DOCTOR_")}
    env.update(SERVER_ENV)
    env["LD_LIBRARY_PATH"] = f"{lib}:{old}" if old else lib
    env.update(extra or {})
    return env


def http(
    method: str, url: str, body: dict | bytes | None = None, timeout: float = 5.0, headers: dict[str, str] | None = None
) -> tuple[int | None, dict[str, str], bytes]:
    """(status, headers, body) of one request; status None when nothing answered (refused, reset, timeout)."""
    if isinstance(body, dict):
        data = json.dumps(body).encode()
        hdr = {"Content-Type": "application/json"}
    else:
        data, hdr = body, {}
    hdr.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=hdr)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in (e.headers or {}).items()}, e.read()
    except (OSError, TimeoutError) as e:
        return None, {}, repr(e).encode()


@dataclass
class SglangServer:
    """A running SGLang server. ``url`` has no trailing slash (``http://127.0.0.1:PORT``)."""

    url: str
    port: int
    pid: int
    config: SglangConfig
    model_dir: Path
    model_path: str  # --model-path as given on the command line
    log_path: Path
    python: Path
    start_seconds: float = 0.0
    command: list[str] = field(default_factory=list, repr=False)
    env: dict[str, str] = field(default_factory=dict, repr=False)
    proc: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    @property
    def served_model_name(self) -> str:
        """The name SGLang serves: --served-model-name, else --model-path verbatim."""
        return self.config.served_model_name or self.model_path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def group_pids(self) -> list[int]:
        """Pids of the server's process group (HTTP server, scheduler, detokenizer)."""
        out = subprocess.run(["ps", "-o", "pid=,stat=", "-g", str(self.pid)], capture_output=True, text=True).stdout
        return [int(line.split()[0]) for line in out.splitlines() if line.split() and not line.split()[1].startswith("Z")]

    def rss_mb(self) -> int:
        out = subprocess.run(["ps", "-o", "rss=", "-g", str(self.pid)], capture_output=True, text=True).stdout
        return round(sum(int(x) for x in out.split()) / 1024)

    def stop(self, grace: float = STOP_GRACE) -> int | None:
        return stop_sglang_server(self, grace=grace)


def _killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


_LIVE: dict[int, SglangServer] = {}  # pid -> server not stopped yet (killed at interpreter exit)


@atexit.register
def _kill_leftovers() -> None:
    for pid in list(_LIVE):
        _killpg(pid, signal.SIGKILL)
    _LIVE.clear()


def start_sglang_server(
    model_dir: os.PathLike | str,
    cfg: SglangConfig = SglangConfig(),
    *,
    python: os.PathLike | str | None = None,
    port: int | None = None,
    log_path: os.PathLike | str | None = None,
    ready_timeout: float = READY_TIMEOUT,
    env: dict[str, str] | None = None,
    warm_up: bool = True,
) -> SglangServer:
    """Start the server and return once ``/health`` is 200 (and, in embedding mode with ``warm_up``, one real
    ``/v1/embeddings`` request with the key, if any, succeeded).

    Raises :class:`SglangServerError` (with the log tail) if the process exits or the deadline passes; the
    process group is killed in that case.
    """
    py = Path(python) if python else sglang_python()
    if py is None or not Path(py).is_file():
        raise SglangServerError(missing_reason())
    port = port or free_port()
    model_dir = Path(model_dir).resolve()
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix=f"sglang-{cfg.name}-", suffix=".log")
        os.close(fd)
        log_path = name
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = build_command(py, model_dir, port, cfg)
    full_env = server_env(py, env)
    t0 = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=full_env, start_new_session=True, cwd=tempfile.gettempdir()
        )
    srv = SglangServer(
        url=f"http://127.0.0.1:{port}",
        port=port,
        pid=proc.pid,
        config=cfg,
        model_dir=model_dir,
        model_path=model_path_arg(model_dir, cfg),
        log_path=log_path,
        python=Path(py),
        command=cmd,
        env=full_env,
        proc=proc,
    )
    _LIVE[proc.pid] = srv  # never leave a server behind, even on an interrupted run
    deadline = t0 + ready_timeout
    last = "no answer yet"
    try:
        while True:
            if proc.poll() is not None:
                raise SglangServerError(f"SGLang ({cfg.name}) exited with rc={proc.returncode} during start-up (log {log_path}):\n{srv.log_tail()}")
            if time.monotonic() > deadline:
                raise SglangServerError(f"SGLang ({cfg.name}) not ready after {ready_timeout:.0f} s ({last}; log {log_path}):\n{srv.log_tail()}")
            st, _, body = http("GET", srv.url + "/health", timeout=5)
            if st == 200:
                if not (warm_up and cfg.is_embedding):
                    break
                st, _, body = http("POST", srv.url + "/v1/embeddings", {"input": "warm-up"}, timeout=60, headers=srv.auth)
                if st == 200:
                    break
                last = f"warm-up /v1/embeddings -> {st}: {body[:300]!r}"
            else:
                last = f"/health -> {st}"
            time.sleep(0.5)
    except BaseException:
        stop_sglang_server(srv, grace=5)
        raise
    srv.start_seconds = round(time.monotonic() - t0, 1)
    return srv


def stop_sglang_server(server: SglangServer, grace: float = STOP_GRACE) -> int | None:
    """SIGTERM the server's process group, SIGKILL after ``grace`` s; waits until no process of the group is
    left. Returns the exit code of the main process."""
    proc = server.proc
    if proc is None:
        _killpg(server.pid, signal.SIGTERM)
        return None
    if proc.poll() is None:
        # SIGTERM to the HTTP server alone: it drains and stops its scheduler and detokenizer itself. (SIGTERM to
        # the whole group makes the scheduler die first, which SGLang treats as a crash: SIGQUIT, 5 s of "crash
        # diagnostics".) The group is the fallback.
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    # the scheduler / detokenizer children share the group: make sure none outlives the HTTP server
    deadline = time.monotonic() + grace
    while server.group_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    _killpg(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server.group_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    _LIVE.pop(proc.pid, None)
    return proc.returncode


@contextlib.contextmanager
def sglang_server(model_dir: os.PathLike | str, cfg: SglangConfig = SglangConfig(), **kwargs) -> Iterator[SglangServer]:
    """Context manager around :func:`start_sglang_server` / :func:`stop_sglang_server`."""
    srv = start_sglang_server(model_dir, cfg, **kwargs)
    try:
        yield srv
    finally:
        stop_sglang_server(srv)


# -- one server at a time ---------------------------------------------------------------------------------
class SglangHandle:
    """A configuration that starts lazily (:meth:`get`), on a port chosen once, and can be stopped and started
    again. Started through its :class:`SglangPool`, which stops any other configuration first."""

    def __init__(self, pool: "SglangPool", cfg: SglangConfig, model_dir: Path) -> None:
        self.pool, self.cfg, self.model_dir = pool, cfg, model_dir
        self.port = free_port()
        self.server: SglangServer | None = None
        self.starts = 0
        self.error: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.server is not None and self.server.alive()

    def get(self) -> SglangServer:
        """The running server, started now (after stopping any other configuration) if it is not running."""
        return self.pool.ensure(self)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


class SglangPool:
    """Keeps at most one SGLang server running (each takes ~3 GB and both cores while starting)."""

    def __init__(self, log_dir: os.PathLike | str, python: os.PathLike | str | None = None, on_start: Callable[[SglangServer], None] | None = None) -> None:
        self.log_dir = Path(log_dir)
        self.python = python
        self.handles: dict[str, SglangHandle] = {}
        self.on_start = on_start

    def handle(self, cfg: SglangConfig, model_dir: os.PathLike | str) -> SglangHandle:
        h = self.handles.get(cfg.name)
        if h is None:
            h = self.handles[cfg.name] = SglangHandle(self, cfg, Path(model_dir))
        return h

    def ensure(self, h: SglangHandle) -> SglangServer:
        if h.running:
            assert h.server is not None
            return h.server
        if h.error is not None:  # a configuration that failed to start is not retried in this session
            raise SglangServerError(h.error)
        for other in self.handles.values():
            if other is not h:
                other.stop()
        if not port_is_free(h.port):
            h.port = free_port()
        h.starts += 1
        log = self.log_dir / f"sglang-{h.cfg.name}-{h.starts}.log"
        try:
            h.server = start_sglang_server(h.model_dir, h.cfg, python=self.python, port=h.port, log_path=log)
        except SglangServerError as exc:
            h.error = str(exc)
            raise
        if self.on_start is not None:
            self.on_start(h.server)
        return h.server

    def stop_all(self) -> None:
        for h in self.handles.values():
            h.stop()


__all__ = [
    "SglangConfig",
    "SglangServer",
    "SglangServerError",
    "SglangPool",
    "SglangHandle",
    "build_command",
    "free_port",
    "http",
    "model_path_arg",
    "missing_reason",
    "server_env",
    "sglang_python",
    "sglang_server",
    "start_sglang_server",
    "stop_sglang_server",
    "venv_dir",
    "MODEL_DIR_NAME",
    "SGLANG_VERSION",
]
