"""The command line: ``qwen-doctor check|serve|config|checks|explain|completion``.

Exit codes: 0 no FAIL or ERROR (and no WARN with --fail-on warn); 1 a FAIL or ERROR (or WARN with
--fail-on warn); 2 usage error (bad option, bad launch command, bad input or config file); 3 internal error;
4 the report could not be written (stdout closed or full, broken pipe).

The options of ``check``, ``serve`` and ``config`` are generated from the settings table in config.py, so
every setting has one flag, one environment variable and one config-file key, resolved with the
precedence flag > environment > config file > default. Every option defaults to None ("not given") and
the value is taken from the resolved settings. Heavy modules are imported inside the commands only.
"""

from __future__ import annotations

import errno
import inspect
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import typer

from . import __version__
from .results import ExitCode, exit_code_for

if TYPE_CHECKING:  # pragma: no cover
    from .config import Setting, Settings
    from .context import RunOptions
    from .registry import Registry
    from .render import Report
    from .selection import Selector
    from .target import Target

EXIT_CODES_HELP = (
    "Exit codes: 0 = no FAIL or ERROR; 1 = at least one FAIL or ERROR (or WARN with --fail-on warn); "
    "2 = usage error (bad option, launch command, input or config file); 3 = internal error of the doctor."
)
PRECEDENCE_HELP = (
    "Every option can also be set with an environment variable QWEN_DOCTOR_<NAME> or in ./qwen-doctor.toml "
    "(or [tool.qwen-doctor] in ./pyproject.toml, or --config FILE); precedence: flag > environment > file > "
    "default. 'qwen-doctor config' shows the effective settings and where each came from."
)

app = typer.Typer(
    name="qwen-doctor",
    help="Pre-flight diagnostics for serving Qwen3-Embedding behind SGLang, vLLM and TEI.\n\n" + EXIT_CODES_HELP,
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
HELP = {"help_option_names": ["-h", "--help"]}


class UsageError(Exception):
    """Bad input: printed as one line, exit 2."""


def _die_usage(msg: str) -> "typer.Exit":
    from .sanitize import printable

    sys.stderr.write(f"qwen-doctor: error: {printable(msg)}\n")
    return typer.Exit(int(ExitCode.USAGE))


def _version_callback(value: bool) -> None:
    if value:
        sys.stdout.write(f"qwen-doctor {__version__}\n")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True, context_settings=HELP)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", "-V", callback=_version_callback, is_eager=True, help="Print the version and exit."),
) -> None:
    if ctx.invoked_subcommand is None:
        sys.stdout.write(ctx.get_help() + "\n")


