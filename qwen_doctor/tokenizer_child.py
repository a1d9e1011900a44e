"""The tokenizer-loading child's side of :mod:`qwen_doctor.tokenizer_tools` (see there for why a child process).

Kept apart so the child imports little: json, os, sys, time, unicodedata and the bounded reader; not hashlib,
subprocess or dataclasses, which the doctor's side needs (~8 MB of resident memory in every loading process).
"""

from __future__ import annotations

import json
import os
import sys
import time
import unicodedata
from typing import Any

RESULT_MARKER = "QWEN_DOCTOR_TOKENIZER_RESULT "
# text whose NFC and NFD forms differ (Latin diacritics, Hangul, kana with dakuten, Greek tonos)
NFC_PROBE = "café naïve Ångström 한국어 ゔ Ελληνικά"
VERY_LARGE = 10**20  # transformers' "no limit" model_max_length is ~1e30


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
    info: dict[str, Any] = {
        "tokenizer_class": settings["tokenizer_class"],
        "model_max_length": settings["model_max_length"],
        "json_loader": "split" if split else "whole",
    }
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
