"""``docker run`` / ``podman run`` / ``nerdctl run`` lines as launch commands.

A run line (also after ``sudo`` or ``env VAR=x``, and pasted from a shell script with ``\\`` continuations and
``&&``) is parsed with the runtime's own option table (each option's arity, ``--opt=value``, short clusters such as
``-itd`` and ``-p8000:8000``); the image is the first argument that is not an option, and what follows it is
appended to the image's ENTRYPOINT (:mod:`qwen_doctor.images`; ``--entrypoint`` replaces it). The server command
found there becomes the :class:`~qwen_doctor.launch.LaunchCommand` (its ``prefix`` keeps the whole run line, so a
corrected command is still a run line), and what the run line says about the container (image and tag, published
ports, bind mounts, GPUs, shared memory, IPC, network, environment) becomes the target's
:class:`~qwen_doctor.target.Deployment` of kind ``docker-run``.

A line that cannot be understood raises :class:`~qwen_doctor.launch.LaunchError` (one line, exit 2). Stdlib only.
"""

from __future__ import annotations

import csv
import os
import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .images import ImageFacts, bare_args_problem, entrypoint_problem, image_facts, newest_release, parse_size

if TYPE_CHECKING:  # pragma: no cover
    from .launch import LaunchCommand
    from .target import Target

RUNTIMES = ("docker", "podman", "nerdctl")
#: subcommands that create a container from an image with the run options
RUN_SUBCOMMANDS = ("run", "create")

# global options of the runtime CLIs that take a value (docker, podman, nerdctl --help)
_GLOBAL_VALUE = {
    "-H",
    "--host",
    "-c",
    "--context",
    "--config",
    "-l",
    "--log-level",
    "--tlscacert",
    "--tlscert",
    "--tlskey",
    "--root",
    "--runroot",
    "--url",
    "--connection",
    "--identity",
    "--storage-driver",
    "--storage-opt",
    "--cgroup-manager",
    "--events-backend",
    "--module",
    "--runtime",
    "--tmpdir",
    "--ssh",
    "--imagestore",
    "--volumepath",
    "-n",
    "--namespace",
    "-a",
    "--address",
    "--snapshotter",
    "--cni-path",
    "--cni-netconfpath",
    "--data-root",
    "--hosts-dir",
    "--host-gateway-ip",
}

