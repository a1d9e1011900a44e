"""Zero-argument runs: find the SGLang, vLLM and TEI servers running on this host.

:func:`discover_targets` walks the process table with psutil (read-only, every call guarded) and turns
each server process into a :class:`~qwen_doctor.target.Target` built from its command line, with the
ports it (and its children) listen on. Server command lines are recognised by
:func:`qwen_doctor.launch.split_launch`, wherever wrappers put the interpreter (``python3 -u -m
sglang.launch_server``, ``/venv/bin/python /venv/bin/vllm serve``, ``uv run sglang serve``, ``env A=B
...``). A server's own child processes (forked workers that kept the command line) are folded into the
parent. Processes this user may not read become notes, never errors.

:func:`readiness_target` is the fallback when nothing runs and nothing was given: the host's readiness for
the default deployment (SGLang on port 30000 with the recommended embedding launch command).

psutil is imported inside the functions (import discipline: ``qwen-doctor --version`` stays light).
"""

from __future__ import annotations

import os
import re
import shlex
from typing import Any, Mapping

from .launch import LaunchCommand, LaunchError, split_launch
from .redact import is_secret_env
from .target import DEFAULT_PORT, Target, build_target

MODEL_PATH_ENV = "QWEN_DOCTOR_MODEL_PATH"
DEFAULT_MODEL = "Qwen/Qwen3-Embedding-0.6B"
READINESS_PORT = 30000

# Environment variables of a discovered process that matter to the checks (the rest is not copied, so
# unrelated secrets never enter a Target).
_ENV_KEEP = re.compile(
    r"^(SGLANG_|VLLM_|CUDA_|NCCL_|HF_HUB_OFFLINE$|TRANSFORMERS_OFFLINE$|HF_HOME$|HUGGINGFACE_HUB_CACHE$|PORT$|MODEL_ID$|MAX_BATCH_TOKENS$|AUTO_TRUNCATE$|PYTORCH_CUDA_ALLOC_CONF$|OMP_NUM_THREADS$)"
)
# Container clients: their command line names the server, but the server runs in the container.
_CONTAINER_CLIENTS = ("docker", "podman", "nerdctl", "kubectl", "ctr", "crictl")
# This doctor, however it was started.
_SELF_MARKERS = ("qwen-doctor", "qwen_doctor")
# Process titles servers give their worker processes (setproctitle): shown when no API server is found.
_WORKER_TITLES = re.compile(r"^(VLLM::|sglang::)")

# Why a server process may not listen on its port yet. SGLang: uvicorn binds only after the weights have loaded and
# the scheduler is ready (shared/reference/sglang.md §5; python/sglang/srt/entrypoints/http_server.py at v0.5.20).
# vLLM: create_server_socket only binds before the engine loads, and uvicorn listens once it has loaded
# (vllm/entrypoints/openai/api_server.py at v0.11.0): a bound socket is not in LISTEN state, so the port is not
# among the process's listening ports while it loads.
NOT_LISTENING_YET = {
    "sglang": "SGLang binds its port only after the model has loaded, so it may still be loading",
    "vllm": "vLLM listens on its port only once the engine has loaded (before that the socket is only bound), so it may still be loading, or it runs in another network namespace",
    "tei": "it may still be downloading or loading the model",
}

HOW_TO_POINT = (
    "To examine a server or a deployment, point the doctor at it: "
    "qwen-doctor check --url http://HOST:PORT (a running server), "
    "qwen-doctor check -- sglang serve --model-path /models/Qwen3-Embedding-0.6B --is-embedding (a launch command), "
    "or qwen-doctor check --from compose.yaml (a compose file, Kubernetes manifest or systemd unit)."
)


def _is_self(argv: list[str], launch: LaunchCommand) -> bool:
    """True when the command line is a qwen-doctor run (e.g. `qwen-doctor check -- sglang serve ...`)."""
    for tok in launch.prefix:
        base = os.path.basename(tok)
        if any(m in base for m in _SELF_MARKERS):
            return True
    head = argv[: max(0, len(argv) - len(launch.args))]
    return any(any(m in os.path.basename(t) for m in _SELF_MARKERS) for t in head)


