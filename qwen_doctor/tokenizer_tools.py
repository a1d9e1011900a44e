"""Load a model's tokenizer offline, in a bounded child process, and measure what the checks need.

Why a child process and not a worker thread:

* **A hard bound.** A tokenizer load can hang or crawl (a stalled network mount, a hub look-up waiting on a dead
  proxy, a huge or pathological tokenizer.json). A thread cannot be stopped: the runner would abandon it at the
  check's timeout, but it would keep a core (and the GIL) busy until the doctor exits. A child is killed at its
  timeout and the check reports it cleanly.
* **Offline for sure.** ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` are read by huggingface_hub when it is
  first imported; setting them in the doctor's own (multi-threaded) process would be racy and global. The
  child gets them in its environment from the start, and ``local_files_only=True`` on top.
* **It does not hold up the other checks.** Importing transformers and parsing the 11 MB tokenizer.json are
  ~1-2 s of CPU, mostly under the GIL; in a child they run on another core while the doctor's threads go on.
* **Import discipline.** transformers is never imported into the doctor's process at all.
* **Isolation.** The child starts with ``-I`` (neither the current directory nor the model directory is on
  ``sys.path``: a stray ``tokenizers.py`` there is never imported) and then takes the doctor's own ``sys.path``.
  At most :data:`MAX_CONCURRENT_LOADS` children run at once.

The price is one interpreter start (~50 ms) and the results travel as JSON, so the child does all the work
the tokenizer checks need in one go (class, sizes, ``"test"`` ids, the NFC probe, the token count of every
``--samples`` text) and the checks share that one report through ``ctx.memo``. Targets whose tokenizer files
are byte-identical (several services serving one model) share one load too (:func:`cached_load_report`).

The child never writes files: ``-B`` (no .pyc), no cache writes (offline, local files), and
``trust_remote_code=False`` (code shipped with a model is never executed).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

DEFAULT_TIMEOUT_S = 45.0
# address-space limit of the loading process (RLIMIT_AS): the real Qwen3 tokenizer needs ~0.5 GiB of it through
# transformers, ~0.3 GiB through tokenizers; a pathological tokenizer.json fails with a MemoryError instead of
# pushing the host into swap or the OOM killer
CHILD_MEMORY_LIMIT = 2 * 1024**3
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DO_NOT_TRACK": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}

# --samples limits: a pre-flight check, not a batch job
MAX_SAMPLES = 50_000
MAX_SAMPLES_BYTES = 16 * 1024 * 1024  # ~4M tokens: a few seconds of tokenizing
TEXT_KEYS = ("text", "input", "content", "query", "document", "passage")
KIND_KEYS = ("type", "kind", "role", "input_type", "task_type")
QUERY_KINDS = {"query", "queries", "q", "search_query"}
DOC_KINDS = {"document", "documents", "doc", "passage", "corpus", "search_document"}


# --------------------------------------------------------------------------------------------
# the report


@dataclass(frozen=True)
class TokenizerReport:
    """What the child found (``ok`` False: ``stage`` and ``error`` say what went wrong)."""

    ok: bool
    directory: str
    stage: str = ""  # import | load | encode | timeout | crash | spawn
    error: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


# The child starts isolated (-I: no PYTHON* variables, no user site, neither the current directory nor a
# model directory on sys.path, so a stray `tokenizers.py` in either is never imported), then takes the doctor's
# own sys.path, so it imports exactly the transformers the doctor would.
_BOOT = (
    "import sys,json;r=json.loads(sys.stdin.buffer.read().decode('utf-8'));"
    "sys.path[:0]=[p for p in r['path'] if p not in sys.path];"
    "from qwen_doctor.tokenizer_child import _worker_run;raise SystemExit(_worker_run(r))"
)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OFFLINE_ENV)
    # bounded thread pools: each Rust (rayon) worker thread and glibc malloc arena reserves address space, and the
    # child runs under an address-space limit (CHILD_MEMORY_LIMIT); a 128-core host must not use it all up in arenas
    env.setdefault("RAYON_NUM_THREADS", str(max(1, min(4, os.cpu_count() or 1))))
    env.setdefault("MALLOC_ARENA_MAX", "2")
    env["TOKENIZERS_PARALLELISM"] = "true"
    return env


def _child_path() -> list[str]:
    root = str(Path(__file__).resolve().parent.parent)  # this package, also from an uninstalled checkout
    out = [root]
    for p in sys.path:
        if p and os.path.isabs(p) and p not in out:
            out.append(p)
    return out


# --------------------------------------------------------------------------------------------
# a head start: the child started before the CLI has parsed anything (see qwen_doctor.prefetch)

_prefetched: dict[str, tuple[subprocess.Popen, float]] = {}
_prefetch_lock = threading.Lock()
_atexit_registered: list[bool] = []


def _request(directory: str, texts: Sequence[str] | None, force: str | None, return_ids: bool, memory_limit: int | None) -> bytes:
    return json.dumps(
        {
            "dir": directory,
            "texts": list(texts) if texts is not None else None,
            "path": _child_path(),
            "force": force,
            "return_ids": return_ids,
            "parent_pid": os.getpid(),
            "memory_limit": memory_limit,
        },
        ensure_ascii=True,
    ).encode("ascii")


def prefetch(directory: str | os.PathLike[str]) -> bool:
    """Start loading the tokenizer in ``directory`` now, with the defaults :func:`load_report` uses (no texts); a
    later ``load_report`` of the same directory (same real path) with those defaults takes this child's result instead
    of starting its own. Never used, it is stopped when the doctor exits (and dies with it). Only from the main
    thread, before any worker thread exists. Returns whether a child was started."""
    real = os.path.realpath(str(directory))
    with _prefetch_lock:
        if real in _prefetched:
            return False
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-B", "-c", _BOOT],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=_child_env(),
            )
        except OSError:
            return False
        try:
            proc.stdin.write(_request(os.path.abspath(str(directory)), None, None, False, CHILD_MEMORY_LIMIT))  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]
            proc.stdin = None  # communicate() later must not flush it
        except OSError:
            proc.kill()
            proc.wait()
            return False
        if not _atexit_registered:
            import atexit

            atexit.register(_stop_prefetched)
            _atexit_registered.append(True)
        _prefetched[real] = (proc, time.monotonic())
        return True


def _stop_prefetched() -> None:
    with _prefetch_lock:
        items = list(_prefetched.values())
        _prefetched.clear()
    for proc, _ in items:
        if proc.poll() is None:
            proc.kill()
        try:
            proc.communicate(timeout=5)
        except (subprocess.TimeoutExpired, OSError, ValueError):
            pass


def _take_prefetched(directory: str) -> tuple[subprocess.Popen, float] | None:
    with _prefetch_lock:
        return _prefetched.pop(os.path.realpath(directory), None)


def _report_from(directory: str, returncode: int | None, stdout: bytes, stderr: bytes, wall: float) -> TokenizerReport:
    out = stdout.decode("utf-8", "replace")
    line = next((ln for ln in reversed(out.splitlines()) if ln.startswith(RESULT_MARKER)), None)
    if line is None:
        err = [ln for ln in stderr.decode("utf-8", "replace").strip().splitlines() if ln.strip()]
        tail = err[-1].strip() if err else f"exit code {returncode}"
        return TokenizerReport(False, directory, "crash", f"the tokenizer process ended without a result ({tail[:300]})", wall_s=wall)
    try:
        payload = json.loads(line[len(RESULT_MARKER) :])
    except ValueError:
        return TokenizerReport(False, directory, "crash", "the tokenizer process wrote an unreadable result", wall_s=wall)
    if not payload.get("ok"):
        return TokenizerReport(False, directory, str(payload.get("stage", "load")), str(payload.get("error", "unknown error")), payload, wall_s=wall)
    return TokenizerReport(True, directory, data=payload, wall_s=wall)


def load_report(
    directory: str | os.PathLike[str],
    texts: Sequence[str] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    python: str | None = None,
    force: str | None = None,
    return_ids: bool = False,
    memory_limit: int | None = CHILD_MEMORY_LIMIT,
) -> TokenizerReport:
    """Load the tokenizer in ``directory`` in a child process (offline, killed after ``timeout`` s, at most
    ``memory_limit`` bytes of address space, and killed with the doctor).

    ``force``: ``"tokenizers"`` (the tokenizer.json-only path, an error where it does not apply) or
    ``"transformers"``; None picks the tokenizers path when :func:`fast_path_settings` allows it. ``return_ids``:
    the report also carries every text's ids (``sample_ids``)."""
    directory = os.path.abspath(str(directory))
    if python is None and texts is None and force is None and not return_ids and memory_limit == CHILD_MEMORY_LIMIT:
        early = _take_prefetched(directory)
        if early is not None:
            proc, t0 = early
            try:
                stdout, stderr = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                return TokenizerReport(
                    False,
                    directory,
                    "timeout",
                    f"the tokenizer did not load within {timeout:g} s (the loading process was stopped)",
                    wall_s=time.monotonic() - t0,
                )
            return _report_from(directory, proc.returncode, stdout, stderr, time.monotonic() - t0)
    cmd = [python or sys.executable, "-I", "-B", "-c", _BOOT]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            cmd,
            input=_request(directory, texts, force, return_ids, memory_limit),
            capture_output=True,
            timeout=timeout,
            env=_child_env(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return TokenizerReport(
            False, directory, "timeout", f"the tokenizer did not load within {timeout:g} s (the loading process was stopped)", wall_s=time.monotonic() - t0
        )
    except OSError as exc:
        return TokenizerReport(False, directory, "spawn", f"cannot start {cmd[0]}: {exc.strerror or exc}", wall_s=time.monotonic() - t0)
    return _report_from(directory, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)


# Files AutoTokenizer may read in a model directory. config.json only matters when tokenizer_config.json does not
# name the tokenizer class (transformers then picks it from config.json's model_type).
_TOKENIZER_INPUTS = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "tokenizer.model",
)
# at most this many loading processes at once (each is ~200 MB of transformers): 50 targets with 50 different
# models must not start 50 interpreters together
MAX_CONCURRENT_LOADS = max(1, min(4, os.cpu_count() or 1))
_load_slots = threading.BoundedSemaphore(MAX_CONCURRENT_LOADS)
_cache_lock = threading.Lock()
_cache: dict[str, TokenizerReport] = {}
_key_locks: dict[str, threading.Lock] = {}


