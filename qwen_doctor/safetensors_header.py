"""Read safetensors headers without loading a tensor (stdlib only; no safetensors, numpy or torch).

A safetensors file is: an unsigned 64-bit little-endian header length N, N bytes of JSON (tensor name ->
``{"dtype", "shape", "data_offsets": [begin, end]}`` plus an optional ``__metadata__``), then the data
buffer. The file is complete exactly when its size is ``8 + N + max(end)``; the safetensors loader refuses
any other size. A git-LFS *pointer* (what a clone without ``git lfs pull`` leaves) is a ~130-byte text file
starting with ``version https://git-lfs.github.com/spec/v1``.

Sharded checkpoints name their shards in ``model.safetensors.index.json`` (``weight_map``: tensor -> file).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

LFS_SPEC_LINE = b"version https://git-lfs.github.com/spec/v1"
_LFS_OID = re.compile(rb"^oid sha256:([0-9a-f]{64})$", re.M)
_LFS_SIZE = re.compile(rb"^size (\d+)$", re.M)
LFS_MAX_POINTER_BYTES = 1024  # git-lfs pointers are ~130 bytes; git-lfs itself refuses pointers over 1024

# bits per element of every safetensors dtype (safetensors/src/tensor.rs `Dtype`)
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}
# names people know, for messages and evidence
DTYPE_NAMES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "F64": "float64", "F8_E4M3": "float8_e4m3", "F8_E5M2": "float8_e5m2"}

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors loader's own limit (100 MB)
INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"


class HeaderError(ValueError):
    """A safetensors file whose header cannot be read or does not describe the file."""


@dataclass(frozen=True)
class LfsPointer:
    oid: str | None
    size: int | None  # the size of the real file the pointer stands for


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


@dataclass(frozen=True)
class SafetensorsHeader:
    path: str
    header_len: int
    tensors: tuple[TensorInfo, ...]
    metadata: dict[str, str]
    file_size: int

    @property
    def data_bytes(self) -> int:
        """Bytes the header declares for tensor data (its largest end offset)."""
        return max((t.end for t in self.tensors), default=0)

    @property
    def expected_size(self) -> int:
        return 8 + self.header_len + self.data_bytes

    @property
    def complete(self) -> bool:
        return self.file_size == self.expected_size

    @property
    def weight_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    def bytes_by_dtype(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tensors:
            out[t.dtype] = out.get(t.dtype, 0) + t.nbytes
        return out


def lfs_pointer(path: str | os.PathLike[str]) -> LfsPointer | None:
    """The git-LFS pointer a file is, or None when it is a real file (small read; never the whole file)."""
    from .readers import read_head

    try:  # a FIFO or a device named like a model file is refused here, never opened for a blocking read
        head = read_head(path, LFS_MAX_POINTER_BYTES + 1)
    except OSError:
        return None
    if len(head) > LFS_MAX_POINTER_BYTES or not head.startswith(LFS_SPEC_LINE):
        return None
    oid = _LFS_OID.search(head)
    size = _LFS_SIZE.search(head)
    return LfsPointer(oid.group(1).decode() if oid else None, int(size.group(1)) if size else None)


def is_lfs_pointer(path: str | os.PathLike[str]) -> bool:
    return lfs_pointer(path) is not None


def _numel(shape: Iterable[int]) -> int:
    return math.prod(shape)


def read_header(path: str | os.PathLike[str]) -> SafetensorsHeader:
    """Parse the header of one safetensors file. Raises HeaderError (or OSError when unreadable)."""
    from .readers import loads_json, read_head

    p = Path(path)
    size = p.stat().st_size
    raw = read_head(p, 8)  # bounded reads of a regular file only (readers.py)
    if len(raw) < 8:
        raise HeaderError(f"{p.name} is {size} bytes long, shorter than the 8-byte header length")
    n = int.from_bytes(raw, "little")
    if n > MAX_HEADER_BYTES:
        raise HeaderError(f"{p.name} declares a {n}-byte header (the limit is {MAX_HEADER_BYTES}): not a safetensors file or corrupt")
    if 8 + n > size:
        raise HeaderError(f"{p.name} declares a {n}-byte header but the file has only {size - 8} bytes after the length: truncated")
    body = read_head(p, n, offset=8)
    try:
        obj = loads_json(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HeaderError(f"{p.name}: the header is not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise HeaderError(f"{p.name}: the header is not a JSON object")
    meta = obj.pop("__metadata__", None) or {}
    tensors: list[TensorInfo] = []
    for name, spec in obj.items():
        if not isinstance(spec, dict):
            raise HeaderError(f"{p.name}: tensor {name!r} has no dtype/shape/data_offsets")
        dtype = spec.get("dtype")
        shape = spec.get("shape")
        offs = spec.get("data_offsets")
        if dtype not in DTYPE_BITS:
            raise HeaderError(f"{p.name}: tensor {name!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise HeaderError(f"{p.name}: tensor {name!r} has an invalid shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) and o >= 0 for o in offs) and offs[0] <= offs[1]):
            raise HeaderError(f"{p.name}: tensor {name!r} has invalid data_offsets {offs!r}")
        need = math.ceil(_numel(shape) * DTYPE_BITS[dtype] / 8)
        if offs[1] - offs[0] != need:
            raise HeaderError(f"{p.name}: tensor {name!r} ({dtype} {shape}) needs {need} bytes but its offsets span {offs[1] - offs[0]}")
        tensors.append(TensorInfo(name, dtype, tuple(shape), offs[0], offs[1]))
    tensors.sort(key=lambda t: t.begin)
    return SafetensorsHeader(str(p), n, tuple(tensors), {str(k): str(v) for k, v in dict(meta).items()}, size)


def main_dtype(headers: Iterable[SafetensorsHeader]) -> str | None:
    """The dtype holding the most bytes across the files (the model's weight dtype)."""
    total: dict[str, int] = {}
    for h in headers:
        for k, v in h.bytes_by_dtype().items():
            total[k] = total.get(k, 0) + v
    return max(total, key=lambda k: total[k]) if total else None


def key_prefix(names: Iterable[str]) -> str | None:
    """``"model.layers"`` when layer tensors are named ``model.layers.N...`` (the Qwen3ForCausalLM layout),
    ``"layers"`` when named ``layers.N...`` (Qwen3-Embedding's own checkpoint, saved from Qwen3Model), else None."""
    has_model = has_bare = False
    for n in names:
        if n.startswith("model.layers."):
            has_model = True
        elif n.startswith("layers."):
            has_bare = True
    if has_model and not has_bare:
        return "model.layers"
    if has_bare and not has_model:
        return "layers"
    if has_model and has_bare:
        return "mixed"
    return None


@dataclass
class ShardIndex:
    path: str
    weight_map: dict[str, str]
    total_size: int | None
    shards: tuple[str, ...] = field(default_factory=tuple)


def read_index(path: str | os.PathLike[str]) -> ShardIndex:
    """Parse model.safetensors.index.json. Raises HeaderError on a malformed index (OSError when unreadable)."""
    from .readers import loads_json, read_text

    p = Path(path)
    try:
        obj = loads_json(read_text(p, "json"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HeaderError(f"{p.name} is not valid JSON ({exc})") from None
    wm = obj.get("weight_map") if isinstance(obj, dict) else None
    if not isinstance(wm, dict) or not all(isinstance(v, str) for v in wm.values()):
        raise HeaderError(f"{p.name} has no valid weight_map")
    for v in wm.values():
        if "/" in v or "\\" in v or v in ("", ".", ".."):
            raise HeaderError(f"{p.name} names a shard outside the directory: {v!r}")
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    total = meta.get("total_size")
    shards = tuple(sorted(set(wm.values())))
    return ShardIndex(str(p), dict(wm), int(total) if isinstance(total, (int, float)) else None, shards)


def human_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n} B"


def describe(h: SafetensorsHeader) -> dict[str, Any]:
    """Small JSON-able summary of one file (for evidence)."""
    return {
        "file": os.path.basename(h.path),
        "tensors": len(h.tensors),
        "weight_bytes": h.weight_bytes,
        "file_size": h.file_size,
        "expected_size": h.expected_size,
    }