def _container_client(launch: LaunchCommand) -> str | None:
    for tok in launch.prefix:
        base = os.path.basename(tok)
        if base in _CONTAINER_CLIENTS:
            return base
    return None


def _environ(proc: Any) -> dict[str, str]:
    """A process's environment, read through the bounded reader (``/proc/PID/environ``, at most
    readers.CAPS["proc"]); psutil elsewhere. Raises on a process this user may not read."""
    from .readers import read_bytes

    path = f"/proc/{proc.pid}/environ"
    if not os.path.exists(f"/proc/{proc.pid}"):
        return dict(proc.environ())
    out: dict[str, str] = {}
    for item in read_bytes(path, "proc").split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep and k:
            out[os.fsdecode(k)] = os.fsdecode(v)
    return out


def _process_env(proc: Any) -> tuple[dict[str, str], bool]:
    """The server-relevant environment of a process, and whether it could be read at all."""
    try:
        env = _environ(proc)
    except Exception:  # psutil.AccessDenied, readers.ReadError (permission denied, over the cap), gone
        return {}, False
    return {k: v for k, v in env.items() if _ENV_KEEP.match(k) and not is_secret_env(k)}, True


def _secret_names(proc: Any) -> list[str]:
    """Names (never values) of secret-looking variables in a process environment, e.g. VLLM_API_KEY."""
    try:
        return sorted(k for k in _environ(proc) if is_secret_env(k))
    except Exception:
        return []


def _target_opts(opts: Mapping[str, Any]) -> dict[str, Any]:
    allowed = ("server_version", "model_path", "host", "port", "url")
    return {k: v for k, v in opts.items() if k in allowed and v is not None}


def _site_dirs(prefix: str) -> list[str]:
    import glob

    out = []
    for pattern in ("lib/python3*/site-packages", "lib/python3*/dist-packages", "lib64/python3*/site-packages", "local/lib/python3*/dist-packages"):
        out.extend(sorted(glob.glob(os.path.join(prefix, pattern))))
    return out


def installed_version(server: str, argv: list[str], pid: int | None = None) -> tuple[str, str] | None:
    """The server version installed in the running process's own Python environment (package metadata only).

    The interpreter or console script in argv[0] names the environment (a venv's bin/python is a symlink to the
    base interpreter, so argv[0] is read before the resolved executable). Returns (version, source text) or None.
    """
    from importlib import metadata

    from .flags import DISTRIBUTIONS

    dists = DISTRIBUTIONS.get(server, ())
    if not dists:
        return None
    candidates: list[str] = []
    for tok in argv[:3]:
        if os.path.isabs(tok) and os.path.basename(os.path.dirname(tok)) == "bin":
            candidates.append(os.path.dirname(os.path.dirname(tok)))
    if pid is not None:
        try:
            import psutil

            exe = psutil.Process(pid).exe()
            if exe:
                candidates.append(os.path.dirname(os.path.dirname(exe)))
        except Exception:
            pass
    seen: set[str] = set()
    for prefix in candidates:
        if prefix in seen:
            continue
        seen.add(prefix)
        paths = _site_dirs(prefix)
        if not paths:
            continue
        for dist in metadata.distributions(path=paths):
            name = (dist.metadata.get("Name") or "").lower().replace("_", "-")
            if name in dists and dist.version:
                return dist.version, f"installed in the server's environment {prefix}: {name} {dist.version}"
    return None


