"""Load a BPE tokenizer.json with its model read apart: the same tokenizer at half the peak memory.

``tokenizers.Tokenizer.from_file`` deserializes the ``model`` section through serde's tagged-enum path, which first
buffers the whole section (151,643 vocabulary entries and 151,387 merges for Qwen3) as a generic tree: the real
Qwen3 tokenizer.json peaks at ~145 MB of resident memory in a fresh interpreter, ~70 MB of it that buffer. This
module builds the same tokenizer from the same file in pieces:

* the small top-level sections (normalizer, pre-tokenizer, post-processor, decoder) go through ``Tokenizer.from_str``
  with an empty BPE model, and are moved onto the real tokenizer;
* the vocabulary object is handed to ``BPE.from_file`` unchanged (it is a vocab.json), the merges rewritten as a
  merges.txt, both through anonymous in-memory files (``memfd_create``: nothing is written to any file system);
* the added tokens are added in file order with their flags, as ``from_file`` does, and each must get the id the
  file gives it.

It applies only to the layout ``tokenizers`` itself writes (``model`` the last top-level key, ``merges`` the model's
last key, a BPE model, merges as ``"a b"`` strings or ``["a", "b"]`` pairs) on Linux; anything else returns None and
the caller loads the file whole. The ids are checked against ``from_file`` on the real Qwen3 files (both merges
layouts) and on random tokenizers written by ``tokenizers`` itself (tests/core/test_tokenizer_split.py).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

_WS = rb"[ \t\r\n]*"
_STR = rb'"((?:[^"\\]|\\.)*)"'
_MODEL_KEY = re.compile(rb'"model"' + _WS + rb":" + _WS + rb"\{")
_VOCAB_KEY = re.compile(rb'"vocab"' + _WS + rb":" + _WS + rb"\{")
_MERGES_KEY = re.compile(rb'"merges"' + _WS + rb":" + _WS + rb"\[")
_PAIR = re.compile(rb"\[" + _WS + _STR + _WS + rb"," + _WS + _STR + _WS + rb"\]" + _WS + rb",?" + _WS)
_ITEM = re.compile(_STR + _WS + rb",?" + _WS)
# what BPE.from_file takes besides the two files (and what tokenizers serializes before "vocab")
_BPE_PARAMS = ("dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", "byte_fallback", "ignore_merges")
_COMPONENTS = ("normalizer", "pre_tokenizer", "post_processor", "decoder")
_HEADER_KEYS = {"version", "truncation", "padding", "added_tokens", *_COMPONENTS}
_WSB = b" \t\r\n"
_ADDED_FLAGS = ("single_word", "lstrip", "rstrip", "normalized", "special")


def _rstrip_comma(b: bytes) -> bytes:
    b = b.rstrip(b" \t\r\n")
    return b[:-1].rstrip(b" \t\r\n") if b.endswith(b",") else b


_CHUNK = 1 << 18


def _chunks(work: bytes, size: int = _CHUNK):
    """``work`` (no escaped quotes left in it) in pieces of about ``size`` bytes, each cut outside a string."""
    start, n = 0, len(work)
    while start < n:
        q = work.find(b'"', start + size) if start + size < n else -1
        if q < 0:
            yield work[start:]
            return
        if work.count(b'"', start, q) % 2:  # q closes a string: cut after it
            q += 1
        yield work[start:q]
        start = q


def _seps(first: int, m: int, pairs: bool) -> list[bytes]:
    """What goes before strings first .. first+m-1 of the array (and after the last of them, nothing)."""
    if not pairs:
        return [b"\n"] * m + [b""]
    seps = ([b" ", b"\n"] if first % 2 else [b"\n", b" "]) * (m // 2 + 1)
    return seps[:m] + [b""]


def merges_text(body: bytes) -> bytes | None:
    """The merges array of a tokenizer.json (``body``: from its ``[`` to its ``]``) as merges.txt lines, or None when
    it is not a plain array of ``"a b"`` strings or ``["a", "b"]`` pairs of byte-level tokens.

    Done with bytes operations, not a JSON parse (300k small Python objects at once) nor a regex (~0.6 s for Qwen3):
    the escaped backslashes and quotes are set aside, the text is split at the quotes a chunk at a time, what lies
    between the strings must be exactly the array's punctuation, and it is replaced by a space or a newline."""
    if b"\x00" in body:
        return None
    work = body.replace(b"\\\\", b"\x00\x01").replace(b'\\"', b"\x00\x02")
    punct: list[bytes] = []
    out: list[bytes] = []
    n = 0
    pairs = None
    for chunk in _chunks(work):
        pieces = chunk.split(b'"')
        if len(pieces) % 2 == 0:  # an unclosed string: not JSON
            return None
        punct.append(b"|".join(pieces[0::2]).translate(None, _WSB))
        m = len(pieces) // 2
        if pairs is None and m:
            pairs = punct[0].startswith(b"[[")
        seps = _seps(n, m, bool(pairs))
        if n == 0 and seps:
            seps[0] = b""
        pieces[0::2] = seps
        out.append(b"".join(pieces))
        n += m
    del work
    punct_all = b"".join(punct)
    if n == 0:
        return b"" if punct_all == b"[]" else None
    if pairs and n % 2 == 0 and punct_all == b"[[|" + b",|],[|" * (n // 2 - 1) + b",|]]":
        count = n // 2
    elif not pairs and punct_all == b"[|" + b",|" * (n - 1) + b"]":
        count = n
    else:
        return None
    text = b"".join(out) + b"\n"
    del out
    text = text.replace(b"\x00\x02", b'\\"').replace(b"\x00\x01", b"\\\\")  # escaped again: decoded below
    if b"\\" in text:  # JSON escapes (\\ \" \uXXXX \n ...): decoded line by line, only the lines with any
        parts, pos = [], 0
        at = text.find(b"\\")
        while at >= 0:
            a = text.rfind(b"\n", 0, at) + 1
            b = text.find(b"\n", at)
            try:
                parts += [text[pos:a], json.loads(b'"' + text[a:b] + b'"').encode("utf-8")]
            except (ValueError, UnicodeEncodeError):
                return None
            pos = b
            at = text.find(b"\\", b)
        parts.append(text[pos:])
        text = b"".join(parts)
    # merges.txt is split on single spaces and newlines: a token holding either cannot be written this way
    if text.count(b" ") != count or text.count(b"\n") != count or b"\r" in text:
        return None
    return text


def vocab_strings(vocab: bytes) -> int | None:
    """How many JSON strings the vocabulary object holds (in a valid one, its keys), or None when a value is
    certainly not an id ``Tokenizer.from_file`` accepts (above u32).

    ``BPE.from_file`` skips a vocab.json entry whose value is not a number, where tokenizer.json's own loader refuses
    the whole file: the doctor must not pass a file the servers cannot load. So the model built from the vocabulary
    must have exactly this many entries (a string, null, true or list value is skipped there and shows up here); a
    float, a negative number or a leading zero is an error there already."""
    if b"\x00" in vocab:
        return None
    quotes = vocab.replace(b"\\\\", b"").replace(b'\\"', b"").count(b'"')
    if quotes % 2:
        return None
    if any(int(m) > 0xFFFFFFFF for m in re.findall(rb"\d{10,}", vocab)):  # (a long digit run in a key: the whole load)
        return None
    return quotes // 2


def _memfd(name: str, data: bytes | memoryview) -> int:
    fd = os.memfd_create(name, getattr(os, "MFD_CLOEXEC", 1))
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    return fd


def load(path: str, max_bytes: int) -> Any | None:
    """The tokenizer in tokenizer.json at ``path`` (a `tokenizers.Tokenizer`), built in pieces; None where this does not
    apply or anything goes wrong (the caller then uses ``Tokenizer.from_file``, which says what is wrong)."""
    if not hasattr(os, "memfd_create") or not os.path.isdir("/proc/self/fd"):
        return None
    from .readers import mapped

    fds: list[int] = []
    try:
        # through the bounded reader: symlinks followed (a Hugging Face cache snapshot links to its blobs), FIFOs and
        # devices refused, at most max_bytes; any refusal leaves it to the whole-file load, which says what is wrong
        with mapped(path, "tokenizer", cap=max_bytes) as mm:
            parts = _split(mm)
            if parts is None:
                return None
            header, params, (vs, ve), (ms, me) = parts
            keys = vocab_strings(mm[vs:ve])
            if keys is None:
                return None
            fds.append(_memfd("vocab.json", memoryview(mm)[vs:ve]))
            body = mm[ms:me]
        merges = merges_text(body)
        del body
        if merges is None:
            return None
        fds.append(_memfd("merges.txt", b"#version: 0.2\n" + merges))  # a first line of #version is skipped, as in merges.txt
        del merges
        try:
            return _assemble(header, params, keys, *(f"/proc/self/fd/{f}" for f in fds))
        except Exception:  # noqa: BLE001 - never an error the whole-file load would not give: the caller loads it whole
            return None
    except OSError:  # ReadError (refused by the bounded reader), or no memfd to be had
        return None
    finally:
        for f in fds:
            os.close(f)


def _split(mm: Any) -> tuple[dict, dict, tuple[int, int], tuple[int, int]] | None:
    """(the top-level sections but the model, the BPE parameters, the vocab span, the merges span) or None."""
    m = _MODEL_KEY.search(mm)
    if m is None:
        return None
    head = _rstrip_comma(mm[: m.start()])
    try:
        header = json.loads(head + b"}")
    except ValueError:
        return None
    if not isinstance(header, dict) or not set(header) <= _HEADER_KEYS or not isinstance(header.get("added_tokens", []), list):
        return None
    if header.get("truncation") is not None or header.get("padding") is not None:  # not carried over: the whole file
        return None
    v = _VOCAB_KEY.search(mm, m.end())
    if v is None:
        return None
    try:
        params = json.loads(b"{" + _rstrip_comma(mm[m.end() : v.start()]) + b"}")
    except ValueError:
        return None
    if not isinstance(params, dict) or params.get("type") != "BPE" or not set(params) - {"type"} <= set(_BPE_PARAMS):
        return None
    g = _MERGES_KEY.search(mm, v.end())
    if g is None:
        return None
    vocab = _rstrip_comma(mm[v.end() - 1 : g.start()])
    if not vocab.endswith(b"}"):
        return None
    ve = v.end() - 1 + len(vocab)
    # the merges array closes the model, and the model the file: `] } }` and nothing after
    tail_at = max(g.end(), len(mm) - 64)
    tail = mm[tail_at:].rstrip(b" \t\r\n")
    if not tail.endswith(b"}"):
        return None
    tail = tail[:-1].rstrip(b" \t\r\n")
    if not tail.endswith(b"}"):
        return None
    tail = tail[:-1].rstrip(b" \t\r\n")
    if not tail.endswith(b"]"):
        return None
    me = tail_at + len(tail)
    return header, {k: params[k] for k in _BPE_PARAMS if k in params}, (v.end() - 1, ve), (g.end() - 1, me)


def _assemble(header: dict, params: dict, keys: int, vocab_path: str, merges_path: str) -> Any | None:
    from tokenizers import AddedToken, Tokenizer
    from tokenizers.models import BPE

    kwargs = {k: v for k, v in params.items() if v is not None}
    tok = Tokenizer(BPE.from_file(vocab_path, merges_path, **kwargs))
    if tok.get_vocab_size(with_added_tokens=False) != keys:  # an entry skipped (or a duplicate key): the whole load
        return None
    added = header.get("added_tokens") or []
    shell = dict(header, added_tokens=[], model={"type": "BPE", "vocab": {}, "merges": []})
    parts = Tokenizer.from_str(json.dumps(shell))
    for name in _COMPONENTS:
        comp = getattr(parts, name)
        if comp is not None:
            setattr(tok, name, comp)
    if added:
        tokens = []
        for a in added:
            if not isinstance(a, dict) or not isinstance(a.get("content"), str) or not isinstance(a.get("id"), int):
                return None
            tokens.append(AddedToken(a["content"], **{k: bool(a[k]) for k in _ADDED_FLAGS if k in a}))
        tok.add_tokens(tokens)
        for a in added:  # from_file would give these ids (and warn); any other outcome: load the file whole
            if tok.token_to_id(a["content"]) != a["id"]:
                return None
    return tok
