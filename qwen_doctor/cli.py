"""The command line: ``qwen-doctor check|explain|checks``.

Exit codes: 0 no FAIL or ERROR (and no WARN with --fail-on warn); 1 a FAIL or ERROR (or WARN with
--fail-on warn); 2 usage error (bad option, bad launch command, bad input file); 3 internal error.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

from . import __version__
from .model import ExitCode, exit_code_for

EXIT_CODES_HELP = (
    "Exit codes: 0 = no FAIL or ERROR; 1 = at least one FAIL or ERROR (or WARN with --fail-on warn); "
    "2 = usage error (bad option, launch command or input file); 3 = internal error of the doctor."
)

app = typer.Typer(
    name="qwen-doctor",
    help="Pre-flight diagnostics for serving Qwen3-Embedding behind SGLang, vLLM and TEI.\n\n" + EXIT_CODES_HELP,
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class UsageError(Exception):
    """Bad input: printed as one line, exit 2."""


def _die_usage(msg: str) -> "typer.Exit":
    sys.stderr.write(f"qwen-doctor: error: {msg}\n")
    return typer.Exit(int(ExitCode.USAGE))


def _version_callback(value: bool) -> None:
    if value:
        sys.stdout.write(f"qwen-doctor {__version__}\n")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
) -> None:
    if ctx.invoked_subcommand is None:
        sys.stdout.write(ctx.get_help() + "\n")


def _use_color(stream) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except Exception:
        return False


def write_output(path: str, text: str) -> None:
    """Write the report atomically (temp file in the same directory, then rename)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, p)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise UsageError(f"cannot write --output {path}: {exc.strerror or exc}") from None


