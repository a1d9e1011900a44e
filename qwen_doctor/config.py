"""Settings: one table, four sources, and where each value came from.

Every setting of ``qwen-doctor check`` / ``serve`` is declared once in :data:`SETTINGS` with its name, type,
default, environment variable (``QWEN_DOCTOR_<NAME>``), config-file key (the name in kebab-case; the
snake_case spelling is accepted too) and command-line flag. :func:`resolve` merges the sources with the
precedence **flag > environment > config file > default** and records the origin of every value, which
``qwen-doctor config`` prints.

Config file: ``--config FILE`` (or ``$QWEN_DOCTOR_CONFIG``), else ``./qwen-doctor.toml``, else the
``[tool.qwen-doctor]`` table of ``./pyproject.toml``. An unknown key, a value of the wrong type or out of
range is a :class:`ConfigError` (a usage error, exit 2) naming the key and where it was set. Relative paths
in a file (``checks-dir``, ``samples``, ``output``) are relative to the file's directory. An empty
environment variable counts as unset. ``QWEN_DOCTOR_*`` variables that are not settings are left alone
(other parts of the doctor and its test kit read some) and listed by ``qwen-doctor config``.

Stdlib only (tomllib; tomli on Python 3.10).
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

ENV_PREFIX = "QWEN_DOCTOR_"
CONFIG_ENV = "QWEN_DOCTOR_CONFIG"
CONFIG_FILE = "qwen-doctor.toml"
PYPROJECT = "pyproject.toml"
PYPROJECT_TABLE = ("tool", "qwen-doctor")

CHECK, SERVE, CONFIG, CHECKS, EXPLAIN = "check", "serve", "config", "checks", "explain"
RUN = (CHECK, SERVE, CONFIG)  # the commands that run checks on targets (config shows them all)
TRUE = {"1", "true", "yes", "on"}
#: the largest --deadline / --cache accepted (a week): larger numbers overflow the C timeouts they reach
MAX_SECONDS = 7 * 24 * 3600
FALSE = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """A bad setting from any source: printed as one line, exit 2."""


@dataclass(frozen=True)
class Setting:
    """One setting. ``kind``: str, int, float, bool, choice, list (of str), path, paths, argv."""

    name: str
    kind: str
    default: Any
    help: str
    flags: tuple[str, ...] = ()  # first is the long flag; () = positional (the launch command)
    choices: tuple[str, ...] = ()
    commands: tuple[str, ...] = RUN
    secret: bool = False
    minimum: float | None = None
    exclusive_min: bool = False
    maximum: float | None = None
    noun: str | None = None  # for "unknown <noun> 'x'" messages, e.g. "server"
    metavar: str | None = None

    @property
    def key(self) -> str:
        """The config-file key (kebab-case)."""
        return self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        return self.flags[0] if self.flags else "-- LAUNCH COMMAND"


SETTINGS: tuple[Setting, ...] = (
    # -- the target --------------------------------------------------------------------------------
    Setting(
        "launch",
        "argv",
        None,
        "The server launch command to examine (after -- on the command line; one string in the file or environment).",
        (),
    ),
    Setting(
        "server",
        "choice",
        None,
        "Server kind: sglang, vllm or tei (else from the launch command).",
        ("--server",),
        choices=("sglang", "vllm", "tei"),
        noun="server",
    ),
    Setting(
        "server_version", "str", None, "Server version (else the installed distribution, else the newest known).", ("--server-version",), metavar="VERSION"
    ),
    Setting("model_path", "str", None, "Model directory (or HF repo id) to examine.", ("--model-path",), metavar="PATH"),
    Setting("host", "str", None, "Bind address the server uses.", ("--host",), metavar="HOST"),
    Setting("port", "int", None, "Port the server uses.", ("--port",), minimum=1, maximum=65535, metavar="PORT"),
    Setting("url", "str", None, "Base URL of a running server to probe, e.g. http://127.0.0.1:30000.", ("--url",), metavar="URL"),
    Setting(
        "from_file",
        "paths",
        (),
        "Read launch commands from a docker-compose file, Kubernetes manifest or systemd unit (repeatable).",
        ("--from",),
        metavar="FILE",
    ),
    # -- the report ----------------------------------------------------------------------------------
    Setting(
        "format",
        "choice",
        "text",
        "Output format: text, json, junit, markdown or prometheus.",
        ("--format", "-f"),
        choices=("text", "json", "junit", "markdown", "prometheus"),
        commands=(CHECK, CONFIG),
    ),
    Setting(
        "output",
        "path",
        None,
        "Write the report to FILE (atomically) instead of stdout ('-': stdout).",
        ("--output", "-o"),
        commands=(CHECK, CONFIG),
        metavar="FILE",
    ),
    Setting("verbose", "bool", False, "List passing checks and evidence too (serve: log every request).", ("--verbose", "-v")),
    Setting("fail_on", "choice", "fail", "Exit 1 (serve: /readyz 503) on: fail (FAIL or ERROR) or warn (also WARN).", ("--fail-on",), choices=("fail", "warn")),
    # -- which checks ---------------------------------------------------------------------------------
    Setting(
        "deadline",
        "float",
        None,
        "Global deadline in seconds; unfinished checks become ERROR.",
        ("--deadline",),
        minimum=0,
        exclusive_min=True,
        maximum=MAX_SECONDS,
        metavar="SECONDS",
    ),
    Setting("checks_dir", "paths", (), "Extra directory of drop-in checks (repeatable).", ("--checks-dir",), commands=(*RUN, CHECKS, EXPLAIN), metavar="DIR"),
    Setting("select", "list", (), "Run only these checks: ID, ID prefix or category (repeatable, comma-separated).", ("--select",), metavar="PAT"),
    Setting("ignore", "list", (), "Demote FAIL/ERROR to WARN for these checks (ID, prefix or category); recorded, never hidden.", ("--ignore",), metavar="PAT"),
    # -- the live probe and model checks ------------------------------------------------------------------
    Setting("api_key", "str", None, "API key for the live probe (redacted in every output).", ("--api-key",), secret=True, metavar="KEY"),
    Setting("model_name", "str", None, "Model name clients send (compared with the served name).", ("--model-name",), metavar="NAME"),
    Setting("expect_dim", "int", None, "Expected embedding dimension (else from the model variant).", ("--expect-dim",), minimum=1, maximum=65536, metavar="N"),
    Setting("requests", "int", 20, "Number of small requests for the latency probe.", ("--requests",), minimum=1, maximum=1_000_000, metavar="N"),
    Setting(
        "concurrency",
        "int",
        1,
        "Concurrent requests in the latency probe (and the highest step of --load).",
        ("--concurrency",),
        minimum=1,
        maximum=1024,
        metavar="N",
    ),
    Setting(
        "load",
        "int",
        None,
        "Opt-in bounded load probe: at most N requests, concurrency stepping 1, 2, 4, ... up to --concurrency; only to an explicit --url or launch command.",
        ("--load",),
        commands=(CHECK, CONFIG),
        minimum=1,
        maximum=10000,
        metavar="N",
    ),
    Setting(
        "metrics_interval",
        "float",
        1.5,
        "Seconds between the two reads of the server's /metrics (rates, not lifetime totals).",
        ("--metrics-interval",),
        minimum=0.1,
        maximum=30,
        metavar="SECONDS",
    ),
    Setting(
        "timeout",
        "float",
        10.0,
        "Per-request read timeout of the live probe, seconds.",
        ("--timeout",),
        minimum=0,
        exclusive_min=True,
        maximum=86400,
        metavar="SECONDS",
    ),
    Setting("as_user", "str", None, "User the server runs as (file permission checks).", ("--as-user",), metavar="USER"),
    Setting("samples", "path", None, "File of sample inputs (a text per line, or JSONL with a text field).", ("--samples",), metavar="FILE"),
    Setting("deep", "bool", False, "Also run expensive checks (GPU trial allocation, numerical parity of models over 1.5 GB).", ("--deep",)),
    Setting(
        "reference_python",
        "path",
        None,
        "Python with torch and transformers that computes probe.parity's reference vectors (else the server's own interpreter).",
        ("--reference-python",),
        metavar="PATH",
    ),
    Setting("offline", "bool", False, "Never touch the network: live-probe checks are skipped.", ("--offline",)),
    # -- serve mode -------------------------------------------------------------------------------------
    Setting(
        "listen",
        "str",
        "127.0.0.1:9090",
        "serve: address to listen on, HOST:PORT ([::1]:9090 for IPv6, :9090 for every interface).",
        ("--listen",),
        commands=(SERVE, CONFIG),
        metavar="HOST:PORT",
    ),
    Setting(
        "cache",
        "float",
        30.0,
        "serve: reuse a run's results for this many seconds.",
        ("--cache",),
        commands=(SERVE, CONFIG),
        minimum=0,
        maximum=MAX_SECONDS,
        metavar="SECONDS",
    ),
)
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}


def settings_for(command: str) -> list[Setting]:
    return [s for s in SETTINGS if command in s.commands]


# ------------------------------------------------------------------------------------------------
# config file


@dataclass(frozen=True)
class ConfigFile:
    path: Path
    table: str  # "" for a qwen-doctor.toml, "[tool.qwen-doctor]" for pyproject.toml
    values: Mapping[str, Any]
    how: str  # "--config", "QWEN_DOCTOR_CONFIG" or "found in the working directory"

    @property
    def label(self) -> str:
        return f"{self.path}{' ' + self.table if self.table else ''}"

    def where(self, key: str) -> str:
        return f"{self.label}: {key}"


def _toml_loads(text: str) -> dict:
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(text)


def _read_toml(path: Path) -> dict:
    from .readers import ReadError, read_text
    from .sanitize import printable

    shown = printable(str(path))
    try:  # bounded: /dev/zero, a FIFO or a 15 GB file is refused, never read to the end
        text = read_text(path, "config")
    except ReadError as exc:
        msg = str(exc)
        if msg.endswith(": no such file"):
            raise ConfigError(f"config file {shown} does not exist") from None
        if "is a directory" in msg:
            raise ConfigError(f"config file {shown} is a directory") from None
        raise ConfigError(f"cannot read config file {printable(msg)}") from None
    try:
        return _toml_loads(text)
    except RecursionError:
        raise ConfigError(f"cannot parse config file {shown}: nested too deeply") from None
    except Exception as exc:  # tomllib.TOMLDecodeError
        raise ConfigError(f"cannot parse config file {shown}: {printable(str(exc))}") from None


def _pyproject_table(data: dict, path: Path) -> dict | None:
    tool = data.get("tool")
    if not isinstance(tool, dict):
        return None
    table = tool.get("qwen-doctor", tool.get("qwen_doctor"))
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.qwen-doctor] must be a table, not {_tname(table)}")
    return table


def find_config_file(explicit: str | None = None, env: Mapping[str, str] | None = None, cwd: str | os.PathLike[str] | None = None) -> ConfigFile | None:
    """The config file to use: --config, $QWEN_DOCTOR_CONFIG, ./qwen-doctor.toml, ./pyproject.toml [tool.qwen-doctor]."""
    env = os.environ if env is None else env
    base = Path(cwd) if cwd is not None else Path.cwd()
    how = "--config"
    if not explicit and env.get(CONFIG_ENV):
        explicit, how = env[CONFIG_ENV], CONFIG_ENV
    if explicit:
        path = Path(explicit)
        if not path.is_absolute():
            path = base / path
        data = _read_toml(path)
        if path.name == PYPROJECT:
            table = _pyproject_table(data, path)
            if table is None:
                raise ConfigError(f"{path} has no [tool.qwen-doctor] table (named by {how})")
            return ConfigFile(path, "[tool.qwen-doctor]", table, how)
        return ConfigFile(path, "", data, how)
    own = base / CONFIG_FILE
    if own.is_file():
        return ConfigFile(own, "", _read_toml(own), "found in the working directory")
    pyproject = base / PYPROJECT
    if pyproject.is_file():
        table = _pyproject_table(_read_toml(pyproject), pyproject)
        if table is not None:
            return ConfigFile(pyproject, "[tool.qwen-doctor]", table, "found in the working directory")
    return None


# ------------------------------------------------------------------------------------------------
# values


@dataclass(frozen=True)
class Value:
    setting: Setting
    value: Any
    source: str  # default | file | env | flag
    where: str  # "--port", "QWEN_DOCTOR_PORT", "./qwen-doctor.toml: port", "default"

    @property
    def origin(self) -> str:
        return "default" if self.source == "default" else f"{self.source} {self.where}"

    def display(self) -> str:
        v = self.value
        if self.setting.secret and v:
            return "***"
        if v is None:
            return "(unset)"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, tuple)):
            if self.setting.kind == "argv":
                import shlex

                from .redact import redact_argv

                return shlex.join(redact_argv(list(v)))
            return ", ".join(str(x) for x in v) if v else "(none)"
        return str(v)


def _tname(v: Any) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a float"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "a table"
    return type(v).__name__


_EXPECT = {
    "str": "a string",
    "path": "a string (a path)",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "choice": "a string",
    "list": "an array of strings (or one comma-separated string)",
    "paths": "an array of paths (or one comma-separated string)",
    "argv": "a string (the whole command) or an array of strings",
}


def _split_list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _from_env(s: Setting, raw: str, where: str) -> Any:
    """Parse an environment variable's text into the setting's type."""
    k = s.kind
    if k in ("str", "path", "choice"):
        return raw
    if k == "int":
        try:
            return int(raw.strip())
        except ValueError:
            raise ConfigError(f"{where}: expected an integer, got {raw!r}") from None
    if k == "float":
        try:
            return float(raw.strip())
        except ValueError:
            raise ConfigError(f"{where}: expected a number, got {raw!r}") from None
    if k == "bool":
        low = raw.strip().lower()
        if low in TRUE:
            return True
        if low in FALSE:
            return False
        raise ConfigError(f"{where}: expected a boolean (1/0, true/false, yes/no, on/off), got {raw!r}")
    if k in ("list", "paths"):
        return _split_list(raw)
    if k == "argv":
        return (raw,)
    raise AssertionError(k)  # pragma: no cover


def _from_file(s: Setting, v: Any, where: str, base: Path) -> Any:
    """Check a TOML value's type (TOML is typed: no guessing from strings)."""
    k = s.kind
    bad = ConfigError(f"{where}: expected {_EXPECT[k]}, got {_tname(v)} {v!r}")
    if k in ("str", "choice"):
        if not isinstance(v, str):
            raise bad
        return v
    if k == "path":
        if not isinstance(v, str):
            raise bad
        return str(base / v) if v and v != "-" and not Path(v).is_absolute() and not v.startswith("~") else v
    if k == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            raise bad
        return v
    if k == "float":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise bad
        try:
            return float(v)
        except OverflowError:  # an integer too large for a float
            raise ConfigError(f"{where}: the number is out of range") from None
    if k == "bool":
        if not isinstance(v, bool):
            raise bad
        return v
    if k in ("list", "paths", "argv"):
        if isinstance(v, str):
            items: tuple[str, ...] = (v,) if k == "argv" else _split_list(v)
        elif isinstance(v, list) and all(isinstance(x, str) for x in v):
            items = tuple(v)
        else:
            raise bad
        if k == "paths":
            items = tuple(str(base / x) if not Path(x).is_absolute() and not x.startswith("~") else x for x in items)
        return items
    raise AssertionError(k)  # pragma: no cover


