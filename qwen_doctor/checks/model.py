"""Model directory and tokenizer checks (``model.*``, ``tokenizer.*``), on the real files.

Everything here is read-only and stdlib-only at import time. Weights are judged from their safetensors
headers (no tensor is loaded); the tokenizer is loaded by transformers in a bounded, offline child process
(:mod:`qwen_doctor.tokenizer_tools`), once per target (once for all targets whose tokenizer files are
identical), shared by the tokenizer.* checks through ``ctx.memo``.

Facts: shared/reference/vllm-tei-qwen3.md (A: files, config, tokenizer, pooling, prompts; B.2 vLLM
auto-detection; C.4 TEI truncation), sglang.md section 6 (input length), pitfalls.md (#4, #5, #7).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..results import Applicability, Fix, Outcome, Status
from ..modelfiles import VARIANTS, derived_context_length, looks_like_hub_id, variant_of

if TYPE_CHECKING:  # pragma: no cover
    from ..context import Context
    from ..registry import Registry
    from ..target import Target

#: the tokenizer.load check's timeout; the loading child process is stopped 5 s before it
TOKENIZER_TIMEOUT_S = 60.0

QWEN3_ARCHS = ("Qwen3ForCausalLM", "Qwen3Model")
ENDOFTEXT = "<|endoftext|>"
REAL_ENDOFTEXT_ID = 151643
REAL_TEST_IDS = [1944, 151643]
REAL_VOCAB_TOKENS = 151669  # len() of the real Qwen3 tokenizer (151643 BPE tokens + 26 added)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json", "added_tokens.json")
ST_FILES = ("modules.json", "1_Pooling/config.json", "config_sentence_transformers.json")
SGLANG_SCHED_MARGIN = 6  # scheduler limit: min(context_len - 1, kv_pool - 1) - 5 = context_len - 6
SHOW = 5  # items named in a summary before "and N more"


# ============================================================================================
# where the model is


@dataclass(frozen=True)
class ModelLocation:
    written: str  # the model path as given
    directory: Path | None  # the local directory to examine
    how: str  # how it was found
    hub_id: bool = False
    searched: tuple[str, ...] = ()


def _env(t: "Target", name: str, inherit: bool = True) -> str | None:
    """A variable from the launch command's environment, else (``inherit``) the doctor's own (HF cache locations
    are usually the same for both; server settings such as TEI's MAX_BATCH_TOKENS are not taken from the doctor's)."""
    v = t.env.get(name) if t.env else None
    return v if v else (os.environ.get(name) or None if inherit else None)


def hf_cache_roots(t: "Target") -> list[Path]:
    """Hub caches the server would use: TEI --huggingface-hub-cache, HF_HUB_CACHE, HF_HOME/hub, the default."""
    roots: list[Path] = []
    opt = t.option("huggingface_hub_cache") if t.server == "tei" else (t.option("download_dir") if t.server == "vllm" else None)
    for cand in (
        opt,
        _env(t, "HF_HUB_CACHE"),
        _env(t, "HUGGINGFACE_HUB_CACHE"),
        (_env(t, "HF_HOME") and os.path.join(_env(t, "HF_HOME") or "", "hub")),
        (_env(t, "XDG_CACHE_HOME") and os.path.join(_env(t, "XDG_CACHE_HOME") or "", "huggingface", "hub")),
        os.path.join(os.path.expanduser("~"), ".cache", "huggingface", "hub"),
    ):
        if cand and isinstance(cand, str):
            p = Path(os.path.expanduser(cand))
            if p not in roots:
                roots.append(p)
    return roots


def _snapshot(root: Path, repo_id: str, revision: str | None) -> Path | None:
    base = root / ("models--" + repo_id.replace("/", "--"))
    try:
        if not base.is_dir():
            return None
        rev = revision or "main"
        if re.fullmatch(r"[0-9a-f]{40}", rev):
            snap = base / "snapshots" / rev
            return snap if snap.is_dir() else None
        ref = base / "refs" / rev
        if ref.is_file() and ref.stat().st_size < 256:
            sha = ref.read_text(encoding="ascii", errors="replace").strip()
            snap = base / "snapshots" / sha
            if snap.is_dir():
                return snap
        return None
    except OSError:
        return None


def locate(t: "Target", model: str | None = None) -> ModelLocation:
    """The local directory behind a model path: the directory itself, or a Hugging Face cache snapshot of a repo id."""
    written = model if model is not None else (t.model_path or "")
    p = Path(os.path.expanduser(written))
    try:
        if p.is_dir():
            return ModelLocation(written, p, "local directory")
    except OSError:
        pass
    if looks_like_hub_id(written):
        rev = t.option("revision") if t.server in ("vllm", "tei", "sglang") else None
        roots = hf_cache_roots(t)
        for root in roots:
            snap = _snapshot(root, written, rev if isinstance(rev, str) else None)
            if snap is not None:
                return ModelLocation(written, snap, f"Hugging Face cache snapshot {snap.name[:12]} in {root}", True, tuple(map(str, roots)))
        return ModelLocation(written, None, "not downloaded", True, tuple(map(str, roots)))
    return ModelLocation(written, None, "missing")


def _tokenizer_written(t: "Target") -> str | None:
    """--tokenizer-path (SGLang) / --tokenizer (vLLM) when it names something else than the model."""
    dest = {"sglang": "tokenizer_path", "vllm": "tokenizer"}.get(t.server or "")
    if dest and t.given(dest):
        v = t.option(dest)
        if isinstance(v, str) and v and v.rstrip("/") != (t.model_path or "").rstrip("/"):
            return v
    return None


def _applies_model(t: "Target") -> bool | str:
    if not t.model_path:
        return "no model path known: give --model-path DIR or a launch command"
    loc = locate(t)
    if loc.directory is None and loc.hub_id:
        return (
            f"{t.model_path} is a Hugging Face repo id with no local copy here (not in {', '.join(loc.searched[:3])}): "
            f"the server downloads it at start-up; to check the files, download them "
            f"(hf download {t.model_path} --local-dir DIR) and pass --model-path DIR"
        )
    return True


def _applies_tokenizer(t: "Target") -> bool | str:
    ok = _applies_model(t)
    if ok is not True:
        return ok
    tw = _tokenizer_written(t)
    if tw is not None:
        loc = locate(t, tw)
        if loc.directory is None and loc.hub_id:
            opt = "--tokenizer-path" if t.server == "sglang" else "--tokenizer"
            return f"the tokenizer comes from {opt} {tw}, a Hugging Face repo id with no local copy here"
    return True


def _loc(ctx: "Context") -> ModelLocation:
    return ctx.memo("model.location", lambda: locate(ctx.target))


def _dir(ctx: "Context") -> Path:
    loc = _loc(ctx)
    assert loc.directory is not None  # guaranteed by depends_on model.directory
    return loc.directory


def _tok_dir(ctx: "Context") -> tuple[Path, str]:
    """(tokenizer directory, where it comes from)."""
    tw = _tokenizer_written(ctx.target)
    if tw is not None:
        loc = ctx.memo("tokenizer.location", lambda: locate(ctx.target, tw))
        if loc.directory is not None:
            opt = "--tokenizer-path" if ctx.target.server == "sglang" else "--tokenizer"
            return loc.directory, f"{opt} {tw}"
    return _dir(ctx), "the model directory"


def _is_regular(p: Path) -> bool:
    try:
        return stat.S_ISREG(p.stat().st_mode)
    except OSError:
        return False


def _hf_repo(ctx: "Context") -> str | None:
    """The upstream repo for this model, when the variant is known."""
    cfg, _ = _config(ctx)
    v = variant_of(cfg) if cfg else None
    if ctx.target.model_path and looks_like_hub_id(ctx.target.model_path) and ctx.target.model_path.startswith("Qwen/"):
        return ctx.target.model_path
    return f"Qwen/Qwen3-Embedding-{v}" if v else None


def _download(ctx: "Context", d: Path, files: Iterable[str] = ()) -> tuple[str, tuple[str, ...]]:
    """(where to take files from, the command that downloads them); no command when the upstream repo is unknown
    (a fine-tune or another model: the doctor does not guess its repository)."""
    repo = _hf_repo(ctx)
    if repo is None:
        return "the model's repository", ()
    names = " ".join(files)
    return repo, (f"hf download {repo} {names + ' ' if names else ''}--local-dir {_shq(str(d))}",)


def _more(items: list[str], n: int = SHOW) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


# ============================================================================================
# config.json


def _read_json_file(p: Path) -> tuple[Any, str | None]:
    import json

    from ..safetensors_header import lfs_pointer

    if not p.exists():
        return None, f"{p.name} is missing"
    if not _is_regular(p):
        return None, f"{p.name} is not a regular file"
    ptr = lfs_pointer(p)
    if ptr is not None:
        return None, f"{p.name} is a git-LFS pointer, not the file (run git lfs pull)"
    try:
        with open(p, encoding="utf-8") as fh:
            return json.load(fh), None
    except PermissionError:
        return None, f"{p.name} is not readable by the doctor's user"
    except UnicodeDecodeError as exc:
        return None, f"{p.name} is not UTF-8 text (byte {exc.start})"
    except ValueError as exc:
        msg = getattr(exc, "msg", str(exc))
        where = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
        return None, f"{p.name} is not valid JSON: {msg}{where}"
    except OSError as exc:
        return None, f"{p.name} cannot be read: {exc.strerror or exc}"


def _config(ctx: "Context") -> tuple[dict | None, str | None]:
    def load() -> tuple[dict | None, str | None]:
        loc = _loc(ctx)
        if loc.directory is None:
            return None, "no model directory"
        obj, err = _read_json_file(loc.directory / "config.json")
        if err:
            return None, err
        if not isinstance(obj, dict):
            return None, "config.json is not a JSON object"
        return obj, None

    return ctx.memo("model.config.json", load)


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _serving_dtype(t: "Target", cfg_dtype: str | None) -> tuple[str | None, str]:
    """(dtype the server computes in, where that comes from)."""
    if t.server in ("sglang", "vllm"):
        v = t.option("dtype")
        if t.given("dtype") and isinstance(v, str) and v != "auto":
            return {"half": "float16", "bf16": "bfloat16", "float": "float32"}.get(v, v), "--dtype"
        return cfg_dtype, "config.json (the server's --dtype auto)"
    if t.server == "tei":
        v = t.option("dtype") if t.given("dtype") else _env(t, "DTYPE", inherit=False)
        if isinstance(v, str) and v:
            return v, "--dtype"
        return "float16", "TEI's default on CUDA (float32 on CPU builds)"
    return cfg_dtype, "config.json"


# ============================================================================================
# checks: the directory


def check_directory(ctx: "Context") -> Outcome:
    """What it checks: the model path exists here and is a non-empty directory (a local path, or a Hugging Face repo id
    whose snapshot is in the local hub cache, which is where the server would take it from).

    Why it matters: a wrong path is found only after the server has started, and a repo id the server must download
    makes start-up depend on the network. A Hugging Face repo id with no local copy is skipped with a note: its files
    cannot be checked before the server downloads them.

    How to fix: point --model-path (or the launch command) at the directory holding config.json, the weights and the
    tokenizer; if the server runs in a container, run the doctor where that directory is mounted.
    """
    t = ctx.target
    loc = _loc(ctx)
    written = loc.written
    if loc.directory is None:
        p = Path(os.path.expanduser(written))
        try:
            st = p.stat()
        except FileNotFoundError:
            dangling = p.is_symlink()
            what = f"a dangling symlink (to {os.readlink(p)})" if dangling else "does not exist on this machine"
            if not dangling and t.extra.get("deploy_kind") in ("compose", "kubernetes"):
                # a path inside the container's volume: not a defect of this machine
                return Outcome.skip(
                    f"model path {written} is inside the {t.extra['deploy_kind']} container, not on this machine; "
                    "pass --model-path with a local copy of the same files to check them",
                    model_path=written,
                )
            return Outcome.fail(
                f"model path {written} {what}: the server will fail at start-up",
                Fix("Check the path. If the server runs in a container, run the doctor where the model is mounted, or pass --model-path with the host path of the same files."),
                model_path=written,
            )
        except PermissionError:
            return Outcome.fail(f"model path {written} cannot be reached: a parent directory denies access to the doctor's user", Fix("Run the doctor as the user the server runs as, or fix the directory permissions."), model_path=written)
        except OSError as exc:
            return Outcome.fail(f"model path {written} cannot be read: {exc.strerror or exc}", model_path=written)
        if not stat.S_ISDIR(st.st_mode):
            return Outcome.fail(
                f"model path {written} is a file, not a directory: the servers expect the directory holding config.json, the weights and the tokenizer",
                Fix(f"Pass the directory instead: --model-path {os.path.dirname(os.path.abspath(p)) or '/'}"),
                model_path=written,
            )
        return Outcome.fail(f"model path {written} is not usable", model_path=written)
    d = loc.directory
    try:
        names = sorted(os.listdir(d))
    except PermissionError:
        return Outcome.fail(f"{d} cannot be listed by the doctor's user (no read permission on the directory)", Fix(f"Run the doctor as the server's user, or: chmod a+rx {d}"), model_dir=str(d))
    except OSError as exc:
        return Outcome.fail(f"{d} cannot be listed: {exc.strerror or exc}", model_dir=str(d))
    visible = [n for n in names if not n.startswith(".")]
    if not visible:
        return Outcome.fail(f"{d} is empty: an interrupted download or the wrong directory", Fix("Download the model again into this directory (hf download Qwen/Qwen3-Embedding-0.6B --local-dir DIR)."), model_dir=str(d))
    extra = f" ({loc.how})" if loc.how != "local directory" else ""
    return Outcome.passed(f"{d} is a directory with {len(visible)} entries{extra}", model_dir=str(d), source=loc.how, entries=len(visible))


# ============================================================================================
# checks: permissions


@dataclass(frozen=True)
class UserSpec:
    label: str  # for messages, without the closing parenthesis: "user nobody (uid 65534"
    uid: int
    gids: frozenset[int]
    source: str  # --as-user | the server process | the current user
    current: bool = False  # the doctor's own user: os.access also sees ACLs and capabilities


def resolve_user(spec: str | None, pid: int | None = None) -> UserSpec | str:
    """The user the server runs as: ``--as-user NAME|UID[:GROUP|GID]``, else the owner of the running server process,
    else the doctor's user. Returns an error string for an unknown name."""
    import grp
    import pwd

    if spec:
        name, _, group = spec.partition(":")
        uid: int | None = None
        gids: set[int] = set()
        pw = None
        try:
            pw = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
        except KeyError:
            if not name.isdigit():
                return f"--as-user {spec}: no user named {name!r} on this machine"
        except (OverflowError, ValueError):
            return f"--as-user {spec}: not a user name or uid"
        uid = pw.pw_uid if pw else int(name)
        if pw is not None:
            try:
                gids.update(os.getgrouplist(pw.pw_name, pw.pw_gid))
            except (OSError, AttributeError):
                gids.add(pw.pw_gid)
        if group:
            try:
                gids.add(int(group) if group.isdigit() else grp.getgrnam(group).gr_gid)
            except KeyError:
                return f"--as-user {spec}: no group named {group!r} on this machine"
        label = f"user {pw.pw_name} (uid {uid}" if pw else f"uid {uid} (no passwd entry: only owner and 'other' bits count"
        return UserSpec(label, uid, frozenset(gids), "--as-user")
    if pid is not None:
        try:
            import psutil

            p = psutil.Process(pid)
            uid = p.uids().effective
            gids = {p.gids().effective}
            try:
                with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
                    for line in fh:
                        if line.startswith("Groups:"):
                            gids.update(int(x) for x in line.split()[1:] if x.isdigit())
            except OSError:
                pass
            try:
                name = pwd.getpwuid(uid).pw_name
            except KeyError:
                name = f"uid {uid}"
            return UserSpec(f"user {name} (uid {uid}", uid, frozenset(gids), f"the server process {pid}")
        except Exception:  # noqa: BLE001 - fall back to the current user
            pass
    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = f"uid {uid}"
    return UserSpec(f"user {name} (uid {uid}", uid, frozenset({os.getegid(), *os.getgroups()}), "the current user", current=True)


