"""Write REAL model directories for tests (no torch needed).

Importable, and a CLI::

    python -m tests.testkit.modeldirs OUT_DIR [--only NAME ...]

which writes every directory below into ``OUT_DIR/<name>`` and prints a JSON summary.

Directories
-----------
* :func:`build_real_tokenizer_dir` - the real Qwen/Qwen3-Embedding-0.6B repository files (config,
  tokenizer config, vocab, merges, sentence-transformers files) copied from ``shared/``, plus a
  ``tokenizer.json`` rebuilt from vocab.json + merges.txt the way transformers' Qwen2 converter does
  (NFC normalizer, Qwen2 regex split + ByteLevel pre-tokenizer, ByteLevel decoder, the 26 added
  tokens), with the ``TemplateProcessing`` post-processor that appends ``<|endoftext|>`` (151643),
  as the current upstream tokenizer does. ``"test"`` encodes to ``[1944, 151643]``
  (``[1944]`` with ``with_eos_postprocessor=False``, the stale-snapshot behaviour).
  No weights.
* :func:`build_tiny_model_dir` - a tiny random-weight Qwen3 (vocab 1000, hidden 64, 2 layers,
  4 heads of 32, 2 KV heads) with a trained byte-level BPE tokenizer and the sentence-transformers
  files; ``model.safetensors`` is written with numpy, seeded, with the exact Qwen3 tensor names.
  vLLM CPU serves it (see :mod:`tests.testkit.vllm_server`).
* Broken variants of the tiny model (``variant=`` or the ``break_*`` functions): see
  :data:`VARIANTS`.

The rebuilt real ``tokenizer.json`` takes a few seconds, so it is cached in
``$QWEN_DOCTOR_TESTKIT_CACHE`` (default ``<repo>/.cache/testkit``, else a temp dir), keyed by the
sha256 of its inputs, the ``tokenizers`` version and :data:`BUILDER_VERSION`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

#: bump when the generated files change, so cached artefacts are rebuilt
BUILDER_VERSION = "1"

REPO_ROOT = Path(__file__).resolve().parents[2]

#: files copied verbatim from the real Qwen3-Embedding-0.6B repository
REAL_FILES = (
    "config.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "modules.json",
    "1_Pooling/config.json",
    "config_sentence_transformers.json",
    "generation_config.json",
)
#: sentence-transformers files a stale snapshot lacks
ST_FILES = ("modules.json", "1_Pooling/config.json", "config_sentence_transformers.json")
#: tokenizer files of the tiny model
TINY_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")

REAL_EOS_ID = 151643  # <|endoftext|>, the token the post-processor appends (the pad token, not eos_token)
REAL_TEST_IDS = [1944]  # "test"

#: transformers' Qwen2 pre-tokenizer split (convert_slow_tokenizer.Qwen2Converter)
QWEN2_SPLIT_REGEX = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

LFS_SPEC = "https://git-lfs.github.com/spec/v1"

# tiny model geometry (head_dim must be >= 32 for vLLM's CPU attention)
TINY_VOCAB = 1000
TINY_HIDDEN = 64
TINY_INTERMEDIATE = 128
TINY_LAYERS = 2
TINY_HEADS = 4
TINY_KV_HEADS = 2
TINY_HEAD_DIM = 32
TINY_MAX_POS = 2048
TINY_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")  # ids 0, 1, 2
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class SharedFilesMissing(FileNotFoundError):
    """The real Qwen3-Embedding files (shared/reference/qwen3-embedding-0.6b-files) were not found."""


# --------------------------------------------------------------------------------------------
# locations
# --------------------------------------------------------------------------------------------


def shared_dir() -> Path:
    """The project's ``shared`` folder: ``$QWEN_DOCTOR_SHARED``, else ``shared`` in or beside the repo."""
    env = os.environ.get("QWEN_DOCTOR_SHARED")
    candidates = [Path(env)] if env else [REPO_ROOT / "shared", REPO_ROOT.parent / "shared"]
    for c in candidates:
        if (c / "reference" / "qwen3-embedding-0.6b-files" / "vocab.json").is_file():
            return c
    raise SharedFilesMissing(
        "real Qwen3-Embedding-0.6B files not found; looked for reference/qwen3-embedding-0.6b-files "
        f"under {', '.join(str(c) for c in candidates)} (set QWEN_DOCTOR_SHARED)"
    )