def _validate(s: Setting, v: Any, source: str, where: str) -> Any:
    """Range and choice checks, the same whatever the source."""
    if v is None:
        return None
    if s.kind == "choice":
        v = str(v).strip().lower()
        if v not in s.choices:
            if s.noun:
                msg = f"unknown {s.noun} {v!r}" + ("" if source == "flag" else f" (from {where})")
            else:
                msg = f"unknown {where} {v!r}"
            raise ConfigError(f"{msg}; choose from {', '.join(s.choices)}")
        return v
    if s.kind in ("int", "float"):
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"{where} must be a finite number, not {v!r}")
        lo, hi = s.minimum, s.maximum
        shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:20] + "..." + f" ({len(repr(v))} digits)"
        if lo is not None and (v <= lo if s.exclusive_min else v < lo):
            raise ConfigError(f"{where} must be {'>' if s.exclusive_min else '>='} {lo:.15g}, not {shown} (out of range)")
        if hi is not None and v > hi:
            raise ConfigError(f"{where} must be <= {hi:.15g}, not {shown} (out of range)")
        return v
    if s.kind in ("list", "paths"):
        items: list[str] = []
        for item in v:
            items.extend(_split_list(str(item)))
        return tuple(items)
    if s.kind == "argv":
        return tuple(v) if v else None
    if s.kind in ("str", "path") and isinstance(v, str) and v == "" and source != "flag":
        return None
    return v


