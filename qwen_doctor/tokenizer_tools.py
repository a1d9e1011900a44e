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
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

DEFAULT_TIMEOUT_S = 45.0
# address-space limit of the loading process (RLIMIT_AS): the real Qwen3 tokenizer needs ~0.5 GiB of it through
# transformers, ~0.3 GiB through tokenizers; a pathological tokenizer.json fails with a MemoryError instead of
# pushing the host into swap or the OOM killer
CHILD_MEMORY_LIMIT = 2 * 1024**3
RESULT_MARKER = "QWEN_DOCTOR_TOKENIZER_RESULT "
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
# text whose NFC and NFD forms differ (Latin diacritics, Hangul, kana with dakuten, Greek tonos)
NFC_PROBE = "café naïve Ångström 한국어 ゔ Ελληνικά"
VERY_LARGE = 10**20  # transformers' "no limit" model_max_length is ~1e30

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
    "from qwen_doctor.tokenizer_tools import _worker_run;raise SystemExit(_worker_run(r))"
)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OFFLINE_ENV)
    # bounded thread pools: each Rust (rayon) worker thread and glibc malloc arena reserves address space, and the
    # child runs under an address-space limit (CHILD_MEMORY_LIMIT); a 128-core host must not use it all up in arenas
    env.setdefault("RAYON_NUM_THREADS", str(max(1, min(4, os.cpu_count() or 1))))
    env.setdefault("MALLOC_ARENA_MAX", "2")
    # large blocks always mmap'd, so the tokenizer.json pieces freed before the vocabulary is built go back to the OS
    env.setdefault("MALLOC_MMAP_THRESHOLD_", str(128 * 1024))
    env["TOKENIZERS_PARALLELISM"] = "true"
    return env


def _child_path() -> list[str]:
    root = str(Path(__file__).resolve().parent.parent)  # this package, also from an uninstalled checkout
    out = [root]
    for p in sys.path:
        if p and os.path.isabs(p) and p not in out:
            out.append(p)
    return out


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
    request = json.dumps(
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
    )
    cmd = [python or sys.executable, "-I", "-B", "-c", _BOOT]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            cmd,
            input=request.encode("ascii"),
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
    wall = time.monotonic() - t0
    out = proc.stdout.decode("utf-8", "replace")
    line = next((ln for ln in reversed(out.splitlines()) if ln.startswith(RESULT_MARKER)), None)
    if line is None:
        err = [ln for ln in proc.stderr.decode("utf-8", "replace").strip().splitlines() if ln.strip()]
        tail = err[-1].strip() if err else f"exit code {proc.returncode}"
        return TokenizerReport(False, directory, "crash", f"the tokenizer process ended without a result ({tail[:300]})", wall_s=wall)
    try:
        payload = json.loads(line[len(RESULT_MARKER) :])
    except ValueError:
        return TokenizerReport(False, directory, "crash", "the tokenizer process wrote an unreadable result", wall_s=wall)
    if not payload.get("ok"):
        return TokenizerReport(False, directory, str(payload.get("stage", "load")), str(payload.get("error", "unknown error")), payload, wall_s=wall)
    return TokenizerReport(True, directory, data=payload, wall_s=wall)


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


# --------------------------------------------------------------------------------------------
# the child process


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.flush()
    sys.stdout.write("\n" + RESULT_MARKER + json.dumps(payload, ensure_ascii=True) + "\n")
    sys.stdout.flush()


def _err(stage: str, exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, MemoryError):  # the RLIMIT_AS cap (_bound_self): not a property of the files alone
        return {"ok": False, "stage": "crash", "error": "MemoryError: the tokenizer needs more memory than the loading process may use"}
    msg = str(exc).strip().splitlines()
    text = msg[0] if msg else ""
    if len(text) > 400:
        text = text[:397] + "..."
    return {"ok": False, "stage": stage, "error": f"{type(exc).__name__}: {text}" if text else type(exc).__name__}


def _describe_tokenizer(tok: Any, backend: Any) -> dict[str, Any]:
    info: dict[str, Any] = {}
    if backend is not None:
        for key, attr in (("normalizer", "normalizer"), ("post_processor", "post_processor"), ("pre_tokenizer", "pre_tokenizer")):
            obj = getattr(backend, attr, None)
            info[key] = None if obj is None else repr(obj)[:400]
            info[key + "_type"] = None if obj is None else type(obj).__name__
    return info


