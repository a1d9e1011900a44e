"""Launch commands from deployment files: docker-compose, Kubernetes manifests and systemd units.

``targets_from_file(path)`` reads one file and returns one :class:`~qwen_doctor.target.Target` per
container (compose service, Kubernetes container, systemd ``ExecStart=``) that starts SGLang, vLLM or
TEI. What the file says beyond the command line (ports and their mapping, probes, environment, the
image) is kept in ``Target.deployment``, a typed :class:`~qwen_doctor.target.Deployment`, for the ``deploy.*``
checks (every fact below is one of its fields):

=====================  =====================================================================
``kind``               ``"compose"``, ``"kubernetes"`` or ``"systemd"``
``file``               the path as given
``image``              the container image (None for systemd)
``image_entrypoint``   the ENTRYPOINT the image is known to have, e.g. ``("vllm", "serve")``
``entrypoint_source``  ``"image"`` (the image's ENTRYPOINT runs), ``"file"`` (the file sets it) or None
``entrypoint_problem`` a sentence when the command and the image's ENTRYPOINT do not fit together
                       (and ``entrypoint_fix``, what to change)
``container_ports``    ports the file declares for the container (compose target ports,
                       Kubernetes containerPort), as ints
``ports``              the same with details: :class:`~qwen_doctor.target.PortMapping`
``port_from_image``    TEI's ``PORT`` comes from its image (``ENV PORT=80``), not the file
``host_network``       the container shares the host's network (compose ``network_mode: host``,
                       Kubernetes ``hostNetwork: true``, every systemd unit): port mappings do not apply
``probes``             Kubernetes ``livenessProbe`` / ``readinessProbe`` / ``startupProbe`` as written, and
                       compose ``healthcheck`` (key ``healthcheck``)
``service_ports``      Kubernetes Services in the same file: :class:`~qwen_doctor.target.ServicePort`
``gpus``               compose device reservations / Kubernetes ``*/gpu`` limits, as written
``runtime_vars``       names of variables whose values are set only at run time (valueFrom, shell
                       variables, unset compose variables): options holding them are seen as written
``shell_script``       the ``sh -c`` script the server command was found in
``user``, ``workload`` systemd ``User=``; the Kubernetes workload (kind, name, container)
``image_tag``,         the image's tag, the release it names (None: unpinned: the version is then the newest
``image_version``,     known release, said in a note) and whether it needs an NVIDIA GPU
``gpu_image``          (:mod:`qwen_doctor.images`, the one table of server images)
``gpus_granted``,      what gives the container GPUs (compose ``gpus:`` / device reservations / ``runtime:
``gpu_devices``        nvidia``; Kubernetes ``nvidia.com/gpu`` limits or requests), and the device ids named
``volumes``            bind mounts / hostPath volumes (host, container): a model path under one is checked on
                       the host (``Target.model_path`` is the host path; a note keeps the container's)
``shm_size``,          compose ``shm_size``, ``ipc: host``; Kubernetes ``hostIPC``, an ``emptyDir`` with
``ipc_host``,          ``medium: Memory`` on /dev/shm (and its ``sizeLimit``)
``shm_memory_volume``
``env_files``          compose ``env_file`` (noted, not read)
``command_strings``    Kubernetes command/args entries holding several words (not split by Kubernetes)
``notes``              sentences about what could not be read (valueFrom env, EnvironmentFile, ...)
=====================  =====================================================================

``docker run`` / ``podman run`` / ``nerdctl run`` lines fill the same fields (kind ``docker-run``): see
:mod:`qwen_doctor.containers`.

A file that cannot be read or parsed raises :class:`DeployFileError` (a :class:`LaunchError`, hence a
``ValueError``) with a one-line message; the CLI turns it into exit 2. Containers that start something
else (a database, a proxy) are skipped with a note. Nothing here touches the network or the host.

Stdlib + PyYAML only; PyYAML is imported when a YAML file is read.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .facts.server import as_int
from .images import ImageFacts, bare_args_problem, entrypoint_problem, image_facts, newest_release, parse_size
from .launch import LaunchCommand, LaunchError, split_launch
from .readers import CAPS, ReadError, read_bytes, read_text
from .target import Deployment, Target, build_target

MAX_FILE_BYTES = CAPS["manifest"]
MAX_DOCUMENTS = 50_000
#: YAML limits (alias bombs, deep nesting): the value tree as the doctor walks it, aliases expanded
MAX_YAML_NODES = 1_000_000
MAX_YAML_DEPTH = 64
MAX_YAML_ALIASES = 100_000

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
PROBE_KEYS = ("livenessProbe", "readinessProbe", "startupProbe")
SHELLS = ("sh", "bash", "dash", "zsh", "ash", "ksh", "busybox")


class DeployFileError(LaunchError):
    """A deployment file that cannot be read or understood (a usage error, exit 2). One line."""

    def __init__(self, message: str) -> None:
        msg = printable(str(message))
        super().__init__(msg if len(msg) <= 600 else msg[:597] + "...")


def printable(text: str) -> str:
    """Control characters (newlines, tabs, escapes) written as escapes, so names from a file stay on one line."""
    return re.sub(r"[\x00-\x1f\x7f\u2028\u2029\x85]", lambda m: repr(m.group(0))[1:-1], text)


# --------------------------------------------------------------------------------------------
# images: what their ENTRYPOINT starts


def image_entrypoint(image: str | None) -> tuple[str | None, tuple[str, ...] | None, dict[str, str]]:
    """(server, ENTRYPOINT, ENV defaults) of a known server image; (None, None, {}) otherwise.

    The one table of images is :mod:`qwen_doctor.images` (vllm/vllm-openai: ``python3 -m
    vllm.entrypoints.openai.api_server`` before 0.12.0, ``vllm serve`` since, per its tag; TEI:
    ``text-embeddings-router`` with ``ENV PORT=80``; lmsysorg/sglang: no server ENTRYPOINT).
    """
    facts = image_facts(image)
    if facts is None:
        return None, None, {}
    return facts.server, facts.entrypoint, dict(facts.env)


# --------------------------------------------------------------------------------------------
# small parsers


def _s(value: Any) -> str:
    """A YAML scalar as the string a container runtime sees (YAML true -> 'true', 1.0 -> '1.0')."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _argv(value: Any, where: str) -> list[str] | None:
    """A compose/K8s command value (string, list, or null) as argv."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise DeployFileError(f"{where}: cannot split {value[:60]!r}: {str(exc).lower()}") from None
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, (dict, list)):
                raise DeployFileError(f"{where}: every item must be a string, found a {'mapping' if isinstance(item, dict) else 'list'}")
            out.append(_s(item))
        return out
    if isinstance(value, (int, float)):
        return [_s(value)]
    raise DeployFileError(f"{where}: must be a string or a list of strings, not {type(value).__name__}")


def unwrap_shell(argv: Sequence[str]) -> tuple[list[str], str | None]:
    """If argv is ``sh -c SCRIPT`` (bash -lc, /bin/sh -ec, ...), the simple command of SCRIPT that starts a
    server, else argv unchanged. Returns (argv, script or None)."""
    if len(argv) < 2 or os.path.basename(argv[0]) not in SHELLS:
        return list(argv), None
    i = 1
    if os.path.basename(argv[0]) == "busybox":
        if len(argv) < 3 or argv[1] not in SHELLS:
            return list(argv), None
        i = 2
    script = None
    while i < len(argv):
        tok = argv[i]
        if tok.startswith("-") and not tok.startswith("--") and "c" in tok[1:]:
            script = argv[i + 1] if i + 1 < len(argv) else ""
            break
        if tok in ("-o", "+o", "-O", "+O"):
            i += 2
            continue
        if tok.startswith("-") or tok.startswith("+"):
            i += 1
            continue
        return list(argv), None  # sh script.sh: a script file we cannot see
    if script is None:
        return list(argv), None
    for segment in shell_commands(script):
        try:
            split_launch(segment)
        except LaunchError:
            continue
        return segment, script
    return list(argv), script


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a shell script (continuations joined, comments dropped), best effort.
    A quoted string may span lines; `&&`, `||`, `;`, `|`, `&` and newlines separate commands."""
    text = re.sub(r"\\\r?\n", " ", script)
    out: list[list[str]] = []
    buf = ""
    for line in text.split("\n"):
        buf = f"{buf}\n{line}" if buf else line
        try:
            out.extend(_simple_commands(buf))
        except ValueError:
            continue  # a quote spans lines: read on
        buf = ""
    if buf.strip():  # unbalanced to the end: whitespace words
        out.append(buf.split())
    return out