def _owner_names(st: os.stat_result) -> str:
    import grp
    import pwd

    try:
        u = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        u = str(st.st_uid)
    try:
        g = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        g = str(st.st_gid)
    return f"{u}:{g}"


def may(user: UserSpec, st: os.stat_result, want: int) -> tuple[bool, str]:
    """Whether ``user`` has the ``want`` bits (4 read, 1 search/execute) on a file with ``st``, from its mode bits, owner
    and group (the first matching class decides, as the kernel does), and which class applied."""
    if user.uid == 0:
        return True, "root"
    mode = st.st_mode
    if st.st_uid == user.uid:
        cls, bits = "owner", (mode >> 6) & 7
    elif st.st_gid in user.gids:
        cls, bits = "group", (mode >> 3) & 7
    else:
        cls, bits = "other", mode & 7
    return (bits & want) == want, cls


def _has_acl(p: Path) -> bool:
    try:
        os.getxattr(p, "system.posix_acl_access")
        return True
    except (OSError, AttributeError):
        return False


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


def _ancestors(p: Path) -> list[Path]:
    out = []
    for a in [*reversed(p.parents)]:
        out.append(a)
    return out


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
    user = resolve_user(ctx.options.as_user, t.pid)
    if isinstance(user, str):
        return Outcome.error(user)
    dirs = [_dir(ctx)]
    tdir, _ = _tok_dir(ctx)
    if tdir != dirs[0]:
        dirs.append(tdir)
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
    acl_notes: list[str] = []
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
            ok = os.access(p, os.R_OK if want == 4 else (os.X_OK if want == 1 else os.R_OK | os.X_OK))
            if ok:
                return
            _, cls = may(user, st, want)
        else:
            ok, cls = may(user, st, want)
            if ok:
                return
        acl = _has_acl(p)
        if acl:
            acl_notes.append(str(p))
        problems.append({
            "path": str(p),
            "missing": what,
            "mode": f"{stat.S_IMODE(st.st_mode):04o}",
            "owner": _owner_names(st),
            "class": cls,
            "acl": acl,
        })

    for d in dirs:
        for a in _ancestors(d.resolve()) + ([] if d.resolve() == d.absolute() else _ancestors(d.absolute())):
            need(a, 1, "search (x) permission on the directory")
        need(d, 4 | 1, "read and search (r-x) permission on the model directory (the server lists it)")
    for f in files:
        real = f.resolve()
        for a in _ancestors(real):
            need(a, 1, "search (x) permission on the directory")
        for a in _ancestors(f.absolute()):
            need(a, 1, "search (x) permission on the directory")
        need(f, 4, "read permission")
    who = f"{user.label}, {user.source})"
    ev = {"user": who, "uid": user.uid, "gids": sorted(user.gids), "user_source": user.source, "files_checked": len(files)}
    if not problems:
        root_note = " (root reads everything; pass --as-user NAME for the user the server runs as)" if user.uid == 0 and user.source == "the current user" else ""
        return Outcome.passed(f"{who} can read all {len(files)} files the server reads{root_note}", **ev)
    cmds: dict[tuple[str, str], list[str]] = {}
    shown = []
    for pr in problems:
        who = {"owner": "u", "group": "g", "other": "o"}.get(pr["class"], "o")
        bit = "r" if pr["missing"].startswith("read permission") else ("rx" if pr["missing"].startswith("read and") else "x")
        cmds.setdefault((who, bit), []).append(pr["path"])
        rel = pr["path"]
        shown.append(f"{rel} ({pr['missing']}; mode {pr['mode']}, owner {pr['owner']}, the user falls in '{pr['class']}')")
    commands = tuple(f"chmod {who}+{bit} " + " ".join(_shq(p) for p in paths) for (who, bit), paths in cmds.items())
    fix = Fix(
        f"Grant {user.label}) the missing permissions (or run the server as the files' owner); the doctor changes nothing itself.",
        commands=commands,
        applicability=Applicability.UNSAFE,
    )
    n = len(problems)
    summary = f"{who} lacks {n} permission{'s' if n > 1 else ''} the server needs: " + "; ".join(shown[:3]) + (f"; and {n - 3} more" if n > 3 else "")
    ev["problems"] = problems
    if acl_notes and len(acl_notes) == n:
        return Outcome.warn(summary + " — but these have POSIX ACLs, which may grant it: verify with getfacl", fix, **ev)
    return Outcome.fail(summary, fix, **ev)