# `docker run` / `podman run` / `nerdctl run` options that take one value (docker run --help, podman-run(1), nerdctl)
_VALUE = {
    "--add-host", "--annotation", "--attach", "--blkio-weight", "--blkio-weight-device", "--cap-add", "--cap-drop",
    "--cgroup-parent", "--cgroupns", "--cidfile", "--cpu-count", "--cpu-percent", "--cpu-period", "--cpu-quota",
    "--cpu-rt-period", "--cpu-rt-runtime", "--cpu-shares", "--cpus", "--cpuset-cpus", "--cpuset-mems", "--detach-keys",
    "--device", "--device-cgroup-rule", "--device-read-bps", "--device-read-iops", "--device-write-bps",
    "--device-write-iops", "--dns", "--dns-opt", "--dns-option", "--dns-search", "--domainname", "--entrypoint", "--env",
    "--env-file", "--expose", "--gpus", "--group-add", "--health-cmd", "--health-interval", "--health-retries",
    "--health-start-interval", "--health-start-period", "--health-timeout", "--hostname", "--io-maxbandwidth",
    "--io-maxiops", "--ip", "--ip6", "--ipc", "--isolation", "--kernel-memory", "--label", "--label-file", "--link",
    "--link-local-ip", "--log-driver", "--log-opt", "--mac-address", "--memory", "--memory-reservation", "--memory-swap",
    "--memory-swappiness", "--mount", "--name", "--network", "--net", "--network-alias", "--net-alias",
    "--oom-score-adj", "--pid", "--pids-limit", "--platform", "--publish", "--pull", "--restart", "--runtime",
    "--security-opt", "--shm-size", "--stop-signal", "--stop-timeout", "--storage-opt", "--sysctl", "--tmpfs",
    "--ulimit", "--user", "--userns", "--uts", "--volume", "--volume-driver", "--volumes-from", "--workdir",
    # podman
    "--arch", "--authfile", "--cert-dir", "--cgroup-conf", "--cgroups", "--chrootdirs", "--conmon-pidfile", "--creds",
    "--decryption-key", "--env-merge", "--gidmap", "--group-entry", "--health-on-failure", "--health-log-destination",
    "--health-max-log-count", "--health-max-log-size", "--health-startup-cmd", "--health-startup-interval",
    "--health-startup-retries", "--health-startup-success", "--health-startup-timeout", "--hooks-dir", "--hostuser",
    "--image-volume", "--init-path", "--os", "--passwd-entry", "--personality", "--pidfile", "--pod", "--pod-id-file",
    "--preserve-fd", "--preserve-fds", "--rdt-class", "--requires", "--retry", "--retry-delay", "--sdnotify",
    "--seccomp-policy", "--secret", "--shm-size-systemd", "--subgidname", "--subuidname", "--systemd", "--timeout",
    "--tz", "--uidmap", "--umask", "--unsetenv", "--variant",
    # nerdctl
    "--cosign-key", "--cosign-certificate-identity", "--cosign-certificate-oidc-issuer", "--verify", "--ipfs-address",
    "--label-file", "--pidfile", "--cpu-rt-runtime",
}  # fmt: skip
# switches (a separate following token is never their value; `--rm=false` is written with '=')
_BOOL = {
    "--detach", "--interactive", "--tty", "--rm", "--publish-all", "--privileged", "--read-only", "--init",
    "--no-healthcheck", "--oom-kill-disable", "--sig-proxy", "--disable-content-trust", "--quiet", "--help",
    "--use-api-socket", "--env-host", "--http-proxy", "--no-hosts", "--passwd", "--read-only-tmpfs", "--replace",
    "--rootfs", "--tls-verify", "--unsetenv-all", "--insecure-registry",
}  # fmt: skip
_SHORT = {
    "-a": "--attach",
    "-c": "--cpu-shares",
    "-e": "--env",
    "-h": "--hostname",
    "-l": "--label",
    "-m": "--memory",
    "-p": "--publish",
    "-u": "--user",
    "-v": "--volume",
    "-w": "--workdir",
    "-d": "--detach",
    "-i": "--interactive",
    "-t": "--tty",
    "-P": "--publish-all",
    "-q": "--quiet",
}
_ALIASES = {"--net": "--network", "--net-alias": "--network-alias", "--dns-opt": "--dns-option"}
# wrappers that may stand before the runtime (their own options are skipped), and the ones taking a value
_PRE = {"sudo", "doas", "env", "nohup", "exec", "time", "nice", "ionice", "stdbuf", "taskset", "setsid", "command", "builtin", "--"}
_PRE_VALUE = {"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-n", "-c", "--user", "--group", "--chdir", "--unset", "-S"}
_ENV_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_LAUNCHERS = {"sglang": "python -m sglang.launch_server", "vllm": "vllm serve", "tei": "text-embeddings-router"}