def _simple_commands(line: str) -> list[list[str]]:
    lex = shlex.shlex(line, posix=True, punctuation_chars="();<>|&")
    lex.whitespace_split = True
    out: list[list[str]] = []
    cur: list[str] = []
    for tok in lex:
        if tok and set(tok) <= set("();<>|&"):
            if cur:
                out.append(cur)
            cur = []
            continue
        cur.append(tok)
    if cur:
        out.append(cur)
    return out


_K8S_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand_k8s(text: str, env: Mapping[str, str], unresolved: set[str]) -> str:
    """Kubernetes ``$(VAR)`` expansion in command/args: known variables are replaced, unknown ones stay
    as written (what the kubelet does), ``$$`` is a literal ``$``."""

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        if name in env:
            return env[name]
        unresolved.add(name)
        return m.group(0)

    return _K8S_VAR.sub(sub, text)


_COMPOSE_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def expand_compose(text: str, env: Mapping[str, str], unresolved: set[str]) -> str:
    """Compose interpolation: ``${VAR}``, ``$VAR``, ``${VAR:-default}``, ``${VAR-default}``, ``$$``."""

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3)
        val = env.get(name)
        if op in (":-", "-"):
            if val is None or (op == ":-" and val == ""):
                return arg or ""
            return val
        if op in (":+", "+"):
            return (arg or "") if val else ""
        if val is None:
            unresolved.add(name)
            return m.group(0)
        return val

    return _COMPOSE_VAR.sub(sub, text)


def _dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a compose project's .env file (quotes stripped); {} when absent."""
    out: dict[str, str] = {}
    try:
        text = read_text(path, "config")
    except ReadError:
        return out
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        k = k.strip().removeprefix("export ").strip()
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
            v = v[1:-1]
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
            out[k] = v
    return out


def _plain(obj: Any, depth: int = 0, seen: tuple[int, ...] = ()) -> Any:
    """A JSON-able copy of a YAML value (recursive aliases and deep nesting cut off)."""
    if depth > 20 or id(obj) in seen:
        return "..."
    if isinstance(obj, dict):
        return {_s(k): _plain(v, depth + 1, seen + (id(obj),)) for k, v in list(obj.items())[:200]}
    if isinstance(obj, (list, tuple)):
        return [_plain(v, depth + 1, seen + (id(obj),)) for v in list(obj)[:200]]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def _port_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value < 65536 else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        v = int(value.strip())
        return v if 0 < v < 65536 else None
    return None