def _shq(p: str) -> str:
    import shlex

    return shlex.quote(p)


# ============================================================================================
# checks: config.json


def check_config(ctx: "Context") -> Outcome:
    """What it checks: config.json parses; the architecture is Qwen3 (`Qwen3ForCausalLM`, as Qwen3-Embedding declares,
    or `Qwen3Model`); the variant from hidden_size and num_hidden_layers (0.6B: 1024/28, 4B: 2560/36, 8B: 4096/36),
    which gives the embedding dimension; and the dtype the server will compute in.

    Why it matters: every server reads config.json first. A size that matches no Qwen3-Embedding variant is a
    fine-tune or another model: dimensions and memory differ from the published ones. The 8B model gives NaN vectors
    for some inputs in float16 (QwenLM/Qwen3-Embedding#164); bfloat16 or float32 are fine. TEI's CUDA default is
    float16 and it has no bfloat16 for Qwen3, so TEI needs `--dtype float32` for the 8B.

    How to fix: re-download config.json from the model repo if it does not parse; serve the 8B in bfloat16
    (`--dtype bfloat16` on SGLang/vLLM) or float32 (`--dtype float32` on TEI).
    """
    t = ctx.target
    cfg, err = _config(ctx)
    if err or cfg is None:
        return Outcome.fail(f"{err}: every server reads config.json first and stops without it", Fix("Take config.json from the model's repository (e.g. hf download Qwen/Qwen3-Embedding-0.6B config.json --local-dir DIR)."))
    archs = cfg.get("architectures") if isinstance(cfg.get("architectures"), list) else []
    hidden = _int(cfg.get("hidden_size"))
    layers = _int(cfg.get("num_hidden_layers"))
    heads = _int(cfg.get("num_attention_heads"))
    head_dim = _int(cfg.get("head_dim")) or (hidden // heads if hidden and heads else None)
    variant = variant_of(cfg)
    cfg_dtype = cfg.get("torch_dtype") or cfg.get("dtype")
    cfg_dtype = cfg_dtype if isinstance(cfg_dtype, str) else None
    ev: dict[str, Any] = {
        "variant": variant,
        "embedding_dim": hidden,
        "max_position_embeddings": _int(cfg.get("max_position_embeddings")),
        "architectures": archs,
        "torch_dtype": cfg_dtype,
        "num_key_value_heads": _int(cfg.get("num_key_value_heads")),
        "head_dim": head_dim,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "vocab_size": _int(cfg.get("vocab_size")),
        "model_type": cfg.get("model_type"),
        "context_length": derived_context_length(cfg),
    }
    warns: list[str] = []
    fixes: list[str] = []
    missing = [k for k in ("hidden_size", "num_hidden_layers", "max_position_embeddings") if _int(cfg.get(k)) is None]
    if missing:
        return Outcome.fail(f"config.json lacks {', '.join(missing)}: not a complete transformer config", Fix("Take config.json from the model's repository."), **ev)
    if not any(a in QWEN3_ARCHS for a in archs):
        warns.append(f"architectures {archs or '(none)'} is not Qwen3 (Qwen3-Embedding declares Qwen3ForCausalLM): the doctor's Qwen3-Embedding facts may not apply")
    elif cfg.get("model_type") not in (None, "qwen3"):
        warns.append(f"model_type {cfg.get('model_type')!r} is not 'qwen3'")
    if variant is None:
        sizes = ", ".join(f"{v}: {h}/{n}" for (h, n), v in VARIANTS.items())
        warns.append(f"hidden_size {hidden} / num_hidden_layers {layers} match no Qwen3-Embedding size ({sizes}): a fine-tune or another model; its embedding dimension is {hidden}")
    serving, src = _serving_dtype(t, cfg_dtype)
    ev["serving_dtype"] = serving
    if variant == "8B" and serving in ("float16", "half", "fp16"):
        warns.append(f"the 8B model in float16 ({src}) gives NaN vectors for some inputs (QwenLM/Qwen3-Embedding#164)")
        fixes.append("Serve the 8B in float32 on TEI (--dtype float32; TEI has no bfloat16 for Qwen3)" if t.server == "tei" else "Serve the 8B in bfloat16 (--dtype bfloat16) or float32")
    desc = f"{'/'.join(a for a in archs if a) or 'no architectures'}, {variant or 'unknown size'} (hidden {hidden}, {layers} layers), embedding dimension {hidden}, {ev['max_position_embeddings']} positions, {cfg_dtype or 'dtype unset'}"
    if warns:
        fix = Fix("; ".join(fixes) + "." if fixes else "If this is a fine-tune, pass --expect-dim with its dimension; otherwise take config.json from the model repository.")
        return Outcome.warn("; ".join(warns) + f" ({desc})", fix, **ev)
    return Outcome.passed(desc, **ev)


# ============================================================================================
# checks: weights


@dataclass
class _WeightScan:
    files: list[str] = field(default_factory=list)
    headers: list[Any] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)  # lfs | truncated | missing | corrupt | unreadable | mismatch
    broken: list[str] = field(default_factory=list)  # files to download again
    index: Any = None