def discover_targets(**target_opts: Any) -> tuple[list[Target], list[str]]:
    """Targets for the SGLang, vLLM and TEI servers running on this host, and notes.

    ``target_opts`` are passed to build_target for every process found (``server_version``,
    ``model_path``, ``host``, ``port``, ``url``); ``server`` keeps only processes of that server.
    Each target has label ``"pid N (server)"``, source ``"process"``, ``pid`` and ``listening`` (the
    TCP ports the process and its children listen on). Notes say what could not be read and when
    nothing was found. Never raises for what it finds on the host.
    """
    import psutil

    from .procs import listening_ports, scan_connections

    only = target_opts.get("server")
    opts = _target_opts(target_opts)
    notes: list[str] = []
    me = os.getpid()
    matches: dict[int, tuple[list[str], LaunchCommand, int | None, Any]] = {}
    denied: list[int] = []
    clients: list[str] = []
    titles: list[str] = []
    seen = 0
    try:
        procs = list(psutil.process_iter())
    except Exception as exc:  # pragma: no cover - /proc unreadable
        return [], [f"cannot list processes: {type(exc).__name__}: {exc}"]
    for proc in procs:
        try:
            pid = proc.pid
            if pid == me:
                continue
            seen += 1
            argv = proc.cmdline()
        except psutil.AccessDenied:
            denied.append(proc.pid)
            continue
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        except Exception:
            continue
        if not argv:
            continue
        if len(argv) == 1 and _WORKER_TITLES.match(argv[0]):
            titles.append(f"pid {pid} ({argv[0].split()[0]})")
            continue
        if not any(k in " ".join(argv) for k in ("sglang", "vllm", "text-embeddings-router")):
            continue  # cheap pre-filter before parsing
        try:
            launch = split_launch(argv)
        except LaunchError:
            continue
        except Exception:
            continue
        if only and launch.server != only:
            continue
        if _is_self(argv, launch):
            continue
        client = _container_client(launch)
        if client:
            clients.append(f"pid {pid} ({client} {launch.server})")
            continue
        try:
            ppid = proc.ppid()
        except psutil.Error:
            ppid = None
        matches[pid] = (argv, launch, ppid, proc)

    # fold children into their server: a match whose ancestor is a match (forked workers, `uv run` children)
    def ancestor_match(pid: int) -> int | None:
        cur = matches[pid][2]
        hops = 0
        while cur and hops < 64:
            if cur in matches:
                return cur
            try:
                cur = psutil.Process(cur).ppid()
            except psutil.Error:
                return None
            hops += 1
        return None

    roots = [pid for pid in sorted(matches) if ancestor_match(pid) is None]
    targets: list[Target] = []
    try:  # one socket scan for every server found
        conns: list | None = scan_connections() if roots else None
    except Exception:  # AccessDenied: listeners() rescans and says why it cannot
        conns = None
    for pid in roots:
        argv, launch, _, proc = matches[pid]
        label = f"pid {pid} ({launch.server})"
        env, env_ok = _process_env(proc)
        try:
            listening = listening_ports(pid, conns)
        except Exception:
            listening = ()
        extra: dict[str, Any] = {"kind": "process", "process": _process_facts(proc), "notes": []}
        secrets = _secret_names(proc) if env_ok else []
        if secrets:
            extra["secret_env"] = secrets  # names only: e.g. VLLM_API_KEY means the live probe needs --api-key
        if not env_ok:
            extra["notes"].append("the process environment is not readable by this user (run as root or as its owner to include it)")
        kw = dict(opts)
        if not kw.get("server_version"):
            found = installed_version(launch.server, argv, pid)
            if found is not None:
                kw["server_version"], kw["version_source"] = found
        if launch.server == "tei" and "port" not in kw and env.get("PORT", "").isascii() and env.get("PORT", "").isdigit():
            kw["port"] = int(env["PORT"])
        try:
            t = build_target(argv, pid=pid, listening=listening, label=label, source="process", env=env, deployment=extra, **kw)
        except LaunchError as exc:
            notes.append(f"pid {pid}: {launch.server} command line not understood: {exc}")
            continue
        except Exception as exc:  # never let one odd process break discovery
            notes.append(f"pid {pid}: cannot examine its command line: {type(exc).__name__}: {exc}")
            continue
        if t.port is not None and t.port not in listening and _hidden_holder(t.port, conns):
            notes.append(
                f"{label}: port {t.port} is listening, but this user cannot see which process holds it "
                "(probably this server; run as root or as its owner to confirm)"
            )
        elif t.port is not None and t.port not in listening:
            when = NOT_LISTENING_YET.get(launch.server, "")
            where = f"listens on {', '.join(map(str, listening))}" if listening else "listens on no TCP port visible here"
            notes.append(f"{label} {where}, not on its port {t.port}: {when}; if it runs in a container, use --url with the published port")
        targets.append(t)

    if denied:
        notes.append(
            f"{len(denied)} process(es) could not be read by this user (pids {', '.join(map(str, denied[:8]))}{' ...' if len(denied) > 8 else ''}); "
            "run as root or as their owner to include them"
        )
    if clients:
        notes.append(f"skipped container clients {', '.join(clients)}: the server runs inside the container (use --url with its published port)")
    if not targets:
        what = f"{only} server" if only else "SGLang, vLLM or TEI server"
        msg = f"No {what} process found on this host ({seen} processes examined)."
        if titles:
            msg += f" Server worker processes without their API server are running: {', '.join(titles[:4])}."
        notes.append(msg)
    return targets, notes