def compose_ports(value: Any, where: str) -> list[dict[str, Any]]:
    """compose ``ports:`` (short "[IP:][HOST:]CONTAINER[/proto]" strings, ranges, ints, or long-syntax
    mappings) as ``{"container", "published", "host_ip", "protocol", "name"}`` entries."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise DeployFileError(f"{where}: ports must be a list")
    out: list[dict[str, Any]] = []
    for item in value:
        if isinstance(item, dict):
            c = _port_int(item.get("target"))
            pub = item.get("published")
            pub_i = _port_int(pub)
            if c is not None:
                out.append(
                    {
                        "container": c,
                        "published": pub_i,
                        "host_ip": _s(item.get("host_ip")) or None,
                        "protocol": _s(item.get("protocol")) or "tcp",
                        "name": _s(item.get("name")) or None,
                    }
                )
            continue
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            continue
        text = str(item).strip()
        proto = "tcp"
        if "/" in text:
            text, proto = text.rsplit("/", 1)
        host_ip = None
        m = re.match(r"^\[([0-9a-fA-F:.]+)\]:(.*)$", text)
        if m:
            host_ip, text = m.group(1), m.group(2)
        parts = text.split(":")
        if len(parts) == 3:
            host_ip, pub, cont = parts
        elif len(parts) == 2:
            pub, cont = parts
        elif len(parts) == 1:
            pub, cont = "", parts[0]
        else:
            continue
        crange = _range(cont)
        prange = _range(pub) if pub else None
        if not crange:
            continue
        for k, c in enumerate(crange):
            p = None
            if prange:
                p = prange[k] if len(prange) == len(crange) else prange[0]
            out.append({"container": c, "published": p, "host_ip": host_ip or None, "protocol": proto or "tcp", "name": None})
    return out


def _range(text: str) -> list[int]:
    text = text.strip()
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if not m:
        return []
    a = int(m.group(1))
    b = int(m.group(2)) if m.group(2) else a
    if not (0 < a < 65536 and 0 < b < 65536) or b < a or b - a > 1000:
        return []
    return list(range(a, b + 1))


def compose_env(value: Any, where: str) -> tuple[dict[str, str], list[str]]:
    """compose ``environment:`` as a list ("A=B", "A") or a mapping. Returns (env, names without a value)."""
    env: dict[str, str] = {}
    missing: list[str] = []
    if value is None:
        return env, missing
    if isinstance(value, dict):
        for k, v in value.items():
            if v is None:
                missing.append(_s(k))
            else:
                env[_s(k)] = _s(v)
        return env, missing
    if isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                raise DeployFileError(f"{where}: environment entries must be strings like NAME=value")
            s = _s(item)
            if "=" in s:
                k, v = s.split("=", 1)
                env[k] = v
            elif s:
                missing.append(s)
        return env, missing
    raise DeployFileError(f"{where}: environment must be a list or a mapping")


# --------------------------------------------------------------------------------------------
# containers -> targets


class _Container:
    """One thing that runs a command, before it becomes a Target."""

    def __init__(self, label: str, kind: str, file: str) -> None:
        self.label = label
        self.kind = kind
        self.file = file
        self.argv: list[str] | None = None
        self.image: str | None = None
        self.env: dict[str, str] = {}
        self.extra: dict[str, Any] = {"kind": kind, "file": file}  # Deployment fields (Deployment.from_mapping)
        self.notes: list[str] = []
        self.hint: str | None = None
        self.facts: ImageFacts | None = None  # a known server image (qwen_doctor.images)


def _target_opts(opts: Mapping[str, Any]) -> dict[str, Any]:
    allowed = ("server_version", "model_path", "host", "port", "url")
    return {k: v for k, v in opts.items() if k in allowed and v is not None}


def _build(c: _Container, opts: Mapping[str, Any], file_notes: list[str]) -> Target | None:
    """The Target for one container, or None (with a file note) when it starts no known server."""
    if not c.argv:
        what = f"image {c.image} is not an SGLang, vLLM or TEI image" if c.image else "no command"
        file_notes.append(f"{c.label}: {what} and the file gives no command to examine; skipped")
        return None
    argv, script = unwrap_shell(c.argv)
    launch: LaunchCommand | None = None
    hint = c.hint or opts.get("server")
    try:
        launch = split_launch(argv)
    except LaunchError as exc:
        if hint is None:
            if script is not None:
                file_notes.append(f"{c.label}: its shell command starts no SGLang, vLLM or TEI server; skipped")
            else:
                file_notes.append(f"{c.label}: {os.path.basename(argv[0]) if argv else 'command'} is not an SGLang, vLLM or TEI launcher; skipped")
            return None
        if "not a known server launch command" not in str(exc):
            raise DeployFileError(f"{c.label}: {exc}") from None
    server = launch.server if launch is not None else hint
    if script is not None:
        c.extra["shell_script"] = script
        c.notes.append("the command runs through a shell (sh -c); its variables are expanded at run time")
        shell_vars = sorted(set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", " ".join(argv))))
        if shell_vars:
            unknown = [v for v in shell_vars if v not in c.env]
            known = {v: c.env[v] for v in shell_vars if v in c.env}
            if known:
                argv = [re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: known.get(m.group(1), m.group(0)), a) for a in argv]
            if unknown:
                c.extra.setdefault("runtime_vars", []).extend(unknown)
                c.notes.append(f"shell variables {', '.join('$' + v for v in unknown)} get their values at run time; the checks see them as written")
    if launch is not None and hint is not None and launch.server != hint and c.hint is not None:
        c.notes.append(f"the image {c.image} suggests {c.hint}, but the command starts {launch.server}")
    env = dict(c.env)
    kw = _target_opts(opts)
    # TEI reads its options from the environment too (clap `env`): PORT (80 in its images), MODEL_ID
    if server == "tei":
        if "port" not in kw and as_int(env.get("PORT")) is not None:
            kw["port_env"] = int(env["PORT"].strip())
        if "model_path" not in kw and env.get("MODEL_ID"):
            kw["model_env"] = env["MODEL_ID"]
    f = c.facts
    if f is not None and f.server == server and "server_version" not in kw:
        # the image tag names the release (--server-version overrides); an unpinned tag names none
        if f.version:
            kw["server_version"] = f.version
        kw["version_source"] = f.version_source
    extra = dict(c.extra)
    extra["notes"] = list(c.notes)
    source = c.kind
    try:
        port_env = kw.pop("port_env", None)
        model_env = kw.pop("model_env", None)
        t = build_target(argv, server=server if launch is None else None, label=c.label, source=source, env=env, **kw)
        if port_env is not None and not t.given("port"):
            t = build_target(argv, server=server if launch is None else None, label=c.label, source=source, env=env, port=port_env, **kw)
            extra["notes"].append(
                f"TEI listens on port {port_env} from the PORT environment variable" + (" (set by the image)" if c.extra.get("port_from_image") else "")
            )
        if model_env is not None and not t.given("model_id"):
            t = replace(t, model_path=model_env)
        if "model_path" not in kw:
            n = len(c.notes)
            mapped = _map_model(c, t.model_path)
            if mapped is not None:
                extra["notes"].extend(c.notes[n:])
                t = replace(t, model_path=mapped)
        if f is not None and f.server == t.server and t.version is not None and t.version.version is None:
            extra["notes"].append(f.assumed_note(newest_release(t.server)) or "")
        t = replace(t, deployment=Deployment.from_mapping(extra))
    except DeployFileError:
        raise
    except LaunchError as exc:
        raise DeployFileError(f"{c.label}: {exc}") from None
    if not opts.get("url"):
        # A deployment file describes a server that runs elsewhere (a pod, a container, CI): static checks only.
        t = replace(t, url=None)
    return t


def _unique(label: str, seen: set[str], next_n: dict[str, int] | None = None) -> str:
    """``label``, else ``label#2``, ``label#3``, ...: the first free one. ``next_n`` remembers where to look next
    for each label, so that 10,000 containers with one name stay linear."""
    if label not in seen:
        seen.add(label)
        return label
    n = next_n.get(label, 2) if next_n is not None else 2
    while f"{label}#{n}" in seen:
        n += 1
    seen.add(f"{label}#{n}")
    if next_n is not None:
        next_n[label] = n + 1
    return f"{label}#{n}"


# --------------------------------------------------------------------------------------------
# compose


def _compose(doc: dict, shown: str, base_dir: Path, file_notes: list[str]) -> list[_Container]:
    services = doc.get("services")
    if not isinstance(services, dict):
        raise DeployFileError(f"{shown}: 'services' must be a mapping of service names to services")
    interp = _dotenv(base_dir / ".env")
    interp.update(os.environ)
    out: list[_Container] = []
    for name, svc in services.items():
        name = printable(_s(name))
        where = f"{shown}:{name}"
        if svc is None:
            svc = {}
        if not isinstance(svc, dict):
            raise DeployFileError(f"{where}: a service must be a mapping")
        c = _Container(where, "compose", shown)
        unresolved: set[str] = set()

        def ip(v: Any) -> Any:
            if isinstance(v, str):
                return expand_compose(v, interp, unresolved)
            if isinstance(v, list):
                return [ip(x) for x in v]
            if isinstance(v, dict):
                return {k: ip(x) for k, x in v.items()}
            return v

        image = svc.get("image")
        c.image = _s(image) if image is not None else None
        if c.image:
            c.image = ip(c.image)
        server, img_ep, img_env = image_entrypoint(c.image)
        c.hint = server if img_ep else None  # only images whose ENTRYPOINT is the server take bare options
        env, missing = compose_env(ip(svc.get("environment")), f"{where}: environment")
        merged = dict(img_env)
        if img_env.get("PORT") and "PORT" not in env:
            c.extra["port_from_image"] = True
        merged.update(env)
        c.env = merged
        if missing:
            c.notes.append(f"environment {', '.join(missing)} take their values from the shell running compose; not known here")
        if svc.get("env_file") is not None:
            c.notes.append("env_file variables are not read; the checks see only `environment:`")
        entry = _argv(ip(svc.get("entrypoint")), f"{where}: entrypoint")
        cmd = _argv(ip(svc.get("command")), f"{where}: command")
        c.extra["image"] = c.image
        c.extra["image_entrypoint"] = img_ep
        if entry is not None:  # entrypoint in the file replaces the image's (and drops its CMD)
            argv = entry + (cmd or [])
            c.extra["entrypoint_source"] = "file"
        elif img_ep:
            if cmd is None and server == "tei":
                cmd = ["--json-output"]  # the TEI images' CMD
            argv = list(img_ep) + (cmd or [])
            c.extra["entrypoint_source"] = "image"
            _entrypoint_problem(c, img_ep, cmd or [])
        else:
            argv = cmd
            c.extra["entrypoint_source"] = "image" if img_ep is not None else None
            if img_ep == () and cmd:
                _bare_args_problem(c, cmd)
        c.argv = argv
        ports = compose_ports(svc.get("ports"), f"{where}: ports")
        expose = svc.get("expose") or []
        if isinstance(expose, list):
            for e in expose:
                for p in _range(_s(e).split("/")[0]):
                    ports.append({"container": p, "published": None, "host_ip": None, "protocol": "tcp", "name": None})
        c.extra["ports"] = ports
        c.extra["container_ports"] = sorted({p["container"] for p in ports})
        nm = svc.get("network_mode")
        c.extra["host_network"] = isinstance(nm, str) and nm == "host"
        hc = svc.get("healthcheck")
        if isinstance(hc, dict):
            c.extra["probes"] = {"healthcheck": _plain(hc)}
        else:
            c.extra["probes"] = {}
        gpu = _compose_gpus(svc)
        if gpu is not None:
            c.extra["gpus"] = gpu
        _image_extra(c)
        _compose_container(c, ip(svc), base_dir)
        if unresolved:
            c.extra.setdefault("runtime_vars", []).extend(sorted(unresolved))
            c.notes.append(f"variables {', '.join('${' + v + '}' for v in sorted(unresolved))} are not set here (nor in .env); the checks see them as written")
        out.append(c)
    return out


def _compose_container(c: _Container, svc: dict, base_dir: Path) -> None:
    """What a compose service says about its container: GPUs granted, bind mounts, shared memory, IPC, env files."""
    ef = svc.get("env_file")
    files = ef if isinstance(ef, list) else [ef] if ef is not None else []
    c.extra["env_files"] = [_s(x.get("path")) if isinstance(x, dict) else _s(x) for x in files]
    vols: list[tuple[str, str]] = []
    for v in svc.get("volumes") or [] if isinstance(svc.get("volumes"), list) else []:
        host = ctr = None
        if isinstance(v, str):
            parts = v.split(":")
            if len(parts) >= 2:
                host, ctr = parts[0], parts[1]
        elif isinstance(v, dict) and v.get("type") == "bind":
            host, ctr = _s(v.get("source")) or None, _s(v.get("target")) or None
        if not host or not ctr or not ctr.startswith("/") or not host.startswith(("/", ".", "~")):
            continue  # a named volume or a malformed entry: no host directory
        if host.startswith("~"):
            host = os.path.expanduser(host)
        elif host.startswith("."):
            host = os.path.normpath(str(base_dir / host))
        vols.append((host, ctr))
    c.extra["volumes"] = vols
    c.extra["shm_size"] = parse_size(svc.get("shm_size"))
    c.extra["ipc_host"] = svc.get("ipc") == "host"
    granted, ids = None, []
    gpus = svc.get("gpus")
    if gpus == "all" or (isinstance(gpus, list) and gpus):
        granted = f"gpus: {gpus if isinstance(gpus, str) else 'device requests'}"
        if isinstance(gpus, list):
            ids = [_s(i) for g in gpus if isinstance(g, dict) and isinstance(g.get("device_ids"), list) for i in g["device_ids"]]
    dev = c.extra.get("gpus")
    if granted is None and isinstance(dev, dict):
        if dev.get("device_ids"):
            ids = list(dev["device_ids"])
            granted = f"deploy.resources.reservations.devices (device_ids {', '.join(ids)})"
        elif _s(dev.get("count")) not in ("0", ""):
            granted = f"deploy.resources.reservations.devices (count {dev.get('count')})"
    nvd = c.env.get("NVIDIA_VISIBLE_DEVICES")
    if granted is None and svc.get("runtime") == "nvidia":
        if nvd is None and c.facts is not None and c.facts.gpu_image:
            granted = "runtime: nvidia (the CUDA base image sets NVIDIA_VISIBLE_DEVICES=all)"
        elif nvd and nvd.strip() not in ("none", "void"):
            granted = f"runtime: nvidia with NVIDIA_VISIBLE_DEVICES={nvd}"
            ids = [x for x in nvd.split(",") if x and x != "all"]
    c.extra["gpus_granted"] = granted
    c.extra["gpu_devices"] = ids


def _compose_gpus(svc: dict) -> Any:
    try:
        devs = svc["deploy"]["resources"]["reservations"]["devices"]
    except (KeyError, TypeError):
        return None
    if not isinstance(devs, list):
        return None
    for d in devs:
        caps = d.get("capabilities") if isinstance(d, dict) and isinstance(d.get("capabilities"), list) else []
        if isinstance(d, dict) and ("gpu" in caps or d.get("driver") == "nvidia"):
            if d.get("device_ids") is not None:
                return {"device_ids": [_s(x) for x in d["device_ids"]] if isinstance(d["device_ids"], list) else [_s(d["device_ids"])]}
            return {"count": _s(d.get("count", "all"))}
    return None


def _entrypoint_problem(c: _Container, img_ep: Sequence[str], args: Sequence[str]) -> None:
    """The command repeats what the image's ENTRYPOINT already runs (``vllm serve serve ...``)."""
    found = entrypoint_problem(c.image or "", tuple(img_ep), list(args))
    if found is not None:
        c.extra["entrypoint_problem"], c.extra["entrypoint_fix"] = found