def _use_color(stream) -> bool:
    """Colour only on a terminal, and not with NO_COLOR (any value) or TERM=dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM", "").strip().lower() == "dumb":
        return False
    try:
        return stream.isatty()
    except Exception:
        return False


def _text_width(stream) -> Optional[int]:
    """Columns to wrap prose at: COLUMNS when set, else the terminal's width; None (never wrap) when the output is
    not a terminal and COLUMNS is not set (CI logs, pipes, files)."""
    raw = os.environ.get("COLUMNS", "").strip()
    if raw.isascii() and raw.isdigit() and int(raw) > 0:
        return int(raw)
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns or None
    except (OSError, ValueError, AttributeError):
        pass
    return None


def _url_problem(url: str) -> Optional[str]:
    """Why ``url`` cannot be probed (a scheme other than http/https), or None. ``host:port`` without a scheme is
    fine (http is assumed)."""
    import re

    m = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):(.*)\Z", url.strip(), re.S)
    if m is None:
        return None
    scheme, rest = m.group(1), m.group(2)
    if not rest.startswith("//") and re.match(r"\d*(/|\Z)", rest) and not rest.startswith("/"):
        return None  # host:port[/path]
    if scheme.lower() in ("http", "https"):
        return None
    return f"the scheme is {scheme.lower()}:, and only http:// and https:// servers can be probed"


def write_output(path: str, text: str) -> None:
    """Write the report atomically: a temp file in the same directory, fsync, then rename over FILE.

    A reader (node_exporter's textfile collector, a CI step) sees the old file or the new one, never half
    of one. The temp file's name starts with a dot and does not end in .prom, so collectors skip it.
    The new file keeps the old one's permissions, else 0666 less the umask.
    """
    import secrets as _secrets

    p = Path(path)
    why = _unsafe_output(p)
    if why:
        raise UsageError(f"refusing to write --output {path}: {why}")
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}-{_secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, os.stat(p).st_mode & 0o7777)
        except OSError:
            pass
        os.replace(tmp, p)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise UsageError(f"cannot write --output {path}: {exc.strerror or exc}") from None


def _unsafe_output(p: Path) -> str | None:
    """Why --output may not be written: the target is a symlink, FIFO, socket, device or directory (replacing it
    would destroy it), or the path goes through a symlink that lives in a world-writable directory."""
    import stat as _stat

    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        return exc.strerror or str(exc)
    if st is not None:
        kinds = (
            (_stat.S_ISLNK, "a symbolic link"),
            (_stat.S_ISFIFO, "a FIFO"),
            (_stat.S_ISSOCK, "a socket"),
            (_stat.S_ISCHR, "a device node"),
            (_stat.S_ISBLK, "a device node"),
            (_stat.S_ISDIR, "a directory"),
        )
        for test, what in kinds:
            if test(st.st_mode):
                return f"it is {what}, not a regular file (left as it is)"
    cur = Path(p.anchor or ".")
    for part in p.parent.parts[1:] if p.is_absolute() else Path(os.path.abspath(p.parent)).parts[1:]:
        nxt = cur / part
        try:
            if os.path.islink(nxt) and os.stat(cur).st_mode & _stat.S_IWOTH:
                return f"{nxt} is a symbolic link in the world-writable directory {cur}"
        except OSError:
            break
        cur = nxt
    return None


# ------------------------------------------------------------------------------------------------
# settings-driven commands: the typer parameters are generated from config.SETTINGS

_KIND_TYPE: dict[str, Any] = {
    "str": Optional[str],
    "path": Optional[str],
    "choice": Optional[str],
    "int": Optional[int],
    "float": Optional[float],
    "bool": Optional[bool],
    "list": Optional[list[str]],
    "paths": Optional[list[str]],
}


def _option_param(s: "Setting") -> inspect.Parameter:
    decls = list(s.flags)
    if s.kind == "bool":
        decls[0] = f"{s.flags[0]}/--no-{s.flags[0][2:]}"
    help_text = f"{s.help} [env {s.env}]"
    if s.default not in (None, (), False):
        help_text += f" [default: {s.default}]"
    kwargs: dict[str, Any] = {"help": help_text, "show_default": False}
    if s.metavar and s.kind != "bool":
        kwargs["metavar"] = s.metavar
    elif s.choices:
        kwargs["metavar"] = "{" + ",".join(s.choices) + "}"
    return inspect.Parameter(s.name, inspect.Parameter.KEYWORD_ONLY, default=typer.Option(None, *decls, **kwargs), annotation=_KIND_TYPE[s.kind])


def _config_param() -> inspect.Parameter:
    opt = typer.Option(
        None, "--config", metavar="FILE", help="Config file (else $QWEN_DOCTOR_CONFIG, ./qwen-doctor.toml, or [tool.qwen-doctor] in ./pyproject.toml)."
    )
    return inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=Optional[str])


def _launch_param() -> inspect.Parameter:
    arg = typer.Argument(
        None,
        metavar="[-- LAUNCH COMMAND...]",
        help="The server launch command to examine, after -- (env QWEN_DOCTOR_LAUNCH, file key launch: one string).",
        show_default=False,
    )
    return inspect.Parameter("launch", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=arg, annotation=Optional[list[str]])


def _settings_command(name: str, help_text: str, command: str, body: Callable[[dict[str, Any]], None], *, launch: bool = True, extra: tuple = ()) -> None:
    """Register a typer command whose options are the settings of ``command`` (plus --config and extras)."""
    from .config import settings_for

    positional = [p for p in extra if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    params = positional + ([_launch_param()] if launch else [])
    params.append(_config_param())
    params += [_option_param(s) for s in settings_for(command) if s.flags]
    params += [p for p in extra if p not in positional]

    def cmd(**kw: Any) -> None:
        body(kw)

    cmd.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    cmd.__annotations__ = {p.name: p.annotation for p in params}
    cmd.__name__ = f"{name}_command"
    cmd.__doc__ = help_text
    app.command(name, help=help_text + "\n\n" + PRECEDENCE_HELP, epilog=EXIT_CODES_HELP, context_settings=HELP)(cmd)


def _resolve(kw: dict[str, Any], command: str) -> "Settings":
    """The effective settings from the flags given (None = not given), the environment and the config file."""
    from .config import ConfigError, resolve, settings_for

    flags = {s.name: kw.get(s.name) for s in settings_for(command)}
    if "launch" in flags:
        flags["launch"] = tuple(kw["launch"]) if kw.get("launch") else None
    from . import clock

    try:
        settings = resolve(flags, config=kw.get("config"))
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if command in ("check", "serve"):
        clock.set_deadline(settings.deadline)  # counted from the start of the command (clock.start in main)
    return settings


def _from(settings: "Settings", name: str) -> str:
    """' (from QWEN_DOCTOR_X)' when a value did not come from the command line, for error messages."""
    v = settings.get(name)
    return "" if v.source in ("flag", "default") else f" (from {v.where})"


# ------------------------------------------------------------------------------------------------
# shared by check and serve


def _build_targets(settings: "Settings") -> "tuple[list[Target], list[str]]":
    """The targets of one run and run-level notes, from the settings. Raises UsageError.

    The one place targets are built for ``check`` and ``serve`` (serve calls it before every run, so a
    target discovered from the host is current). Extend it here for discovery and ``--from FILE``.
    """
    from .launch import LaunchError
    from .target import build_target

    opts = dict(
        server=settings.server,
        server_version=settings.server_version,
        model_path=settings.model_path,
        host=settings.host,
        port=settings.port,
        url=settings.url,
    )
    if settings.as_user:
        from .users import resolve_user

        problem = resolve_user(settings.as_user)
        if isinstance(problem, str):
            prefix = "" if problem.startswith("--as-user") else "--as-user: "
            raise UsageError(f"{prefix}{problem}{_from(settings, 'as_user')}")
    if settings.url:
        problem = _url_problem(settings.url)
        if problem:
            raise UsageError(f"--url {settings.url}: {problem}{_from(settings, 'url')}")
    if getattr(settings, "load", None) and not (settings.url or settings.launch):
        raise UsageError(
            f"--load {settings.load}{_from(settings, 'load')} needs an explicit target: --url URL or a launch command after --"
            " (the load probe never sends load to servers it discovered or read from files)"
        )
    if settings.samples and not os.path.isfile(settings.samples):
        what = "is a directory, not a file" if os.path.isdir(settings.samples) else "not a regular file" if os.path.exists(settings.samples) else "no such file"
        raise UsageError(f"--samples {settings.samples}: {what}{_from(settings, 'samples')}")
    rp = settings.reference_python
    if rp and not (os.path.isfile(os.path.expanduser(rp)) and os.access(os.path.expanduser(rp), os.X_OK)):
        what = "no such file" if not os.path.exists(os.path.expanduser(rp)) else "not an executable file"
        raise UsageError(f"--reference-python {rp}: {what} (give a Python interpreter with torch and transformers){_from(settings, 'reference_python')}")
    try:
        # 1. a launch command (after --) and/or explicit target options
        if settings.launch:
            return [build_target(list(settings.launch), **opts)], []
        # 2. deployment files
        if settings.from_file:
            from . import clock
            from .deployfiles import read_deploy_file

            targets, notes, seen = [], [], set()
            for i, f in enumerate(settings.from_file):
                if targets and clock.expired():
                    notes.append(clock.not_done(f"reading --from {', '.join(settings.from_file[i:])}"))
                    break
                key = os.path.realpath(f)
                if key in seen:
                    continue
                seen.add(key)
                ts, ns = read_deploy_file(f, **opts)
                targets += ts
                notes += ns
            if not targets:
                raise UsageError(f"--from: no server launch command found in {', '.join(settings.from_file)}")
            return targets, notes
        if settings.url or settings.model_path or settings.host or settings.port:
            target = build_target(None, **opts)
            if settings.url and not settings.model_path and not settings.offline:
                # the server says where its model is: when that is readable here, the model checks run on it
                from .probe.served_model import served_model_path

                found = served_model_path(target.url or settings.url, api_key=settings.api_key, timeout=min(3.0, float(settings.timeout or 3.0)))
                if found is not None:
                    path, route = found
                    target = build_target(None, **{**opts, "model_path": path})
                    return [target], [f"model path {path} as the server reports it ({route}); the model and tokenizer checks read it here"]
            return [target], []
        # 3. nothing given: the servers running on this host, else this host's readiness for the default deployment
        from .discover import discover_targets, readiness_target

        found, notes = discover_targets(**opts)
        if found:
            return found, notes
        target, more = readiness_target(**opts)
        return [target], notes + more
    except LaunchError as exc:  # DeployFileError is a LaunchError
        where = _from(settings, "launch") if settings.launch else ""
        raise UsageError(f"{exc}{where}") from None


def _run_options(settings: "Settings", progress: bool = False) -> "RunOptions":
    from .context import RunOptions

    return RunOptions(
        api_key=settings.api_key,
        model_name=settings.model_name,
        expect_dim=settings.expect_dim,
        samples=settings.samples,
        as_user=settings.as_user,
        deep=bool(settings.deep),
        reference_python=settings.reference_python,
        requests=settings.requests,
        concurrency=settings.concurrency,
        load=getattr(settings, "load", None),
        metrics_interval=settings.metrics_interval,
        probe_timeout=settings.timeout,
        offline=bool(settings.offline),
        progress=progress,
    )


def _registry(settings: "Settings") -> "Registry":
    from .registry import default_registry

    return default_registry(tuple(settings.checks_dir or ()))


def _selector(settings: "Settings", registry: "Registry") -> "Selector":
    from .selection import SelectionError, Selector

    try:
        return Selector.parse(settings.select or (), settings.ignore or (), registry, origin=settings.where("ignore"), select_origin=settings.where("select"))
    except SelectionError as exc:
        raise UsageError(str(exc)) from None


def _run_report(
    registry: "Registry",
    selector: "Selector",
    targets: "list[Target]",
    notes: "list[str]",
    options: "RunOptions",
    deadline: Optional[float],
    *,
    on_start: Optional[Callable] = None,
    on_finish: Optional[Callable] = None,
) -> "Report":
    """One run of the selected checks on the targets, with plugin problems and --ignore applied."""
    from . import clock
    from .render import Report
    from .runner import Runner, problem_results
    from .selection import apply_ignores

    t0 = time.monotonic()
    started_at = time.time()
    # one clock: the checks get what is left of --deadline after config loading, drop-ins and target building
    runner = Runner(registry, options, select=selector.selects, deadline=deadline, deadline_at=clock.deadline_at(), on_start=on_start, on_finish=on_finish)
    results = runner.run(targets)
    results = problem_results(registry.problems, targets[0].label if targets else "") + results
    results = apply_ignores(results, selector)
    from .fixes import all_safe_fixes

    corrected = {}
    by_label: dict[str, list] = {}
    for r in results:  # once, not once per target: 10,000 targets stay linear
        by_label.setdefault(r.target, []).append(r)
    for i, t in enumerate(targets):
        if clock.expired():  # a convenience: never worth running past the --deadline
            notes = [*notes, clock.not_done(f"the corrected launch command with every safe fix, for {len(targets) - i} target(s)")]
            break
        try:
            cmd, ids = all_safe_fixes(t, by_label.get(t.label, []), registry)
        except Exception:  # a convenience on top of the results: never break the report
            cmd, ids = None, ()
        if cmd:
            corrected[t.label] = (cmd, ids)
    from .scope import scope_notes

    notes = list(notes) + scope_notes(targets, results)
    return Report(tuple(targets), tuple(results), started_at=started_at, duration_s=time.monotonic() - t0, notes=tuple(notes), corrected=corrected)


def _warn_unmatched(selector: "Selector", registry: "Registry") -> None:
    """--ignore patterns that match no check: a warning on stderr (never in the report on stdout)."""
    for msg in selector.unmatched_ignores(registry, [p.id for p in registry.problems]):
        sys.stderr.write(f"qwen-doctor: warning: {msg}\n")
    sys.stderr.flush()


# ------------------------------------------------------------------------------------------------
# check


def _check(kw: dict[str, Any]) -> None:
    from .render import OutputFormat, RenderOptions

    try:
        settings = _resolve(kw, "check")
        out_fmt = OutputFormat(settings.format)
        registry = _registry(settings)
        selector = _selector(settings, registry)
        targets, notes = _build_targets(settings)
        options = _run_options(settings, progress=out_fmt is OutputFormat.TEXT and _use_color(sys.stderr))
    except UsageError as exc:
        raise _die_usage(str(exc))
    _warn_unmatched(selector, registry)

    spinner = _Spinner(enabled=options.progress)
    with spinner:
        report = _run_report(registry, selector, targets, notes, options, settings.deadline, on_start=spinner.started, on_finish=spinner.finished)
    output = settings.output
    to_stdout = output in (None, "-")
    color = to_stdout and out_fmt is OutputFormat.TEXT and _use_color(sys.stdout)
    width = _text_width(sys.stdout) if to_stdout else None
    enc = str(getattr(sys.stdout, "encoding", None) or "utf-8").lower().replace("-", "").replace("_", "")
    ascii_only = to_stdout and not enc.startswith("utf")  # LC_ALL=C, PYTHONIOENCODING=ascii: JSON stays JSON
    render_opts = RenderOptions(
        verbose=bool(settings.verbose), color=color, width=width, secrets=options.secrets, fail_on=settings.fail_on, ascii_only=ascii_only
    )
    text = out_fmt.renderer()(report, render_opts)
    if output and output != "-":
        try:
            write_output(output, text)
        except UsageError as exc:
            raise _die_usage(str(exc))
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    raise typer.Exit(int(exit_code_for(report.results, settings.fail_on)))


_settings_command("check", "Examine a deployment (a launch command after --, a running server, a model directory) and report.", "check", _check)


class _Spinner:
    """A spinner on stderr naming the checks still running (TTY only)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._running: dict[str, float] = {}
        self._status = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console

            self._status = Console(stderr=True).status("running checks...")
            self._status.__enter__()
        return self

    def __exit__(self, *exc):
        if self._status is not None:
            self._status.__exit__(*exc)

    def _update(self) -> None:
        if self._status is not None:
            names = ", ".join(list(self._running)[:3])
            more = f" (+{len(self._running) - 3})" if len(self._running) > 3 else ""
            self._status.update(f"running {names}{more}" if names else "finishing...")

    def started(self, target, check) -> None:
        self._running[check.id] = time.monotonic()
        self._update()

    def finished(self, result) -> None:
        self._running.pop(result.id, None)
        self._update()


# ------------------------------------------------------------------------------------------------
# serve


def _serve(kw: dict[str, Any]) -> None:
    from .serve import DoctorService, ListenError, make_server, parse_listen, serve_until_signal, url_for

    def log(msg: str) -> None:
        sys.stderr.write(f"qwen-doctor serve: {msg}\n")
        sys.stderr.flush()

    try:
        settings = _resolve(kw, "serve")
        try:
            host, port = parse_listen(settings.listen)
        except ListenError as exc:
            raise UsageError(f"{exc}{_from(settings, 'listen')}") from None
        registry = _registry(settings)
        selector = _selector(settings, registry)
        _build_targets(settings)  # bad target options are a usage error at start, not a 503 later
        options = _run_options(settings)
    except UsageError as exc:
        raise _die_usage(str(exc))
    _warn_unmatched(selector, registry)

    def run_once() -> "Report":
        from . import clock

        clock.start()  # each run has its own --deadline
        clock.set_deadline(settings.deadline)
        targets, notes = _build_targets(settings)
        return _run_report(registry, selector, targets, notes, options, settings.deadline)

    service = DoctorService(run_once, cache_s=settings.cache, fail_on=settings.fail_on, log=log)
    try:
        server = make_server(host, port, service, log=log, access_log=bool(settings.verbose))
    except OSError as exc:
        raise _die_usage(f"cannot listen on {settings.listen}: {exc.strerror or exc}")
    log(f"listening on {url_for(host, server.port)} (GET /livez /readyz /metrics; results cached {settings.cache:g} s; fail-on {settings.fail_on})")
    raise typer.Exit(serve_until_signal(server, log=log))


_settings_command(
    "serve",
    "Serve the doctor over HTTP: /livez, /readyz (503 while a result is at or above --fail-on) and /metrics (Prometheus). "
    "Takes the same target options and -- LAUNCH COMMAND as check; runs until SIGTERM or SIGINT.",
    "serve",
    _serve,
)


# ------------------------------------------------------------------------------------------------
# config


def _config(kw: dict[str, Any]) -> None:
    import json

    from .config import describe

    try:
        settings = _resolve(kw, "config")
    except UsageError as exc:
        raise _die_usage(str(exc))
    rows = describe(settings)
    cfg = settings.config_file
    if kw.get("json"):
        data = {
            "config_file": str(cfg.path) if cfg else None,
            "config_table": (cfg.table or None) if cfg else None,
            "config_file_how": cfg.how if cfg else None,
            "settings": rows,
            "stray_env": [{"name": n, "did_you_mean": near} for n, near in settings.stray_env],
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        raise typer.Exit(0)
    if cfg:
        sys.stdout.write(f"config file: {cfg.label} ({cfg.how})\n")
    else:
        sys.stdout.write("config file: none (looked for ./qwen-doctor.toml, then [tool.qwen-doctor] in ./pyproject.toml)\n")
    sys.stdout.write("precedence: flag > environment (QWEN_DOCTOR_*) > config file > default\n\n")
    w = [max(len(r[k]) for r in rows + [{"key": "SETTING", "value": "VALUE", "origin": "ORIGIN"}]) for k in ("key", "value", "origin")]
    w[1] = min(w[1], 48)
    sys.stdout.write(f"{'SETTING':<{w[0]}}  {'VALUE':<{w[1]}}  {'ORIGIN':<{w[2]}}  ENV\n")
    for r in rows:
        sys.stdout.write(f"{r['key']:<{w[0]}}  {r['value']:<{w[1]}}  {r['origin']:<{w[2]}}  {r['env']}\n")
    for name, near in settings.stray_env:
        hint = f"; did you mean {near}?" if near else ""
        sys.stdout.write(f"! {name} is not a qwen-doctor setting (ignored here){hint}\n")
    raise typer.Exit(0)


_settings_command(
    "config",
    "Print the effective settings and where each came from (flag, environment, config file or default).",
    "config",
    _config,
    extra=(inspect.Parameter("json", inspect.Parameter.KEYWORD_ONLY, default=typer.Option(False, "--json", help="Print JSON."), annotation=bool),),
)


# ------------------------------------------------------------------------------------------------
# explain, checks


def _registry_for(kw: dict[str, Any], command: str) -> "Registry":
    try:
        settings = _resolve(kw, command)
    except UsageError as exc:
        raise _die_usage(str(exc))
    return _registry(settings)


def _explain(kw: dict[str, Any]) -> None:
    import difflib
    import json

    from . import claims as claims_mod

    check_id = kw.get("check_id")
    registry = _registry_for(kw, "explain")
    as_json = bool(kw.get("json"))

    def tables_of(chk: Any) -> list[Any]:
        out = []
        for item in chk.claims:
            try:
                out.append(claims_mod.resolve(item, chk.claims))
            except claims_mod.ClaimError as exc:
                raise _die_usage(f"check {chk.id}: {exc}")
        return out

    if check_id is None:
        if not kw.get("sources"):
            raise _die_usage("give a check ID (e.g. qwen-doctor explain launch.embedding-mode), or --sources for every claim and its source")
        used: dict[str, list[str]] = {}
        tables: dict[str, Any] = dict(claims_mod.builtin_claims())
        for chk in registry:
            for t in tables_of(chk):
                tables.setdefault(t.id, t)
                used.setdefault(t.id, []).append(chk.id)
        if as_json:
            data = {"claims": [{**claims_mod.describe(t), "checks": used.get(cid, [])} for cid, t in sorted(tables.items())]}
            sys.stdout.write(json.dumps(data, indent=2) + "\n")
            raise typer.Exit(0)
        sys.stdout.write(f"{len(tables)} claims: what the checks say about servers, models, tokenizers, GPUs and drivers, where it holds, and its source\n")
        for cid, t in sorted(tables.items()):
            by = ", ".join(used.get(cid, [])) or "(no check declares it)"
            sys.stdout.write("\n" + claims_mod.render(t, indent="") + f"\n  checks: {by}\n")
        raise typer.Exit(0)

    chk = registry.get(check_id)
    if chk is None:
        near = difflib.get_close_matches(check_id, registry.ids(), n=3, cutoff=0.4)
        near += [i for i in registry.ids() if i.startswith(check_id) and i not in near][:3]
        hint = f"; did you mean {', '.join(near)}?" if near else "; run 'qwen-doctor checks' for the list"
        raise _die_usage(f"unknown check ID {check_id!r}{hint}")
    tables = tables_of(chk)
    if as_json:
        data = {
            "id": chk.id,
            "title": chk.title,
            "category": chk.category,
            "severity": chk.severity.value,
            "timeout": chk.timeout,
            "plugin": chk.plugin,
            "depends_on": list(chk.depends_on),
            "uses": list(chk.uses),
            "doc": chk.doc,
            "claims": [claims_mod.describe(t) for t in tables],
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        raise typer.Exit(0)
    sys.stdout.write(
        f"{chk.id} — {chk.title}\ncategory: {chk.category}; default severity: {chk.severity.value}; timeout: {chk.timeout:g} s; plugin: {chk.plugin}\n"
    )
    if chk.depends_on:
        sys.stdout.write(f"depends on: {', '.join(chk.depends_on)}\n")
    if chk.uses:
        sys.stdout.write(f"uses: {', '.join(chk.uses)}\n")
    sys.stdout.write("\n" + (chk.doc or "(no documentation)") + "\n")
    if tables:
        sys.stdout.write("\nClaims it can make (each printed only for the releases it holds for), with sources:\n")
        for t in tables:
            sys.stdout.write(claims_mod.render(t) + "\n")
    raise typer.Exit(0)


_settings_command(
    "explain",
    "Print a check's documentation (What it checks / Why it matters / How to fix) and the claims it can make, each with "
    "its source and release range; --sources lists every claim.",
    "explain",
    _explain,
    launch=False,
    extra=(
        inspect.Parameter(
            "check_id",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=typer.Argument(None, metavar="[ID]", help="A check ID, e.g. launch.embedding-mode (optional with --sources)."),
            annotation=Optional[str],
        ),
        inspect.Parameter(
            "sources",
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(False, "--sources", help="List every claim the checks can make, with its source and release range."),
            annotation=bool,
        ),
        inspect.Parameter("json", inspect.Parameter.KEYWORD_ONLY, default=typer.Option(False, "--json", help="Print JSON."), annotation=bool),
    ),
)


def _list_checks(kw: dict[str, Any]) -> None:
    import json

    registry = _registry_for(kw, "checks")
    rows = [(c.id, c.category, c.title, c.plugin) for c in registry]
    if kw.get("json"):
        data = {
            "checks": [
                {"id": c.id, "category": c.category, "title": c.title, "plugin": c.plugin, "severity": c.severity.value, "depends_on": list(c.depends_on)}
                for c in registry
            ],
            "problems": [{"id": p.id, "plugin": p.plugin, "source": p.source, "message": p.message} for p in registry.problems],
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        raise typer.Exit(0)
    w = [max([len(r[i]) for r in rows] + [len(h)]) for i, h in enumerate(("ID", "CATEGORY", "TITLE", "PLUGIN"))]
    sys.stdout.write(f"{'ID':<{w[0]}}  {'CATEGORY':<{w[1]}}  {'TITLE':<{w[2]}}  PLUGIN\n")
    for r in rows:
        sys.stdout.write(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}\n")
    for p in registry.problems:
        sys.stdout.write(f"! {p.id}: {p.source}: {p.message}\n")
    raise typer.Exit(0)


_settings_command(
    "checks",
    "List every registered check: ID, category, title and the plugin it came from.",
    "checks",
    _list_checks,
    launch=False,
    extra=(inspect.Parameter("json", inspect.Parameter.KEYWORD_ONLY, default=typer.Option(False, "--json", help="Print JSON."), annotation=bool),),
)


# ------------------------------------------------------------------------------------------------
# completion

COMPLETION_SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_QWEN_DOCTOR_COMPLETE"


@app.command(
    "completion",
    help="Print a shell completion script for bash, zsh or fish. Load it with: "
    'eval "$(qwen-doctor completion bash)" (in ~/.bashrc; zsh: the same with zsh, in ~/.zshrc; '
    "fish: qwen-doctor completion fish > ~/.config/fish/completions/qwen-doctor.fish).",
    epilog=EXIT_CODES_HELP,
    context_settings=HELP,
)
def _completion(shell: str = typer.Argument(..., metavar="SHELL", help="bash, zsh or fish.")) -> None:
    name = shell.strip().lower()
    if name not in COMPLETION_SHELLS:
        raise _die_usage(f"unknown shell {shell!r} for completion; choose from {', '.join(COMPLETION_SHELLS)}")
    # Typer's own scripts: they call qwen-doctor back with _QWEN_DOCTOR_COMPLETE set (answered in main())
    from typer._completion_shared import get_completion_script

    sys.stdout.write(get_completion_script(prog_name="qwen-doctor", complete_var=COMPLETE_VAR, shell=name) + "\n")
    raise typer.Exit(0)


# ------------------------------------------------------------------------------------------------


def _click_exceptions() -> "tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]":
    """Click's UsageError, ClickException and Abort classes, wherever this typer keeps them: typer >= 0.20
    vendors click as typer._click (Abort in typer.exceptions); older typer uses click itself."""
    import importlib

    found: dict[str, list[type]] = {"UsageError": [], "ClickException": [], "Abort": []}
    for name in ("typer._click.exceptions", "typer.exceptions", "click.exceptions"):
        try:
            mod = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - not installed / not vendored
            continue
        for cls in found:
            obj = getattr(mod, cls, None)
            if isinstance(obj, type) and issubclass(obj, BaseException) and obj not in found[cls]:
                found[cls].append(obj)
    return tuple(found["UsageError"]), tuple(found["ClickException"]), tuple(found["Abort"])


def main(argv: Optional[list[str]] = None) -> int:
    """Console entry point. Fast path for --version (no heavy imports); usage errors are one line (exit 2);
    internal errors exit 3."""
    from . import clock

    clock.start()  # --deadline counts from here: config loading, drop-ins, targets, checks and rendering
    _sane_streams()
    try:
        return _main(argv)
    except OSError as exc:  # the environment, not the doctor: stdout closed, full, or a reader that went away
        return _output_failed(exc)


_OUTPUT_ERRNOS = (errno.EPIPE, errno.ENOSPC, errno.EBADF, errno.EIO, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)


def _sane_streams() -> None:
    """Names that do not encode are printed with backslash escapes; a closed stdout becomes a sink."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 - lives as long as the process
            if name == "stdout":
                _STDOUT_CLOSED[0] = True
            continue
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass


_STDOUT_CLOSED = [False]


def _output_failed(exc: OSError) -> int:
    if exc.errno not in _OUTPUT_ERRNOS and not isinstance(exc, BrokenPipeError):
        sys.stderr.write(f"qwen-doctor: internal error: {type(exc).__name__}: {exc}\n")
        return int(ExitCode.INTERNAL)
    try:  # the interpreter flushes stdout at exit: point it at /dev/null so that flush cannot fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    if not isinstance(exc, BrokenPipeError):
        try:
            sys.stderr.write(f"qwen-doctor: cannot write the report: {exc.strerror or exc}\n")
        except OSError:
            pass
    return int(ExitCode.OUTPUT)


def _main(argv: Optional[list[str]] = None) -> int:
    usage_errors, click_errors, aborts = _click_exceptions()
    args = sys.argv[1:] if argv is None else list(argv)
    if args in (["--version"], ["-V"]):
        sys.stdout.write(f"qwen-doctor {__version__}\n")
        sys.stdout.flush()
        return 0
    if os.environ.get(COMPLETE_VAR):  # a completion script asks for candidates: Typer's completion classes answer
        from typer._completion_classes import completion_init

        completion_init()
    try:
        rv = app(args=args, prog_name="qwen-doctor", standalone_mode=False)
    except usage_errors as exc:
        where = f" (see 'qwen-doctor {exc.ctx.info_name} --help')" if exc.ctx is not None and exc.ctx.parent is not None else " (see 'qwen-doctor --help')"
        from .sanitize import printable

        msg = printable(" ".join(exc.format_message().split()))
        sys.stderr.write(f"qwen-doctor: error: {msg}{where}\n")
        return int(ExitCode.USAGE)
    except click_errors as exc:
        from .sanitize import printable

        sys.stderr.write(f"qwen-doctor: error: {printable(' '.join(exc.format_message().split()))}\n")
        return exc.exit_code if isinstance(exc.exit_code, int) else int(ExitCode.USAGE)
    except aborts:
        sys.stderr.write("qwen-doctor: interrupted\n")
        return 130
    except SystemExit as exc:
        if type(sys.stdout).__name__.endswith("PacifyFlushWrapper"):  # click turned a broken pipe (EPIPE) into exit 1 (_PacifyFlushWrapper since click 8.3)
            return _output_failed(BrokenPipeError(errno.EPIPE, "Broken pipe"))
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        sys.stderr.write(f"{code}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("qwen-doctor: interrupted\n")
        return 130
    except OSError as exc:
        return _output_failed(exc)
    except Exception as exc:  # noqa: BLE001
        from .sanitize import printable

        sys.stderr.write(f"qwen-doctor: internal error: {type(exc).__name__}: {printable(exc)}\n")
        return int(ExitCode.INTERNAL)
    sys.stdout.flush()
    if _STDOUT_CLOSED[0]:
        return int(ExitCode.OUTPUT)
    return rv if isinstance(rv, int) else 0
