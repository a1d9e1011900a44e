"""model.weights: every safetensors file complete (headers only), the shard index consistent, weights agree with config.json.

The scan of a directory is shared by every target that serves it (one read per run per model directory).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ...facts import as_int
from ...results import Applicability, Fix, Outcome
from ...spec import check
from ._common import applies_model, download, is_regular, model_dir, model_key, more, shq

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


@dataclass(frozen=True)
class WeightScan:
    """What the headers of a model directory say (read once per run per directory; frozen, shared by targets)."""

    files: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    kinds: frozenset[str] = frozenset()  # lfs | truncated | missing | corrupt | unreadable | mismatch
    broken: tuple[str, ...] = ()  # files to download again
    tensors: int = 0
    weight_bytes: int = 0
    prefix: str | None = None  # layers | model.layers | mixed | None
    dtype: str | None = None  # the main safetensors dtype (e.g. BF16)
    bins: tuple[tuple[str, int], ...] = ()  # pytorch_model*.bin and their sizes, when there is no safetensors file


def scan_weights(d: Path, cfg: Mapping[str, Any] | None) -> WeightScan:
    """Read every safetensors header of ``d`` (and the shard index) and compare them with ``cfg``."""
    from ...safetensors_header import INDEX_NAME, SINGLE_NAME, HeaderError, human_bytes, key_prefix, lfs_pointer, main_dtype, read_header, read_index

    problems: list[str] = []
    kinds: set[str] = set()
    broken: list[str] = []
    headers: list[Any] = []
    index = None
    idx_path = d / INDEX_NAME
    if idx_path.exists():
        ptr = lfs_pointer(idx_path) if is_regular(idx_path) else None
        if ptr is not None:
            return WeightScan(problems=(f"{INDEX_NAME}: this is an LFS pointer; run git lfs pull",), kinds=frozenset({"lfs"}))
        try:
            index = read_index(idx_path)
        except (HeaderError, OSError) as exc:
            return WeightScan(problems=(f"{INDEX_NAME}: {exc}",), kinds=frozenset({"corrupt"}))
        names = list(index.shards)
    elif (d / SINGLE_NAME).exists() or (d / SINGLE_NAME).is_symlink():
        names = [SINGLE_NAME]
    else:
        names = sorted(p.name for p in d.glob("*.safetensors"))
    if not names:
        bins = []
        for b in sorted(p.name for p in d.glob("pytorch_model*.bin")):
            try:
                bins.append((b, (d / b).stat().st_size))
            except OSError:
                bins.append((b, 0))
        return WeightScan(bins=tuple(bins))
    for name in names:
        p = d / name
        if not p.exists():
            problems.append(f"{name} is missing" + (f" (named by {INDEX_NAME})" if index else ""))
            kinds.add("missing")
            broken.append(name)
            continue
        if not is_regular(p):
            problems.append(f"{name} is not a regular file")
            kinds.add("corrupt")
            continue
        ptr = lfs_pointer(p)
        if ptr is not None:
            real = f" {human_bytes(ptr.size)}" if ptr.size else ""
            problems.append(f"{name}: this is an LFS pointer; run git lfs pull (the real file is{real or ' not here'})")
            kinds.add("lfs")
            continue
        try:
            h = read_header(p)
        except PermissionError:
            problems.append(f"{name} cannot be read by the doctor's user")
            kinds.add("unreadable")
            continue
        except (HeaderError, OSError) as exc:
            msg = str(exc)
            problems.append(msg if msg.startswith(name) else f"{name}: {msg}")
            kinds.add("truncated" if "truncated" in msg else "corrupt")
            broken.append(name)
            continue
        if h.file_size < h.expected_size:
            problems.append(
                f"{name} is truncated: its header declares {h.expected_size} bytes, the file has {h.file_size} "
                f"({100 * h.file_size / max(1, h.expected_size):.0f}%): an interrupted download"
            )
            kinds.add("truncated")
            broken.append(name)
        elif h.file_size > h.expected_size:
            problems.append(f"{name} has {h.file_size - h.expected_size} bytes after the data its header declares: corrupt (the safetensors loader refuses it)")
            kinds.add("corrupt")
            broken.append(name)
        headers.append(h)
    if index is not None and "missing" not in kinds:
        held = {tns.name: os.path.basename(h.path) for h in headers for tns in h.tensors}
        absent = [k for k, f in index.weight_map.items() if held.get(k) != f and any(os.path.basename(h.path) == f for h in headers)]
        if absent:
            problems.append(f"{len(absent)} tensors {INDEX_NAME} places in a shard are not in it (e.g. {absent[0]}): shards from another download")
            kinds.add("mismatch")
    tensor_names = [tns.name for h in headers for tns in h.tensors]
    prefix = key_prefix(tensor_names)
    if prefix == "mixed":
        problems.append("tensor names mix `layers.*` and `model.layers.*`: files from two different checkpoints")
        kinds.add("mismatch")
    # agreement with config.json
    if cfg and headers and not kinds & {"missing", "lfs"}:
        layer_ids = {int(m.group(1)) for n in tensor_names if (m := re.match(r"^(?:model\.)?layers\.(\d+)\.", n))}
        n_layers = as_int(cfg.get("num_hidden_layers"))
        if layer_ids and n_layers is not None and len(layer_ids) != n_layers:
            problems.append(f"the weights hold {len(layer_ids)} layers but config.json says {n_layers}: config and weights come from different models")
            kinds.add("mismatch")
        emb = next((tns for h in headers for tns in h.tensors if tns.name in ("embed_tokens.weight", "model.embed_tokens.weight")), None)
        hidden, vocab = as_int(cfg.get("hidden_size")), as_int(cfg.get("vocab_size"))
        if emb is not None and len(emb.shape) == 2 and hidden and vocab and tuple(emb.shape) != (vocab, hidden):
            problems.append(
                f"{emb.name} is {list(emb.shape)} but config.json says vocab_size {vocab} x hidden_size {hidden}: config and weights come from different models"
            )
            kinds.add("mismatch")
    return WeightScan(
        files=tuple(names),
        problems=tuple(problems),
        kinds=frozenset(kinds),
        broken=tuple(broken),
        tensors=len(tensor_names),
        weight_bytes=sum(h.weight_bytes for h in headers),
        prefix=prefix,
        dtype=main_dtype(headers),
    )


@check(
    "model.weights",
    "Weights complete (safetensors headers)",
    applies=applies_model,
    requires=("model.directory",),
    reads=("model",),
    claims=("model.safetensors-errors", "sglang.qwen3-weight-prefix"),
)
def check_weights(ctx: "Context") -> Outcome:
    """What it checks: the weights: a single model.safetensors, or every shard that model.safetensors.index.json names;
    each file's safetensors header parses and the data size it declares matches the file size; no file is a git-LFS
    pointer; and the layer count and embedding table match config.json. Only headers are read: no tensor is loaded,
    so it takes milliseconds even for the 8B model, and a directory served by many targets is read once per run.

    Why it matters: a truncated download or a clone without `git lfs pull` is otherwise found only after a multi-minute
    server start (safetensors 0.8.0: "Error while deserializing header: incomplete metadata, file not fully covered"
    for a truncated file or trailing bytes, "header too large" for an LFS pointer; tests/claims/test_experiments.py). The total weight
    bytes feed the GPU memory check, and the key prefix (`layers.*` as in Qwen3-Embedding's checkpoint, or
    `model.layers.*`) decides whether SGLang 0.4.7-0.5.8.post1 loads the weights (launch.sglang-weight-loading).

    How to fix: `git lfs pull` in a git clone; remove truncated files and download them again
    (`hf download Qwen/Qwen3-Embedding-0.6B model.safetensors --local-dir DIR`).
    """
    from ...safetensors_header import DTYPE_NAMES, human_bytes

    d = model_dir(ctx)
    cfg = ctx.model.config if ctx.model is not None else None
    scan: WeightScan = ctx.facts.once(("weights-scan", model_key(ctx)), lambda: scan_weights(d, cfg))
    repo, dl_cmds = download(ctx, d)
    if not scan.files and not scan.problems:
        if scan.bins:
            size = sum(s for _, s in scan.bins)
            return Outcome.warn(
                f"no safetensors weights, only {', '.join(b for b, _ in scan.bins)} ({human_bytes(size)}): pickle checkpoints cannot be checked "
                "without loading them and load slower; the upstream repos ship model.safetensors",
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
    dt = scan.dtype
    ev: dict[str, Any] = {
        "weight_bytes": scan.weight_bytes if not scan.problems else None,
        "weight_key_prefix": scan.prefix if scan.prefix in ("layers", "model.layers") else None,
        "dtype": DTYPE_NAMES.get(dt, dt.lower()) if dt else None,
        "safetensors_dtype": dt,
        "files": list(scan.files),
        "tensors": scan.tensors,
        "declared_bytes": scan.weight_bytes,
    }
    if scan.problems:
        fix_parts, cmds = [], []
        if "lfs" in scan.kinds:
            fix_parts.append("this is a git clone without the LFS files: run `git lfs pull` in it")
            cmds.append(f"git -C {shq(str(d))} lfs pull")
        if scan.kinds & {"truncated", "missing", "corrupt", "mismatch"}:
            broken = list(scan.broken or scan.files)
            rm = (
                " after removing the broken copies (a download tool may take a file that is already there as complete)"
                if scan.kinds & {"truncated", "corrupt", "mismatch"}
                else ""
            )
            fix_parts.append(f"download {more(broken, 3)} again from {repo}{rm}")
            cmds.extend(download(ctx, d, broken if len(broken) <= 8 else ())[1])
        if "unreadable" in scan.kinds:
            fix_parts.append("run the doctor as a user who can read the weights (see model.permissions)")
        problems = list(scan.problems)
        summary = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        text = "; ".join(fix_parts)
        fix = Fix(text[:1].upper() + text[1:] + ".", commands=tuple(cmds), applicability=Applicability.UNSAFE)
        if scan.kinds == {"unreadable"}:
            return Outcome.error(summary, **ev, problems=problems)
        return Outcome.fail(summary, fix, **ev, problems=problems)
    layout = {"layers": "`layers.*` (Qwen3-Embedding's own layout)", "model.layers": "`model.layers.*` (the Qwen3ForCausalLM layout)"}.get(
        scan.prefix or "", "no `layers.*` tensors"
    )
    where = scan.files[0] if len(scan.files) == 1 else f"{len(scan.files)} shards"
    return Outcome.passed(f"{where}: {scan.tensors} tensors, {human_bytes(scan.weight_bytes)} of {ev['dtype']}, every file complete; keys {layout}", **ev)