def _bare_args_problem(c: _Container, args: Sequence[str]) -> None:
    """Options only, for an image whose ENTRYPOINT does not start the server (lmsysorg/sglang)."""
    found = bare_args_problem(c.image or "", list(args))
    if found is not None:
        c.extra["entrypoint_problem"], c.extra["entrypoint_fix"] = found
        c.hint = "sglang"


def _image_extra(c: _Container) -> None:
    """The image's facts: its tag, the release it names, whether it needs a GPU."""
    f = image_facts(c.image)
    c.facts = f
    if f is not None:
        c.extra["image_tag"] = f.tag
        c.extra["image_version"] = f.version
        c.extra["gpu_image"] = f.gpu_image
        c.notes.extend(f.notes)


def _map_model(c: _Container, model: str | None) -> str | None:
    """An absolute in-container model path under a bind mount / hostPath volume, as the host path (with a note)."""
    from .containers import host_path

    found = host_path(model or "", c.extra.get("volumes") or ())
    if found is None:
        return None
    how = "hostPath volume" if c.kind == "kubernetes" else "bind mount"
    c.notes.append(f"the model path {model} inside the container is {found[0]} on this host ({how} {found[1]}): the model checks read the host copy")
    return found[0]


# --------------------------------------------------------------------------------------------
# kubernetes