def _scan_weights(d: Path) -> _WeightScan:
    from ..safetensors_header import INDEX_NAME, SINGLE_NAME, HeaderError, human_bytes, lfs_pointer, read_header, read_index

    scan = _WeightScan()
    idx_path = d / INDEX_NAME
    if idx_path.exists():
        ptr = lfs_pointer(idx_path) if _is_regular(idx_path) else None
        if ptr is not None:
            scan.problems.append(f"{INDEX_NAME}: this is an LFS pointer; run git lfs pull")
            scan.kinds.add("lfs")
            return scan
        try:
            scan.index = read_index(idx_path)
        except (HeaderError, OSError) as exc:
            scan.problems.append(f"{INDEX_NAME}: {exc}")
            scan.kinds.add("corrupt")
            return scan
        names = list(scan.index.shards)
    elif (d / SINGLE_NAME).exists() or (d / SINGLE_NAME).is_symlink():
        names = [SINGLE_NAME]
    else:
        names = sorted(p.name for p in d.glob("*.safetensors"))
    scan.files = names
    for name in names:
        p = d / name
        if not p.exists():
            scan.problems.append(f"{name} is missing" + (f" (named by {INDEX_NAME})" if scan.index else ""))
            scan.kinds.add("missing")
            scan.broken.append(name)
            continue
        if not _is_regular(p):
            scan.problems.append(f"{name} is not a regular file")
            scan.kinds.add("corrupt")
            continue
        ptr = lfs_pointer(p)
        if ptr is not None:
            real = f" {human_bytes(ptr.size)}" if ptr.size else ""
            scan.problems.append(f"{name}: this is an LFS pointer; run git lfs pull (the real file is{real or ' not here'})")
            scan.kinds.add("lfs")
            continue
        try:
            h = read_header(p)
        except PermissionError:
            scan.problems.append(f"{name} cannot be read by the doctor's user")
            scan.kinds.add("unreadable")
            continue
        except (HeaderError, OSError) as exc:
            msg = str(exc)
            scan.problems.append(msg if msg.startswith(name) else f"{name}: {msg}")
            scan.kinds.add("truncated" if "truncated" in msg else "corrupt")
            scan.broken.append(name)
            continue
        if h.file_size < h.expected_size:
            scan.problems.append(f"{name} is truncated: its header declares {h.expected_size} bytes, the file has {h.file_size} ({100 * h.file_size / max(1, h.expected_size):.0f}%): an interrupted download")
            scan.kinds.add("truncated")
            scan.broken.append(name)
        elif h.file_size > h.expected_size:
            scan.problems.append(f"{name} has {h.file_size - h.expected_size} bytes after the data its header declares: corrupt (the safetensors loader refuses it)")
            scan.kinds.add("corrupt")
            scan.broken.append(name)
        scan.headers.append(h)
    if scan.index is not None and not scan.kinds & {"missing"}:
        held = {}
        for h in scan.headers:
            for tns in h.tensors:
                held[tns.name] = os.path.basename(h.path)
        absent = [k for k, f in scan.index.weight_map.items() if held.get(k) != f and any(os.path.basename(h.path) == f for h in scan.headers)]
        if absent:
            scan.problems.append(f"{len(absent)} tensors {INDEX_NAME} places in a shard are not in it (e.g. {absent[0]}): shards from another download")
            scan.kinds.add("mismatch")
    return scan


def check_weights(ctx: "Context") -> Outcome:
    """What it checks: the weights: a single model.safetensors, or every shard that model.safetensors.index.json names;
    each file's safetensors header parses and the data size it declares matches the file size; no file is a git-LFS
    pointer; and the layer count and embedding table match config.json. Only headers are read: no tensor is loaded,
    so it takes milliseconds even for the 8B model.

    Why it matters: a truncated download or a clone without `git lfs pull` is otherwise found only after a multi-minute
    server start ("Error while deserializing header: MetadataIncompleteBuffer" / "HeaderTooLarge"). The total weight
    bytes feed the GPU memory check, and the key prefix (`layers.*` as in Qwen3-Embedding's checkpoint, or
    `model.layers.*`) decides whether SGLang 0.4.7-0.5.8.post1 loads the weights (launch.sglang-weight-loading).

    How to fix: `git lfs pull` in a git clone; remove truncated files and download them again
    (`hf download Qwen/Qwen3-Embedding-0.6B model.safetensors --local-dir DIR`).
    """
    from ..safetensors_header import DTYPE_NAMES, human_bytes, key_prefix, main_dtype

    d = _dir(ctx)
    scan = _scan_weights(d)
    repo, dl_cmds = _download(ctx, d)
    if not scan.files and not scan.problems:
        bins = sorted(p.name for p in d.glob("pytorch_model*.bin"))
        if bins:
            size = sum((d / b).stat().st_size for b in bins)
            return Outcome.warn(
                f"no safetensors weights, only {', '.join(bins)} ({human_bytes(size)}): pickle checkpoints cannot be checked without loading them and load slower; the upstream repos ship model.safetensors",
                Fix(f"Download the safetensors weights from {repo}.", commands=dl_cmds, applicability=Applicability.UNSAFE),
                weight_bytes=size,
                weight_bytes_source="file size of pytorch_model*.bin",
                weight_key_prefix=None,
                dtype=None,
            )
        return Outcome.fail(
            f"no weights in {d}: neither model.safetensors nor model.safetensors.index.json with its shards; the server fails at start-up",
            Fix(f"Download the weights from {repo}.", commands=dl_cmds, applicability=Applicability.UNSAFE),
            files=[],
        )
    names = [tns.name for h in scan.headers for tns in h.tensors]
    weight_bytes = sum(h.weight_bytes for h in scan.headers)
    prefix = key_prefix(names)
    dt = main_dtype(scan.headers)
    ev: dict[str, Any] = {
        "weight_bytes": weight_bytes if not scan.problems else None,
        "weight_key_prefix": prefix if prefix in ("layers", "model.layers") else None,
        "dtype": DTYPE_NAMES.get(dt, dt.lower()) if dt else None,
        "safetensors_dtype": dt,
        "files": scan.files,
        "tensors": len(names),
        "declared_bytes": weight_bytes,
    }
    if prefix == "mixed":
        scan.problems.append("tensor names mix `layers.*` and `model.layers.*`: files from two different checkpoints")
        scan.kinds.add("mismatch")
    # agreement with config.json
    cfg, _ = _config(ctx)
    if cfg and scan.headers and not scan.kinds & {"missing", "lfs"}:
        layer_ids = {int(m.group(1)) for n in names if (m := re.match(r"^(?:model\.)?layers\.(\d+)\.", n))}
        n_layers = _int(cfg.get("num_hidden_layers"))
        if layer_ids and n_layers is not None and len(layer_ids) != n_layers:
            scan.problems.append(f"the weights hold {len(layer_ids)} layers but config.json says {n_layers}: config and weights come from different models")
            scan.kinds.add("mismatch")
        emb = next((tns for h in scan.headers for tns in h.tensors if tns.name in ("embed_tokens.weight", "model.embed_tokens.weight")), None)
        hidden, vocab = _int(cfg.get("hidden_size")), _int(cfg.get("vocab_size"))
        if emb is not None and len(emb.shape) == 2 and hidden and vocab and tuple(emb.shape) != (vocab, hidden):
            scan.problems.append(f"{emb.name} is {list(emb.shape)} but config.json says vocab_size {vocab} x hidden_size {hidden}: config and weights come from different models")
            scan.kinds.add("mismatch")
    if scan.problems:
        fix_parts, cmds = [], []
        if "lfs" in scan.kinds:
            fix_parts.append("this is a git clone without the LFS files: run `git lfs pull` in it")
            cmds.append(f"git -C {_shq(str(d))} lfs pull")
        if scan.kinds & {"truncated", "missing", "corrupt", "mismatch"}:
            broken = scan.broken or scan.files
            rm = " after removing the broken copies (a download tool may take a file that is already there as complete)" if scan.kinds & {"truncated", "corrupt", "mismatch"} else ""
            fix_parts.append(f"download {_more(broken, 3)} again from {repo}{rm}")
            cmds.extend(_download(ctx, d, broken if len(broken) <= 8 else ())[1])
        if "unreadable" in scan.kinds:
            fix_parts.append("run the doctor as a user who can read the weights (see model.permissions)")
        summary = "; ".join(scan.problems[:3]) + (f"; and {len(scan.problems) - 3} more" if len(scan.problems) > 3 else "")
        fix = Fix(fix_parts[0][0].upper() + "; ".join(fix_parts)[1:] + ".", commands=tuple(cmds), applicability=Applicability.UNSAFE)
        if scan.kinds == {"unreadable"}:
            return Outcome.error(summary, **ev, problems=scan.problems)
        return Outcome.fail(summary, fix, **ev, problems=scan.problems)
    layout = {"layers": "`layers.*` (Qwen3-Embedding's own layout)", "model.layers": "`model.layers.*` (the Qwen3ForCausalLM layout)"}.get(prefix or "", "no `layers.*` tensors")
    where = scan.files[0] if len(scan.files) == 1 else f"{len(scan.files)} shards"
    return Outcome.passed(f"{where}: {len(names)} tensors, {human_bytes(weight_bytes)} of {ev['dtype']}, every file complete; keys {layout}", **ev)


# ============================================================================================
# checks: tokenizer files and sentence-transformers files