def _hidden_holder(port: int, conns: list | None = None) -> bool:
    """True when something listens on port but psutil cannot name the process (another user's)."""
    from .procs import listeners

    try:
        ls, _ = listeners(port, conns)
    except Exception:
        return False
    return any(l.pid is None for l in ls)


def _process_facts(proc: Any) -> dict[str, Any]:
    """pid, name, user, create time of a process (fields this user may not read are left out)."""
    import psutil

    facts: dict[str, Any] = {"pid": proc.pid}
    for key, getter in (("name", proc.name), ("user", proc.username), ("create_time", proc.create_time)):
        try:
            facts[key] = getter()
        except psutil.Error:
            pass
        except Exception:  # pragma: no cover
            pass
    return facts


def recommended_command(model_path: str, port: int = READINESS_PORT) -> list[str]:
    """The official SGLang embedding launch command (docs.sglang.io, embedding models quick start)."""
    return ["python3", "-m", "sglang.launch_server", "--model-path", model_path, "--is-embedding", "--host", "0.0.0.0", "--port", str(port)]


def readiness_target(**target_opts: Any) -> tuple[Target, list[str]]:
    """The default deployment, for a run with no arguments on a host where no server runs.

    SGLang with the recommended launch command (``--is-embedding --host 0.0.0.0 --port 30000``) for the
    model in ``target_opts["model_path"]``, else ``$QWEN_DOCTOR_MODEL_PATH``, else the Hugging Face repo
    Qwen/Qwen3-Embedding-0.6B. ``server_version`` and ``port`` may be given. The checks then tell whether
    this host can run it (port free, GPU, model files, version). The notes say what was assumed and how to
    point the doctor at a server or a command instead.
    """
    notes: list[str] = []
    model = target_opts.get("model_path") or os.environ.get(MODEL_PATH_ENV) or None
    if model:
        where = "--model-path" if target_opts.get("model_path") else f"${MODEL_PATH_ENV}"
        notes.append(f"Model {model} (from {where}).")
    else:
        model = DEFAULT_MODEL
        notes.append(
            f"No model path given: assuming {DEFAULT_MODEL} from the Hugging Face Hub; set {MODEL_PATH_ENV}=/path/to/model (or --model-path) to check a local copy."
        )
    port = target_opts.get("port") or READINESS_PORT
    argv = recommended_command(model, int(port))
    t = build_target(
        argv,
        server_version=target_opts.get("server_version"),
        label="this host (default SGLang deployment)",
        source="readiness",
        deployment={"kind": "readiness", "readiness": True},
    )
    notes.insert(
        0,
        f"No server command given and none running here: checking this host's readiness for the default deployment: {shlex.join(argv)}.",
    )
    notes.append(HOW_TO_POINT)
    # nothing runs yet, so there is nothing to probe
    from dataclasses import replace

    return replace(t, url=None), notes


__all__ = ["discover_targets", "readiness_target", "recommended_command", "HOW_TO_POINT", "MODEL_PATH_ENV", "DEFAULT_PORT"]