# tokenizer classes whose transformers loading the fast path reproduces: tokenizer.json as is, special tokens from
# tokenizer_config.json, the class's defaults for the ones it does not name
_FAST_CLASSES = {"Qwen2Tokenizer", "Qwen2TokenizerFast"}
_QWEN2_DEFAULTS = {"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "bos_token": None, "unk_token": "<|endoftext|>"}
_NAMED_SPECIALS = ("eos_token", "pad_token", "bos_token", "unk_token")


def _token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or an AddedToken dict ({"content": ...})."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _read_json_dict(path: str) -> dict[str, Any] | None:
    from .readers import loads_json, read_text

    try:
        obj = loads_json(read_text(path, "tokenizer"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def fast_path_settings(d: str) -> tuple[dict[str, Any] | None, str]:
    """(settings, "") when the tokenizer in ``d`` can be loaded with the `tokenizers` library alone and give the ids
    transformers gives; else (None, why not). The settings are what transformers would take from tokenizer_config.json
    (and special_tokens_map.json) on top of tokenizer.json: the class, model_max_length, the named special tokens,
    split_special_tokens.

    Left to transformers: no tokenizer.json (it converts vocab.json + merges.txt), another tokenizer class (its own
    defaults and conversions), ``add_bos_token``/``add_eos_token`` set (transformers then rewrites the post-processor),
    and added or special tokens that tokenizer_config.json names but tokenizer.json lacks (transformers adds them)."""
    tj = os.path.join(d, "tokenizer.json")
    if not os.path.isfile(tj):
        return None, "no tokenizer.json (transformers converts vocab.json + merges.txt)"
    tc = _read_json_dict(os.path.join(d, "tokenizer_config.json"))
    if tc is None:
        return None, "no readable tokenizer_config.json (transformers picks the class from config.json)"
    cls = tc.get("tokenizer_class")
    if cls not in _FAST_CLASSES:
        return None, f"tokenizer class {cls!r} (the fast path knows {', '.join(sorted(_FAST_CLASSES))})"
    for key in ("add_bos_token", "add_eos_token"):
        if tc.get(key):
            return None, f"{key} is set in tokenizer_config.json (transformers rewrites the post-processor)"
    specials: dict[str, str | None] = {}
    for key in _NAMED_SPECIALS:
        specials[key] = _token_text(tc[key]) if key in tc else _QWEN2_DEFAULTS[key]
    if "added_tokens_decoder" not in tc:  # legacy layout: special_tokens_map.json fills in (as transformers does)
        stm = _read_json_dict(os.path.join(d, "special_tokens_map.json")) or {}
        for key in _NAMED_SPECIALS:
            if _token_text(stm.get(key)) and not _token_text(tc.get(key)):
                specials[key] = _token_text(stm.get(key))
    added = tc.get("added_tokens_decoder") or {}
    if not isinstance(added, dict):
        return None, "added_tokens_decoder in tokenizer_config.json is not a mapping"
    expected = {}
    for k, v in added.items():
        text = _token_text(v)
        if text is None or not (str(k).isascii() and str(k).isdigit()):
            return None, f"added_tokens_decoder entry {k!r} is not a token"
        expected[text] = int(k)
    extra = [_token_text(t) for t in (tc.get("additional_special_tokens") or []) if _token_text(t)]
    mml = tc.get("model_max_length")
    return {
        "tokenizer_class": cls,
        "specials": specials,
        "expected_added": expected,
        "required": sorted({t for t in specials.values() if t} | set(extra)),
        "split_special_tokens": bool(tc.get("split_special_tokens")),
        "model_max_length": int(mml) if isinstance(mml, (int, float)) and not isinstance(mml, bool) and 0 < mml < VERY_LARGE else None,
    }, ""


def _load_fast(d: str, settings: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The tokenizer.json in ``d`` through the `tokenizers` library (as TEI loads it), set up as transformers would
    encode with it: no truncation, no padding, special tokens split only with split_special_tokens. Raises
    _NotFast when tokenizer.json lacks a token tokenizer_config.json names."""
    from tokenizers import Tokenizer

    from .readers import CAPS
    from .tokenizer_split import load as load_split

    path = os.path.join(d, "tokenizer.json")
    backend = load_split(path, CAPS["tokenizer"])  # the same tokenizer at half the peak memory, where it applies
    split = backend is not None
    if backend is None:
        backend = Tokenizer.from_file(path)
    backend.no_truncation()
    backend.no_padding()
    if settings["split_special_tokens"]:
        backend.encode_special_tokens = True
    for text, want in settings["expected_added"].items():
        if backend.token_to_id(text) != want:
            raise _NotFast(f"tokenizer_config.json gives {text!r} id {want}, tokenizer.json {backend.token_to_id(text)}")
    for text in settings["required"]:
        if backend.token_to_id(text) is None:
            raise _NotFast(f"special token {text!r} is not in tokenizer.json (transformers would add it)")
    info: dict[str, Any] = {"tokenizer_class": settings["tokenizer_class"], "model_max_length": settings["model_max_length"], "json_loader": "split" if split else "whole"}
    for name in ("eos_token", "pad_token", "bos_token"):
        text = settings["specials"].get(name)
        info[name] = text
        info[name + "_id"] = backend.token_to_id(text) if text else None
    return backend, info


class _NotFast(Exception):
    """The fast path would not give transformers' ids: load through transformers instead."""


def _work(req: dict[str, Any]) -> dict[str, Any]:
    d = req["dir"]
    texts = req.get("texts")
    want = req.get("force") or None  # "tokenizers" | "transformers" | None (the fast path when it applies)
    fast_settings, why_not = (None, "transformers requested") if want == "transformers" else fast_path_settings(d)
    if fast_settings is not None:
        t0 = time.perf_counter()
        try:
            import tokenizers
        except Exception as exc:  # noqa: BLE001 - then transformers (which needs it too) says what is wrong
            why_not = f"tokenizers not importable: {type(exc).__name__}"
        else:
            t1 = time.perf_counter()
            try:
                backend, info = _load_fast(d, fast_settings)
            except _NotFast as exc:
                why_not = str(exc)
            except Exception as exc:  # noqa: BLE001
                return {**_err("load", exc), "import_s": round(t1 - t0, 3), "path": "tokenizers"}
            else:
                out: dict[str, Any] = {"ok": True, "import_s": round(t1 - t0, 3), "load_s": round(time.perf_counter() - t1, 3)}
                out["library"] = "tokenizers " + getattr(tokenizers, "__version__", "?")
                out["path"] = "tokenizers"
                out.update(info)
                return _measure(out, None, backend, texts, bool(req.get("return_ids")))
    if want == "tokenizers":
        return {"ok": False, "stage": "load", "error": f"the tokenizers-only path does not apply: {why_not}", "path": "tokenizers"}
    return _work_transformers(d, texts, why_not, bool(req.get("return_ids")))


def _work_transformers(d: str, texts: list[str] | None, why_not: str, want_ids: bool = False) -> dict[str, Any]:
    t0 = time.perf_counter()
    backend_only = None
    try:
        import transformers  # noqa: F401
        from transformers import AutoTokenizer
    except Exception as exc:  # transformers missing or broken: fall back to the tokenizers library
        backend_only = exc
    t1 = time.perf_counter()
    out: dict[str, Any] = {"ok": True, "import_s": round(t1 - t0, 3), "path": "transformers", "fast_path_skipped": why_not}
    try:
        if backend_only is None:
            tok = AutoTokenizer.from_pretrained(d, local_files_only=True, trust_remote_code=False)
            backend = getattr(tok, "backend_tokenizer", None) or getattr(tok, "_tokenizer", None)
            out["library"] = "transformers " + getattr(transformers, "__version__", "?")
        else:
            from tokenizers import Tokenizer

            tok = None
            backend = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
            out["path"] = "tokenizers"
            out["library"] = f"tokenizers (transformers not importable: {type(backend_only).__name__}: {str(backend_only)[:200]})"
    except Exception as exc:
        return {**_err("load", exc), "import_s": out["import_s"], "path": out["path"]}
    out["load_s"] = round(time.perf_counter() - t1, 3)
    if tok is None:
        out["tokenizer_class"] = "tokenizers.Tokenizer"
        out["model_max_length"] = None
    return _measure(out, tok, backend, texts, want_ids)


def _measure(out: dict[str, Any], tok: Any, backend: Any, texts: list[str] | None, want_ids: bool = False) -> dict[str, Any]:
    """Everything the checks need from a loaded tokenizer: ``tok`` a transformers tokenizer or None (then ``backend``,
    a `tokenizers.Tokenizer`, alone). ``want_ids``: also every sample's ids (``sample_ids``; for tests)."""
    t2 = time.perf_counter()
    try:
        if tok is not None:

            def encode(s: str) -> list[int]:
                return list(tok(s, add_special_tokens=True)["input_ids"])

            def encode_batch(b: list[str]) -> list[list[int]]:
                return [list(x) for x in tok(b, add_special_tokens=True)["input_ids"]]

            if backend is not None and hasattr(backend, "encode_batch"):
                slow_batch = encode_batch

                def encode_batch(b: list[str]) -> list[list[int]]:  # noqa: F811 - the Rust batch path, same ids
                    return [list(e.ids) for e in backend.encode_batch(b, add_special_tokens=True)]

                probe = (texts or [])[:32] + [NFC_PROBE, "test", ""]
                if encode_batch(probe) != slow_batch(probe):  # never seen; then stay on transformers' own path
                    encode_batch = slow_batch

            out["tokenizer_class"] = type(tok).__name__
            out["vocab_size"] = len(tok)
            out["base_vocab_size"] = int(tok.vocab_size)
            mml = getattr(tok, "model_max_length", None)
            out["model_max_length"] = int(mml) if isinstance(mml, (int, float)) and mml < VERY_LARGE else None
            for name in ("eos_token", "pad_token", "bos_token"):
                out[name] = getattr(tok, name, None)
                out[name + "_id"] = getattr(tok, name + "_id", None)
            added = getattr(tok, "added_tokens_decoder", {}) or {}
            out["added_tokens"] = {str(k): str(getattr(v, "content", v)) for k, v in added.items()}
            eot = tok.convert_tokens_to_ids("<|endoftext|>")
        else:

            def encode(s: str) -> list[int]:
                return list(backend.encode(s, add_special_tokens=True).ids)

            def encode_batch(b: list[str]) -> list[list[int]]:
                return [list(e.ids) for e in backend.encode_batch(b, add_special_tokens=True)]

            out["vocab_size"] = backend.get_vocab_size(with_added_tokens=True)
            out["base_vocab_size"] = backend.get_vocab_size(with_added_tokens=False)
            out["added_tokens"] = {str(k): str(v.content) for k, v in backend.get_added_tokens_decoder().items()}
            eot = backend.token_to_id("<|endoftext|>")
        out["endoftext_id"] = eot if isinstance(eot, int) and str(eot) in out["added_tokens"] else None
        out.update(_describe_tokenizer(tok, backend))
        out["ids_for_test"] = encode("test")
        out["ids_for_empty"] = encode("")
        nfc, nfd = unicodedata.normalize("NFC", NFC_PROBE), unicodedata.normalize("NFD", NFC_PROBE)
        out["nfc_ids"] = encode(nfc)
        out["nfd_ids"] = encode(nfd)
        out["nfc_equals_nfd"] = out["nfc_ids"] == out["nfd_ids"]
        if texts is not None:
            lengths: list[int] = []
            last_ids: list[int | None] = []
            all_ids: list[list[int]] = []
            for i in range(0, len(texts), 4096):
                for ids in encode_batch(list(texts[i : i + 4096])):
                    lengths.append(len(ids))
                    last_ids.append(ids[-1] if ids else None)
                    if want_ids:
                        all_ids.append(ids)
            out["sample_lengths"] = lengths
            out["sample_last_ids"] = last_ids
            if want_ids:
                out["sample_ids"] = all_ids
    except Exception as exc:
        return {**_err("encode", exc), "load_s": out.get("load_s"), "import_s": out.get("import_s"), "path": out.get("path")}
    out["encode_s"] = round(time.perf_counter() - t2, 3)
    return out


def _bound_self(parent_pid: int | None, memory_limit: int | None) -> None:
    """In the child, before any heavy import: die with the doctor (Linux PR_SET_PDEATHSIG) and cap the address space.

    Done here rather than in a ``preexec_fn``: the doctor starts these processes from its worker threads, and a
    ``preexec_fn`` is not safe in a multi-threaded parent (the child can deadlock between fork and exec)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except Exception:  # noqa: BLE001 - no libc/prctl: the timeout still bounds the child
            pass
        if parent_pid and os.getppid() != parent_pid:  # the doctor died before the prctl: nobody waits for us
            os._exit(1)
    if memory_limit:
        try:
            import resource

            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            want = memory_limit if hard == resource.RLIM_INFINITY else min(memory_limit, hard)
            if soft == resource.RLIM_INFINITY or soft > want:
                resource.setrlimit(resource.RLIMIT_AS, (want, hard))
        except (ImportError, ValueError, OSError):
            pass


def _worker_run(req: dict[str, Any]) -> int:
    """Entry point of the child (see _BOOT): do the work, print the result line, exit 0."""
    _bound_self(req.get("parent_pid"), req.get("memory_limit"))
    try:
        payload = _work(req)
    except BaseException as exc:  # noqa: BLE001 - report, never a traceback
        payload = _err("crash", exc)
    _emit(payload)
    return 0