def check_tokenizer_files(ctx: "Context") -> Outcome:
    """What it checks: the tokenizer files: tokenizer.json (or vocab.json + merges.txt) and tokenizer_config.json, none
    of them a git-LFS pointer (the upstream repo stores tokenizer.json in LFS).

    Why it matters: without tokenizer.json, transformers rebuilds the tokenizer from vocab.json + merges.txt at every
    start, and that rebuilt tokenizer appends no `<|endoftext|>`, so last-token pooling reads the wrong token (see
    tokenizer.end-token). TEI reads only tokenizer.json and stops at start-up without it ("tokenizer.json not found.
    text-embeddings-inference only supports fast tokenizers"). Without tokenizer_config.json the special-token roles
    and model_max_length fall back to defaults.

    How to fix: take tokenizer.json and tokenizer_config.json from the current model repository
    (`hf download Qwen/Qwen3-Embedding-0.6B tokenizer.json tokenizer_config.json --local-dir DIR`), or `git lfs pull`.
    """
    from ..safetensors_header import lfs_pointer

    t = ctx.target
    d, src = _tok_dir(ctx)
    repo, dl = _download(ctx, d, ("tokenizer.json", "tokenizer_config.json"))
    present = {n: (d / n).exists() for n in TOKENIZER_FILES}
    ev: dict[str, Any] = {"directory": str(d), "source": src, "present": [n for n, ok in present.items() if ok]}
    bad: list[str] = []
    lfs = []
    for n, ok in present.items():
        if not ok:
            continue
        p = d / n
        if not _is_regular(p):
            bad.append(f"{n} is not a regular file")
            continue
        if lfs_pointer(p) is not None:
            lfs.append(n)
            continue
        try:
            if p.stat().st_size == 0:
                bad.append(f"{n} is empty")
        except OSError:
            pass
    if lfs:
        return Outcome.fail(
            f"{_more(lfs)} {'is a git-LFS pointer' if len(lfs) == 1 else 'are git-LFS pointers'}, not the file: this is an LFS pointer; run git lfs pull",
            Fix("Run `git lfs pull` in the clone (or download the files).", commands=(f"git -C {_shq(str(d))} lfs pull",), applicability=Applicability.UNSAFE),
            **ev, lfs_pointers=lfs,
        )
    if bad:
        return Outcome.fail("; ".join(bad) + ": the tokenizer cannot load", Fix(f"Take the tokenizer files from {repo}.", commands=dl, applicability=Applicability.UNSAFE), **ev)
    has_json = present["tokenizer.json"]
    has_vm = present["vocab.json"] and present["merges.txt"]
    if not has_json and not has_vm:
        return Outcome.fail(
            f"no tokenizer in {d} (neither tokenizer.json nor vocab.json + merges.txt): the server fails at start-up loading it",
            Fix(f"Take the tokenizer files from {repo}.", commands=dl, applicability=Applicability.UNSAFE),
            **ev,
        )
    warns = []
    if not has_json:
        if t.server == "tei":
            return Outcome.fail(
                'no tokenizer.json: TEI stops at start-up ("tokenizer.json not found. text-embeddings-inference only supports fast tokenizers")',
                Fix(f"Take tokenizer.json from {repo}.", commands=dl, applicability=Applicability.UNSAFE),
                **ev,
            )
        warns.append("no tokenizer.json: transformers rebuilds the tokenizer from vocab.json + merges.txt at every start, and the rebuilt one appends no <|endoftext|> (a stale snapshot; see tokenizer.end-token)")
    if not present["tokenizer_config.json"]:
        warns.append("no tokenizer_config.json: special-token roles and model_max_length fall back to transformers' defaults")
    if warns:
        return Outcome.warn("; ".join(warns), Fix(f"Take the tokenizer files from {repo}.", commands=dl, applicability=Applicability.UNSAFE), **ev)
    return Outcome.passed(f"tokenizer.json and tokenizer_config.json present ({src})", **ev)


def _pooling_mode(cfg: Mapping[str, Any]) -> str | None:
    """The sentence-transformers pooling mode a 1_Pooling/config.json selects (the first true pooling_mode_*)."""
    for k, v in cfg.items():
        if k.startswith("pooling_mode_") and v is True:
            return k[len("pooling_mode_"):]
    return None


def _vllm_runner_given(t: "Target") -> bool:
    vals = t.launch.parsed.values if t.launch and t.launch.parsed else {}
    return vals.get("task") in ("embed", "embedding") or vals.get("runner") == "pooling" or vals.get("convert") == "embed"


def _vllm_autodetect_note(t: "Target") -> str:
    from ..flags import version_at_least

    v = t.version_str
    if v is not None and version_at_least(v, "0.10.0") and not version_at_least(v, "0.10.1"):
        return f"vLLM {v} never auto-detects embedding mode (0.10.0 resolves Qwen3ForCausalLM to the generate runner), with or without modules.json"
    who = f"vLLM {v}" if v else "vLLM (0.8.5, and 0.10.1 or later)"
    return f"{who} picks embedding mode and last-token pooling from modules.json + 1_Pooling when no --runner/--task is given; without them `vllm serve DIR` runs a generator (0.10.0 never auto-detects)"


def check_sentence_transformers(ctx: "Context") -> Outcome:
    """What it checks: the sentence-transformers files: modules.json (Transformer -> Pooling -> Normalize) and
    1_Pooling/config.json selecting last-token pooling (`pooling_mode_lasttoken: true`), which the current
    Qwen/Qwen3-Embedding repos ship.

    Why it matters: the files were added days after release, so their absence marks a stale snapshot (whose tokenizer
    also lacks the end token). It changes what servers do: vLLM 0.8.5 and 0.10.1+ auto-detect embedding mode and
    last-token pooling from modules.json when no `--runner`/`--task` is given (0.10.0 never does), so without it
    `vllm serve DIR` runs a generator, and without the Normalize module vLLM does not normalize; TEI reads its pooling
    from 1_Pooling/config.json and refuses to start without it unless `--pooling last-token` is given;
    sentence-transformers falls back to mean pooling. SGLang ignores these files (its Qwen3 embedding path always pools
    the last token and normalizes). A mean or CLS pooling config gives wrong vectors on vLLM and TEI.

    How to fix: take modules.json, 1_Pooling/config.json and config_sentence_transformers.json from the current model
    repo; on vLLM also give `--runner pooling` (or `--task embed` on 0.8.5-0.12); on TEI `--pooling last-token`.
    """
    import json

    t = ctx.target
    d = _dir(ctx)
    repo, dl = _download(ctx, d, ("modules.json", "1_Pooling/config.json", "config_sentence_transformers.json"))
    fix_dl = Fix(f"Take the sentence-transformers files from {repo}.", commands=dl, applicability=Applicability.UNSAFE)
    mods, err = _read_json_file(d / "modules.json")
    tei_pool = t.option("pooling") if t.server == "tei" else None
    if t.server == "tei" and not t.given("pooling"):
        tei_pool = _env(t, "POOLING", inherit=False)
    ev: dict[str, Any] = {"modules_json": mods is not None}
    if tei_pool is not None and tei_pool != "last-token":
        return Outcome.fail(f"TEI --pooling {tei_pool}: Qwen3-Embedding is trained with last-token pooling; other pooling gives wrong vectors", Fix("Use --pooling last-token (or drop --pooling: TEI then reads 1_Pooling/config.json)."), **ev, tei_pooling=tei_pool)
    if mods is None:
        if err and "missing" not in err:
            return Outcome.fail(err, fix_dl, **ev)
        consequences = []
        sev_fail = False
        if t.server == "vllm":
            if _vllm_runner_given(t):
                consequences.append("vLLM runs in embedding mode because the launch command says so")
            else:
                consequences.append(_vllm_autodetect_note(t) + " (see launch.embedding-mode)")
        elif t.server == "tei":
            if tei_pool == "last-token":
                consequences.append("TEI uses --pooling last-token as given")
            elif not (d / "1_Pooling" / "config.json").exists():
                sev_fail = True
                consequences.append("TEI refuses to start: \"The `--pooling` arg is not set and we could not find a pooling configuration (`1_Pooling/config.json`) for this model.\"")
        elif t.server == "sglang":
            consequences.append("SGLang does not read these files (it pools the last token and normalizes anyway)")
        else:
            consequences.append(_vllm_autodetect_note(t) + "; TEI refuses to start without 1_Pooling/config.json unless --pooling last-token; sentence-transformers falls back to mean pooling")
        text = "no modules.json: a stale snapshot of the model (the sentence-transformers files were added after release; its tokenizer may lack the end token too); " + "; ".join(consequences)
        if sev_fail:
            return Outcome.fail(text, Fix(f"Give --pooling last-token, or take the sentence-transformers files from {repo}.", commands=dl, applicability=Applicability.UNSAFE), **ev)
        return Outcome.warn(text, fix_dl, **ev)
    if not isinstance(mods, list):
        return Outcome.fail("modules.json is not a list of modules", fix_dl, **ev)
    types = [str(m.get("type", "")) for m in mods if isinstance(m, dict)]
    ev["modules"] = [x.rsplit(".", 1)[-1] for x in types]
    pool_mod = next((m for m in mods if isinstance(m, dict) and str(m.get("type", "")).endswith("models.Pooling")), None)
    normalize = any(x.endswith("models.Normalize") for x in types)
    ev["normalize_module"] = normalize
    problems, warns = [], []
    if pool_mod is None:
        problems.append("modules.json has no Pooling module")
    else:
        ppath = str(pool_mod.get("path") or "1_Pooling")
        pcfg, perr = _read_json_file(d / ppath / "config.json")
        if pcfg is None:
            problems.append(f"modules.json points to {ppath}/ but {perr.replace('config.json', ppath + '/config.json') if perr else 'it is unusable'}")
        elif not isinstance(pcfg, dict):
            problems.append(f"{ppath}/config.json is not a JSON object")
        else:
            mode = _pooling_mode(pcfg)
            ev["pooling_mode"] = mode
            if mode != "lasttoken":
                where = {"sglang": None, "vllm": "vLLM pools that way", "tei": "TEI pools that way"}.get(t.server or "", "vLLM and TEI pool that way")
                msg = f"{ppath}/config.json selects {mode or 'no'} pooling; Qwen3-Embedding is trained with last-token pooling"
                if t.server == "sglang":
                    warns.append(msg + " (SGLang ignores it, but sentence-transformers clients do not)")
                elif t.server == "tei" and tei_pool == "last-token":
                    warns.append(msg + " (TEI uses --pooling last-token as given)")
                else:
                    problems.append(msg + f": {where}, giving wrong vectors")
            dim = _int(pcfg.get("word_embedding_dimension"))
            cfg, _ = _config(ctx)
            hidden = _int(cfg.get("hidden_size")) if cfg else None
            if dim and hidden and dim != hidden:
                warns.append(f"{ppath}/config.json says word_embedding_dimension {dim} but config.json hidden_size {hidden}")
    if not normalize and t.server in (None, "vllm"):
        warns.append("modules.json has no Normalize module: vLLM takes normalization from it, so its vectors would not be unit length")
    if problems:
        return Outcome.fail("; ".join(problems + warns), fix_dl, **ev)
    if warns:
        return Outcome.warn("; ".join(warns), fix_dl, **ev)
    return Outcome.passed("modules.json (" + " -> ".join(ev["modules"]) + ") with last-token pooling", **ev)