@app.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES_HELP,
)
def check(
    launch: Optional[List[str]] = typer.Argument(None, metavar="[-- LAUNCH COMMAND...]", help="The server launch command to examine, after --."),
    server: Optional[str] = typer.Option(None, "--server", help="Server kind: sglang, vllm or tei (else from the launch command)."),
    server_version: Optional[str] = typer.Option(None, "--server-version", help="Server version (else the installed distribution, else the newest known)."),
    model_path: Optional[str] = typer.Option(None, "--model-path", help="Model directory (or HF repo id) to examine."),
    host: Optional[str] = typer.Option(None, "--host", help="Bind address the server uses."),
    port: Optional[int] = typer.Option(None, "--port", help="Port the server uses."),
    url: Optional[str] = typer.Option(None, "--url", help="Base URL of a running server to probe, e.g. http://127.0.0.1:30000."),
    fmt: str = typer.Option("text", "--format", "-f", help="Output format: text or json."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the report to FILE (atomically) instead of stdout."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="List passing checks and evidence too."),
    fail_on: str = typer.Option("fail", "--fail-on", help="Exit 1 on: fail (FAIL or ERROR) or warn (also WARN)."),
    deadline: Optional[float] = typer.Option(None, "--deadline", help="Global deadline in seconds; unfinished checks become ERROR."),
    checks_dir: Optional[List[str]] = typer.Option(None, "--checks-dir", help="Extra directory of drop-in checks (repeatable)."),
    select: Optional[List[str]] = typer.Option(None, "--select", help="Run only these checks: ID, ID prefix or category (repeatable)."),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", help="Demote FAIL to WARN for these checks (ID, prefix or category); recorded, never hidden."),
    api_key: Optional[str] = typer.Option(None, "--api-key", help="API key for the live probe (redacted in every output)."),
    model_name: Optional[str] = typer.Option(None, "--model-name", help="Model name clients send (compared with the served name)."),
    expect_dim: Optional[int] = typer.Option(None, "--expect-dim", help="Expected embedding dimension (else from the model variant)."),
    requests: int = typer.Option(20, "--requests", help="Number of small requests for the latency probe."),
    concurrency: int = typer.Option(1, "--concurrency", help="Concurrent requests in the latency probe."),
    timeout: float = typer.Option(10.0, "--timeout", help="Per-request read timeout of the live probe, seconds."),
    as_user: Optional[str] = typer.Option(None, "--as-user", help="User the server runs as (file permission checks)."),
    samples: Optional[str] = typer.Option(None, "--samples", help="File of sample inputs (a text per line, or JSONL with a text field)."),
    deep: bool = typer.Option(False, "--deep", help="Also run expensive checks (GPU trial allocation)."),
    offline: bool = typer.Option(False, "--offline", help="Never touch the network: live-probe checks are skipped."),
) -> None:
    """Examine a deployment (a launch command after --, a running server, a model directory) and report."""
    from .context import RunOptions
    from .launch import LaunchError
    from .registry import default_registry
    from .render import OutputFormat, RenderOptions, Report
    from .runner import Runner, problem_results
    from .selection import Selector, apply_ignores
    from .target import build_target

    try:
        try:
            out_fmt = OutputFormat(fmt)
        except ValueError:
            raise UsageError(f"unknown --format {fmt!r}; choose from {', '.join(f.value for f in OutputFormat)}") from None
        if fail_on not in ("fail", "warn"):
            raise UsageError(f"--fail-on must be 'fail' or 'warn', not {fail_on!r}")
        if deadline is not None and deadline <= 0:
            raise UsageError("--deadline must be a positive number of seconds")
        if requests < 1 or concurrency < 1 or timeout <= 0:
            raise UsageError("--requests and --concurrency must be >= 1 and --timeout > 0")
        registry = default_registry(checks_dir or ())
        selector = Selector.parse(select or (), ignore or (), registry)
        try:
            target = build_target(
                launch or None,
                server=server,
                server_version=server_version,
                model_path=model_path,
                host=host,
                port=port,
                url=url,
            )
        except LaunchError as exc:
            raise UsageError(str(exc)) from None
        targets = [target]
        options = RunOptions(
            api_key=api_key,
            model_name=model_name,
            expect_dim=expect_dim,
            samples=samples,
            as_user=as_user,
            deep=deep,
            requests=requests,
            concurrency=concurrency,
            probe_timeout=timeout,
            offline=offline,
            progress=out_fmt is OutputFormat.TEXT and _use_color(sys.stderr),
        )
    except UsageError as exc:
        raise _die_usage(str(exc))

    spinner = _Spinner(enabled=options.progress)
    t0 = time.monotonic()
    started_at = time.time()
    with spinner:
        runner = Runner(registry, options, select=selector.selects, deadline=deadline, on_start=spinner.started, on_finish=spinner.finished)
        results = runner.run(targets)
    results = problem_results(registry.problems, targets[0].label) + results
    results = apply_ignores(results, selector)
    report = Report(tuple(targets), tuple(results), started_at=started_at, duration_s=time.monotonic() - t0)
    color = output is None and out_fmt is OutputFormat.TEXT and _use_color(sys.stdout)
    width = 100
    if color:
        try:
            width = os.get_terminal_size().columns
        except OSError:
            pass
    text = out_fmt.renderer()(report, RenderOptions(verbose=verbose, color=color, width=width))
    if output:
        try:
            write_output(output, text)
        except UsageError as exc:
            raise _die_usage(str(exc))
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    raise typer.Exit(int(exit_code_for(results, fail_on)))


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


@app.command()
def explain(check_id: str = typer.Argument(..., metavar="ID", help="A check ID, e.g. launch.embedding-mode.")) -> None:
    """Print a check's documentation (What it checks / Why it matters / How to fix)."""
    import difflib

    from .registry import default_registry

    registry = default_registry()
    chk = registry.get(check_id)
    if chk is None:
        near = difflib.get_close_matches(check_id, registry.ids(), n=3, cutoff=0.4)
        near += [i for i in registry.ids() if i.startswith(check_id) and i not in near][:3]
        hint = f"; did you mean {', '.join(near)}?" if near else "; run 'qwen-doctor checks' for the list"
        raise _die_usage(f"unknown check ID {check_id!r}{hint}")
    sys.stdout.write(f"{chk.id} — {chk.title}\ncategory: {chk.category}; default severity: {chk.severity.value}; timeout: {chk.timeout:g} s; plugin: {chk.plugin}\n")
    if chk.depends_on:
        sys.stdout.write(f"depends on: {', '.join(chk.depends_on)}\n")
    sys.stdout.write("\n" + (chk.doc or "(no documentation)") + "\n")


@app.command("checks")
def list_checks(checks_dir: Optional[List[str]] = typer.Option(None, "--checks-dir", help="Extra directory of drop-in checks.")) -> None:
    """List every registered check: ID, category, title and the plugin it came from."""
    from .registry import default_registry

    registry = default_registry(checks_dir or ())
    rows = [(c.id, c.category, c.title, c.plugin) for c in registry]
    w = [max([len(r[i]) for r in rows] + [len(h)]) for i, h in enumerate(("ID", "CATEGORY", "TITLE", "PLUGIN"))]
    sys.stdout.write(f"{'ID':<{w[0]}}  {'CATEGORY':<{w[1]}}  {'TITLE':<{w[2]}}  PLUGIN\n")
    for r in rows:
        sys.stdout.write(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}\n")
    for p in registry.problems:
        sys.stdout.write(f"! {p.id}: {p.source}: {p.message}\n")


def main(argv: Optional[List[str]] = None) -> int:
    """Console entry point. Fast path for --version (no heavy imports); internal errors exit 3."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--version"]:
        sys.stdout.write(f"qwen-doctor {__version__}\n")
        return 0
    try:
        app(args=args, prog_name="qwen-doctor", standalone_mode=True)
    except SystemExit as exc:
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
    except Exception as exc:  # noqa: BLE001
        sys.stderr.write(f"qwen-doctor: internal error: {type(exc).__name__}: {exc}\n")
        return int(ExitCode.INTERNAL)
    return 0