@dataclass
class ContainerRun:
    """A parsed run line: where it is in argv, the image and its command, and what the options say."""

    runtime: str
    start: int  # index of the runtime token in argv
    image_index: int  # index of the image token in argv
    image: str
    command: tuple[str, ...]
    facts: ImageFacts | None
    entrypoint: str | None = None  # --entrypoint as written ("" resets it)
    env: dict[str, str] = field(default_factory=dict)  # -e NAME=value
    passthrough: list[str] = field(default_factory=list)  # -e NAME (the value comes from the docker client's environment)
    env_files: list[str] = field(default_factory=list)
    ports: list[dict[str, Any]] = field(default_factory=list)
    publish_all: bool = False
    volumes: list[tuple[str, str]] = field(default_factory=list)  # bind mounts (host path, container path)
    named_volumes: list[tuple[str, str]] = field(default_factory=list)
    gpus: dict[str, Any] | None = None
    gpus_granted: str | None = None
    gpu_devices: list[str] = field(default_factory=list)
    runtime_name: str | None = None  # --runtime nvidia
    shm_size: int | None = None
    ipc_host: bool = False
    network: str | None = None
    name: str | None = None
    notes: list[str] = field(default_factory=list)
    runtime_vars: list[str] = field(default_factory=list)
    shell_script: str | None = None
    problem: tuple[str, str] | None = None  # (entrypoint problem, fix)

    # -- what runs ---------------------------------------------------------------------------------------------
    def entrypoint_tokens(self) -> tuple[str, ...]:
        """The ENTRYPOINT the container runs: --entrypoint, else the image's (() unknown or none)."""
        if self.entrypoint is not None:
            return (self.entrypoint,) if self.entrypoint else ()
        return self.facts.entrypoint if self.facts is not None else ()

    @property
    def host_network(self) -> bool:
        return self.network == "host"

    def container_env(self, shell_env: Mapping[str, str]) -> dict[str, str]:
        """The server's environment: the image's ENV, then -e NAME=value, then -e NAME from the docker client's env."""
        env = dict(self.facts.env) if self.facts is not None else {}
        env.update(self.env)
        for name in self.passthrough:
            if name in shell_env:
                env[name] = shell_env[name]
        return env

    def host_path(self, path: str) -> tuple[str, str] | None:
        """(host path, mount as written) for an absolute container path under a bind mount (the longest wins)."""
        return host_path(path, self.volumes)

    def deployment_facts(self) -> dict[str, Any]:
        """The Deployment fields (kind docker-run) a run line gives, as Deployment.from_mapping takes them."""
        f = self.facts
        env_names = set(self.env) | set(self.passthrough)
        d: dict[str, Any] = {
            "kind": "docker-run",
            "runtime": self.runtime,
            "image": self.image,
            "image_entrypoint": f.entrypoint if f is not None else None,
            "entrypoint_source": "file" if self.entrypoint is not None else ("image" if f is not None else None),
            "port_from_image": bool(f is not None and f.server == "tei" and "PORT" not in env_names),
            "ports": list(self.ports),
            "container_ports": sorted({p["container"] for p in self.ports}),
            "host_network": self.host_network,
            "gpus": self.gpus,
            "runtime_vars": sorted(set(self.runtime_vars)),
            "shell_script": self.shell_script,
            "image_tag": f.tag if f is not None else None,
            "image_version": f.version if f is not None else None,
            "gpu_image": f.gpu_image if f is not None else None,
            "gpus_granted": self.gpus_granted,
            "gpu_devices": list(self.gpu_devices),
            "volumes": list(self.volumes),
            "env_files": list(self.env_files),
            "shm_size": self.shm_size,
            "ipc_host": self.ipc_host,
            "notes": list(self.notes),
        }
        if self.problem is not None:
            d["entrypoint_problem"], d["entrypoint_fix"] = self.problem
        return d