# ============================================================================================
# the tokenizer (one load per target, in a child process)


def _samples_file(ctx: "Context") -> Any:
    """The parsed --samples file, a SamplesError, or None when not given."""
    from ..tokenizer_tools import SamplesError, read_samples

    path = ctx.options.samples
    if not path:
        return None

    def load():
        try:
            return read_samples(path)
        except SamplesError as exc:
            return exc

    return ctx.memo("tokenizer.samples-file", load)


def _tok_report(ctx: "Context") -> Any:
    from ..tokenizer_tools import SamplesFile, cached_load_report

    def load():
        d, _ = _tok_dir(ctx)
        sf = _samples_file(ctx)
        texts = [s.text for s in sf.samples] if isinstance(sf, SamplesFile) else None
        return cached_load_report(d, texts, timeout=max(1.0, TOKENIZER_TIMEOUT_S - 5.0))

    return ctx.memo("tokenizer.report", load)


def check_tokenizer_load(ctx: "Context") -> Outcome:
    """What it checks: the tokenizer loads through transformers from the local files only (offline: no hub access,
    `trust_remote_code` off), in a separate process stopped after a timeout; reports its class, its vocabulary size
    against config.json's vocab_size, and model_max_length.

    Why it matters: every server loads this tokenizer at start-up; if it does not load here it will not load there. A
    tokenizer with fewer BPE tokens than the model's vocab_size or with a different class is another model's tokenizer.
    Tokens past the embedding table (third-party copies of the 4B/8B configs give vocab_size 151665 for the
    151669-token tokenizer: the last four are added tokens such as `<think>`) only matter if inputs contain them
    literally. This load is the slowest model
    check (one to two seconds); it runs beside the others and its result is shared by the tokenizer.* checks.

    How to fix: as the error says; usually take the tokenizer files from the current model repository.
    """
    rep = _tok_report(ctx)
    d, src = _tok_dir(ctx)
    if not rep.ok:
        if rep.stage in ("timeout", "spawn", "crash"):
            return Outcome.error(f"tokenizer in {d}: {rep.error}", directory=str(d), stage=rep.stage)
        return Outcome.fail(
            f"the tokenizer in {d} does not load offline ({rep.stage}): {rep.error}",
            Fix("Take the tokenizer files from the current model repository (tokenizer.json, tokenizer_config.json, vocab.json, merges.txt)."),
            directory=str(d),
            stage=rep.stage,
        )
    cfg, _ = _config(ctx)
    cfg_vocab = _int(cfg.get("vocab_size")) if cfg else None
    n = rep.get("vocab_size")
    base = rep.get("base_vocab_size")
    cls = rep.get("tokenizer_class") or "?"
    mml = rep.get("model_max_length")
    ev = {
        "tokenizer_class": cls,
        "vocab_size": n,
        "base_vocab_size": base,
        "config_vocab_size": cfg_vocab,
        "model_max_length": mml,
        "directory": str(d),
        "library": rep.get("library"),
        "load_s": rep.get("load_s"),
        "import_s": rep.get("import_s"),
    }
    mml_txt = f"model_max_length {mml}" if mml else "no model_max_length"
    desc = f"{cls} ({rep.get('library')}): {n} tokens ({base} BPE + {n - base if isinstance(n, int) and isinstance(base, int) else '?'} added), config vocab_size {cfg_vocab}, {mml_txt}; loaded offline in {rep.get('import_s', 0) + rep.get('load_s', 0):.1f} s"
    if cfg_vocab and isinstance(base, int) and base > cfg_vocab:
        return Outcome.fail(f"the tokenizer has {base} BPE tokens but the model's embedding table has {cfg_vocab} rows: another model's tokenizer ({desc})", Fix("Take the tokenizer files from the same model repository as the weights."), **ev)
    if cfg_vocab and isinstance(n, int) and n < cfg_vocab // 2:
        return Outcome.fail(f"the tokenizer has only {n} tokens for a model with {cfg_vocab}: not this model's tokenizer, or an empty one built from config.json alone ({desc})", Fix("Take the tokenizer files from the model repository."), **ev)
    notes = []
    if cfg_vocab and isinstance(n, int) and n > cfg_vocab:
        added = rep.get("added_tokens") or {}
        over = [added.get(str(i), str(i)) for i in range(cfg_vocab, n)]
        notes.append(f"ids {cfg_vocab}..{n - 1} ({_more(over, 4)}) have no embedding row; harmless unless inputs contain them literally")
        ev["ids_past_embedding_table"] = over
    if not cls.startswith(("Qwen2Tokenizer", "Qwen3Tokenizer")):
        return Outcome.warn(f"tokenizer class {cls}, not Qwen2Tokenizer: the Qwen3-Embedding checks below assume the Qwen tokenizer ({desc})", None, **ev)
    return Outcome.passed(desc + (f"; {notes[0]}" if notes else ""), **ev)


def check_end_token(ctx: "Context") -> Outcome:
    """What it checks: that the tokenizer appends `<|endoftext|>` to every input: `"test"` must encode to
    `[1944, 151643]` with the real vocabulary (any vocabulary: the last id must be `<|endoftext|>`'s).

    Why it matters: Qwen3-Embedding pools the hidden state of the last token, trained to be `<|endoftext|>` (151643,
    the pad token; not the eos token `<|im_end|>` 151645). No server adds it: SGLang, vLLM and TEI all rely on the
    tokenizer.json post-processor. Early snapshots lack that post-processor (as does a tokenizer rebuilt from
    vocab.json + merges.txt), so the model pools the last word instead and the vectors are quietly worse.

    How to fix: take tokenizer.json (and tokenizer_config.json, modules.json, 1_Pooling/) from the current model
    repository, e.g. `hf download Qwen/Qwen3-Embedding-0.6B tokenizer.json --local-dir DIR`. Vectors already stored
    were computed with the wrong token: re-embed them after the fix.
    """
    rep = _tok_report(ctx)
    d, _ = _tok_dir(ctx)
    ids = list(rep.get("ids_for_test") or [])
    eot = rep.get("endoftext_id")
    real = eot == REAL_ENDOFTEXT_ID and rep.get("vocab_size") == REAL_VOCAB_TOKENS
    ev = {"ids_for_test": ids, "endoftext_id": eot, "post_processor": rep.get("post_processor_type"), "expected": REAL_TEST_IDS if real else None}
    repo, dl = _download(ctx, d, ("tokenizer.json", "tokenizer_config.json"))
    fix = Fix(
        f"Take tokenizer.json from the current model repo ({repo}); then re-embed stored vectors (they were pooled on the wrong token).",
        commands=dl,
        applicability=Applicability.UNSAFE,
    )
    if eot is None:
        return Outcome.fail(f"the tokenizer has no {ENDOFTEXT} token at all (\"test\" -> {ids}): not the Qwen tokenizer; the model pools the wrong token", fix, **ev)
    if real and ids == REAL_TEST_IDS:
        return Outcome.passed(f"\"test\" -> {ids}: the tokenizer appends {ENDOFTEXT} ({eot}), the token the model pools", **ev)
    if not real and ids and ids[-1] == eot and (len(ids) < 2 or ids[-2] != eot):
        return Outcome.passed(f"\"test\" -> {ids}: ends with {ENDOFTEXT} ({eot}), the token the model pools", **ev)
    if ids and ids[-1] == rep.get("eos_token_id") and ids[-1] != eot:
        what = f"appends {rep.get('eos_token')} ({ids[-1]}) instead of {ENDOFTEXT} ({eot})"
    elif ids.count(eot) > 1:
        what = f"appends {ENDOFTEXT} more than once"
    elif real and ids[:1] == [REAL_TEST_IDS[0]] and len(ids) == 2:
        what = f"gives {ids} instead of {REAL_TEST_IDS}"
    else:
        what = f"appends no {ENDOFTEXT} ({eot}); post-processor: {rep.get('post_processor_type') or 'none'}"
    return Outcome.fail(f"stale tokenizer: the model pools the wrong token (\"test\" -> {ids}: {what}; expected {REAL_TEST_IDS if real else '[..., ' + str(eot) + ']'})", fix, **ev)


