"""The check registry and plugin loading.

A *plugin* is a callable ``register(registry)`` that adds checks to the registry instance it is given.
Built-in checks are plugins loaded exactly like third-party ones: from the entry-point group
``qwen_doctor.checks`` (the built-ins are declared there in pyproject.toml, and also listed in
:data:`BUILTIN_PLUGINS` so a source checkout without installed metadata still works), and from drop-in
``.py`` files in checks.d directories. Nothing registers itself at import time.

A drop-in that is world-writable, fails to import, or registers a duplicate ID becomes a
:class:`PluginProblem`, reported as an ERROR result naming the file; it never crashes the run.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import stat
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from .results import Status

if TYPE_CHECKING:  # pragma: no cover
    from .target import Target

from .spec import Applies, CheckFunc, CheckSpec, SpecError, always, on_target, spec_of

ENTRY_POINT_GROUP = "qwen_doctor.checks"
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("launch", "qwen_doctor.checks.launch:register"),
    ("host", "qwen_doctor.checks.host:register"),
    ("model", "qwen_doctor.checks.model:register"),
    ("tokenizer", "qwen_doctor.checks.tokenizer:register"),
    ("gpu", "qwen_doctor.checks.gpu:register"),
    ("probe", "qwen_doctor.checks.probe:register"),
    ("deploy", "qwen_doctor.checks.deploy:register"),
)
DEFAULT_CHECKS_DIRS = ("./checks.d", "/etc/qwen-doctor/checks.d")


@dataclass(frozen=True)
class Check:
    """A registered check. ``func`` gets a Context and returns an Outcome."""

    id: str  # stable dotted ID, e.g. "launch.embedding-mode"
    title: str
    category: str  # report section: launch, host, model, tokenizer, gpu, probe, site, ...
    func: CheckFunc
    severity: Status = Status.FAIL  # the status a problem found by this check has by default
    applies: Applies = always  # True, or a str reason why it does not apply (-> SKIP)
    depends_on: tuple[str, ...] = ()  # hard: SKIP when any of these did not PASS/WARN
    uses: tuple[str, ...] = ()  # soft: wait for these and read their evidence when present
    timeout: float = 10.0
    plugin: str = "builtin"
    source: str = ""  # module or file it came from
    reads: tuple[str, ...] = ()  # facts it reads (server, model, tokenizer, gpu, ...)
    claims: tuple[Any, ...] = ()  # claim IDs or Behaviour tables it can print (qwen_doctor.claims)

    @property
    def doc(self) -> str:
        return textwrap.dedent(inspect.getdoc(self.func) or "").strip()


@dataclass(frozen=True)
class PluginProblem:
    """A plugin that could not be loaded, reported as an ERROR result."""

    plugin: str
    source: str
    message: str

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", Path(self.source).stem.lower()).strip("-") or "plugin"
        return f"plugin.{slug}"


class RegistryError(ValueError):
    pass


class Registry:
    """An explicit registry instance: plugins add checks to it; the runner reads it."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}
        self.problems: list[PluginProblem] = []
        self.plugins: list[str] = []
        self._current_plugin = "builtin"
        self._current_source = ""

    # -- registration -------------------------------------------------------------------------
    def add(self, check: Check) -> Check:
        spec = CheckSpec(check.id, check.title, check.severity, check.applies, check.depends_on, check.uses, (), check.timeout)
        try:
            spec.validate()
        except SpecError as exc:
            raise RegistryError(str(exc)) from None
        if check.id in self._checks:
            prev = self._checks[check.id]
            raise RegistryError(f"duplicate check ID {check.id!r} (already registered by {prev.plugin} from {prev.source or prev.plugin})")
        for dep in (*check.depends_on, *check.uses):
            if dep == check.id:
                raise RegistryError(f"check {check.id!r} depends on itself")
        self._checks[check.id] = check
        return check

    def add_checks(self, *funcs: CheckFunc) -> None:
        """Register functions declared with ``@check`` (their spec travels with them)."""
        from .checks.timeouts import timeout_for

        for func in funcs:
            spec = spec_of(func)
            if spec is None:
                raise RegistryError(f"{getattr(func, '__qualname__', func)!r} has no @check spec")
            builtin = self._current_plugin == "builtin"
            timeout = spec.timeout if spec.timeout is not None else timeout_for(spec.id, builtin=builtin)
            self.add(
                Check(
                    id=spec.id,
                    title=spec.title,
                    category=spec.category,
                    func=func,
                    severity=spec.severity,
                    applies=spec.applies,
                    depends_on=spec.requires,
                    uses=spec.uses,
                    timeout=timeout,
                    plugin=self._current_plugin,
                    source=self._current_source or getattr(func, "__module__", ""),
                    reads=spec.reads,
                    claims=spec.claims,
                )
            )

    def check(
        self,
        id: str,
        title: str,
        category: str | None = None,
        *,
        severity: Status = Status.FAIL,
        applies: Callable[["Target"], "bool | str"] = always,
        depends_on: Sequence[str] = (),
        uses: Sequence[str] = (),
        timeout: float = 10.0,
    ) -> Callable[[CheckFunc], CheckFunc]:
        """Decorator form of :meth:`add` for a registry instance you were given."""

        def deco(func: CheckFunc) -> CheckFunc:
            self.add(
                Check(
                    id=id,
                    title=title,
                    category=category or id.split(".", 1)[0],
                    func=func,
                    severity=severity,
                    applies=on_target(applies),
                    depends_on=tuple(depends_on),
                    uses=tuple(uses),
                    timeout=timeout,
                    plugin=self._current_plugin,
                    source=self._current_source or getattr(func, "__module__", ""),
                )
            )
            return func

        return deco

    # -- queries ------------------------------------------------------------------------------
    def get(self, check_id: str) -> Check | None:
        return self._checks.get(check_id)

    def __iter__(self):
        return iter(self._checks.values())

    def __len__(self) -> int:
        return len(self._checks)

    def ids(self) -> list[str]:
        return list(self._checks)

    # -- loading ------------------------------------------------------------------------------
    def load_plugin(self, name: str, register: Callable[["Registry"], Any], source: str) -> None:
        """Run one plugin's register(); a failure or duplicate becomes a PluginProblem."""
        before = dict(self._checks)
        self._current_plugin, self._current_source = name, source
        try:
            register(self)
            self.plugins.append(name)
        except BaseException as exc:  # a broken plugin never breaks the run (SystemExit included)
            if isinstance(exc, KeyboardInterrupt):
                raise
            self._checks = before  # all or nothing
            self.problems.append(PluginProblem(name, source, f"{type(exc).__name__}: {exc}"))
        finally:
            self._current_plugin, self._current_source = "builtin", ""

    def load_entry_points(self, disabled: Iterable[str] = ()) -> None:
        disabled = set(disabled)
        seen: set[str] = set()
        targets: list[tuple[str, str]] = list(BUILTIN_PLUGINS)
        try:
            from importlib.metadata import entry_points

            for ep in entry_points(group=ENTRY_POINT_GROUP):
                targets.append((ep.name, ep.value))
        except Exception:  # pragma: no cover - broken metadata
            pass
        for name, value in targets:
            if value in seen or name in disabled:
                continue
            seen.add(value)
            plugin = "builtin" if value.startswith("qwen_doctor.") else name
            try:
                mod_name, _, attr = value.partition(":")
                obj: Any = importlib.import_module(mod_name)
                for part in (attr or "register").split("."):
                    obj = getattr(obj, part)
            except Exception as exc:
                self.problems.append(PluginProblem(plugin, value, f"cannot import: {type(exc).__name__}: {exc}"))
                continue
            self.load_plugin(plugin, obj, value)

    def load_checks_dir(self, directory: str | os.PathLike[str], explicit: bool = False) -> None:
        """Load every ``*.py`` drop-in of a checks.d directory (sorted; ``_*.py`` ignored).

        Drop-ins are untrusted code run as the doctor's user (often root): a directory (or file) is loaded only when
        it and every directory above it, after resolving symlinks, is owned by root or this user and writable by
        no one else (a world-writable sticky directory such as /tmp does not count as safe).
        """
        d = Path(directory)
        try:
            is_dir = d.is_dir()
        except OSError:
            is_dir = False
        if not is_dir:
            if explicit:
                self.problems.append(PluginProblem(f"checks.d:{d}", str(d), "checks directory does not exist or is not a directory"))
            return
        try:  # listing runs no code: a directory with no drop-in has nothing to refuse (e.g. a repository's checks.d/)
            files = sorted(p for p in d.iterdir() if p.suffix == ".py" and not p.name.startswith("_"))
        except OSError as exc:
            self.problems.append(PluginProblem(f"checks.d:{d}", str(d), f"cannot list directory: {exc}"))
            return
        if not files:
            return
        why = untrusted_path(d)
        if why is not None:
            self.problems.append(PluginProblem(f"checks.d:{d}", str(d), f"refused: {why}"))
            return
        from . import clock

        for i, path in enumerate(files[:MAX_DROPINS]):
            if clock.expired():  # the run's --deadline: the report says which drop-ins were not imported
                left = [p.name for p in files[i:MAX_DROPINS]]
                self.problems.append(PluginProblem(f"checks.d:{d}", str(d), clock.not_done(f"importing {', '.join(left)}")))
                break
            self.load_dropin(path)
        if len(files) > MAX_DROPINS:
            self.problems.append(PluginProblem(f"checks.d:{d}", str(d), f"only the first {MAX_DROPINS} of {len(files)} drop-ins were loaded"))

    def load_dropin(self, path: Path) -> None:
        import contextlib
        import io

        from .readers import ReadError, read_bytes

        name = f"checks.d:{path.name}"
        why = untrusted_path(path)
        if why is not None:
            self.problems.append(PluginProblem(name, str(path), f"refused: {why}"))
            return
        try:
            source = read_bytes(path, "source")
        except ReadError as exc:
            self.problems.append(PluginProblem(name, str(path), f"cannot read: {exc}"))
            return
        mod_name = "qwen_doctor_dropin_" + re.sub(r"\W", "_", f"{path.parent.name}_{path.stem}")
        sink = io.StringIO()
        limit = clock_bound(DROPIN_IMPORT_TIMEOUT)
        try:
            code = compile(source, str(path), "exec")
            module = type(sys)(mod_name)
            module.__file__ = str(path)
            sys.modules[mod_name] = module
            with contextlib.redirect_stdout(sink):  # a drop-in's print never reaches the report on stdout
                finished = _call_with_timeout(lambda: exec(code, module.__dict__), limit)
            if not finished:
                sys.modules.pop(mod_name, None)
                self.problems.append(PluginProblem(name, str(path), f"import did not finish within {limit:.3g} s (or the run's --deadline); not loaded"))
                return
        except BaseException as exc:  # SyntaxError, SystemExit in a drop-in, ...
            sys.modules.pop(mod_name, None)
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.problems.append(PluginProblem(name, str(path), f"failed to import: {type(exc).__name__}: {exc}"))
            return
        register = getattr(module, "register", None)
        if not callable(register):
            self.problems.append(PluginProblem(name, str(path), "has no register(registry) function"))
            return
        with contextlib.redirect_stdout(sink):
            limit = clock_bound(DROPIN_IMPORT_TIMEOUT)

            def bounded_register(reg: "Registry") -> None:
                if not _call_with_timeout(lambda: register(reg), limit):
                    raise TimeoutError(f"register() did not return within {limit:.3g} s (or the run's --deadline)")

            self.load_plugin(name, bounded_register, str(path))

    def validate(self) -> None:
        """Drop checks whose dependencies form a cycle (they could never start), each as a PluginProblem."""
        graph = {c.id: [d for d in (*c.depends_on, *c.uses) if d in self._checks] for c in self._checks.values()}
        state: dict[str, int] = {}
        cyclic: set[str] = set()

        def visit(node: str, stack: list[str]) -> None:
            state[node] = 1
            stack.append(node)
            for nxt in graph.get(node, ()):
                if state.get(nxt) == 1:
                    cyclic.update(stack[stack.index(nxt) :])
                elif state.get(nxt) is None:
                    visit(nxt, stack)
            stack.pop()
            state[node] = 2

        for node in list(graph):
            if state.get(node) is None:
                visit(node, [])
        for cid in sorted(cyclic):
            c = self._checks.pop(cid)
            self.problems.append(
                PluginProblem(c.plugin, c.source or c.plugin, f"check {cid} is in a dependency cycle ({' -> '.join(sorted(cyclic))}); not run")
            )


