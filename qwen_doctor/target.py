"""Target: one immutable description of the deployment under examination.

Built from a launch command and/or options (``--server``, ``--server-version``, ``--model-path``, ``--host``,
``--port``, ``--url``). Checks read the target; they never re-parse inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

from .facts.server import as_int
from .flags import FlagTable, ServerVersion, load_table, resolve_server_version
from .launch import LaunchCommand, LaunchError, model_from, parse_args, split_launch
from .urls import SCHEMES, normalize_base_url

DEFAULT_PORT = {"sglang": 30000, "vllm": 8000, "tei": 3000}
# SGLang binds 127.0.0.1 unless told otherwise; vLLM (host None) and TEI bind every interface.
DEFAULT_HOST = {"sglang": "127.0.0.1", "vllm": "0.0.0.0", "tei": "0.0.0.0"}


def _frozen(x: Any) -> Any:
    if isinstance(x, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in x.items()})
    if isinstance(x, (list, tuple)):
        return tuple(_frozen(v) for v in x)
    return x


#: deployment kinds read from a file (``--from``); a discovered ``process`` and the ``readiness`` target are not files
FILE_KINDS = ("compose", "kubernetes", "systemd", "docker-run")  # docker-run: a docker/podman/nerdctl run line


@dataclass(frozen=True)
class PortMapping:
    """A container port a deployment file declares: compose ``ports:``/``expose:``, Kubernetes ``containerPort``."""

    container: int
    published: int | None = None  # compose published port, Kubernetes hostPort
    host_ip: str | None = None
    protocol: str = "tcp"
    name: str | None = None  # Kubernetes port name (probes and Services may refer to it)


@dataclass(frozen=True)
class ServicePort:
    """A port of a Kubernetes Service in the same file: ``targetPort`` is a number or a container port name."""

    name: str
    port: int | None = None
    target_port: int | str | None = None


def _typed(cls: type, items: Any) -> tuple[Any, ...]:
    out = []
    for item in items or ():
        if isinstance(item, cls):
            out.append(item)
            continue
        d = dict(item)
        if cls is ServicePort and "targetPort" in d:
            d["target_port"] = d.pop("targetPort")
        out.append(cls(**d))
    return tuple(out)


@dataclass(frozen=True)
class Deployment:
    """How the target is deployed, as read from a deployment file or a running process (typed; read by deploy.* checks)."""

    kind: str  # compose | kubernetes | systemd | docker-run | process | readiness | ...
    file: str | None = None
    notes: tuple[str, ...] = ()
    image: str | None = None
    image_entrypoint: tuple[str, ...] | None = None  # None: unknown image; (): an image with no ENTRYPOINT
    entrypoint_source: str | None = None  # "image" | "file" | None
    entrypoint_problem: str | None = None  # the command is mis-assembled against the image's ENTRYPOINT
    entrypoint_fix: str | None = None
    port_from_image: bool = False
    ports: tuple[PortMapping, ...] = ()
    container_ports: tuple[int, ...] = ()
    service_ports: tuple[ServicePort, ...] = ()  # Kubernetes Services in the same file
    host_network: bool = False
    probes: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    gpus: Any = None
    runtime_vars: tuple[str, ...] = ()  # variables expanded only at run time
    shell_script: str | None = None
    process: Mapping[str, Any] | None = None  # a discovered process: pid, user, cmdline
    secret_env: tuple[str, ...] = ()  # names of secret variables in a discovered process's environment
    readiness: bool = False
    user: str | None = None  # systemd User=
    workload: Mapping[str, Any] | None = None  # Kubernetes {"kind", "name", "container"}
    # --- containers (issue 12): filled by the readers of docker/podman/nerdctl run, compose and Kubernetes ---
    runtime: str | None = None  # docker | podman | nerdctl (a `run` command line)
    image_tag: str | None = None  # the tag as written ("v0.11.0", "cpu-1.8", "latest"); None: no tag
    image_version: str | None = None  # the server release the image tag names (None: unpinned or not a release tag)
    gpu_image: bool | None = None  # the image needs an NVIDIA GPU (None: unknown image)
    gpus_granted: str | None = None  # what gives the container GPUs: "--gpus all", "deploy.resources...", "nvidia.com/gpu: 1"; None: none
    gpu_devices: tuple[str, ...] = ()  # the device ids/indices granted, when the grant names them
    volumes: tuple[tuple[str, str], ...] = ()  # (host path, container path) of bind mounts and hostPath volumes
    env_files: tuple[str, ...] = ()  # --env-file / env_file: noted, not read
    shm_size: int | None = None  # bytes of /dev/shm (--shm-size, shm_size, an emptyDir medium: Memory sizeLimit)
    ipc_host: bool = False  # --ipc=host / ipc: host / hostIPC: true
    shm_memory_volume: bool = False  # Kubernetes: an emptyDir with medium: Memory mounted on /dev/shm
    command_strings: tuple[str, ...] = ()  # Kubernetes command:/args: entries that contain spaces (not split by Kubernetes)

    @property
    def from_file(self) -> bool:
        """Read from a deployment file (compose, Kubernetes, systemd), not a process or the readiness default."""
        return self.kind in FILE_KINDS

    @property
    def in_container(self) -> bool:
        """Runs in a container from a compose file, a Kubernetes manifest or a run line (its ports are the container's)."""
        return self.kind in ("compose", "kubernetes", "docker-run")

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> "Deployment":
        """Build from the loose mapping a reader collects (unknown keys are an error: every fact has a field)."""
        names = {f for f in cls.__dataclass_fields__}
        data = dict(m)
        if "deploy_kind" in data:
            data["kind"] = data.pop("deploy_kind")
        unknown = set(data) - names
        if unknown:
            raise TypeError(f"unknown deployment facts: {', '.join(sorted(unknown))}")
        data.setdefault("kind", "unknown")
        for k in ("notes", "container_ports", "runtime_vars", "secret_env", "gpu_devices", "env_files", "command_strings"):
            if k in data:
                data[k] = _frozen(list(data[k] or ()))
        if "ports" in data:
            data["ports"] = _typed(PortMapping, data["ports"])
        if "service_ports" in data:
            data["service_ports"] = _typed(ServicePort, data["service_ports"])
        if "volumes" in data:
            data["volumes"] = tuple((str(h), str(c)) for h, c in data["volumes"] or ())
        if data.get("image_entrypoint") is not None:
            data["image_entrypoint"] = tuple(data["image_entrypoint"])
        for k in ("probes", "process", "workload"):
            if data.get(k) is not None:
                data[k] = _frozen(data[k])
        if data.get("probes") is None:
            data.pop("probes", None)
        if data.get("gpus") is not None:
            data["gpus"] = _frozen(data["gpus"])
        return cls(**data)


@dataclass(frozen=True)
class Target:
    """The deployment under examination."""

    label: str  # how the report titles it: "command line", "pid 4242", "compose.yaml:embed"
    server: str | None  # sglang | vllm | tei | None (unknown: checks needing it are skipped)
    version: ServerVersion | None
    table: FlagTable | None
    table_note: str
    launch: LaunchCommand | None
    model_path: str | None
    host: str | None  # bind address the server uses (or will use)
    port: int | None
    url: str | None  # base URL to probe, e.g. http://127.0.0.1:30000
    env: Mapping[str, str] = field(default_factory=dict)
    pid: int | None = None  # the running server process, when discovered
    listening: tuple[int, ...] = ()  # ports that process listens on
    source: str = "command line"
    deployment: Deployment | None = None  # deployment-file or process facts (probes, ports mapping, image)
    url_source: str | None = None  # "url" (--url), "process" (a running server), "launch" (its command), "options" (--host/--port)
    url_note: str | None = None  # what normalising the URL changed (e.g. a trailing /v1 dropped)

    def option(self, dest: str, default: Any = None) -> Any:
        """The value of a server option: as given in the launch command, else the table default, else default."""
        if self.launch is not None and self.launch.parsed is not None and dest in self.launch.parsed.values:
            return self.launch.parsed.values[dest]
        if self.table is not None:
            for spec in self.table.flags:
                if spec.dest != dest:
                    continue
                env_name = getattr(spec, "env", None)  # TEI reads every option from an env var too
                if env_name and env_name in self.env:
                    raw = self.env[env_name]
                    if spec.type == "int":
                        try:
                            return int(raw)
                        except ValueError:
                            return raw
                    if spec.type == "bool":
                        return raw.strip().lower() not in ("false", "0", "no", "")
                    return raw
                if spec.default is not None:
                    return spec.default
        return default

    def given(self, dest: str) -> bool:
        return self.launch is not None and self.launch.parsed is not None and dest in self.launch.parsed.values

    @property
    def version_str(self) -> str | None:
        return self.version.version if self.version else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "source": self.source,
            "server": self.server,
            "server_version": self.version_str,
            "version_source": self.version.source if self.version else None,
            "flag_table": self.table_note or None,
            "launch_command": self.launch.display() if self.launch else None,
            "model_path": self.model_path,
            "host": self.host,
            "port": self.port,
            "url": self.url,
            "pid": self.pid,
            "listening": list(self.listening),
            "deploy_kind": self.deployment.kind if self.deployment else None,
            "notes": list(self.deployment.notes) if self.deployment else [],
        }