def check_normalizer(ctx: "Context") -> Outcome:
    """What it checks: whether the tokenizer normalizes Unicode to NFC itself, by encoding the same text in NFC and NFD
    form (accents, Hangul, kana, Greek) and comparing the ids; also reports its normalizer.

    Why it matters: the Qwen2/Qwen3 tokenizer has an NFC normalizer, so NFC and NFD input give identical ids and clients
    need no Unicode normalization step (advice to NFC-normalize non-Latin text client-side is folklore for this
    tokenizer). A tokenizer without it would embed the same text differently depending on where it came from (macOS
    file names are NFD).

    How to fix: nothing when it normalizes; otherwise take tokenizer.json from the model repository (or normalize to NFC
    in the client).
    """
    rep = _tok_report(ctx)
    same = rep.get("nfc_equals_nfd")
    norm = rep.get("normalizer")
    ev = {"nfc_equals_nfd": same, "normalizer": norm, "normalizer_type": rep.get("normalizer_type")}
    if same:
        return Outcome.passed(f"the tokenizer normalizes to NFC itself (normalizer {norm}): NFC and NFD input give the same ids, so clients need no NFC step", **ev)
    return Outcome.warn(
        f"NFC and NFD forms of the same text give different ids (normalizer {norm or 'none'}): text from sources that use decomposed Unicode (e.g. macOS file names) embeds differently",
        Fix("Take tokenizer.json from the model repository (the Qwen tokenizer normalizes to NFC), or normalize inputs to NFC in the client."),
        **ev,
    )


# ============================================================================================
# --samples


@dataclass(frozen=True)
class InputLimit:
    server: str | None
    limit: int | None  # the context length the server will use
    how: str  # where the number comes from
    reject_over: int | None = None  # inputs with more tokens than this are rejected (HTTP 400/413/422)
    hang_from: int | None = None  # inputs with at least this many tokens hang (and are not rejected)
    truncate_over: int | None = None  # inputs with more tokens than this are silently cut
    reject_text: str = ""
    truncate_text: str = ""
    hang_text: str = ""
    notes: tuple[str, ...] = ()


def _as_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    return None


def _as_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("true", "1", "yes", "on", ""):
            return True
        if s in ("false", "0", "no", "off"):
            return False
    return None


def input_limit(t: "Target", cfg: dict | None, model_dir: Path | None) -> InputLimit:
    """How long an input the server will take, and what it does with longer ones (sglang.md 6; vllm-tei-qwen3.md B.5, C.4)."""
    from ..flags import version_at_least

    derived = derived_context_length(cfg) if cfg else None
    v = t.version_str
    if t.server == "sglang":
        given = _as_int(t.option("context_length")) if t.given("context_length") else None
        c = given or derived
        if c is None:
            return InputLimit("sglang", None, "unknown (no --context-length, no config.json)")
        how = "--context-length" if given else "config.json"
        sched = c - SGLANG_SCHED_MARGIN
        if t.option("allow_auto_truncate") is True:
            return InputLimit(
                "sglang", c, how, truncate_over=sched - 1,
                truncate_text=f"SGLang (--allow-auto-truncate) keeps only the first tokens of inputs of {sched} tokens or more (the scheduler's limit min(context - 1, KV pool - 1) - 5 = {sched}), cutting the appended <|endoftext|> that last-token pooling reads: silently wrong vectors",
            )
        return InputLimit(
            "sglang", c, how, reject_over=c - 1, hang_from=sched,
            reject_text=f'SGLang rejects inputs of {c} tokens or more with HTTP 400 "The input (N tokens) is longer than the model\'s context length ({c} tokens)."',
            hang_text=f"inputs of {sched}..{c - 1} tokens pass that check but exceed the scheduler's limit (min(context - 1, KV pool - 1) - 5 = {sched}): for embeddings SGLang never answers them (open bug sglang#40459, 0.4.7 to at least 0.5.23)",
            notes=("a KV pool smaller than the context length lowers the scheduler's limit further (see the GPU checks)",),
        )
    if t.server == "vllm":
        given = _as_int(t.option("max_model_len")) if t.given("max_model_len") else None
        c = given or derived
        if c is None:
            return InputLimit("vllm", None, "unknown (no --max-model-len, no config.json)")
        how = "--max-model-len" if given else "config.json"
        return InputLimit(
            "vllm", c, how, reject_over=c,
            reject_text=f"vLLM rejects inputs of more than {c} tokens with HTTP 400 \"This model's maximum context length is {c} tokens...\" (clients can send truncate_prompt_tokens to cut them)",
        )
    if t.server == "tei":
        base = None
        base_how = ""
        if model_dir is not None:
            for name in ("sentence_bert_config.json", "sentence_roberta_config.json", "sentence_distilbert_config.json", "sentence_camembert_config.json", "sentence_albert_config.json", "sentence_xlm-roberta_config.json", "sentence_xlnet_config.json"):
                obj, err = _read_json_file(model_dir / name)
                if isinstance(obj, dict) and _as_int(obj.get("max_seq_length")):
                    base, base_how = _as_int(obj.get("max_seq_length")), f"{name} max_seq_length"
                    break
        if base is None:
            base = _int(cfg.get("max_position_embeddings")) if cfg else None
            base_how = "config.json; no sentence_bert_config.json"
        mbt = _as_int(t.option("max_batch_tokens")) if t.given("max_batch_tokens") else _as_int(_env(t, "MAX_BATCH_TOKENS", inherit=False))
        mbt = mbt or _as_int(t.option("max_batch_tokens")) or 16384
        if t.given("auto_truncate"):
            at = _as_bool(t.option("auto_truncate"))
        elif _env(t, "AUTO_TRUNCATE", inherit=False) is not None:
            at = _as_bool(_env(t, "AUTO_TRUNCATE", inherit=False))
        else:
            at = _as_bool(t.option("auto_truncate"))
            if at is None:
                at = v is None or version_at_least(v, "1.9.0")
        if base is None:
            return InputLimit("tei", None, "unknown (no config.json)")
        ver = f"TEI {v}" if v else "TEI"
        if base > mbt:
            if at:
                return InputLimit(
                    "tei", mbt, f"--max-batch-tokens, below the model's {base} from {base_how}", truncate_over=mbt,
                    truncate_text=f"{ver} (--auto-truncate) silently cuts inputs of more than {mbt} tokens to {mbt} (--max-batch-tokens, below the model's {base}); raise --max-batch-tokens to {base} to keep them whole",
                )
            if v is not None and not version_at_least(v, "1.8.3"):
                return InputLimit(
                    "tei", base, base_how, reject_over=base, hang_from=mbt + 1,
                    reject_text=f"{ver} rejects inputs of more than {base} tokens (413 \"`inputs` must have less than {base} tokens\")",
                    hang_text=f"{ver} queues inputs of more than {mbt} tokens (--max-batch-tokens) forever (TEI issue #723, fixed in 1.8.3)",
                )
            return InputLimit("tei", base, base_how, notes=(f"{ver} refuses to start: the maximum input length {base} exceeds --max-batch-tokens ({mbt}) and --auto-truncate is off",))
        status = "422" if v is None or version_at_least(v, "1.9.0") else "413"
        if at:
            return InputLimit("tei", base, base_how, truncate_over=base, truncate_text=f"{ver} (--auto-truncate) silently cuts inputs of more than {base} tokens")
        return InputLimit("tei", base, base_how, reject_over=base, reject_text=f"{ver} rejects inputs of more than {base} tokens ({status} \"`inputs` must have less than {base} tokens. Given: N\")")
    if derived is None:
        return InputLimit(None, None, "unknown (no server and no config.json)")
    return InputLimit(
        None, derived, "config.json; no server given", reject_over=derived - 1,
        reject_text=f"inputs of {derived} tokens or more exceed the model's context length: SGLang rejects them (400, at >= {derived}), vLLM above {derived}, TEI >= 1.9 cuts them silently",
    )


