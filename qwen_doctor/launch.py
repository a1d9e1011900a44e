"""Launch-command parsing with the argparse semantics the real servers apply.

A launch command (``sglang serve ...``, ``python -m sglang.launch_server ...``, ``vllm serve MODEL ...``,
``python -m vllm.entrypoints.openai.api_server ...``, ``text-embeddings-router ...``, with ``env VAR=...``
prefixes, or all of it in one quoted string) is split into: environment prefix, launcher, and server
arguments. The server arguments are then parsed against the flag table of the server's version the way
argparse does it (exact match, ``--flag=value``, unique-prefix abbreviations, store_true, nargs), and
every deviation is recorded as a :class:`ParseIssue` instead of stopping at the first one.

Stdlib only; import-light.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from .flags import FlagSpec, FlagTable, did_you_mean
from .redact import redact_argv

MAX_COMMAND_BYTES = 64 * 1024


class LaunchError(ValueError):
    """A launch command that cannot be understood at all (a usage error, exit 2)."""


SERVERS = ("sglang", "vllm", "tei")

_PY = re.compile(r"^(python|pypy)(\d+(\.\d+)*)?([a-z]*)?(\.exe)?$")
_ENV_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# Wrappers that may stand before the interpreter; their own options are skipped.
_WRAPPERS = {
    "sudo",
    "nohup",
    "exec",
    "time",
    "nice",
    "ionice",
    "stdbuf",
    "taskset",
    "numactl",
    "setsid",
    "chrt",
    "uv",
    "poetry",
    "pipenv",
    "conda",
    "micromamba",
    "tini",
    "dumb-init",
    "--",
}

_MODULES = {
    "sglang.launch_server": ("sglang", "python -m sglang.launch_server"),
    "sglang.cli.main": ("sglang", "python -m sglang.cli.main"),
    "vllm.entrypoints.openai.api_server": ("vllm", "python -m vllm.entrypoints.openai.api_server"),
    "vllm.entrypoints.cli.main": ("vllm", "python -m vllm.entrypoints.cli.main"),
}


@dataclass(frozen=True)
class Occurrence:
    """One option (or positional) as written in the command, and what argparse made of it."""

    index: int  # index of the option token in LaunchCommand.args
    length: int  # number of tokens it spans (option + separate values)
    written: str  # the option string as written (before '='), or '' for a positional
    option: str | None  # the canonical option string it resolved to (None when unknown)
    dest: str | None
    value: Any
    kind: str  # "exact", "abbrev", "underscore", "positional"


@dataclass(frozen=True)
class ParseIssue:
    """A deviation argparse would reject (error=True) or silently accept (error=False)."""

    kind: str  # unknown | ambiguous | abbrev | missing-value | bad-choice | bad-type | extra-positional | deprecated
    written: str
    index: int
    message: str
    error: bool
    candidates: tuple[str, ...] = ()
    resolved: str | None = None


@dataclass(frozen=True)
class ParsedArgs:
    table_server: str
    table_version: str
    values: Mapping[str, Any]
    occurrences: tuple[Occurrence, ...]
    issues: tuple[ParseIssue, ...]

    def given(self, dest: str) -> bool:
        return dest in self.values

    def occurrences_of(self, dest: str) -> tuple[Occurrence, ...]:
        return tuple(o for o in self.occurrences if o.dest == dest)


@dataclass(frozen=True)
class LaunchCommand:
    """A launch command split into its parts. ``parsed`` is filled in by :func:`parse_args`."""

    raw: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    prefix: tuple[str, ...]  # everything before the server arguments (wrappers, interpreter, launcher)
    launcher: str  # e.g. "sglang serve", "python -m sglang.launch_server", "vllm serve"
    server: str  # sglang | vllm | tei
    args: tuple[str, ...]
    parsed: ParsedArgs | None = None
    container: Any = None  # a docker/podman/nerdctl run line: its qwen_doctor.containers.ContainerRun
    outer: tuple[str, ...] = ()  # the run line up to the image: kept when the launcher is replaced

    @property
    def env_map(self) -> dict[str, str]:
        return dict(self.env)

    def display(self, args: Sequence[str] | None = None) -> str:
        """The whole command as one shell-quoted line, secrets redacted."""
        env = [f"{k}={v}" for k, v in self.env]
        return shell_join(redact_argv([*env, *self.prefix, *(self.args if args is None else args)]))

    def edited(self, *, drop: Sequence[Occurrence] = (), set_options: Mapping[str, str | None] = (), replace_tokens: Mapping[int, Sequence[str]] = ()) -> str:
        """The corrected launch command: drop occurrences, replace tokens, set (or add) options.

        ``set_options`` maps a canonical option to its value (None for a flag). An option already present
        (by dest) has its value replaced in place; otherwise it is appended.
        """
        args = list(self.args)
        dropped: set[int] = set()
        for occ in drop:
            dropped.update(range(occ.index, occ.index + occ.length))
        repl: dict[int, list[str]] = {i: list(toks) for i, toks in dict(replace_tokens).items()}
        appended: list[str] = []
        for opt, value in dict(set_options).items():
            occs = [o for o in (self.parsed.occurrences if self.parsed else ()) if o.option == opt or (o.written == opt)]
            occs = [o for o in occs if o.index not in dropped]
            if occs:
                last = occs[-1]
                for o in occs[:-1]:
                    dropped.update(range(o.index, o.index + o.length))
                repl[last.index] = [opt] if value is None else [opt, value]
                dropped.update(range(last.index + 1, last.index + last.length))
            else:
                appended.extend([opt] if value is None else [opt, value])
        out: list[str] = []
        for i, tok in enumerate(args):
            if i in repl:
                out.extend(repl[i])
                continue
            if i in dropped:
                continue
            out.append(tok)
        return self.display(out + appended)


_TILDE_WORD = re.compile(r"~[\w./:@%+=,-]*")
_SHELL_VAR = re.compile(r"\$\{?[A-Za-z_]")


def shell_join(argv: Sequence[str]) -> str:
    """shlex.join, except that a word starting with ``~`` stays unquoted and a word holding ``$VAR`` is double-quoted,
    so the shell still expands them as in the command the user wrote (``-v ~/.cache/huggingface:/root/...``)."""
    out = []
    for tok in argv:
        quoted = shlex.quote(tok)
        if quoted != tok and _TILDE_WORD.fullmatch(tok):
            quoted = tok
        elif quoted != tok and _SHELL_VAR.search(tok) and not any(c in tok for c in '"\\`!') and "$(" not in tok:
            quoted = f'"{tok}"'
        out.append(quoted)
    return " ".join(out)


# --------------------------------------------------------------------------------------------
# splitting


def check_argv(argv: Sequence[str]) -> list[str]:
    """Validate raw argv (non-UTF-8, size) and split a single quoted string. Raises LaunchError."""
    argv = list(argv)
    total = sum(len(a) for a in argv)
    if total > MAX_COMMAND_BYTES:
        raise LaunchError(f"launch command is {total} bytes long; the longest accepted is {MAX_COMMAND_BYTES} bytes")
    for i, a in enumerate(argv):
        try:
            a.encode("utf-8")
        except UnicodeEncodeError:
            raise LaunchError(f"launch command argument {i + 1} is not valid UTF-8: {a.encode('utf-8', 'replace').decode()[:60]!r}") from None
        if "\x00" in a:
            raise LaunchError(f"launch command argument {i + 1} contains a NUL byte")
    if argv and (" " in argv[0].strip() or "\n" in argv[0]):
        # the command (or its start) given as one quoted string; anything after it stays as given
        argv = split_command(argv[0]) + argv[1:]
    if not argv or not any(a.strip() for a in argv):
        raise LaunchError("empty launch command after '--'; give e.g. -- sglang serve --model-path /models/Qwen3-Embedding-0.6B --is-embedding")
    return argv


_OPS = set("();<>|&")
_REDIRECTS = {">", ">>", "<", ">&", "&>", "&>>", "<&", ">|", "<>"}


def split_command(text: str) -> list[str]:
    """shlex-split one command string; line continuations are joined first.

    A string pasted from a shell script may hold operators (`cd /app && python -m sglang.launch_server ... > log
    2>&1 &`): then the simple command that starts the server is kept, without its redirections.
    """
    text = re.sub(r"\\\r?\n", " ", text)
    try:
        plain = shlex.split(text, comments=False, posix=True)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise LaunchError(f"cannot split launch command: {str(exc).lower()} (check the quotes)") from None
    if not any(ch in text for ch in _OPS):
        return plain
    # an fd number written against a redirection (`2>&1`, `1>>log`) belongs to the redirection
    lex = shlex.shlex(re.sub(r"(?<=\s)[012](?=[<>])", "", text), posix=True, punctuation_chars="".join(sorted(_OPS)))
    lex.whitespace_split = True
    try:
        toks = list(lex)
    except ValueError:
        return plain
    commands: list[list[str]] = []
    cur: list[str] = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok and set(tok) <= _OPS:
            if tok in _REDIRECTS:  # drop the redirection and its target
                i += 2
                continue
            if cur:
                commands.append(cur)
            cur = []
            i += 1
            continue
        cur.append(tok)
        i += 1
    if cur:
        commands.append(cur)
    for cmd in commands:
        if _find_launcher(cmd, 0) is not None or _container_run(cmd, 0):
            return cmd
    return plain


_RUNTIMES = ("docker", "podman", "nerdctl")


def _container_run(argv: Sequence[str], start: int) -> bool:
    """Whether argv is a docker/podman/nerdctl run line (cheap test first: containers is imported only then)."""
    if not any(os.path.basename(t) in _RUNTIMES for t in argv[start : start + 24]):
        return False
    from .containers import is_run_line

    return is_run_line(argv, start)


def split_launch(argv: Sequence[str], server_hint: str | None = None) -> LaunchCommand:
    """Find the launcher in argv (wherever wrappers put it) and split env, prefix and server args."""
    argv = check_argv(argv)
    env: list[tuple[str, str]] = []
    i = 0
    # env prefix: `env [-i] [-u NAME] A=B ...` and bare `A=B` assignments
    while i < len(argv):
        tok = argv[i]
        if os.path.basename(tok) == "env":  # env [-i] [-u NAME] A=B ... COMMAND
            i += 1
            while i < len(argv) and argv[i].startswith("-"):
                i += 2 if argv[i] in ("-u", "--unset", "-C", "--chdir", "-S") else 1
            continue
        if _ENV_ASSIGN.match(tok):
            k, v = tok.split("=", 1)
            env.append((k, v))
            i += 1
            continue
        break
    if any(os.path.basename(t) in _RUNTIMES for t in argv[i : i + 24]):
        from .containers import launch_from_run, parse_run

        run = parse_run(argv, i, dict(env))
        if run is not None:
            return launch_from_run(argv, env, run, server_hint, i)
    found = _find_launcher(argv, i)
    if found is None:
        if server_hint in SERVERS:
            # Bare server arguments (no launcher), e.g. a compose `command:` for an image whose entrypoint is the server.
            launcher = {"sglang": "python -m sglang.launch_server", "vllm": "vllm serve", "tei": "text-embeddings-router"}[server_hint]
            return LaunchCommand(tuple(argv), tuple(env), tuple(argv[:i]), launcher, server_hint, tuple(argv[i:]))
        shown = re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group(0))[1:-1], shlex.join(redact_argv(argv)))
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise LaunchError(
            f"not a known server launch command: {shown} (expected sglang serve, python -m sglang.launch_server, vllm serve, python -m vllm.entrypoints.openai.api_server, text-embeddings-router, or a docker/podman/nerdctl run line that starts one)"
        )
    start, end, server, launcher = found
    return LaunchCommand(tuple(argv), tuple(env), tuple(argv[i:end]), launcher, server, tuple(argv[end:]))


def _find_launcher(argv: Sequence[str], start: int) -> tuple[int, int, str, str] | None:
    for j in range(start, len(argv)):
        tok = argv[j]
        base = os.path.basename(tok)
        if base in ("sglang", "vllm") and j + 1 < len(argv) and argv[j + 1] == "serve":
            return j, j + 2, base, f"{base} serve"
        if base == "text-embeddings-router":
            return j, j + 1, "tei", "text-embeddings-router"
        if tok == "-m" and j + 1 < len(argv) and argv[j + 1] in _MODULES:
            server, launcher = _MODULES[argv[j + 1]]
            end = j + 2
            if argv[j + 1].endswith("cli.main") and end < len(argv) and argv[end] == "serve":
                end += 1
                launcher += " serve"
            return j, end, server, launcher
        if tok.startswith("-m") and tok[2:] in _MODULES:  # python -msglang.launch_server
            server, launcher = _MODULES[tok[2:]]
            return j, j + 1, server, launcher
    return None


# --------------------------------------------------------------------------------------------
# argparse semantics


def _looks_like_option(tok: str) -> bool:
    if not tok.startswith("-") or tok == "-":
        return False
    if re.match(r"^-\d+$|^-\d*\.\d+$", tok):  # negative numbers are values (no option looks like one)
        return False
    return True


def _resolve(tok: str, table: FlagTable, server: str) -> tuple[FlagSpec | None, str, str | None, str, ParseIssue | None]:
    """Resolve an option token. Returns (spec, canonical, explicit_value, kind, issue)."""
    opt, eq, val = tok.partition("=")
    explicit = val if eq else None
    kind = "exact"
    if server == "vllm" and opt.startswith("--") and "_" in opt:  # FlexibleArgumentParser rewrites _ to -
        opt = opt.replace("_", "-")
        kind = "underscore"
    spec = table.lookup(opt)
    if spec is not None:
        return spec, opt, explicit, kind, None
    if opt.startswith("--") and getattr(table, "allow_abbrev", True):
        matches = table.prefix_matches(opt)
        if len(matches) == 1:
            spec = table.lookup(matches[0])
            issue = ParseIssue(
                "abbrev", tok.partition("=")[0], -1, f"'{opt}' is accepted only as an abbreviation of '{matches[0]}'", False, (matches[0],), matches[0]
            )
            return spec, matches[0], explicit, "abbrev", issue
        if len(matches) > 1:
            issue = ParseIssue(
                "ambiguous", opt, -1, f"ambiguous option: {opt} could match {', '.join(matches[:6])}{' ...' if len(matches) > 6 else ''}", True, tuple(matches)
            )
            return None, opt, explicit, "ambiguous", issue
    elif len(opt) > 2 and not opt.startswith("--"):
        short = table.lookup(opt[:2])
        if short is not None and short.nargs != 0:  # -p8080
            return short, opt[:2], opt[2:], "exact", None
    issue = ParseIssue("unknown", opt, -1, f"unrecognized argument: {opt}", True, tuple(did_you_mean(opt, table)))
    return None, opt, explicit, "unknown", issue


# Size suffixes of human_readable_int, as each server's parser reads them (case-sensitive):
# SGLang: k/M/G/T powers of 1000, Ki/Mi/Gi/Ti powers of 1024 ("32K" is invalid);
# vLLM: lower case powers of 1000, upper case powers of 1024 ("1k" = 1000, "1K" = 1024).
_SUFFIXES = {
    "sglang": {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40},
    "vllm": {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40},
}


def _convert(spec: FlagSpec, raw: str, server: str = "sglang") -> tuple[Any, str | None]:
    t = (spec.type or "").lower()
    try:
        if t in ("int",):
            return int(raw), None
        if t in ("float",):
            return float(raw), None
        if "human_readable_int" in t:
            if t.endswith("or_auto") and raw.strip() in ("auto", "-1"):
                return raw.strip(), None
            m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", raw)
            table = _SUFFIXES.get(server, _SUFFIXES["sglang"])
            if not m or m.group(2) not in table:
                raise ValueError(raw)
            return int(float(m.group(1)) * table[m.group(2)]), None
    except ValueError:
        return raw, f"invalid {t} value: {raw!r}"
    return raw, None


def parse_args(launch: LaunchCommand, table: FlagTable) -> LaunchCommand:
    """Parse launch.args against table like argparse (allow_abbrev=True) and return a copy with ``parsed``."""
    args = list(launch.args)
    values: dict[str, Any] = {}
    occs: list[Occurrence] = []
    issues: list[ParseIssue] = []
    positionals: list[tuple[int, str]] = []
    i = 0
    after_dd = False
    while i < len(args):
        tok = args[i]
        if not after_dd and tok == "--":
            after_dd = True
            i += 1
            continue
        if after_dd or not _looks_like_option(tok):
            positionals.append((i, tok))
            i += 1
            continue
        spec, canonical, explicit, kind, issue = _resolve(tok, table, launch.server)
        if issue is not None:
            issues.append(replace(issue, index=i))
        if spec is None:
            # unknown/ambiguous: argparse lists it as unrecognized. A following bare token is the option's value (never
            # the model or a positional), unless the option is a switch in another release of this server, or the token
            # names the model where no model is given otherwise (`vllm serve --embedding Qwen/Qwen3-Embedding-0.6B`).
            i += 1
            pos_open = _positional_for(launch, table) is not None and not positionals and (launch.server != "sglang" or i == 1)
            if explicit is None and i < len(args) and not _looks_like_option(args[i]) and _unknown_takes(launch, table, issue, args, i, pos_open):
                i += 1
            continue
        start = i
        i += 1
        nargs = spec.nargs
        value: Any
        if nargs == 0:
            if explicit is not None:
                issues.append(ParseIssue("bad-value", canonical, start, f"argument {canonical}: ignored explicit argument {explicit!r}", True))
            value = not canonical.startswith("--no-")
        elif nargs in (1, None, "?"):
            if explicit is not None:
                raw = explicit
            elif i < len(args) and not _looks_like_option(args[i]):
                raw = args[i]
                i += 1
            elif nargs == "?":
                raw = None
            else:
                issues.append(ParseIssue("missing-value", canonical, start, f"argument {canonical}: expected one argument", True))
                raw = None
            value = raw
            if raw is not None:
                value, err = _convert(spec, raw, launch.server)
                if err:
                    issues.append(ParseIssue("bad-type", canonical, start, f"argument {canonical}: {err}", True))
                if spec.choices and raw not in spec.choices and not err:
                    issues.append(
                        ParseIssue(
                            "bad-choice",
                            canonical,
                            start,
                            f"argument {canonical}: invalid choice: {raw!r} (choose from {', '.join(spec.choices)})",
                            True,
                            tuple(spec.choices),
                        )
                    )
        else:  # "*", "+", int
            vals: list[str] = [] if explicit is None else [explicit]
            limit = nargs if isinstance(nargs, int) else None
            while i < len(args) and not _looks_like_option(args[i]) and (limit is None or len(vals) < limit):
                vals.append(args[i])
                i += 1
            if (nargs == "+" and not vals) or (isinstance(nargs, int) and len(vals) != nargs):
                issues.append(
                    ParseIssue(
                        "missing-value",
                        canonical,
                        start,
                        f"argument {canonical}: expected {'at least one argument' if nargs == '+' else f'{nargs} arguments'}",
                        True,
                    )
                )
            value = vals
        if spec.deprecated:
            issues.append(ParseIssue("deprecated", canonical, start, f"{canonical} is deprecated in {table.server} {table.version}", False, resolved=canonical))
        if spec.dest:
            values[spec.dest] = value
        occs.append(Occurrence(start, i - start, tok.partition("=")[0], canonical, spec.dest, value, kind))
    # positionals
    pos_name = _positional_for(launch, table)
    for n, (idx, tok) in enumerate(positionals):
        # `sglang serve MODEL` counts the model as positional only right after `serve` (_normalize_positional_model_path)
        if n == 0 and pos_name and (launch.server != "sglang" or idx == 0):
            values[pos_name] = tok
            occs.append(Occurrence(idx, 1, "", None, pos_name, tok, "positional"))
        else:
            issues.append(ParseIssue("extra-positional", tok, idx, f"unrecognized arguments: {tok}", True))
    parsed = ParsedArgs(table.server, table.version, MappingProxyType(values), tuple(occs), tuple(issues))
    return replace(launch, parsed=parsed)


_MODEL_DESTS = ("model", "model_path", "model_id", "model_tag")


def _unknown_takes(launch: LaunchCommand, table: FlagTable, issue: ParseIssue | None, args: Sequence[str], i: int, pos_open: bool) -> bool:
    """Whether the bare token args[i] after an unknown (or ambiguous) option is that option's value."""
    written = issue.written if issue is not None else ""
    if issue is not None and issue.kind == "ambiguous" and issue.candidates:
        specs = [table.lookup(c) for c in issue.candidates]
        if all(sp is not None and sp.nargs == 0 for sp in specs):
            return False
        return True
    nargs = _nargs_elsewhere(launch.server, written)
    if nargs is not None:
        return nargs != 0
    if not pos_open:
        return True
    model_given = any((sp := table.lookup(tok.partition("=")[0])) is not None and sp.dest in _MODEL_DESTS for tok in args if tok.startswith("-"))
    tok = args[i]
    looks_like_model = "/" in tok or tok.startswith((".", "~"))
    return model_given or not looks_like_model