def nearest_key(key: str, candidates: Iterable[str]) -> str | None:
    near = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.5)
    return near[0] if near else None


def _check_keys(cfg: ConfigFile) -> None:
    for key in cfg.values:
        norm = str(key).replace("_", "-")
        if norm not in BY_KEY:
            hint = nearest_key(norm, BY_KEY)
            more = f"; did you mean {hint!r}?" if hint else f"; valid keys: {', '.join(BY_KEY)}"
            raise ConfigError(f"{cfg.label}: unknown key {key!r}{more}")
    seen: dict[str, str] = {}
    for key in cfg.values:
        norm = str(key).replace("_", "-")
        if norm in seen:
            raise ConfigError(f"{cfg.label}: {key!r} and {seen[norm]!r} set the same setting; keep one")
        seen[norm] = str(key)


@dataclass(frozen=True)
class Settings:
    """The effective settings: ``settings.port`` is the value, ``settings.origin('port')`` where it came from."""

    values: Mapping[str, Value]
    config_file: ConfigFile | None = None
    stray_env: tuple[tuple[str, str | None], ...] = ()  # QWEN_DOCTOR_* variables that are not settings (name, nearest)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "values":
            raise AttributeError(name)
        try:
            return self.values[name].value
        except KeyError:
            raise AttributeError(name) from None

    def get(self, name: str) -> Value:
        return self.values[name]

    def origin(self, name: str) -> str:
        return self.values[name].origin

    def where(self, name: str) -> str:
        """Short origin: '--ignore', 'QWEN_DOCTOR_IGNORE', './qwen-doctor.toml: ignore' or 'default'."""
        return self.values[name].where

    def __iter__(self):
        return iter(self.values.values())

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(str(v.value) for v in self.values.values() if v.setting.secret and v.value)