def real_files_dir() -> Path:
    """The folder holding the real 0.6B repository files (no weights, no tokenizer.json)."""
    return shared_dir() / "reference" / "qwen3-embedding-0.6b-files"


def cache_dir() -> Path:
    """Where built artefacts are cached: ``$QWEN_DOCTOR_TESTKIT_CACHE`` or ``<repo>/.cache/testkit``."""
    env = os.environ.get("QWEN_DOCTOR_TESTKIT_CACHE")
    for c in ([Path(env)] if env else []) + [REPO_ROOT / ".cache" / "testkit", Path(tempfile.gettempdir()) / "qwen-doctor-testkit"]:
        try:
            c.mkdir(parents=True, exist_ok=True)
            if os.access(c, os.W_OK):
                return c
        except OSError:
            continue
    raise OSError("no writable cache directory for the testkit")


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prepare_out(out: os.PathLike | str, name: str | None) -> Path:
    d = Path(out) / name if name else Path(out)
    d.mkdir(parents=True, exist_ok=True)
    return d.resolve()


# --------------------------------------------------------------------------------------------
# the real Qwen3-Embedding-0.6B tokenizer
# --------------------------------------------------------------------------------------------


def _eos_template(eos: str, eos_id: int):
    from tokenizers import processors

    return processors.TemplateProcessing(
        single=f"$A:0 {eos}:0",
        pair=f"$A:0 {eos}:0 $B:1 {eos}:1",
        special_tokens=[(eos, eos_id)],
    )