MAX_DROPINS = 200
#: the longest a drop-in's import or register() may take (a module-level loop must not hold the run)
DROPIN_IMPORT_TIMEOUT = 10.0


def clock_bound(timeout: float) -> float:
    from . import clock

    return max(0.001, clock.bound(timeout))


def _call_with_timeout(fn: Callable[[], Any], timeout: float) -> bool:
    """Run ``fn`` in a daemon thread; True when it returned in time (its exception, SystemExit included, is
    re-raised here), False when it is still running (it is abandoned)."""
    import threading

    box: list[BaseException | None] = []

    def run() -> None:
        try:
            fn()
            box.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box.append(exc)

    th = threading.Thread(target=run, name="dropin-import", daemon=True)
    th.start()
    th.join(timeout)
    if not box:
        return False
    if box[0] is not None:
        raise box[0]
    return True


def untrusted_path(path: Path) -> str | None:
    """Why a drop-in path may not be trusted, or None. The path's real location and every directory above it must be
    owned by root or this user and not writable by group or others (sticky or not); a symlink is judged by its target."""
    euid = os.geteuid() if hasattr(os, "geteuid") else 0
    try:
        real = Path(os.path.realpath(path))
    except OSError as exc:
        return f"cannot resolve {path}: {exc}"
    chain = [real, *real.parents]
    for p in chain:
        try:
            st = p.stat()
        except OSError as exc:
            return f"cannot stat {p}: {exc.strerror or exc}"
        if st.st_uid not in (0, euid):
            return f"{p} is owned by uid {st.st_uid}, neither root nor this user (anyone who owns it could make the doctor run code)"
        if st.st_mode & stat.S_IWOTH:
            sticky = " (sticky, but anyone can still add files)" if st.st_mode & stat.S_ISVTX else ""
            what = "file" if p == real and not stat.S_ISDIR(st.st_mode) else "directory"
            return f"the {what} {p} is world-writable{sticky}: anyone could make the doctor run code; chmod o-w {p}"
        if st.st_mode & stat.S_IWGRP and st.st_gid != 0 and p == real:
            return f"{p} is group-writable by gid {st.st_gid}; chmod g-w {p}"
    if str(real) != os.path.abspath(path) and os.path.islink(path):
        pass  # a symlink is fine when its target passed the same test
    return None


def default_registry(checks_dirs: Sequence[str] = (), *, use_default_dirs: bool = True, disabled: Iterable[str] = ()) -> Registry:
    """The registry a normal run uses: entry points, default checks.d dirs, then --checks-dir dirs."""
    reg = Registry()
    reg.load_entry_points(disabled)
    seen: set[str] = set()
    dirs = [(d, False) for d in (DEFAULT_CHECKS_DIRS if use_default_dirs else ())] + [(d, True) for d in checks_dirs]
    for d, explicit in dirs:
        key = os.path.realpath(d)
        if key in seen:
            continue
        seen.add(key)
        reg.load_checks_dir(d, explicit=explicit)
    reg.validate()
    return reg