_NOT_SETTINGS = {CONFIG_ENV}


def resolve(
    flags: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    config: str | None = None,
    settings: Sequence[Setting] = SETTINGS,
) -> Settings:
    """Merge flag > env > file > default. ``flags`` maps setting names to values, None meaning not given."""
    flags = dict(flags or {})
    env = os.environ if env is None else env
    unknown_flags = set(flags) - set(BY_NAME)
    if unknown_flags:  # a programming error, not a user one
        raise KeyError(f"not settings: {sorted(unknown_flags)}")
    cfg = find_config_file(config, env, cwd)
    file_values: dict[str, tuple[Any, str]] = {}
    if cfg is not None:
        _check_keys(cfg)
        base = cfg.path.parent
        for key, raw in cfg.values.items():
            s = BY_KEY[str(key).replace("_", "-")]
            where = cfg.where(str(key))
            file_values[s.name] = (_from_file(s, raw, where, base), where)
    out: dict[str, Value] = {}
    for s in settings:
        fv = flags.get(s.name)
        if isinstance(fv, (list, tuple)) and not fv:
            fv = None
        if fv is not None:
            where, source, value = s.flag, "flag", fv
            if s.kind in ("list", "paths", "argv"):
                value = tuple(fv)
        elif env.get(s.env, "") != "":
            where, source = s.env, "env"
            value = _from_env(s, env[s.env], where)
        elif s.name in file_values:
            value, where = file_values[s.name]
            source = "file"
        else:
            out[s.name] = Value(s, s.default, "default", "default")
            continue
        value = _validate(s, value, source, where)
        if value is None:  # an empty string in a file or the environment: unset
            out[s.name] = Value(s, s.default, "default", "default")
            continue
        out[s.name] = Value(s, value, source, where)
    stray = []
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in _NOT_SETTINGS and name[len(ENV_PREFIX) :].lower() not in BY_NAME:
            near = nearest_key(name, [s.env for s in SETTINGS])
            stray.append((name, near))
    return Settings(out, cfg, tuple(stray))


def describe(settings: Settings) -> list[dict[str, Any]]:
    """Rows for ``qwen-doctor config``: key, value (secrets masked), origin, env var, flag."""
    return [
        {
            "key": v.setting.key,
            "value": v.display(),
            "origin": v.origin,
            "env": v.setting.env,
            "flag": v.setting.flag,
            "commands": [c for c in v.setting.commands if c != CONFIG],
        }
        for v in settings
    ]


__all__ = [
    "ConfigError",
    "ConfigFile",
    "SETTINGS",
    "Setting",
    "Settings",
    "Value",
    "describe",
    "find_config_file",
    "resolve",
    "settings_for",
]
