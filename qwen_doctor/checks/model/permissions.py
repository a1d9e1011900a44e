"""model.permissions: the server's user can read every file the server reads in the model directory."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...results import Applicability, Fix, Outcome
from ...spec import check
from ...users import UserSpec, may, owner_names, resolve_user
from ._common import applies_model, model_dir, model_key, shq, tok_location

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

_SERVER_SUFFIXES = (".json", ".safetensors", ".model", ".jinja", ".tiktoken")


def server_files(d: Path) -> list[Path]:
    """Files in a model directory a server reads: config, tokenizer, weights, and the sentence-transformers module
    folders (``1_Pooling/`` ...). Hidden entries (.git, .cache) and docs are left out."""
    out: list[Path] = []
    try:
        entries = sorted(os.scandir(d), key=lambda e: e.name)
    except OSError:
        return out
    for e in entries:
        if e.name.startswith("."):
            continue
        try:
            is_dir = e.is_dir()
        except OSError:
            continue
        if is_dir:
            if re.match(r"^\d+_\w+$", e.name):
                try:
                    out.extend(Path(s.path) for s in sorted(os.scandir(e.path), key=lambda s: s.name) if not s.name.startswith(".") and s.is_file())
                except OSError:
                    pass
            continue
        if e.name.endswith(_SERVER_SUFFIXES) or e.name == "merges.txt" or re.match(r"^pytorch_model.*\.bin$", e.name):
            out.append(Path(e.path))
    return out


def _has_acl(p: Path) -> bool:
    try:
        os.getxattr(p, "system.posix_acl_access")
        return True
    except (OSError, AttributeError):
        return False


def _ancestors(p: Path) -> list[Path]:
    return list(reversed(p.parents))


def _problems(dirs: tuple[Path, ...], user: UserSpec) -> tuple[int, tuple[dict[str, Any], ...]]:
    """(files checked, the permissions ``user`` lacks): computed once per run for each set of directories and user."""
    files: list[Path] = []
    for d in dirs:
        files.extend(server_files(d))
    stats: dict[Path, os.stat_result | None] = {}

    def st_of(p: Path) -> os.stat_result | None:
        if p not in stats:
            try:
                stats[p] = p.stat()
            except OSError:
                stats[p] = None
        return stats[p]

    problems: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()

    def need(p: Path, want: int, what: str) -> None:
        key = (str(p), what)
        if key in seen:
            return
        seen.add(key)
        st = st_of(p)
        if st is None:
            return
        if user.current:
            if os.access(p, os.R_OK if want == 4 else (os.X_OK if want == 1 else os.R_OK | os.X_OK)):
                return
            _, cls = may(user, st, want)
        else:
            ok, cls = may(user, st, want)
            if ok:
                return
        problems.append(
            {
                "path": str(p),
                "missing": what,
                "mode": f"{stat.S_IMODE(st.st_mode):04o}",
                "owner": owner_names(st),
                "class": cls,
                "acl": _has_acl(p),
            }
        )

    for d in dirs:
        for a in _ancestors(d.resolve()) + ([] if d.resolve() == d.absolute() else _ancestors(d.absolute())):
            need(a, 1, "search (x) permission on the directory")
        need(d, 4 | 1, "read and search (r-x) permission on the model directory (the server lists it)")
    for f in files:
        for a in _ancestors(f.resolve()):
            need(a, 1, "search (x) permission on the directory")
        for a in _ancestors(f.absolute()):
            need(a, 1, "search (x) permission on the directory")
        need(f, 4, "read permission")
    return len(files), tuple(problems)


@check(
    "model.permissions",
    "Server's user can read the model files",
    applies=applies_model,
    requires=("model.directory",),
    reads=("model", "host"),
)
def check_permissions(ctx: "Context") -> Outcome:
    """What it checks: that the user the server runs as can read every file the server reads in the model directory
    (config, tokenizer, weights, sentence-transformers files) and search every directory on the way to them, from the
    mode bits, owner and groups. The user is `--as-user NAME|UID[:GROUP]`, else the owner of the running server process
    (when the doctor found one), else the current user.

    Why it matters: a model downloaded as root (mode 0600, or a 0700 cache directory) and served by an unprivileged
    user fails only at start-up, often deep in weight loading, with a PermissionError. A check run as root always reads
    everything, so name the server's user with --as-user. POSIX ACLs are not evaluated (a file with an ACL is reported
    as a warning to verify with getfacl).

    How to fix: grant the missing permission named for each file (e.g. `chmod o+r FILE`, `chmod o+x DIR`), or run the
    server as a user who owns the files. The doctor changes nothing itself.
    """
    t = ctx.target
    user = ctx.facts.once(("user", ctx.options.as_user, t.pid), lambda: resolve_user(ctx.options.as_user, t.pid))
    if isinstance(user, str):
        return Outcome.error(user)
    dirs, keys = [model_dir(ctx)], [model_key(ctx)]
    tdir, _, tkey = tok_location(ctx)
    if tdir != dirs[0]:
        dirs.append(tdir)
        keys.append(tkey)
    key = ("permissions", tuple(keys), tuple(str(d) for d in dirs), user)
    n_files, shared = ctx.facts.once(key, lambda: _problems(tuple(dirs), user))
    problems = [dict(p) for p in shared]
    who = f"{user.label}, {user.source})"
    ev: dict[str, Any] = {"user": who, "uid": user.uid, "gids": sorted(user.gids), "user_source": user.source, "files_checked": n_files}
    if not problems:
        root_note = (
            " (root reads everything; pass --as-user NAME for the user the server runs as)" if user.uid == 0 and user.source == "the current user" else ""
        )
        return Outcome.passed(f"{who} can read all {n_files} files the server reads{root_note}", **ev)
    cmds: dict[tuple[str, str], list[str]] = {}
    shown = []
    for pr in problems:
        cls = {"owner": "u", "group": "g", "other": "o"}.get(pr["class"], "o")
        bit = "r" if pr["missing"].startswith("read permission") else ("rx" if pr["missing"].startswith("read and") else "x")
        cmds.setdefault((cls, bit), []).append(pr["path"])
        shown.append(f"{pr['path']} ({pr['missing']}; mode {pr['mode']}, owner {pr['owner']}, the user falls in '{pr['class']}')")
    commands = tuple(f"chmod {cls}+{bit} " + " ".join(shq(p) for p in paths) for (cls, bit), paths in cmds.items())
    fix = Fix(
        f"Grant {user.label}) the missing permissions (or run the server as the files' owner); the doctor changes nothing itself.",
        commands=commands,
        applicability=Applicability.UNSAFE,
    )
    n = len(problems)
    summary = f"{who} lacks {n} permission{'s' if n > 1 else ''} the server needs: " + "; ".join(shown[:3]) + (f"; and {n - 3} more" if n > 3 else "")
    ev["problems"] = problems
    acl = sum(1 for p in problems if p["acl"])
    if acl and acl == n:
        return Outcome.warn(summary + " — but these have POSIX ACLs, which may grant it: verify with getfacl", fix, **ev)
    return Outcome.fail(summary, fix, **ev)