def _pod_spec(doc: dict) -> dict | None:
    kind = doc.get("kind")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return None
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        jt = spec.get("jobTemplate")
        spec = jt.get("spec") if isinstance(jt, dict) else None
        if not isinstance(spec, dict):
            return None
    tpl = spec.get("template")
    if isinstance(tpl, dict) and isinstance(tpl.get("spec"), dict):
        return tpl["spec"]
    return None


def _k8s_env(container: dict, where: str, notes: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    raw = container.get("env")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise DeployFileError(f"{where}: env must be a list of {{name, value}}")
    from_refs = []
    for item in raw:
        if not isinstance(item, dict) or "name" not in item:
            raise DeployFileError(f"{where}: every env entry needs a name")
        name = _s(item.get("name"))
        if "valueFrom" in item:
            src = item.get("valueFrom")
            what = next(iter(src), "valueFrom") if isinstance(src, dict) and src else "valueFrom"
            from_refs.append(f"{name} ({what})")
            continue
        value = _s(item.get("value"))
        env[name] = expand_k8s(value, env, set())
    if from_refs:
        notes.append(f"env {', '.join(from_refs)} come from valueFrom: their values are not known here")
    if container.get("envFrom"):
        notes.append("envFrom (ConfigMap/Secret) variables are not known here")
    return env


def _k8s(doc: dict, shown: str, file_notes: list[str], services: list[dict]) -> list[_Container]:
    kind = printable(_s(doc.get("kind")))
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    name = printable(_s(meta.get("name"))) or "(unnamed)"
    pod = _pod_spec(doc)
    if pod is None:
        file_notes.append(f"{shown}:{kind}/{name}: no pod template; skipped")
        return []
    containers = pod.get("containers")
    if not isinstance(containers, list):
        raise DeployFileError(f"{shown}:{kind}/{name}: spec.containers must be a list")
    out: list[_Container] = []
    host_net = pod.get("hostNetwork") is True
    raw_volumes = pod.get("volumes") if isinstance(pod.get("volumes"), list) else []
    pod_volumes = {v["name"]: v for v in raw_volumes if isinstance(v, dict) and isinstance(v.get("name"), str)}
    for i, ctr in enumerate(containers):
        if not isinstance(ctr, dict):
            raise DeployFileError(f"{shown}:{kind}/{name}: container {i + 1} must be a mapping")
        cname = printable(_s(ctr.get("name"))) or f"container-{i + 1}"
        label = f"{shown}:{kind}/{name}/{cname}"
        c = _Container(label, "kubernetes", shown)
        c.image = _s(ctr.get("image")) or None
        server, img_ep, img_env = image_entrypoint(c.image)
        c.hint = server if img_ep else None
        env = _k8s_env(ctr, label, c.notes)
        merged = dict(img_env)
        if img_env.get("PORT") and "PORT" not in env:
            c.extra["port_from_image"] = True
        merged.update(env)
        c.env = merged
        unresolved: set[str] = set()
        cmd = _argv(ctr.get("command"), f"{label}: command")
        args = _argv(ctr.get("args"), f"{label}: args")
        cmd = [expand_k8s(a, merged, unresolved) for a in cmd] if cmd is not None else None
        args = [expand_k8s(a, merged, unresolved) for a in args] if args is not None else None
        c.extra["image"] = c.image
        c.extra["image_entrypoint"] = img_ep
        if cmd:  # command replaces the image's ENTRYPOINT; args replace its CMD
            argv = cmd + (args or [])
            c.extra["entrypoint_source"] = "file"
        elif img_ep:
            if args is None and server == "tei":
                args = ["--json-output"]
            argv = list(img_ep) + (args or [])
            c.extra["entrypoint_source"] = "image"
            _entrypoint_problem(c, img_ep, args or [])
        else:
            argv = args
            c.extra["entrypoint_source"] = "image" if img_ep is not None else None
            if img_ep == () and args:
                _bare_args_problem(c, args)
        c.argv = argv
        ports = []
        raw_ports = ctr.get("ports") or []
        if not isinstance(raw_ports, list):
            raise DeployFileError(f"{label}: ports must be a list")
        for p in raw_ports:
            if not isinstance(p, dict):
                continue
            cp = _port_int(p.get("containerPort"))
            if cp is None:
                continue
            ports.append(
                {
                    "container": cp,
                    "published": _port_int(p.get("hostPort")),
                    "host_ip": _s(p.get("hostIP")) or None,
                    "protocol": _s(p.get("protocol")) or "TCP",
                    "name": _s(p.get("name")) or None,
                }
            )
        c.extra["ports"] = ports
        c.extra["container_ports"] = sorted({p["container"] for p in ports})
        c.extra["host_network"] = host_net
        probes = {}
        for key in PROBE_KEYS:
            if isinstance(ctr.get(key), dict):
                probes[key] = _plain(ctr[key])
        c.extra["probes"] = probes
        c.extra["service_ports"] = services
        c.extra["workload"] = {"kind": kind, "name": name, "container": cname}
        res = ctr.get("resources")
        if isinstance(res, dict) and isinstance(res.get("limits"), dict):
            g = {k: _s(v) for k, v in res["limits"].items() if isinstance(k, str) and k.endswith("/gpu")}
            if g:
                c.extra["gpus"] = g
        _image_extra(c)
        _k8s_container(c, ctr, pod, pod_volumes, cmd, args)
        if unresolved:
            c.extra.setdefault("runtime_vars", []).extend(sorted(unresolved))
            c.notes.append(f"$({'), $('.join(sorted(unresolved))}) refer to variables not defined in the container's env; the kubelet leaves them as written")
        out.append(c)
    return out


_PROGRAMS = ("vllm", "sglang", "python", "python3", "text-embeddings-router", "sh", "bash")


def _k8s_container(c: _Container, ctr: dict, pod: dict, pod_volumes: Mapping[Any, Any], cmd: list[str] | None, args: list[str] | None) -> None:
    """What a Kubernetes container says: the nvidia.com/gpu limit, hostPath mounts, /dev/shm, hostIPC, and the
    command/args entries that hold a whole command line in one string (Kubernetes does not split them)."""
    res = ctr.get("resources") if isinstance(ctr.get("resources"), dict) else {}
    granted = None
    for part in ("limits", "requests"):
        lim = res.get(part) if isinstance(res.get(part), dict) else {}
        n = lim.get("nvidia.com/gpu")
        if n is not None and as_int(_s(n), 0):
            granted = f"resources.{part} nvidia.com/gpu: {_s(n)}"
            break
    c.extra["gpus_granted"] = granted
    vols: list[tuple[str, str]] = []
    mounts = ctr.get("volumeMounts") if isinstance(ctr.get("volumeMounts"), list) else []
    for m in mounts:
        if not isinstance(m, dict):
            continue
        vol = pod_volumes.get(m["name"]) if isinstance(m.get("name"), str) else None
        path = _s(m.get("mountPath"))
        if not isinstance(vol, dict) or not path.startswith("/"):
            continue
        hp = vol.get("hostPath")
        ed = vol.get("emptyDir")
        if isinstance(hp, dict) and _s(hp.get("path")).startswith("/"):
            sub = _s(m.get("subPath")).strip("/")
            vols.append((os.path.join(_s(hp.get("path")), sub) if sub else _s(hp.get("path")), path))
        elif isinstance(ed, dict) and ed.get("medium") == "Memory" and path.rstrip("/") == "/dev/shm":
            c.extra["shm_memory_volume"] = True
            c.extra["shm_size"] = parse_size(ed.get("sizeLimit"), kubernetes=True)
    c.extra["volumes"] = vols
    c.extra["ipc_host"] = pod.get("hostIPC") is True
    strings = []
    shell = bool(cmd) and os.path.basename(cmd[0]) in SHELLS
    for i, item in enumerate((cmd or []) + (args or [])):
        words = item.split()
        if len(words) < 2 or (shell and i > 0):
            continue  # one word, or a script for `sh -c` (the shell splits it)
        if (cmd and i == 0) or words[0].startswith("-") or os.path.basename(words[0]) in _PROGRAMS:
            strings.append(item)
    c.extra["command_strings"] = strings


def _k8s_services(docs: Iterable[Any]) -> list[dict]:
    out = []
    for doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") != "Service":
            continue
        spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        for p in spec.get("ports") or []:
            if isinstance(p, dict):
                tp = p.get("targetPort", p.get("port"))
                out.append(
                    {
                        "name": _s(meta.get("name")),
                        "port": _port_int(p.get("port")),
                        "targetPort": tp if isinstance(tp, (int, str)) and not isinstance(tp, bool) else None,
                    }
                )
    return out


# --------------------------------------------------------------------------------------------
# systemd


_UNIT_SECTION = re.compile(r"^\s*\[(Unit|Service|Install|Socket|Timer|Path|Mount)\]\s*$", re.MULTILINE)


def looks_like_systemd(path: Path, text: str) -> bool:
    return path.suffix in (".service", ".unit") or bool(_UNIT_SECTION.search(text))


def _systemd(text: str, shown: str, file_notes: list[str]) -> list[_Container]:
    # systemd joins lines ending in a backslash (comment lines inside a continuation are dropped)
    lines: list[str] = []
    buf = ""
    for raw in text.splitlines():
        s = raw.strip()
        if buf and s[:1] in ("#", ";"):
            continue
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        lines.append(buf + s)
        buf = ""
    if buf:
        lines.append(buf)
    section = None
    exec_start: list[str] = []
    env_lines: list[str] = []
    env_files: list[str] = []
    user = None
    for line in lines:
        if not line or line[0] in "#;":
            continue
        m = re.fullmatch(r"\[([^\]]+)\]", line)
        if m:
            section = m.group(1)
            continue
        if section != "Service" or "=" not in line:
            continue
        key, value = (x.strip() for x in line.split("=", 1))
        if key == "ExecStart":
            if value == "":
                exec_start = []
            else:
                exec_start.append(value)
        elif key == "Environment":
            env_lines.append(value)
        elif key == "EnvironmentFile":
            env_files.append(value)
        elif key == "User":
            user = value
    label = f"{shown}:ExecStart"
    c = _Container(label, "systemd", shown)
    if section is None and not exec_start:
        raise DeployFileError(f"{shown}: not a systemd unit (no [Service] section)")
    if not exec_start:
        raise DeployFileError(f"{shown}: the unit has no ExecStart= in its [Service] section")
    env: dict[str, str] = {}
    for value in env_lines:
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise DeployFileError(f"{shown}: Environment={value[:40]}: {str(exc).lower()}") from None
        for w in words:
            if "=" in w:
                k, v = w.split("=", 1)
                env[k] = v
    c.env = env
    if env_files:
        c.notes.append(f"EnvironmentFile={', '.join(env_files)} is not read; variables from it are not known here")
    if user:
        c.extra["user"] = user
    cmdline = exec_start[-1]
    # ExecStart prefixes: - @ : + ! !!
    m = re.match(r"^([-@:+!]+)", cmdline)
    if m:
        cmdline = cmdline[m.end() :]
        if "@" in m.group(1):
            c.notes.append("ExecStart uses '@' (argv[0] differs from the program)")
    try:
        words = shlex.split(cmdline)
    except ValueError as exc:
        raise DeployFileError(f"{shown}: ExecStart: cannot split the command: {str(exc).lower()}") from None
    argv: list[str] = []
    unresolved: set[str] = set()
    for w in words:
        m2 = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", w)
        if m2:  # $VAR: the value split at whitespace into words
            if m2.group(1) in env:
                argv.extend(env[m2.group(1)].split())
            else:
                unresolved.add(m2.group(1))
                argv.append(w)
            continue

        def sub(mm: re.Match) -> str:
            if mm.group(1) in env:
                return env[mm.group(1)]
            unresolved.add(mm.group(1))
            return mm.group(0)

        argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, w))
    if unresolved:
        c.extra.setdefault("runtime_vars", []).extend(sorted(unresolved))
        c.notes.append(f"${{{'}, ${'.join(sorted(unresolved))}}} are not set by Environment= in the unit; the checks see them as written")
    c.argv = argv
    c.extra["ports"] = []
    c.extra["container_ports"] = []
    c.extra["host_network"] = True
    c.extra["probes"] = {}
    return [c]