def _parse_url(url: str) -> tuple[str | None, int | None]:
    if "://" not in url:
        url = "http://" + url
    scheme = url.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        raise LaunchError(f"invalid --url {url!r}: the scheme must be http or https, not {scheme!r}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise LaunchError(f"invalid --url {url!r}: {exc}") from None
    if not parts.hostname:
        raise LaunchError(f"invalid --url {url!r}: no host")
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return parts.hostname, port


def build_target(
    argv: Sequence[str] | None = None,
    *,
    server: str | None = None,
    server_version: str | None = None,
    model_path: str | None = None,
    host: str | None = None,
    port: int | None = None,
    url: str | None = None,
    label: str = "command line",
    source: str = "command line",
    pid: int | None = None,
    listening: Sequence[int] = (),
    deployment: Deployment | Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    version_source: str | None = None,
) -> Target:
    """Build a Target. Raises LaunchError (a usage error) on input that cannot be understood."""
    if server is not None and server not in DEFAULT_PORT:
        raise LaunchError(f"unknown server {server!r}; choose from sglang, vllm, tei")
    launch: LaunchCommand | None = None
    if argv:
        launch = split_launch(argv, server_hint=server)
        if server is not None and launch.server != server:
            raise LaunchError(f"--server {server} contradicts the launch command, which starts {launch.server}")
        server = launch.server
    version: ServerVersion | None = None
    table: FlagTable | None = None
    note = ""
    run = launch.container if launch is not None else None  # a docker/podman/nerdctl run line
    if run is not None and run.facts is not None and run.facts.server == server and not server_version:
        server_version, version_source = run.facts.version, run.facts.version_source  # the image tag names the release
    if server is not None:
        if version_source and not server_version:
            # the version's source (an unpinned image) names no release: the host's installed one says nothing of it
            version = ServerVersion(server, None, version_source)
        else:
            version = resolve_server_version(server, server_version)
        if version_source and server_version:
            version = ServerVersion(server, version.version, version_source)
        table, note = load_table(server, version.version)
    if launch is not None and table is not None:
        launch = parse_args(launch, table)
    merged_env = dict(env or {})
    if run is not None:
        merged_env.update(run.container_env(launch.env_map))  # the container's environment, not the docker client's
    elif launch is not None:
        merged_env.update(launch.env_map)

    # model path: explicit option wins over the launch command (the user says what to examine)
    lm = model_from(launch) if launch is not None else None
    if server == "tei" and not lm:
        lm = merged_env.get("MODEL_ID")
    model = model_path or lm
    # host / port: launch command, then explicit options, then server defaults
    l_host = l_port = None
    if launch is not None and launch.parsed is not None:
        vals = launch.parsed.values
        l_host = vals.get("hostname") if server == "tei" else vals.get("host")
        p = vals.get("port") or (merged_env.get("PORT") if server == "tei" else None)
        l_port = as_int(p)
    eff_host = host or l_host or (DEFAULT_HOST.get(server) if server else None)
    eff_port = port or l_port or (DEFAULT_PORT.get(server) if server else None)
    if url:
        u_host, u_port = _parse_url(url)
        if not host and not l_host:
            eff_host = u_host
        if not port and not l_port:
            eff_port = u_port
        eff_url = url if "://" in url else "http://" + url
    elif eff_port:
        connect = eff_host if eff_host and eff_host not in ("0.0.0.0", "::", "[::]") else "127.0.0.1"
        if ":" in connect and not connect.startswith("["):
            connect = f"[{connect}]"
        eff_url = f"http://{connect}:{eff_port}" if (launch is not None or port or host or pid) else None
    else:
        eff_url = None
    try:
        url_norm, url_note = normalize_base_url(eff_url) if eff_url else (None, None)
    except ValueError as exc:  # e.g. --host '/a:/b' makes no URL
        raise LaunchError(f"cannot make a URL of host {eff_host!r} and port {eff_port}: {exc}") from None
    if eff_port is not None and not (0 < eff_port < 65536):
        raise LaunchError(f"port {eff_port} is out of range (1-65535)")
    t = Target(
        label=label,
        server=server,
        version=version,
        table=table,
        table_note=note,
        launch=launch,
        model_path=model,
        host=eff_host,
        port=eff_port,
        url=url_norm,
        url_note=url_note,
        env=MappingProxyType(merged_env),
        pid=pid,
        listening=tuple(listening),
        source=source,
        deployment=Deployment.from_mapping(deployment) if isinstance(deployment, Mapping) else deployment,
        url_source=("url" if url else "process" if pid is not None else "launch" if launch is not None else "options") if eff_url else None,
    )
    if run is not None:
        from .containers import finish_target

        t = finish_target(t, run, model_given=bool(model_path), url_given=bool(url), deployment_given=deployment is not None)
    return t
