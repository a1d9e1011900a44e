"""ModelFacts: where the model is, its config.json, what it is, its context length and dtype, its weights.

Computed once per run for each distinct model location (fifty targets that share a directory read it once),
by :class:`qwen_doctor.facts.FactsStore`. No check opens config.json itself.

Facts: shared/reference/vllm-tei-qwen3.md A (files, config), sglang.md 6 (context length).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..modelfiles import EMBED_DIM, VARIANTS, derived_context_length, looks_like_hub_id, variant_from_name

if TYPE_CHECKING:  # pragma: no cover
    from ..target import Target
    from .server import ServerFacts

QWEN3_ARCHS = ("Qwen3ForCausalLM", "Qwen3Model")


@dataclass(frozen=True)
class ModelLocation:
    written: str  # the model path as given
    directory: Path | None  # the local directory to examine
    how: str  # how it was found: "local directory", "Hugging Face cache snapshot ...", "not downloaded", "missing"
    hub_id: bool = False
    searched: tuple[str, ...] = ()

    @cached_property
    def key(self) -> str:
        """Identity of the location for sharing facts across targets (the real path, resolved once)."""
        if self.directory is not None:
            try:
                return "dir:" + os.path.realpath(self.directory)
            except OSError:
                return "dir:" + str(self.directory)
        return "name:" + self.written


def target_env(t: "Target", name: str, inherit: bool = True) -> str | None:
    """A variable from the launch command's environment, else (``inherit``) the doctor's own. HF cache locations are
    usually the same for both; server settings (TEI's MAX_BATCH_TOKENS, ...) are not taken from the doctor's."""
    v = t.env.get(name) if t.env else None
    return v if v else (os.environ.get(name) or None if inherit else None)


def hf_cache_roots(t: "Target") -> list[Path]:
    """Hub caches the server would use: TEI --huggingface-hub-cache / vLLM --download-dir, HF_HUB_CACHE, HF_HOME/hub, default."""
    roots: list[Path] = []
    opt = t.option("huggingface_hub_cache") if t.server == "tei" else (t.option("download_dir") if t.server == "vllm" else None)
    home = target_env(t, "HF_HOME")
    xdg = target_env(t, "XDG_CACHE_HOME")
    for cand in (
        opt,
        target_env(t, "HF_HUB_CACHE"),
        target_env(t, "HUGGINGFACE_HUB_CACHE"),
        os.path.join(home, "hub") if home else None,
        os.path.join(xdg, "huggingface", "hub") if xdg else None,
        os.path.join(os.path.expanduser("~"), ".cache", "huggingface", "hub"),
    ):
        if cand and isinstance(cand, str):
            p = Path(os.path.expanduser(cand))
            if p not in roots:
                roots.append(p)
    return roots


def hf_snapshot(root: Path, repo_id: str, revision: str | None) -> Path | None:
    """The snapshot directory of ``repo_id`` at ``revision`` (a commit hash, or a ref under refs/; default main)."""
    from ..readers import ReadError, read_text

    base = root / ("models--" + repo_id.replace("/", "--"))
    try:
        if not base.is_dir():
            return None
        rev = revision or "main"
        if re.fullmatch(r"[0-9a-f]{40}", rev):
            snap = base / "snapshots" / rev
            return snap if snap.is_dir() else None
        ref = base / "refs" / rev
        try:
            sha = read_text(ref, "small", cap=256).strip()
        except ReadError:
            return None
        if not re.fullmatch(r"[0-9a-f]{40}", sha):
            return None
        snap = base / "snapshots" / sha
        return snap if snap.is_dir() else None
    except OSError:
        return None


def locate(t: "Target", model: str | None = None) -> ModelLocation:
    """The local directory behind a model path: the directory itself, or a Hugging Face cache snapshot of a repo id."""
    written = model if model is not None else (t.model_path or "")
    p = Path(os.path.expanduser(written))
    try:
        if written and p.is_dir():
            return ModelLocation(written, p, "local directory")
    except OSError:
        pass
    if looks_like_hub_id(written):
        rev = t.option("revision") if t.server in ("vllm", "tei", "sglang") else None
        roots = hf_cache_roots(t)
        for root in roots:
            snap = hf_snapshot(root, written, rev if isinstance(rev, str) else None)
            if snap is not None:
                return ModelLocation(written, snap, f"Hugging Face cache snapshot {snap.name[:12]} in {root}", True, tuple(map(str, roots)))
        return ModelLocation(written, None, "not downloaded", True, tuple(map(str, roots)))
    return ModelLocation(written, None, "missing")


def tokenizer_written(t: "Target") -> str | None:
    """--tokenizer-path (SGLang) / --tokenizer (vLLM) when it names something other than the model."""
    dest = {"sglang": "tokenizer_path", "vllm": "tokenizer"}.get(t.server or "")
    if dest and t.given(dest):
        v = t.option(dest)
        if isinstance(v, str) and v and v.rstrip("/") != (t.model_path or "").rstrip("/"):
            return v
    return None


@dataclass(frozen=True)
class Identity:
    """What the model is. ``qwen3_embedding`` is None when nothing here can tell (no config, no telling name)."""

    qwen3_embedding: bool | None
    variant: str | None  # 0.6B / 4B / 8B for Qwen3-Embedding
    name: str  # e.g. "Qwen3-Embedding-0.6B", "LlamaForCausalLM model", "unknown model"
    evidence: str  # how that was decided

    def describe(self) -> str:
        return f"{self.name} ({self.evidence})"


def identify(written: str, cfg: Mapping[str, Any] | None) -> Identity:
    by_name = variant_from_name(written)
    if cfg:
        archs = [a for a in (cfg.get("architectures") or []) if isinstance(a, str)]
        mt = cfg.get("model_type")
        shape = None
        try:
            shape = VARIANTS.get((int(cfg.get("hidden_size")), int(cfg.get("num_hidden_layers"))))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            shape = None
        qwen3 = mt == "qwen3" or any(a in QWEN3_ARCHS for a in archs)
        if qwen3 and (shape or by_name):
            variant = shape or by_name
            how = "config.json: qwen3, " + (f"hidden_size/num_hidden_layers of the {variant}" if shape else f"the name says {variant}")
            return Identity(True, variant, f"Qwen3-Embedding-{variant}", how)
        if qwen3:
            return Identity(True, None, "a Qwen3 model", "config.json: qwen3 with a size that is no Qwen3-Embedding release (a test or fine-tuned model)")
        arch = archs[0] if archs else (mt or "unknown architecture")
        return Identity(False, None, f"{arch} model", f"config.json: {arch}, not Qwen3")
    if by_name:
        return Identity(True, by_name, f"Qwen3-Embedding-{by_name}", "the model name (no config.json read)")
    if written and re.search(r"(?i)qwen3", written):
        return Identity(None, None, "a Qwen3 model", "the name says Qwen3; no config.json read")
    if written:
        return Identity(None, None, "unknown model", "no config.json read and the name does not tell")
    return Identity(None, None, "no model", "no model path known")


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


class _Lazy:
    """A value computed at most once, thread-safe (used for the tokenizer summary)."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._done = False
        self._value: Any = None

    def get(self, compute) -> Any:
        with self._lock:
            if not self._done:
                self._value = compute()
                self._done = True
            return self._value


@dataclass(frozen=True)
class ModelFacts:
    location: ModelLocation
    config: Mapping[str, Any] | None
    config_error: str | None  # why config is None
    identity: Identity
    max_context: int | None  # the model's own maximum (SGLang's derived context length)
    config_dtype: str | None  # torch_dtype / dtype in config.json
    weight_bytes: int | None  # sum of tensor sizes in the safetensors headers
    weights_source: str
    _tokenizer: _Lazy = field(default_factory=_Lazy, repr=False, compare=False)

    @property
    def directory(self) -> Path | None:
        return self.location.directory

    @property
    def is_qwen3_embedding(self) -> bool | None:
        return self.identity.qwen3_embedding

    @property
    def variant(self) -> str | None:
        return self.identity.variant

    @property
    def shape_variant(self) -> str | None:
        """The Qwen3-Embedding size config.json's hidden_size/num_hidden_layers match (None: no match or no config);
        unlike :attr:`variant`, never taken from the name."""
        cfg = self.config or {}
        return VARIANTS.get((_int(cfg.get("hidden_size")), _int(cfg.get("num_hidden_layers"))))  # type: ignore[arg-type]

    @property
    def embedding_dim(self) -> int | None:
        hs = _int((self.config or {}).get("hidden_size"))
        return hs or (EMBED_DIM.get(self.variant or "") if self.variant else None)

    def qwen3_rules_apply(self) -> bool:
        """Qwen3-Embedding-specific rules apply unless the model is clearly something else."""
        return self.identity.qwen3_embedding is not False

    def context_length(self, server: "ServerFacts | None") -> tuple[int | None, str]:
        """(the context length the server will use, where it comes from): the server's option when given, else the model's."""
        from .server import as_int

        if server is not None:
            dest, opt = {"sglang": ("context_length", "--context-length"), "vllm": ("max_model_len", "--max-model-len")}.get(server.kind, (None, None))
            if dest and server.given(dest):
                v = as_int(server.option(dest))
                if v and v > 0:
                    return v, opt  # type: ignore[return-value]
        return self.max_context, "config.json" if self.max_context else ""

    def serving_dtype(self, server: "ServerFacts | None") -> tuple[str | None, str]:
        """(dtype the server computes in, where that comes from)."""
        if server is None:
            return self.config_dtype, "config.json"
        if server.kind in ("sglang", "vllm"):
            v = server.option("dtype")
            if server.given("dtype") and isinstance(v, str) and v != "auto":
                return {"half": "float16", "bf16": "bfloat16", "float": "float32"}.get(v, v), "--dtype"
            if self.config_dtype in ("float32", "float"):
                # vLLM's and SGLang's --dtype help: "auto" uses FP16 for FP32 and FP16 models, BF16 for BF16 models
                return "float16", "config.json float32, which --dtype auto serves as float16 (the --dtype help of SGLang 0.5.23 and vLLM)"
            return self.config_dtype, "config.json (the server's --dtype auto)"
        if server.kind == "tei":
            v = server.option("dtype") if server.given("dtype") else target_env(server.target, "DTYPE", inherit=False)
            if isinstance(v, str) and v:
                return v, "--dtype"
            return "float16", "TEI's default on CUDA (float32 on CPU builds)"
        return self.config_dtype, "config.json"

    def tokenizer_summary(self, compute) -> Any:
        """The tokenizer report of this model directory, computed once (the store passes ``compute``)."""
        return self._tokenizer.get(compute)


def weight_bytes_of(directory: Path | None) -> tuple[int | None, str]:
    """Sum of the tensor sizes declared by the safetensors headers of a directory (headers only)."""
    if directory is None:
        return None, ""
    from ..safetensors_header import HeaderError, read_header

    try:
        files = sorted(directory.glob("*.safetensors"))
        total = sum(read_header(f).weight_bytes for f in files)
    except (OSError, HeaderError, ValueError):
        return None, ""
    return (total, "safetensors headers") if total else (None, "")


def model_facts(location: ModelLocation) -> ModelFacts:
    from ..readers import read_json_file

    cfg: Mapping[str, Any] | None = None
    err: str | None = None
    if location.directory is None:
        err = "no local model directory"
    else:
        obj, err = read_json_file(location.directory / "config.json")
        if err is None and not isinstance(obj, dict):
            err = "config.json is not a JSON object"
        elif err is None:
            cfg = obj
    dtype = None
    if cfg:
        d = cfg.get("torch_dtype") or cfg.get("dtype")  # transformers >= 4.56 writes "dtype"
        dtype = d if isinstance(d, str) else None
    wb, wsrc = weight_bytes_of(location.directory)
    return ModelFacts(
        location=location,
        config=cfg,
        config_error=err,
        identity=identify(location.written, cfg),
        max_context=derived_context_length(dict(cfg)) if cfg else None,
        config_dtype=dtype,
        weight_bytes=wb,
        weights_source=wsrc,
    )