def host_path(path: str, volumes: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    """(host path, "HOST:CONTAINER") for an absolute container path under one of ``volumes`` (host, container) bind
    mounts / hostPath volumes, the longest container path winning; None when no mount holds it (or its host side is a
    shell variable)."""
    if not path.startswith("/"):
        return None
    best: tuple[str, str] | None = None
    best_len = -1
    for host, ctr in volumes:
        c = ctr.rstrip("/") or "/"
        if (path == c or path.startswith(c.rstrip("/") + "/")) and len(c) > best_len and "$" not in host:
            rest = path[len(c) :].lstrip("/") if c != "/" else path.lstrip("/")
            mapped = os.path.join(host, rest) if rest else host
            if path.endswith("/") and not mapped.endswith("/"):
                mapped += "/"
            best, best_len = (mapped, f"{host}:{ctr}"), len(c)
    return best


# ------------------------------------------------------------------------------------------------------------
# finding and parsing the run line


def _runtime_index(argv: Sequence[str], start: int) -> int | None:
    """Index of docker/podman/nerdctl in argv when only wrappers (sudo, env, nohup, ...) stand before it."""
    prev_opt = False
    for j in range(start, min(len(argv), start + 24)):
        tok = argv[j]
        base = os.path.basename(tok)
        if base in RUNTIMES:
            return j
        if base in _PRE or _ENV_ASSIGN.match(tok):
            prev_opt = False
            continue
        if tok.startswith("-"):
            prev_opt = tok in _PRE_VALUE
            continue
        if prev_opt or re.fullmatch(r"0x[0-9a-fA-F]+|[\d,\-]+", tok):  # a wrapper option's value (sudo -u x, taskset 0x1)
            prev_opt = False
            continue
        return None
    return None


def is_run_line(argv: Sequence[str], start: int = 0) -> bool:
    """Whether argv (from ``start``) is a docker/podman/nerdctl run (or create) line."""
    r = _runtime_index(argv, start)
    if r is None:
        return False
    j = _skip_global(argv, r + 1)
    if j < len(argv) and argv[j] == "container":
        j += 1
    return j < len(argv) and argv[j] in RUN_SUBCOMMANDS


def _skip_global(argv: Sequence[str], j: int) -> int:
    while j < len(argv) and argv[j].startswith("-") and argv[j] != "-":
        j += 1 if ("=" in argv[j] or argv[j] not in _GLOBAL_VALUE) else 2
    return j


def _one_line(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f\u2028\u2029\x85]", lambda m: repr(m.group(0))[1:-1], text)


def parse_run(argv: Sequence[str], start: int = 0, shell_env: Mapping[str, str] | None = None) -> ContainerRun | None:
    """The run line in argv (from ``start``), or None when argv is not one. Raises LaunchError on a run line that
    cannot be understood (no image, an option without its value)."""
    from .launch import LaunchError as _LaunchError

    def LaunchError(msg: str) -> Exception:  # noqa: N802 - one line, names from the command escaped
        return _LaunchError(_one_line(msg))

    r = _runtime_index(argv, start)
    if r is None:
        return None
    runtime = os.path.basename(argv[r])
    j = _skip_global(argv, r + 1)
    if j < len(argv) and argv[j] == "container":
        j += 1
    if j >= len(argv):
        return None
    if argv[j] == "compose":
        raise LaunchError(f"`{runtime} compose` starts the services of a compose file: give the file instead (qwen-doctor check --from compose.yaml)")
    if argv[j] not in RUN_SUBCOMMANDS:
        return None  # docker exec CONTAINER vllm serve ...: the server command is found as in any command line
    run = ContainerRun(runtime, r, -1, "", (), None)
    k = j + 1
    last_unknown: int | None = None
    n = len(argv)
    while k < n:
        tok = argv[k]
        if tok == "--":
            k += 1
            break
        if not tok.startswith("-") or tok == "-":
            break
        if tok.startswith("--"):
            name, eq, val = tok.partition("=")
            name = _ALIASES.get(name, name)
            if name in _VALUE:
                if eq:
                    value, k = val, k + 1
                else:
                    if k + 1 >= n:
                        raise LaunchError(f"{runtime} run: option {name} needs a value")
                    value, k = argv[k + 1], k + 2
                _option(run, name, value)
            elif name in _BOOL:
                _option(run, name, val if eq else "true")
                k += 1
            else:
                run.notes.append(f"{runtime} run option {name} is not one the doctor knows; read as a switch")
                last_unknown = None if eq else k
                k += 1
            continue
        body = tok[1:]
        m = 0
        consumed = False
        while m < len(body):
            short = "-" + body[m]
            long = _SHORT.get(short)
            if long in _VALUE:
                rest = body[m + 1 :].removeprefix("=")
                if rest:
                    value, k = rest, k + 1
                else:
                    if k + 1 >= n:
                        raise LaunchError(f"{runtime} run: option {short} needs a value")
                    value, k = argv[k + 1], k + 2
                _option(run, long, value)
                consumed = True
                break
            if long is not None:
                _option(run, long, "true")
            else:
                run.notes.append(f"{runtime} run option {short} is not one the doctor knows; read as a switch")
            m += 1
        if not consumed:
            k += 1
    if k >= n:
        raise LaunchError(f"{runtime} run: no image given (the first argument that is not an option names the image)")
    # an unknown option written before the image may have taken a value: `--foo bar IMAGE ...`
    if last_unknown is not None and last_unknown + 1 == k and image_facts(argv[k]) is None and k + 1 < n and image_facts(argv[k + 1]) is not None:
        run.notes[-1] = f"{runtime} run option {argv[last_unknown]} is not one the doctor knows; read with the value {argv[k]!r}"
        k += 1
    run.image_index = k
    run.image = argv[k]
    run.command = tuple(argv[k + 1 :])
    run.facts = image_facts(run.image)
    _finish_options(run, shell_env or {})
    found = sorted({m.group(1) for tok in argv[r:] for m in _VAR.finditer(tok)})
    if found:
        run.runtime_vars.extend(found)
        run.notes.append(f"shell variables {', '.join('$' + v for v in found)} get their values when the shell runs the line; the checks see them as written")
    return run


def _option(run: ContainerRun, name: str, value: str) -> None:
    """Record what one run option says about the container."""
    v = value.strip()
    if name == "--publish":
        from .deployfiles import compose_ports  # the same [IP:][HOST:]CONTAINER[/proto] syntax as compose `ports:`

        try:
            run.ports.extend(compose_ports([v], "-p"))
        except ValueError:
            pass
    elif name == "--publish-all":
        run.publish_all = v.lower() != "false"
    elif name == "--volume":
        _volume(run, v)
    elif name == "--mount":
        _mount(run, v)
    elif name == "--tmpfs":
        path, _, opts = v.partition(":")
        if path.rstrip("/") == "/dev/shm":
            size = re.search(r"(?:^|,)size=([^,]+)", opts)
            run.shm_size = parse_size(size.group(1)) if size else run.shm_size
    elif name == "--env":
        k, eq, val = value.partition("=")
        if eq:
            run.env[k] = val
        elif k:
            run.passthrough.append(k)
    elif name == "--env-file":
        run.env_files.append(v)
    elif name == "--gpus":
        _gpus(run, v)
    elif name == "--device":
        _device(run, v)
    elif name == "--runtime":
        run.runtime_name = v
    elif name == "--shm-size":
        run.shm_size = parse_size(v)
        if run.shm_size is None:
            run.notes.append(f"--shm-size {v} is not a size the runtime accepts (e.g. 64m, 16g)")
    elif name == "--ipc":
        run.ipc_host = v == "host"
    elif name == "--network":
        run.network = v
    elif name == "--name":
        run.name = v
    elif name == "--entrypoint":
        run.entrypoint = value


def _volume(run: ContainerRun, spec: str) -> None:
    parts = spec.split(":")
    if len(parts) < 2:
        return  # an anonymous volume: nothing on the host
    host, ctr = parts[0], parts[1]
    if not ctr.startswith("/"):
        return
    if host.startswith(("/", "./", "../", "~", "$")) or host in (".", ".."):
        run.volumes.append((_host(host), ctr))
    else:
        run.named_volumes.append((host, ctr))
        run.notes.append(f"-v {host}:{ctr} mounts the named volume {host}, not a host directory: files in it are not checked here")


def _host(path: str) -> str:
    if path.startswith("~"):
        return os.path.expanduser(path)
    if path.startswith("$"):
        return path
    return os.path.normpath(path) if path.startswith(".") else path


def _mount(run: ContainerRun, spec: str) -> None:
    try:
        fields = next(csv.reader([spec]))
    except (csv.Error, StopIteration):
        return
    kv: dict[str, str] = {}
    for f in fields:
        k, eq, v = f.partition("=")
        kv[k.strip().lower()] = v.strip() if eq else "true"
    kind = kv.get("type", "volume")
    src = kv.get("source") or kv.get("src")
    dst = kv.get("target") or kv.get("destination") or kv.get("dst")
    if not dst:
        return
    if kind == "bind" and src:
        run.volumes.append((_host(src), dst))
    elif kind == "tmpfs" and dst.rstrip("/") == "/dev/shm":
        run.shm_size = parse_size(kv.get("tmpfs-size", "")) or run.shm_size
    elif kind == "volume" and src:
        run.named_volumes.append((src, dst))
        run.notes.append(f"--mount of the named volume {src} at {dst}: files in it are not checked here")


def _gpus(run: ContainerRun, value: str) -> None:
    v = value.strip().strip("'\"")
    ids: list[str] = []
    count: str | None = None
    if v.startswith("device="):
        ids = [x.strip() for x in v[len("device=") :].split(",") if x.strip() and "=" not in x]
    else:
        try:
            fields = next(csv.reader([v]))
        except (csv.Error, StopIteration):
            fields = [v]
        for f in fields:
            key, eq, val = f.strip().partition("=")
            if not eq:
                count = key
            elif key == "count":
                count = val
            elif key == "device":
                ids = [x for x in val.split(",") if x]
    if ids:
        run.gpus = {"device_ids": ids}
        run.gpu_devices = ids
    else:
        count = count or "all"
        run.gpus = {"count": count}
        if count.isdigit() and int(count) == 0:
            run.notes.append(f"--gpus {value} grants no GPU")
            return
    run.gpus_granted = f"--gpus {value}"


def _device(run: ContainerRun, value: str) -> None:
    v = value.split(":", 1)[0] if value.startswith("/dev/") else value
    m = re.fullmatch(r"nvidia\.com/gpu=(.+)", v)
    if m:
        run.gpus_granted = run.gpus_granted or f"--device {value}"
        if m.group(1) != "all":
            run.gpu_devices.append(m.group(1))
        run.gpus = run.gpus or ({"count": "all"} if m.group(1) == "all" else {"device_ids": run.gpu_devices})
        return
    m = re.fullmatch(r"/dev/nvidia(\d+)", v)
    if m:
        run.gpus_granted = run.gpus_granted or f"--device {value}"
        run.gpu_devices.append(m.group(1))
        run.gpus = {"device_ids": list(run.gpu_devices)}


def _finish_options(run: ContainerRun, shell_env: Mapping[str, str]) -> None:
    f = run.facts
    if run.runtime_name == "nvidia" and run.gpus_granted is None:
        nvd = run.env.get("NVIDIA_VISIBLE_DEVICES")
        if nvd is None and f is not None and f.gpu_image:
            run.gpus_granted = "--runtime nvidia (the CUDA base image sets NVIDIA_VISIBLE_DEVICES=all)"
            run.gpus = {"count": "all"}
        elif nvd and nvd.strip() not in ("none", "void"):
            run.gpus_granted = f"--runtime nvidia with NVIDIA_VISIBLE_DEVICES={nvd}"
            ids = [x for x in nvd.split(",") if x and x != "all"]
            run.gpu_devices = ids
            run.gpus = {"device_ids": ids} if ids else {"count": "all"}
    if run.host_network and run.ports:
        run.notes.append("--network host: the -p mappings are ignored; the server listens on the host's own ports")
    if run.publish_all:
        run.notes.append("-P publishes every port the image EXPOSEs on random host ports: the host port is known only once the container runs")
    for name in run.passthrough:
        if name not in shell_env:
            run.notes.append(f"-e {name} passes {name} from the environment of the shell running {run.runtime}: its value is not known here")
    if run.env_files:
        run.notes.append(f"--env-file {', '.join(run.env_files)} is not read: variables from it are not known here")
    if f is not None:
        run.notes.extend(f.notes)
    if run.entrypoint is not None:
        shown = run.entrypoint or '""'
        was = f" ({' '.join(f.entrypoint)})" if f is not None and f.entrypoint else ""
        run.notes.append(f"--entrypoint {shown} replaces the image's ENTRYPOINT{was}")


# ------------------------------------------------------------------------------------------------------------
# the launch command inside


def launch_from_run(argv: Sequence[str], env: Sequence[tuple[str, str]], run: ContainerRun, server_hint: str | None, start: int = 0) -> "LaunchCommand":
    """The server launch command a run line starts (its prefix keeps the run line, from ``start``: wrappers such as
    sudo stay). Raises LaunchError."""
    from .deployfiles import unwrap_shell
    from .launch import LaunchCommand, _find_launcher, split_launch
    from .launch import LaunchError as _LaunchError

    def LaunchError(msg: str) -> Exception:  # noqa: N802 - one line, names from the command escaped
        return _LaunchError(_one_line(msg))

    ep = run.entrypoint_tokens()
    cmd = list(run.command)
    eff = list(ep) + cmd
    unwrapped, script = unwrap_shell(eff)
    start = min(start, run.start)
    outer = tuple(argv[start : run.image_index + 1])
    if script is not None:
        run.shell_script = script
        run.notes.append("the command runs through a shell (sh -c): the corrected command is the server command inside it")
        try:
            inner = split_launch(unwrapped, server_hint=server_hint)
        except _LaunchError:
            raise LaunchError(f"{run.runtime} run: the shell command of the image {run.image} starts no SGLang, vLLM or TEI server") from None
        from dataclasses import replace

        return replace(inner, raw=tuple(argv), env=tuple(env), container=run)
    found = _find_launcher(eff, 0)
    f = run.facts
    if found is not None:
        s, e, server, launcher = found
        args = cmd if e <= len(ep) else cmd[e - len(ep) :]
        if f is not None and run.entrypoint is None:
            run.problem = entrypoint_problem(run.image, f.entrypoint, cmd)
        prefix = tuple(argv[start : len(argv) - len(args)]) if args else tuple(argv[start:])
        return LaunchCommand(tuple(argv), tuple(env), prefix, launcher, server, tuple(args), container=run, outer=outer)
    server = f.server if f is not None and run.entrypoint is None else server_hint
    if server is None:
        shown = shlex.join(cmd[:4]) + (" ..." if len(cmd) > 4 else "") if cmd else "(no command)"
        raise LaunchError(
            f"{run.runtime} run: {run.image} is not a known SGLang, vLLM or TEI image and its command {shown} starts no server "
            "(give --server sglang|vllm|tei when the image's ENTRYPOINT starts one)"
        )
    if f is not None and f.entrypoint == () and run.entrypoint is None:
        if not cmd:
            raise LaunchError(
                f"{run.runtime} run: the image {run.image} has no server ENTRYPOINT and no command follows it: "
                "add the command after the image, e.g. python3 -m sglang.launch_server --model-path MODEL"
            )
        run.problem = bare_args_problem(run.image, cmd)
        if run.problem is None:
            raise LaunchError(f"{run.runtime} run: the command after {run.image} ({shlex.join(cmd[:3])} ...) starts no SGLang server")
    return LaunchCommand(tuple(argv), tuple(env), outer, _LAUNCHERS[server], server, tuple(cmd), container=run, outer=outer)


# ------------------------------------------------------------------------------------------------------------
# the target


def url_for(run: ContainerRun, port: int | None) -> str | None:
    """The URL the host reaches the server at: its published port (or its own port with --network host)."""
    if port is None:
        return None
    if run.host_network:
        return f"http://127.0.0.1:{port}"
    for p in run.ports:
        if p.get("container") == port and p.get("published"):
            ip = p.get("host_ip")
            host = ip if ip and ip not in ("0.0.0.0", "::", "") else "127.0.0.1"
            if ":" in host and not host.startswith("["):
                host = f"[{host}]"
            return f"http://{host}:{p['published']}"
    return None


def finish_target(t: "Target", run: ContainerRun, *, model_given: bool, url_given: bool, deployment_given: bool) -> "Target":
    """The target of a run line: its Deployment (kind docker-run), the model path on the host, the published URL."""
    from dataclasses import replace

    from .target import Deployment
    from .urls import normalize_base_url

    notes: list[str] = []
    model = t.model_path
    if model and not model_given:
        mapped = run.host_path(model)
        if mapped is not None:
            notes.append(f"the model path {model} inside the container is {mapped[0]} on this host (-v {mapped[1]}): the model checks read the host copy")
            model = mapped[0]
        elif model.startswith("/"):
            notes.append(f"the model path {model} is inside the container and no -v/--mount maps it: the model checks look for it on this host as written")
    f = run.facts
    if f is not None and f.server == t.server and t.version is not None and t.version.version is None:
        note = f.assumed_note(newest_release(t.server))
        if note:
            notes.append(note)
    changes: dict[str, Any] = {"model_path": model}
    if not deployment_given:
        facts = run.deployment_facts()
        facts["notes"] = list(facts["notes"]) + notes
        changes["deployment"] = Deployment.from_mapping(facts)
    if not url_given:
        url = url_for(run, t.port)
        norm, url_note = normalize_base_url(url) if url else (None, None)
        changes.update(url=norm, url_note=url_note, url_source="launch" if norm else None)
    return replace(t, **changes)