def tokenizer_digest(directory: str | os.PathLike[str]) -> str | None:
    """sha256 over the contents of the tokenizer files in ``directory`` (None when one cannot be read): two copies
    of the same tokenizer (several targets serving one model, a copied snapshot) get the same digest."""
    h = hashlib.sha256()
    d = Path(directory)
    names = list(_TOKENIZER_INPUTS)
    from .readers import file_digest, loads_json, read_text

    try:
        tc = loads_json(read_text(d / "tokenizer_config.json", "json")) if (d / "tokenizer_config.json").is_file() else {}
    except (OSError, ValueError):
        tc = {}
    if not isinstance(tc, dict) or not tc.get("tokenizer_class"):
        names.append("config.json")
    for name in names:
        p = d / name
        try:
            if not p.exists():
                h.update(f"{name}:absent\0".encode())
                continue
            if not stat.S_ISREG(p.stat().st_mode):
                return None
            h.update(f"{name}:".encode())
            file_digest(p, h, "tokenizer")  # bounded; a FIFO swapped in after the stat is refused, not read
            h.update(b"\0")
        except OSError:
            return None
    return h.hexdigest()


def cached_load_report(
    directory: str | os.PathLike[str],
    texts: Sequence[str] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> TokenizerReport:
    """:func:`load_report`, shared across targets (and runs in one process) when the tokenizer files and texts are
    byte-identical. Timeouts and crashes are not cached."""
    digest = tokenizer_digest(directory)
    if digest is None:
        with _load_slots:
            return load_report(directory, texts, timeout=timeout)
    th = hashlib.sha256(json.dumps(list(texts), ensure_ascii=True).encode()).hexdigest() if texts is not None else "-"
    key = f"{digest}:{th}"
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        with _load_slots:
            rep = load_report(directory, texts, timeout=timeout)
        if rep.ok or rep.stage in ("load", "encode", "import"):
            with _cache_lock:
                _cache[key] = rep
        return rep


def clear_cache() -> None:
    """Forget every cached report (for tests and long-lived library use)."""
    with _cache_lock:
        _cache.clear()
        _key_locks.clear()


# --------------------------------------------------------------------------------------------
# --samples


@dataclass(frozen=True)
class Sample:
    line: int  # 1-based line number in the file
    text: str
    kind: str | None = None  # "query" | "document" | None (unknown)


@dataclass(frozen=True)
class SamplesFile:
    path: str
    format: str  # "text" | "jsonl"
    samples: tuple[Sample, ...]
    problems: tuple[str, ...] = ()  # lines that could not be used, with why
    truncated: bool = False  # more than MAX_SAMPLES / MAX_SAMPLES_BYTES: only the first part is used
    blank_lines: int = 0


class SamplesError(ValueError):
    """The --samples file cannot be used at all."""


def _kind_of(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    v = value.strip().lower()
    if v in QUERY_KINDS:
        return "query"
    if v in DOC_KINDS:
        return "document"
    return None


def read_samples(path: str | os.PathLike[str], *, max_samples: int = MAX_SAMPLES, max_bytes: int = MAX_SAMPLES_BYTES) -> SamplesFile:
    """Parse a --samples file: one text per line, or JSONL objects with a text field (``text``; also
    ``input``/``content``/``query``/``document``/``passage``) and an optional kind (``type``/``kind``/``role``:
    query or document). JSONL is assumed when the first non-blank line is a JSON object. Raises SamplesError."""
    from .readers import ReadError, read_head
    from .sanitize import printable

    p = Path(path)
    try:
        st = p.stat()
        if not stat.S_ISREG(st.st_mode):
            raise SamplesError(f"--samples {printable(path)}: not a regular file")
        raw = read_head(p, max_bytes + 1)  # FIFOs and devices refused; a larger file is truncated and says so
    except ReadError as exc:
        raise SamplesError(f"--samples {exc}") from None
    except FileNotFoundError:
        raise SamplesError(f"--samples {path}: no such file") from None
    except PermissionError:
        raise SamplesError(f"--samples {path}: permission denied") from None
    except IsADirectoryError:
        raise SamplesError(f"--samples {path}: is a directory") from None
    except OSError as exc:
        raise SamplesError(f"--samples {path}: {exc.strerror or exc}") from None
    truncated = len(raw) > max_bytes
    if truncated:
        raw = raw[:max_bytes]
        raw = raw[: raw.rfind(b"\n") + 1] if b"\n" in raw else raw
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    fmt = "text"
    for ln in lines:
        s = ln.strip()
        if not s:
            continue
        if s.startswith(b"{"):
            try:
                fmt = "jsonl" if isinstance(json.loads(s), dict) else "text"
            except ValueError:
                fmt = "text"
        break
    samples: list[Sample] = []
    problems: list[str] = []
    blank = 0
    for i, ln in enumerate(lines, 1):
        if len(samples) >= max_samples:
            truncated = True
            break
        if ln.endswith(b"\r"):
            ln = ln[:-1]
        try:
            s = ln.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"line {i}: not valid UTF-8 (byte {exc.start})")
            continue
        if not s.strip():
            blank += 1
            continue
        if fmt == "text":
            kind = "query" if s.startswith("Instruct:") else None
            samples.append(Sample(i, s, kind))
            continue
        try:
            obj = json.loads(s)
        except ValueError as exc:
            problems.append(f"line {i}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"line {i}: a JSON {type(obj).__name__}, not an object with a text field")
            continue
        key = "text" if "text" in obj else next((k for k in TEXT_KEYS if k in obj), None)
        if key is None or not isinstance(obj[key], str):
            problems.append(f"line {i}: no string field 'text'")
            continue
        kind = next((_kind_of(obj[k]) for k in KIND_KEYS if k in obj and _kind_of(obj[k])), None)
        if kind is None and key in ("query", "document", "passage"):
            kind = "query" if key == "query" else "document"
        if kind is None and obj[key].startswith("Instruct:"):
            kind = "query"
        samples.append(Sample(i, obj[key], kind))
    if not samples and not problems:
        raise SamplesError(f"--samples {path}: no samples in the file (it is empty or blank)")
    return SamplesFile(str(p), fmt, tuple(samples), tuple(problems), truncated, blank)


# `Instruct: {task}\nQuery:{query}` (QwenLM/Qwen3-Embedding get_detailed_instruct; no space after "Query:")
_INSTRUCT = re.compile(r"\AInstruct: (?P<task>[^\n]*\S[^\n]*)\nQuery:(?P<query>.*)\Z", re.S)


def query_form_problem(text: str, kind: str | None) -> str | None:
    """Why ``text`` is not in Qwen3-Embedding's query form, or None (fine, or not a query)."""
    if kind == "document":
        if text.startswith("Instruct:") or "\nQuery:" in text:
            return "a document with an instruction (documents take no prefix)"
        return None
    looks_like_query = kind == "query" or text.startswith("Instruct") or "Query:" in text or re.match(r"(?i)\s*query\s*:", text) is not None
    if not looks_like_query:
        return None
    m = _INSTRUCT.match(text)
    if m:
        q = m.group("query")
        if q[:1].isspace():
            return "a space after `Query:` (the official form is `Query:{query}`, no space)"
        if not q.strip():
            return "nothing after `Query:`"
        return None
    if text.startswith("Instruct:"):
        head = text[len("Instruct:") :]
        if "\\nQuery:" in text and "\nQuery:" not in text:
            return "a literal backslash-n (\\n) before `Query:` instead of a newline"
        if "\nQuery:" not in text:
            if "Query:" in text:
                return "`Query:` not on a new line after the instruction"
            if re.search(r"(?i)\nquery\s*:", text):
                return "`Query:` spelled differently (it is case-sensitive: `Query:`)"
            return "no `\\nQuery:` after the instruction"
        if not head.startswith(" ") or head.startswith("  "):
            return "not one space after `Instruct:`"
        return "more than one line in the instruction"
    if re.match(r"\s*query\s*:", text):
        return "a `query:` prefix (E5 style), not Qwen's `Instruct: {task}\\nQuery:{query}`"
    if "Query:" in text:
        return "`Query:` without the `Instruct: {task}` line before it"
    return "no instruction (queries need `Instruct: {task}\\nQuery:{query}`)"


def p99(values: Sequence[int]) -> int | None:
    """Nearest-rank 99th percentile."""
    if not values:
        return None
    s = sorted(values)
    import math

    return s[max(0, math.ceil(0.99 * len(s)) - 1)]


# the child's side, imported light (no hashlib, subprocess, dataclasses: ~8 MB less in every loading process)
from .tokenizer_child import (  # noqa: E402,F401
    NFC_PROBE,
    RESULT_MARKER,
    VERY_LARGE,
    _bound_self,
    _work,
    _worker_run,
    fast_path_settings,
)