def _build_real_tokenizer_json(src: Path, with_eos_postprocessor: bool) -> str:
    """Rebuild the upstream tokenizer.json from vocab.json + merges.txt (slow: a few seconds)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    vocab, merges = models.BPE.read_file(str(src / "vocab.json"), str(src / "merges.txt"))
    tok = Tokenizer(
        models.BPE(
            vocab=vocab, merges=merges, dropout=None, unk_token=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False, byte_fallback=False
        )
    )
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    cfg = json.loads((src / "tokenizer_config.json").read_text(encoding="utf-8"))
    for id_str, spec in sorted(cfg["added_tokens_decoder"].items(), key=lambda kv: int(kv[0])):
        at = AddedToken(
            spec["content"],
            single_word=spec.get("single_word", False),
            lstrip=spec.get("lstrip", False),
            rstrip=spec.get("rstrip", False),
            normalized=spec.get("normalized", False),
            special=spec.get("special", False),
        )
        if spec.get("special", False):
            tok.add_special_tokens([at])
        else:
            tok.add_tokens([at])
        got = tok.token_to_id(spec["content"])
        if got != int(id_str):
            raise RuntimeError(f"added token {spec['content']!r} got id {got}, expected {id_str}")
    if with_eos_postprocessor:
        tok.post_processor = _eos_template("<|endoftext|>", REAL_EOS_ID)
    else:
        from tokenizers import processors

        # what transformers' converter writes for a Qwen2 tokenizer: ByteLevel, nothing appended
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok.to_str(pretty=True)


def real_tokenizer_json(*, with_eos_postprocessor: bool = True) -> Path:
    """Path of the cached, rebuilt real ``tokenizer.json`` (building it on a cache miss)."""
    src = real_files_dir()
    import tokenizers

    h = hashlib.sha256()
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        h.update(name.encode() + b"\0" + _sha256_file(src / name).encode() + b"\0")
    h.update(f"eos={with_eos_postprocessor};tokenizers={tokenizers.__version__};builder={BUILDER_VERSION}".encode())
    cached = cache_dir() / f"qwen3-0.6b-tokenizer-{h.hexdigest()[:24]}.json"
    if not cached.is_file():
        _atomic_write_bytes(cached, _build_real_tokenizer_json(src, with_eos_postprocessor).encode("utf-8"))
    return cached


def build_real_tokenizer_dir(
    out: os.PathLike | str, *, with_eos_postprocessor: bool = True, sentence_transformers_files: bool = True, name: str | None = None
) -> Path:
    """Write the real Qwen3-Embedding-0.6B files (no weights) into ``out`` (or ``out/name``).

    ``with_eos_postprocessor=False`` gives a tokenizer.json that appends nothing (a stale
    snapshot); ``sentence_transformers_files=False`` leaves out modules.json, 1_Pooling/ and
    config_sentence_transformers.json. Returns the directory.
    """
    src = real_files_dir()
    d = _prepare_out(out, name)
    for rel in REAL_FILES:
        if not sentence_transformers_files and rel in ST_FILES:
            continue
        dst = d / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dst)  # copyfile: no read-only mode bits from shared/
    shutil.copyfile(real_tokenizer_json(with_eos_postprocessor=with_eos_postprocessor), d / "tokenizer.json")
    return d


def build_stale_tokenizer_dir(out: os.PathLike | str, *, name: str | None = None) -> Path:
    """The real 0.6B files as an early snapshot had them: no eos post-processor, no ST files."""
    return build_real_tokenizer_dir(out, with_eos_postprocessor=False, sentence_transformers_files=False, name=name)


# --------------------------------------------------------------------------------------------
# the tiny random Qwen3
# --------------------------------------------------------------------------------------------


def _tiny_corpus() -> list[str]:
    corpus = [
        "The quick brown fox jumps over the lazy dog. " * 3,
        "Embeddings map text to vectors of floating point numbers.",
        "An OpenAI-compatible server exposes /v1/embeddings, /v1/models and /health.",
        "Qwen3 is a family of large language models; this one is tiny and random.",
        "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:",
        "def hello(name):\n    return f'hello {name}'\n",
        "0123456789 !@#$%^&*()_+-=[]{};':\",./<>?",
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.",
    ] * 50
    rng = random.Random(1234)
    syllables = [
        "ka",
        "lo",
        "mi",
        "ne",
        "su",
        "ta",
        "ri",
        "po",
        "ve",
        "zu",
        "an",
        "el",
        "or",
        "is",
        "um",
        "th",
        "ch",
        "st",
        "qu",
        "br",
        "gr",
        "pl",
        "ex",
        "in",
        "on",
        "er",
        "ed",
        "ing",
        "ion",
        "ly",
    ]
    for _ in range(400):
        corpus.append(" ".join("".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(5, 15))))
    return corpus


def _tiny_tokenizer(append_eos: bool):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB, min_frequency=1, special_tokens=list(TINY_SPECIALS), initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(_tiny_corpus(), trainer=trainer)
    if tok.get_vocab_size() != TINY_VOCAB:
        raise RuntimeError(f"tiny tokenizer has {tok.get_vocab_size()} tokens, expected {TINY_VOCAB}")
    tok.post_processor = _eos_template("<|endoftext|>", tok.token_to_id("<|endoftext|>")) if append_eos else processors.ByteLevel(trim_offsets=False)
    return tok


def tiny_config(vocab_size: int = TINY_VOCAB, eos_id: int = 0) -> dict:
    """config.json of the tiny model, in the real Qwen3-Embedding layout (transformers 4.51 keys).

    No ``pad_token_id``: HF would zero its embedding row, and an input made only of the appended
    ``<|endoftext|>`` would then embed to the zero vector.
    """
    return {
        "architectures": ["Qwen3ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": eos_id,
        "eos_token_id": eos_id,
        "head_dim": TINY_HEAD_DIM,
        "hidden_act": "silu",
        "hidden_size": TINY_HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": TINY_INTERMEDIATE,
        "max_position_embeddings": TINY_MAX_POS,
        "max_window_layers": TINY_LAYERS,
        "model_type": "qwen3",
        "num_attention_heads": TINY_HEADS,
        "num_hidden_layers": TINY_LAYERS,
        "num_key_value_heads": TINY_KV_HEADS,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 1000000,
        "sliding_window": None,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "transformers_version": "4.51.3",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": vocab_size,
    }


def qwen3_weight_shapes(cfg: dict, key_prefix: str = "") -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes of a Qwen3 checkpoint (tied embeddings: no ``lm_head.weight``).

    ``key_prefix=""`` is the layout of Qwen3-Embedding's model.safetensors (saved from Qwen3Model);
    ``"model."`` is the Qwen3ForCausalLM layout.
    """
    h, inter, hd = cfg["hidden_size"], cfg["intermediate_size"], cfg["head_dim"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    shapes: dict[str, tuple[int, ...]] = {"embed_tokens.weight": (cfg["vocab_size"], h)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"layers.{i}."
        shapes.update(
            {
                p + "input_layernorm.weight": (h,),
                p + "self_attn.q_proj.weight": (q, h),
                p + "self_attn.k_proj.weight": (kv, h),
                p + "self_attn.v_proj.weight": (kv, h),
                p + "self_attn.o_proj.weight": (h, q),
                p + "self_attn.q_norm.weight": (hd,),
                p + "self_attn.k_norm.weight": (hd,),
                p + "post_attention_layernorm.weight": (h,),
                p + "mlp.gate_proj.weight": (inter, h),
                p + "mlp.up_proj.weight": (inter, h),
                p + "mlp.down_proj.weight": (h, inter),
            }
        )
    shapes["norm.weight"] = (h,)
    if not cfg.get("tie_word_embeddings", False):
        shapes["lm_head.weight"] = (cfg["vocab_size"], h)
        return {(k if k == "lm_head.weight" else key_prefix + k): v for k, v in shapes.items()}
    return {key_prefix + k: v for k, v in shapes.items()}


def random_qwen3_weights(cfg: dict, *, key_prefix: str = "", seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded float32 weights: N(0, initializer_range) for matrices, ones for the RMSNorm weights."""
    rng = np.random.default_rng(seed)
    std = float(cfg.get("initializer_range", 0.02))
    out: dict[str, np.ndarray] = {}
    for name, shape in qwen3_weight_shapes(cfg, key_prefix).items():  # fixed order -> deterministic
        if name.endswith("norm.weight"):
            out[name] = np.ones(shape, dtype=np.float32)
        else:
            out[name] = rng.normal(0.0, std, size=shape).astype(np.float32)
    return out


def reference_embedding(model_dir: os.PathLike | str, input_ids: Sequence[int]) -> np.ndarray:
    """Last-token-pooled, L2-normalised embedding of one sequence, computed in numpy.

    A plain float64 Qwen3 forward pass (RMSNorm, q/k-norm, neox RoPE, GQA causal attention,
    SwiGLU) over ``model.safetensors`` of a tiny-model directory, accepting both key layouts.
    Lets tests check that a server really loaded these weights without torch.
    """
    from safetensors.numpy import load_file

    d = Path(model_dir)
    cfg = json.loads((d / "config.json").read_text(encoding="utf-8"))
    raw = load_file(str(d / "model.safetensors"))
    w = {(k[len("model.") :] if k.startswith("model.") else k): v.astype(np.float64) for k, v in raw.items()}
    eps, hd = cfg["rms_norm_eps"], cfg["head_dim"]
    n_h, n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    theta = float(cfg.get("rope_theta") or (cfg.get("rope_parameters") or {}).get("rope_theta", 1e6))

    def rms(x, g):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g

    ids = np.asarray(list(input_ids), dtype=np.int64)
    t = len(ids)
    inv = 1.0 / theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = np.outer(np.arange(t, dtype=np.float64), inv)
    cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))

    def rope(x):  # x: (heads, t, hd)
        half = hd // 2
        rot = np.concatenate([-x[..., half:], x[..., :half]], -1)
        return x * cos + rot * sin

    mask = np.triu(np.full((t, t), -np.inf), 1)
    x = w["embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"layers.{i}."
        h = rms(x, w[p + "input_layernorm.weight"])
        q = (h @ w[p + "self_attn.q_proj.weight"].T).reshape(t, n_h, hd).transpose(1, 0, 2)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).reshape(t, n_kv, hd).transpose(1, 0, 2)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(t, n_kv, hd).transpose(1, 0, 2)
        q = rope(rms(q, w[p + "self_attn.q_norm.weight"]))
        k = rope(rms(k, w[p + "self_attn.k_norm.weight"]))
        k, v = np.repeat(k, n_h // n_kv, axis=0), np.repeat(v, n_h // n_kv, axis=0)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(hd) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        a = (s / s.sum(-1, keepdims=True)) @ v
        x = x + a.transpose(1, 0, 2).reshape(t, n_h * hd) @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        g = h @ w[p + "mlp.gate_proj.weight"].T
        x = x + ((g / (1.0 + np.exp(-g))) * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    last = rms(x, w["norm.weight"])[-1]
    return last / np.linalg.norm(last)


def _st_files(d: Path, hidden: int) -> None:
    _write_json(
        d / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(
        d / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": False,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": True,
            "include_prompt": True,
        },
    )
    _write_json(
        d / "config_sentence_transformers.json",
        {
            "prompts": {
                "query": "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:",
                "document": "",
            },
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def build_tiny_model_dir(
    out: os.PathLike | str, *, append_eos: bool = True, name: str | None = None, key_prefix: str = "", variant: str | None = None, seed: int = 0
) -> Path:
    """Write the tiny random Qwen3 into ``out`` (or ``out/name`` when ``name`` is given).

    * ``append_eos``: the tokenizer's post-processor appends ``<|endoftext|>`` (id 0), as
      Qwen3-Embedding's does.
    * ``key_prefix``: ``""`` (Qwen3-Embedding's real layout) or ``"model."`` (Qwen3ForCausalLM).
    * ``variant``: ``None``/``"ok"`` or one of :data:`VARIANTS` to break the directory after writing.

    Returns the directory. Deterministic for equal arguments.
    """
    from safetensors.numpy import save_file

    if variant not in (None, "ok") and variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {sorted(VARIANTS)}")
    d = _prepare_out(out, name)
    stale = variant == "stale"
    tok = _tiny_tokenizer(append_eos=append_eos and not stale)
    tok.save(str(d / "tokenizer.json"))
    eos_id = tok.token_to_id("<|endoftext|>")
    added = {
        str(tok.token_to_id(s)): {"content": s, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}
        for s in TINY_SPECIALS
    }
    _write_json(
        d / "tokenizer_config.json",
        {
            "add_bos_token": False,
            "add_prefix_space": False,
            "added_tokens_decoder": added,
            "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
            "bos_token": None,
            "chat_template": TINY_CHAT_TEMPLATE,
            "clean_up_tokenization_spaces": False,
            "eos_token": "<|im_end|>",
            "errors": "replace",
            "model_max_length": TINY_MAX_POS,
            "pad_token": "<|endoftext|>",
            "split_special_tokens": False,
            "tokenizer_class": "Qwen2Tokenizer",
            "unk_token": None,
        },
    )
    _write_json(
        d / "special_tokens_map.json",
        {
            "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
            "eos_token": "<|im_end|>",
            "pad_token": "<|endoftext|>",
        },
    )
    cfg = tiny_config(tok.get_vocab_size(), eos_id)
    _write_json(d / "config.json", cfg)
    _write_json(d / "generation_config.json", {"bos_token_id": eos_id, "eos_token_id": eos_id, "max_new_tokens": 64, "transformers_version": "4.51.3"})
    if not stale:
        _st_files(d, cfg["hidden_size"])
    save_file(random_qwen3_weights(cfg, key_prefix=key_prefix, seed=seed), str(d / "model.safetensors"), metadata={"format": "pt"})
    if variant not in (None, "ok", "stale"):
        VARIANTS[variant](d)
    return d


# --------------------------------------------------------------------------------------------
# breaking a directory (each mutates a built tiny-model directory in place and returns it)
# --------------------------------------------------------------------------------------------


def read_safetensors_header(path: os.PathLike | str) -> tuple[int, dict]:
    """(header length, header dict) of a safetensors file, parsed by hand: u64 LE length + JSON."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError(f"{path}: shorter than the 8-byte header length")
        n = int.from_bytes(raw, "little")
        body = f.read(n)
        if len(body) != n:
            raise ValueError(f"{path}: header declares {n} bytes, file has {len(body)}")
    return n, json.loads(body)


def safetensors_expected_size(path: os.PathLike | str) -> int:
    """The file size the header implies: 8 + header + the largest data end offset."""
    n, header = read_safetensors_header(path)
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
    return 8 + n + max(ends, default=0)


def break_sharded_missing_shard(d: os.PathLike | str, *, n_shards: int = 2, missing: int = 2) -> Path:
    """Split model.safetensors into ``n_shards`` shards + model.safetensors.index.json, then delete one."""
    from safetensors.numpy import load_file, save_file

    d = Path(d)
    tensors = load_file(str(d / "model.safetensors"))
    names = list(tensors)
    per = -(-len(names) // n_shards)
    weight_map: dict[str, str] = {}
    total = 0
    for i in range(n_shards):
        shard = f"model-{i + 1:05d}-of-{n_shards:05d}.safetensors"
        part = {k: tensors[k] for k in names[i * per : (i + 1) * per]}
        save_file(part, str(d / shard), metadata={"format": "pt"})
        for k, v in part.items():
            weight_map[k] = shard
            total += v.nbytes
    _write_json(d / "model.safetensors.index.json", {"metadata": {"total_size": total}, "weight_map": weight_map})
    (d / "model.safetensors").unlink()
    (d / f"model-{missing:05d}-of-{n_shards:05d}.safetensors").unlink()
    return d


def break_truncated(d: os.PathLike | str, *, keep_fraction: float = 0.5) -> Path:
    """Cut model.safetensors short: the header is intact but declares more data than is there."""
    p = Path(d) / "model.safetensors"
    size = p.stat().st_size
    n, _ = read_safetensors_header(p)
    keep = max(8 + n + 1, int(size * keep_fraction))
    with open(p, "r+b") as f:
        f.truncate(keep)
    return Path(d)


def lfs_pointer_text(data_sha256: str, size: int) -> str:
    """A git-LFS pointer file, exactly as git-lfs writes it."""
    return f"version {LFS_SPEC}\noid sha256:{data_sha256}\nsize {size}\n"


def break_lfs_pointer(d: os.PathLike | str, *, filename: str = "model.safetensors") -> Path:
    """Replace ``filename`` by the git-LFS pointer of its real content (a clone without ``git lfs pull``)."""
    p = Path(d) / filename
    text = lfs_pointer_text(_sha256_file(p), p.stat().st_size)
    p.write_text(text, encoding="ascii")
    return Path(d)


def is_lfs_pointer(path: os.PathLike | str) -> bool:
    """True when the file is a git-LFS pointer (small, starts with the spec line)."""
    p = Path(path)
    if p.stat().st_size > 1024:
        return False
    return p.read_bytes().startswith(f"version {LFS_SPEC}\n".encode())


def break_unreadable(d: os.PathLike | str, *, filename: str = "model.safetensors") -> Path:
    """chmod 000 ``filename``. Only really unreadable when :func:`can_simulate_unreadable` is True."""
    os.chmod(Path(d) / filename, 0)
    return Path(d)


def restore_readable(d: os.PathLike | str, *, filename: str = "model.safetensors") -> Path:
    """Undo :func:`break_unreadable` (so temp dirs can be cleaned up)."""
    os.chmod(Path(d) / filename, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
    return Path(d)


def can_simulate_unreadable() -> bool:
    """Whether chmod 000 really blocks reads here (False as root or with CAP_DAC_OVERRIDE)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return False
    with tempfile.TemporaryDirectory() as t:
        p = Path(t) / "probe"
        p.write_bytes(b"x")
        os.chmod(p, 0)
        try:
            with open(p, "rb"):
                return False
        except PermissionError:
            return True
        finally:
            os.chmod(p, stat.S_IRUSR | stat.S_IWUSR)


def break_missing_tokenizer(d: os.PathLike | str) -> Path:
    """Delete every tokenizer file (tokenizer.json, tokenizer_config.json, vocab/merges, maps)."""
    for name in (*TINY_TOKENIZER_FILES, "vocab.json", "merges.txt", "added_tokens.json"):
        (Path(d) / name).unlink(missing_ok=True)
    return Path(d)


def break_stale(d: os.PathLike | str) -> Path:
    """Make the directory look like an early snapshot: no ST files, no eos post-processor."""
    d = Path(d)
    for rel in ST_FILES:
        (d / rel).unlink(missing_ok=True)
    if (d / "1_Pooling").is_dir() and not any((d / "1_Pooling").iterdir()):
        (d / "1_Pooling").rmdir()
    tj = d / "tokenizer.json"
    if tj.is_file():
        obj = json.loads(tj.read_text(encoding="utf-8"))
        obj["post_processor"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True}
        tj.write_text(json.dumps(obj, indent=2, ensure_ascii=False), encoding="utf-8")
    return d


#: variant name -> function that breaks a built tiny-model directory in place
VARIANTS: dict[str, Callable[[Path], Path]] = {
    "sharded-missing-shard": break_sharded_missing_shard,
    "truncated": break_truncated,
    "lfs-pointer": break_lfs_pointer,
    "unreadable": break_unreadable,
    "missing-tokenizer": break_missing_tokenizer,
    "stale": break_stale,
}


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def build_all(out: os.PathLike | str, only: Iterable[str] | None = None) -> dict[str, str]:
    """Write every directory into ``out/<name>``; returns name -> path."""
    out = Path(out)
    jobs: dict[str, Callable[[], Path]] = {
        "real-0.6b": lambda: build_real_tokenizer_dir(out, name="real-0.6b"),
        "real-0.6b-stale": lambda: build_stale_tokenizer_dir(out, name="real-0.6b-stale"),
        "tiny-qwen3": lambda: build_tiny_model_dir(out, name="tiny-qwen3"),
        "tiny-qwen3-model-prefix": lambda: build_tiny_model_dir(out, name="tiny-qwen3-model-prefix", key_prefix="model."),
        "tiny-qwen3-no-eos": lambda: build_tiny_model_dir(out, name="tiny-qwen3-no-eos", append_eos=False),
    }
    for v in VARIANTS:
        jobs[f"tiny-qwen3-{v}"] = lambda v=v: build_tiny_model_dir(out, name=f"tiny-qwen3-{v}", variant=v)
    wanted = list(only) if only else list(jobs)
    unknown = [w for w in wanted if w not in jobs]
    if unknown:
        raise SystemExit(f"unknown directory name(s) {unknown}; choose from {list(jobs)}")
    return {k: str(jobs[k]()) for k in wanted}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.testkit.modeldirs", description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", help="folder to write the model directories into")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="write only these directories")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    try:
        made = build_all(args.out_dir, args.only)
    except SharedFilesMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"dirs": made, "seconds": round(time.monotonic() - t0, 2), "unreadable_simulated": can_simulate_unreadable()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