def check_samples(ctx: "Context") -> Outcome:
    """What it checks: with `--samples FILE` (a text per line, or JSONL with a `text` field and optionally
    `"type": "query"|"document"`), the token count of every sample with the real tokenizer (the appended
    `<|endoftext|>` included) against the context length the server will use: SGLang `--context-length` else
    config.json; vLLM `--max-model-len` else config.json; TEI the model's length capped by `--max-batch-tokens` (16384
    by default) when auto-truncating. Reports the max and p99 token counts, and whether queries have the
    `Instruct: {task}\\nQuery:{query}` form.

    Why it matters: SGLang answers HTTP 400 for an input of >= context-length tokens, and, through an open bug
    (sglang#40459), never answers inputs in the last 6 tokens below it; with `--allow-auto-truncate` it cuts the tail,
    including the end token the model pools on: silently degraded vectors. vLLM answers 400 above `--max-model-len`.
    TEI >= 1.9 truncates silently at 16384 tokens by default although the model takes 32768. Queries without the
    instruction lose retrieval quality; the official form has no space after `Query:`, and documents take no prefix.

    How to fix: split long documents into chunks below the limit (or raise the limit within the model's
    max_position_embeddings: TEI `--max-batch-tokens`); build queries as `f"Instruct: {task}\\nQuery:{query}"`.
    """
    from ..tokenizer_tools import SamplesError, p99, query_form_problem

    t = ctx.target
    sf = _samples_file(ctx)
    if sf is None:
        return Outcome.skip("no --samples FILE given")
    if isinstance(sf, SamplesError):
        return Outcome.error(str(sf))
    rep = _tok_report(ctx)
    lengths = rep.get("sample_lengths")
    if not isinstance(lengths, list) or len(lengths) != len(sf.samples):
        return Outcome.error("the tokenizer process returned no token counts for the samples")
    cfg, _ = _config(ctx)
    lim = input_limit(t, cfg, _loc(ctx).directory)
    n = len(lengths)
    mx = max(lengths) if lengths else 0
    p = p99(lengths) or 0
    ev: dict[str, Any] = {
        "samples": n,
        "format": sf.format,
        "longest": mx,
        "p99_length": p,
        "context_length": lim.limit,
        "context_length_source": lim.how,
        "server": lim.server,
    }
    if sf.truncated:
        ev["only_first"] = n
    fails: list[str] = []
    warns: list[str] = []
    by = list(zip(sf.samples, lengths))
    if lim.reject_over is not None:
        rej = [(s, k) for s, k in by if k > lim.reject_over]
        if rej:
            ev["rejected_lines"] = [s.line for s, _ in rej][:50]
            fails.append(f"{len(rej)} sample{'s' if len(rej) > 1 else ''} too long ({_more([f'line {s.line}: {k} tokens' for s, k in rej], 3)}): {lim.reject_text}")
    if lim.hang_from is not None:
        hang = [(s, k) for s, k in by if k >= lim.hang_from and (lim.reject_over is None or k <= lim.reject_over)]
        if hang:
            ev["hanging_lines"] = [s.line for s, _ in hang][:50]
            fails.append(f"{len(hang)} sample{'s' if len(hang) > 1 else ''} ({_more([f'line {s.line}: {k} tokens' for s, k in hang], 3)}): {lim.hang_text}")
    if lim.truncate_over is not None:
        cut = [(s, k) for s, k in by if k > lim.truncate_over]
        if cut:
            ev["truncated_lines"] = [s.line for s, _ in cut][:50]
            warns.append(f"{len(cut)} sample{'s' if len(cut) > 1 else ''} would be truncated ({_more([f'line {s.line}: {k} tokens' for s, k in cut], 3)}): {lim.truncate_text}")
    if lim.limit is None:
        warns.append(f"the context length is {lim.how}: lengths not judged")
    for note in lim.notes:
        if "refuses to start" in note:
            fails.append(note)
    # query form
    qprobs: dict[str, list[int]] = {}
    for s in sf.samples:
        why = query_form_problem(s.text, s.kind)
        if why:
            qprobs.setdefault(why, []).append(s.line)
    if qprobs:
        ev["query_form_problems"] = {k: v[:50] for k, v in qprobs.items()}
        parts = [f"{len(v)} with {k} (line{'s' if len(v) > 1 else ''} {_more([str(x) for x in v], 4)})" for k, v in qprobs.items()]
        warns.append("queries not in the form `Instruct: {task}\\nQuery:{query}`: " + "; ".join(parts))
    queries = sum(1 for s in sf.samples if s.kind == "query")
    ev["queries"] = queries
    if sf.problems:
        ev["unusable_lines"] = list(sf.problems[:50])
        warns.append(f"{len(sf.problems)} line{'s' if len(sf.problems) > 1 else ''} of the samples file could not be used ({_more(list(sf.problems), 2)})")
    last_ids = rep.get("sample_last_ids") or []
    eot = rep.get("endoftext_id")
    stats = f"{n} sample{'s' if n != 1 else ''}{' (only the first ' + str(n) + ')' if sf.truncated else ''}: max {mx} tokens, p99 {p} tokens, context length {lim.limit} (from {lim.how})" if lim.limit else f"{n} samples: max {mx} tokens, p99 {p} tokens"
    if eot is not None and last_ids and any(x != eot for x in last_ids):
        warns.append(f"the tokenizer does not end samples with {ENDOFTEXT} (see tokenizer.end-token)")
    fix_parts = []
    if fails or any("truncated" in w for w in warns):
        if lim.server == "tei" and lim.truncate_over is not None and cfg and lim.limit and (_int(cfg.get("max_position_embeddings")) or 0) > lim.limit:
            fix_parts.append(f"raise --max-batch-tokens to {cfg.get('max_position_embeddings')} (or chunk the long documents)")
        else:
            fix_parts.append(f"split long inputs into chunks below {lim.limit} tokens (the appended end token counts)")
    if qprobs:
        fix_parts.append("build queries as f\"Instruct: {task}\\nQuery:{query}\" (no space after Query:, documents without prefix)")
    fix_text = "; ".join(fix_parts)
    fix = Fix(fix_text[:1].upper() + fix_text[1:] + ".") if fix_parts else None
    if fails:
        return Outcome.fail(stats + " — " + "; ".join(fails + warns), fix, **ev)
    if warns:
        return Outcome.warn(stats + " — " + "; ".join(warns), fix, **ev)
    return Outcome.passed(stats + ("; queries in the official form" if queries else ""), **ev)


# ============================================================================================
# registration


def register(registry: "Registry") -> None:
    """Built-in plugin: model directory and tokenizer checks."""
    add = registry.check
    add("model.directory", "Model directory exists", "model", applies=_applies_model)(check_directory)
    add("model.permissions", "Server's user can read the model files", "model", applies=_applies_model, depends_on=("model.directory",))(check_permissions)
    add("model.config", "config.json: architecture, size, dtype", "model", applies=_applies_model, depends_on=("model.directory",))(check_config)
    add("model.weights", "Weights complete (safetensors headers)", "model", applies=_applies_model, depends_on=("model.directory",), timeout=30.0)(check_weights)
    add("model.tokenizer-files", "Tokenizer files present", "model", applies=_applies_tokenizer, depends_on=("model.directory",))(check_tokenizer_files)
    add("model.sentence-transformers", "Sentence-transformers files (pooling)", "model", applies=_applies_model, depends_on=("model.directory",))(check_sentence_transformers)
    add("tokenizer.load", "Tokenizer loads offline", "tokenizer", applies=_applies_tokenizer, depends_on=("model.tokenizer-files",), uses=("model.config",), timeout=TOKENIZER_TIMEOUT_S)(check_tokenizer_load)
    add("tokenizer.end-token", "Tokenizer appends <|endoftext|>", "tokenizer", applies=_applies_tokenizer, depends_on=("tokenizer.load",))(check_end_token)
    add("tokenizer.normalizer", "Tokenizer normalizes Unicode (NFC)", "tokenizer", severity=Status.WARN, applies=_applies_tokenizer, depends_on=("tokenizer.load",))(check_normalizer)
    add("tokenizer.samples", "Sample inputs fit the context length", "tokenizer", applies=_applies_tokenizer, depends_on=("tokenizer.load",), uses=("model.config",))(check_samples)