# --------------------------------------------------------------------------------------------
# entry points


def _read(path: str | os.PathLike[str]) -> tuple[Path, str, str]:
    p = Path(path)
    shown = printable(str(path))
    try:
        st = p.stat()
    except OSError as exc:
        raise DeployFileError(f"cannot read --from {shown}: {exc.strerror or exc}") from None
    if p.is_dir():
        raise DeployFileError(f"cannot read --from {shown}: is a directory (give a compose file, a manifest or a unit file)")
    if st.st_size > MAX_FILE_BYTES:
        raise DeployFileError(f"--from {shown} is {st.st_size} bytes; the largest accepted is {MAX_FILE_BYTES} bytes")
    try:
        data = read_bytes(p, "manifest")  # bounded; refuses FIFOs and devices (they would block or never end)
    except ReadError as exc:
        raise DeployFileError(f"cannot read --from {printable(str(exc))}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DeployFileError(f"--from {shown} is not UTF-8 text (byte {exc.start})") from None
    if "\x00" in text:
        raise DeployFileError(f"--from {shown} is not a text file (contains NUL bytes)")
    return p, shown, text


class _YamlLimit(Exception):
    pass


def _yaml_loader() -> Any:
    """The safe loader: libyaml's when present (fast: 10,000 services in one file), else PyYAML's own. Either
    builds an aliased value once and shares it; :func:`_bounded` measures what a walk over it would see."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _bounded(doc: Any, budget: list[int]) -> None:
    """Raise _YamlLimit when ``doc``, with every alias expanded as a walk over it would see it, has more than
    ``budget[0]`` nodes (what is left of MAX_YAML_NODES for the file) or is nested deeper than MAX_YAML_DEPTH, or is
    recursive. Linear in the distinct nodes: the expanded size of a shared (aliased) node is computed once."""
    sizes: dict[int, int] = {}
    shared = [0]
    on_path: set[int] = set()
    # iterative post-order walk: (obj, depth, children-visited?)
    stack: list[tuple[Any, int, bool]] = [(doc, 1, False)]
    while stack:
        obj, depth, expanded = stack.pop()
        if not isinstance(obj, (dict, list)):
            continue
        key = id(obj)
        if expanded:
            on_path.discard(key)
            kids = obj.values() if isinstance(obj, dict) else obj
            total = 1 + sum(sizes.get(id(k), 1) for k in kids)
            if total > budget[0]:
                raise _YamlLimit(f"expands to more than {MAX_YAML_NODES} values with its aliases resolved (an alias bomb?)")
            sizes[key] = total
            continue
        if key in sizes:  # an alias of a node already measured
            shared[0] += 1
            if shared[0] > MAX_YAML_ALIASES:
                raise _YamlLimit(f"uses aliases more than {MAX_YAML_ALIASES} times")
            continue
        if key in on_path:
            raise _YamlLimit("is nested too deeply: a recursive alias (a value that contains itself)")
        if depth > MAX_YAML_DEPTH:
            raise _YamlLimit(f"is nested more than {MAX_YAML_DEPTH} levels deep")
        on_path.add(key)
        stack.append((obj, depth, True))
        kids = list(obj.values()) if isinstance(obj, dict) else obj
        for k in kids:
            stack.append((k, depth + 1, False))
    budget[0] -= sizes.get(id(doc), 1)


def _yaml_docs(text: str, shown: str) -> list[Any]:
    """The documents of a YAML file, safely loaded (no tags that build objects) and bounded: at most
    MAX_DOCUMENTS documents and MAX_YAML_NODES values with aliases expanded (a "billion laughs" alias bomb is a
    one-line error, not gigabytes), nesting at most MAX_YAML_DEPTH deep, no recursive aliases."""
    import yaml

    try:
        docs = []
        budget = [MAX_YAML_NODES]
        loader = _yaml_loader()(text)
        try:
            while loader.check_data():
                doc = loader.get_data()
                _bounded(doc, budget)
                docs.append(doc)
                if len(docs) > MAX_DOCUMENTS:
                    raise DeployFileError(f"{shown}: more than {MAX_DOCUMENTS} YAML documents")
        finally:
            loader.dispose()
        return docs
    except _YamlLimit as exc:
        raise DeployFileError(f"{shown}: YAML {exc}; refused") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "nesting depth" in str(problem):  # libyaml's own limit
            raise DeployFileError(f"{shown}: YAML nested too deeply{where}") from None
        hint = " (a Helm template? render it first: helm template ... > rendered.yaml)" if "{{" in text else ""
        raise DeployFileError(f"{shown} is not valid YAML: {problem}{where}{hint}") from None
    except RecursionError:
        raise DeployFileError(f"{shown}: YAML nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. timestamps out of range, unhashable keys
        if isinstance(exc, DeployFileError):
            raise
        raise DeployFileError(f"{shown} is not valid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def read_deploy_file(path: str | os.PathLike[str], **target_opts: Any) -> tuple[list[Target], list[str]]:
    """Targets (one per server container) and notes (skipped containers, ...) from one deployment file.

    ``target_opts``: ``server`` (a hint for commands holding only options, e.g. a custom image),
    ``server_version``, ``model_path``, ``host``, ``port``, ``url`` (as for build_target; ``url`` also
    enables live checks, which file targets otherwise skip).
    Raises :class:`DeployFileError` on a file that cannot be read or understood.
    """
    p, shown, text = _read(path)
    file_notes: list[str] = []
    containers: list[_Container] = []
    try:
        if looks_like_systemd(p, text):
            containers = _systemd(text, shown, file_notes)
        else:
            docs = _yaml_docs(text, shown)
            objs: list[Any] = []
            for d in docs:
                if isinstance(d, dict) and d.get("kind") == "List" and isinstance(d.get("items"), list):
                    objs.extend(d["items"])
                else:
                    objs.append(d)
            services = _k8s_services(objs)
            found_any = False
            for d in objs:
                if d is None:
                    continue
                if isinstance(d, dict) and "services" in d and "kind" not in d:
                    found_any = True
                    containers.extend(_compose(d, shown, p.parent, file_notes))
                elif isinstance(d, dict) and isinstance(d.get("kind"), str) and "apiVersion" in d:
                    if d["kind"] in WORKLOAD_KINDS:
                        found_any = True
                        containers.extend(_k8s(d, shown, file_notes, services))
                    else:
                        found_any = found_any or d["kind"] in ("Service", "ConfigMap", "Secret", "PersistentVolumeClaim", "RuntimeClass", "Ingress")
                # anything else (helm values, a bare list, ...) is not ours
            if not found_any:
                raise DeployFileError(f"{shown}: no compose services, Kubernetes workloads or systemd [Service] found")
    except DeployFileError:
        raise
    except RecursionError:
        raise DeployFileError(f"{shown}: nested too deeply") from None
    from . import clock

    targets: list[Target] = []
    seen: set[str] = set()
    next_n: dict[str, int] = {}
    for i, c in enumerate(containers):
        if targets and clock.expired():  # the run's one --deadline: say what was left out
            file_notes.append(clock.not_done(f"{shown}: building targets for {len(containers) - i} of its {len(containers)} containers"))
            break
        c.label = _unique(c.label, seen, next_n)
        t = _build(c, target_opts, file_notes)
        if t is not None:
            targets.append(t)
    if not targets:
        why = "; ".join(file_notes[:3]) or "nothing to examine"
        raise DeployFileError(f"{shown}: no SGLang, vLLM or TEI launch command found ({why})")
    return targets, file_notes


def targets_from_file(path: str | os.PathLike[str], **target_opts: Any) -> list[Target]:
    """One Target per server container of a deployment file (see :func:`read_deploy_file`)."""
    return read_deploy_file(path, **target_opts)[0]