def _nargs_elsewhere(server: str, opt: str) -> int | str | None:
    """nargs of ``opt`` in the newest release of ``server`` that has it (None: no known release has it)."""
    if not opt.startswith("-"):
        return None
    from .flags import load_table, table_versions

    try:
        versions = table_versions(server)
    except ValueError:
        return None
    for v in reversed(versions):
        spec = load_table(server, v)[0].lookup(opt)
        if spec is not None:
            return spec.nargs
    return None


def _positional_for(launch: LaunchCommand, table: FlagTable) -> str | None:
    """The positional model argument this launcher accepts, as a dest name."""
    if launch.server == "vllm":
        return "model_tag" if launch.launcher.endswith("serve") else None
    if launch.server == "sglang":
        # `sglang serve <model>` rewrites a leading positional to --model-path since 0.5.16
        return "model_path" if launch.launcher == "sglang serve" and table.positional else None
    return None


def model_from(launch: LaunchCommand) -> str | None:
    """The model path/ID the launch command serves, as the server will see it."""
    if launch.parsed is None:
        return None
    v = launch.parsed.values
    if launch.server == "sglang":
        return v.get("model_path")
    if launch.server == "vllm":
        return v.get("model_tag") or v.get("model")
    if launch.server == "tei":
        return v.get("model_id")
    return None
