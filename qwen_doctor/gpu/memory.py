"""The servers' GPU memory rules, as pure functions (no I/O, no NVML, no torch).

Sources (read from the released code; see the report of issue 4 and ../shared/reference/sglang.md section 9):

* SGLang's default ``--mem-fraction-static`` (``gpu_mem`` = ``nvidia-smi --query-gpu=memory.total`` in MiB, the
  minimum over every GPU nvidia-smi lists):

  - ``0.4.7``  rule (releases < 0.4.9, ``server_args.__post_init__`` @ v0.4.7): 0.88 (0.87/0.85/0.81/0.79 by TP x PP
    when ``gpu_mem <= 81920``); ``> 180000`` MiB: 0.79; ``> 96 GiB``: ``min(m + 48 GiB (1 - m) / gpu_mem,
    (gpu_mem - 18 GiB) / gpu_mem)``. Not rounded.
  - ``0.5.1``  rule (0.4.9 <= v < 0.5.3, @ v0.5.1): ``round((gpu_mem - reserved) / gpu_mem, 3)`` with reserved =
    (2.8 + P/10) GiB below 35 GiB, (9.5 + P/2) GiB below 90 GiB, (12 + P/2) GiB below 160 GiB, else 32 GiB
    (P = TP x PP; +4 GiB with DP attention). An 80 GB H100 (81559 MiB): 0.874.
  - ``0.5.3``  rule (0.5.3 <= v < 0.5.10, ``_handle_gpu_memory_settings`` @ v0.5.3): chunked_prefill_size and
    cuda_graph_max_bs by gpu_mem, reserved_MiB = 512 + 1.5 max(chunked_prefill_size, 2048) + 2 cuda_graph_max_bs +
    TP x PP / 8 x 1024 (+ DP-attention terms), at least 10 GiB when gpu_mem > 60 GiB. An 80 GB H100: 0.835.
  - ``0.5.10`` rule (0.5.10 <= v < 0.5.23): as 0.5.3, cuda_graph_max_bs 24 (not 16) below 35 GiB, plus 8 MiB per
    piecewise CUDA graph capture size (on by default since 0.5.10).
  - ``0.5.23`` rule (>= 0.5.23, and when the version is unknown; ``arg_groups/memory_hook.py`` @ v0.5.23): as
    0.5.10 with 4096/48 below 35 GiB and the prefill graph reserve counted before the 10 GiB floor. H100: 0.830.

* SGLang's KV pool (``profile_max_num_token``, every version): ``pre`` = free memory after CUDA/NCCL init, before
  the weights; ``rest = free_after_weights - pre * (1 - mfs)``; ``max_total_num_tokens = rest // cell`` with
  ``cell = num_kv_heads/TP * head_dim * 2 (K and V) * layers * dtype_bytes``. ``rest <= 0`` is "Not enough memory.
  Please try to increase --mem-fraction-static".

* vLLM: ``--gpu-memory-utilization`` (0.9 up to 0.13, 0.92 from 0.20) is a fraction of TOTAL memory; it must not
  exceed what is free at start, and must cover weights + the activation peak + the KV cache of one
  ``--max-model-len`` request.

* Which rule or default a release follows is data, not inline comparisons: :data:`SGLANG_MFS_RULE`,
  :data:`VLLM_GMU_DEFAULT` and :data:`VLLM_CHUNKED_POOLING` are :class:`~qwen_doctor.versions.Behaviour` tables with
  the source of each range; the checks read them with ``ctx.server.at(TABLE)`` (a release older than every known
  one matches no row and is named as such).

* Activation peaks: measured on an NVIDIA H200 (``tests/data/gpu/h200/h200_facts.json``: Qwen3 0.6B/4B/8B
  architectures, bf16, batch x sequence, SDPA and eager attention), interpolated linearly in tokens for SDPA; eager
  adds a term quadratic in the sequence length fitted to the two eager measurements (about 10 bytes per head per
  token pair: the fp32 score and softmax matrices plus their bf16 copy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from ..versions import Behaviour, Range, Row, is_version, rows

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

# Free memory a CUDA process loses to its own context before it allocates anything: measured on the H200
# (NVML free 150109880320 B before, cuMemGetInfo free 149557477376 B after cuDevicePrimaryCtxRetain).
CUDA_CONTEXT_BYTES = 150_109_880_320 - 149_557_477_376  # 552402944 B = 527 MiB
# Slack the doctor keeps outside SGLang's static pool when it suggests a --mem-fraction-static.
SUGGEST_SLACK = 1 * (1 << 30)

# Qwen3-Embedding shapes by variant (config.json of the three checkpoints; sglang.md §6, vllm-tei-qwen3.md A.2).
VARIANT_SHAPES: dict[str, dict[str, int]] = {
    "0.6B": {"num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 32768},
    "4B": {"num_hidden_layers": 36, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 40960},
    "8B": {"num_hidden_layers": 36, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 40960},
}

# --------------------------------------------------------------------------------------------
# version-dependent rules (newest releases first; read by the checks with ctx.server.at(TABLE))

#: which default --mem-fraction-static rule a SGLang release follows (see the module doc for each rule)
SGLANG_MFS_RULE: Behaviour[str] = Behaviour(
    "sglang.default-mem-fraction-static",
    "The rule SGLang's default --mem-fraction-static follows (gpu_mem = nvidia-smi memory.total, min over all GPUs).",
    (
        Row("sglang", Range(">=0.5.23"), "0.5.23", "python/sglang/srt/server_args/arg_groups/memory_hook.py at v0.5.23 (sglang.md 9)"),
        Row(
            "sglang",
            Range(">=0.5.10,<0.5.23"),
            "0.5.10",
            "python/sglang/srt/server_args.py _handle_gpu_memory_settings at v0.5.10 (sglang.md 9: buckets by gpu_mem, piecewise CUDA graph reserve)",
        ),
        Row(
            "sglang",
            Range(">=0.5.3,<0.5.10"),
            "0.5.3",
            "python/sglang/srt/server_args.py _handle_gpu_memory_settings at v0.5.3 (sglang.md 9 and "
            "its version timeline: mem-fraction formula from chunked_prefill/cuda_graph, 0.5.3)",
        ),
        Row("sglang", Range(">=0.4.9,<0.5.3"), "0.5.1", "python/sglang/srt/server_args.py __post_init__ at v0.4.9.post6 and v0.5.1 (sglang.md 9: 0.4.9-0.5.1)"),
        Row("sglang", Range("<0.4.9"), "0.4.7", "python/sglang/srt/server_args.py __post_init__ at v0.4.6.post5 and v0.4.7 (sglang.md 9: 0.4.6-0.4.7)"),
    ),
)

#: vLLM's default --gpu-memory-utilization (a fraction of TOTAL memory)
VLLM_GMU_DEFAULT: Behaviour[float] = Behaviour(
    "vllm.gpu-memory-utilization-default",
    "vLLM's default --gpu-memory-utilization.",
    (
        Row("vllm", Range(">=0.20"), 0.92, "vllm/config/cache.py at v0.20.0 and v0.33.0 (vllm-tei-qwen3.md B.3)"),
        Row(
            "vllm",
            Range(">=0.14,<0.20"),
            0.9,
            "not read: no release between 0.13.0 and 0.20.0 was sampled; 0.9, the 0.13.0 default, is assumed (issue 4 report)",
        ),
        *rows("vllm", "vllm/config/cache.py at v0.13.0; arg_utils.py/config.py at v0.8.5-v0.12.0 (vllm-tei-qwen3.md B.3: 0.9 in <=0.13)", ("<0.14", 0.9)),
    ),
)

#: whether vLLM chunks the prefill of pooling (embedding) requests, so one forward pass holds at most
#: --max-num-batched-tokens tokens
VLLM_CHUNKED_POOLING: Behaviour[bool] = Behaviour(
    "vllm.pooling-chunked-prefill",
    "Whether vLLM chunks the prefill of pooling requests (else one --max-model-len request runs whole).",
    (
        Row(
            "vllm",
            Range(">=0.10.1"),
            True,
            "vllm/engine/arg_utils.py at v0.10.1.1 and v0.33.0 (default token budget: arg_utils.py L2960-3012 "
            "at v0.33.0, vllm-tei-qwen3.md B.3; pooling models run chunked prefill: tests/models/language/pooling_mteb_test at v0.33.0)",
        ),
        Row(
            "vllm",
            Range("<0.10.1"),
            False,
            "vllm/engine/arg_utils.py at v0.8.5 and v0.10.0: chunked prefill is not enabled for pooling models "
            "(the doctor's reading of the released code, issue 4 report)",
        ),
    ),
)


# --------------------------------------------------------------------------------------------
# dtypes

_DTYPE_BYTES = {
    "bfloat16": 2,
    "bf16": 2,
    "float16": 2,
    "fp16": 2,
    "half": 2,
    "float32": 4,
    "fp32": 4,
    "float": 4,
    "fp8": 1,
    "fp8_e4m3": 1,
    "fp8_e5m2": 1,
    "fp8_inc": 1,
    "fp8_ds_mla": 1,
    "fp4_e2m1": 0.5,
}


def dtype_bytes(name: str | None, default: float = 2) -> float:
    """Bytes per element of a dtype name (torch_dtype in config.json, --dtype, --kv-cache-dtype)."""
    if not name:
        return default
    n = str(name).lower().replace("torch.", "")
    return _DTYPE_BYTES.get(n, default)


def served_dtype_bytes(server_dtype: str | None, config_dtype: str | None) -> float:
    """The dtype the server computes in: --dtype, with ``auto`` = the checkpoint's dtype (fp32 -> fp16 in SGLang/vLLM)."""
    if server_dtype and server_dtype != "auto":
        return dtype_bytes(server_dtype)
    cb = dtype_bytes(config_dtype, 2)
    return 2 if cb == 4 else cb  # "auto" uses FP16 for FP32 checkpoints, BF16 for BF16 ones


# --------------------------------------------------------------------------------------------
# SGLang default --mem-fraction-static


@dataclass(frozen=True)
class MfsDefault:
    """SGLang's default --mem-fraction-static for one GPU size and server version."""

    value: float
    rule: str  # "0.4.7", "0.5.1", "0.5.3", "0.5.10", "0.5.23"
    gpu_mem_mib: float | None
    reserved_mib: float | None = None
    chunked_prefill_size: int | None = None
    cuda_graph_max_bs: int | None = None

    def explain(self) -> str:
        base = f"SGLang's default --mem-fraction-static {self.value:.3f} ({self.rule} rule"
        if self.gpu_mem_mib is not None:
            base += f", GPU memory {self.gpu_mem_mib:.0f} MiB"
        if self.reserved_mib is not None:
            base += f", {self.reserved_mib:.0f} MiB kept outside the static pool"
        if self.value <= 0:
            base += ": the rule reserves more than this GPU has"
        return base + ")"


def _newest(table: Behaviour[Any]) -> Any:
    """The value of a table's first row: the tables below list the newest releases first."""
    return table.rows[0].value


def sglang_rule_for(version: str | None) -> str:
    """Which of the sampled rules a release follows (newest when unknown or not a version)."""
    if not version or not is_version(version):
        return _newest(SGLANG_MFS_RULE)
    return SGLANG_MFS_RULE.at("sglang", version, _newest(SGLANG_MFS_RULE))


def _buckets(gpu_mem: float, tp: int, rule: str) -> tuple[int, int]:
    """(chunked_prefill_size, cuda_graph_max_bs) defaults by GPU memory (rules >= 0.5.3)."""
    if gpu_mem < 20 * 1024:
        return 2048, 8
    if gpu_mem < 35 * 1024:
        if rule == "0.5.23":
            return 4096, 48 if tp < 4 else 160
        return 2048, (16 if rule == "0.5.3" else 24) if tp < 4 else 80
    if gpu_mem < 60 * 1024:
        return 4096, 32 if tp < 4 else 160
    if gpu_mem < 160 * 1024:
        return 8192, 256 if tp < 4 else 512
    return 16384, 512


def prefill_graph_sizes(max_tokens: int) -> list[int]:
    """Prefill (piecewise) CUDA graph capture sizes for a max token count (0.5.23 cuda_graph_hook)."""
    sizes = (
        list(range(4, 33, 4))
        + list(range(48, 257, 16))
        + list(range(288, 513, 32))
        + list(range(576, 1024 + 1, 64))
        + list(range(1280, 4096 + 1, 256))
        + list(range(4608, max_tokens + 1, 512))
    )
    return [s for s in sizes if s <= max_tokens]


def sglang_default_mfs(
    gpu_mem_mib: float | None,
    version: str | None = None,
    *,
    tp: int = 1,
    pp: int = 1,
    dp: int = 1,
    enable_dp_attention: bool = False,
    chunked_prefill_size: int | None = None,
    cuda_graph_max_bs: int | None = None,
    max_prefill_tokens: int = 16384,
    max_running_requests: int | None = None,
    max_total_tokens: int | None = None,
    disable_cuda_graph: bool = False,
    rule: str | None = None,
) -> MfsDefault:
    """SGLang's default --mem-fraction-static, per the rule its ``version`` follows (see module doc)."""
    rule = rule or sglang_rule_for(version)
    g = gpu_mem_mib
    ps = tp * pp
    if rule == "0.4.7":
        if g is not None and g <= 81920:
            m = 0.79 if ps >= 16 else 0.81 if ps >= 8 else 0.85 if ps >= 4 else 0.87 if ps >= 2 else 0.88
        else:
            m = 0.88
        reserved = None
        if g is not None and g > 180 * 1000:
            m = 0.79
        elif g is not None and g > 96 * 1024:
            m = min(m + 48 * 1024 * (1 - m) / g, (g - 1024 * 18) / g)
        if g is not None:
            reserved = g * (1 - m)
        cps = chunked_prefill_size if chunked_prefill_size is not None else (16384 if g and g > 180_000 else 2048 if g and g < 25_000 else 8192)
        return MfsDefault(m, rule, g, reserved, cps, cuda_graph_max_bs)
    if rule == "0.5.1":
        cps = (
            chunked_prefill_size if chunked_prefill_size is not None else (4096 if g is None else 2048 if g < 35 * 1024 else 8192 if g < 160 * 1024 else 16384)
        )
        if g is None:
            return MfsDefault(0.88, rule, None, None, cps, cuda_graph_max_bs)
        if g < 35 * 1024:
            reserved = (2.8 + ps / 10) * 1024
        elif g < 90 * 1024:
            reserved = (9.5 + ps / 2) * 1024
        elif g < 160 * 1024:
            reserved = (12 + ps / 2) * 1024
        else:
            reserved = 32 * 1024
        if enable_dp_attention:
            reserved += 4 * 1024
        return MfsDefault(round((g - reserved) / g, 3), rule, g, reserved, cps, cuda_graph_max_bs)
    # rules >= 0.5.3
    if g is not None:
        cps, cgbs = _buckets(g, tp, rule)
    else:
        cps, cgbs = 4096, 160
    cps = chunked_prefill_size if chunked_prefill_size is not None else cps
    decode_default = cuda_graph_max_bs is None
    cgbs = cuda_graph_max_bs if cuda_graph_max_bs is not None else cgbs
    if rule == "0.5.23" and decode_default and max_running_requests is not None and cgbs > max_running_requests:
        cgbs = max_running_requests
    if g is None:
        return MfsDefault(0.95 if rule == "0.5.23" else 0.88, rule, None, None, cps, cgbs)
    act_tokens = max(cps, 2048) if cps > 0 else max(max_prefill_tokens, 2048)
    reserved = 512 + act_tokens * 1.5 + ps / 8 * 1024
    if not (rule == "0.5.23" and disable_cuda_graph):
        reserved += cgbs * 2
    if enable_dp_attention:
        reserved += cgbs * dp * 3 + (cgbs * dp * 1.5 if cgbs > 300 else 0)
    if rule in ("0.5.10", "0.5.23") and cps > 0 and not disable_cuda_graph:
        prefill_max = cps if max_total_tokens is None else min(cps, max_total_tokens)
        reserved += len(prefill_graph_sizes(prefill_max)) * 8
    if g > 60 * 1024:
        reserved = max(reserved, 10 * 1024)
    return MfsDefault(round((g - reserved) / g, 3), rule, g, reserved, cps, cgbs)


# --------------------------------------------------------------------------------------------
# KV cache


def kv_cell_bytes(num_kv_heads: int, head_dim: int, num_layers: int, dtype_size: float = 2, tp: int = 1) -> int:
    """Bytes of KV cache per token on one GPU: kv_heads/TP (at least 1) x head_dim x 2 (K, V) x layers x dtype."""
    heads = max(1, num_kv_heads // max(1, tp)) if num_kv_heads >= tp else 1
    return int(heads * head_dim * 2 * num_layers * dtype_size)


def sglang_kv_tokens(pre: float, free_after_weights: float, mfs: float, cell: int) -> int:
    """max_total_num_tokens before caps: (free_after_weights - pre (1 - mfs)) // cell (0 when negative)."""
    rest = free_after_weights - pre * (1 - mfs)
    return max(0, int(rest // cell)) if cell > 0 else 0


def sglang_mfs_for_tokens(pre: float, free_after_weights: float, tokens: int, cell: int) -> float:
    """The smallest --mem-fraction-static whose KV pool holds ``tokens``: 1 - (free_after_weights - tokens cell) / pre."""
    return 1 - (free_after_weights - tokens * cell) / pre


def ceil_to(x: float, step: float = 0.01) -> float:
    return round(math.ceil(x / step - 1e-9) * step, 6)


def floor_to(x: float, step: float = 0.01) -> float:
    return round(math.floor(x / step + 1e-9) * step, 6)


def sglang_forward_tokens(chunked_prefill_size: int | None, context_length: int, max_prefill_tokens: int = 16384) -> int:
    """Most tokens in one SGLang forward pass. SGLang chunks prefill for embedding requests too (scheduler
    ``is_chunked`` handling of embedding batches @ v0.5.3), so a batch holds at most chunked_prefill_size tokens;
    with chunking off (-1) one request of the full context length runs whole, and batches go up to
    max(max_prefill_tokens, context length)."""
    if chunked_prefill_size is not None and chunked_prefill_size > 0:
        return chunked_prefill_size
    return max(context_length, max_prefill_tokens)


def vllm_forward_tokens(chunks_pooling: bool, context_length: int, max_num_batched_tokens: int | None, total_bytes: int) -> int:
    """Most tokens in one vLLM forward pass (its profiling run): --max-num-batched-tokens, default 8192 on GPUs of
    70 GiB or more and 2048 on smaller ones (0.33 API server, chunked prefill on). A release that does not chunk
    pooling requests (``chunks_pooling`` False: :data:`VLLM_CHUNKED_POOLING`) runs one request of the full
    --max-model-len whole."""
    if not chunks_pooling:
        return max(context_length, max_num_batched_tokens or 2048)
    if max_num_batched_tokens:
        return max_num_batched_tokens
    return 8192 if total_bytes >= 70 * GiB else 2048


def vllm_chunks_pooling(version: str | None) -> bool:
    """Whether a vLLM release chunks the prefill of pooling requests (newest when unknown or not a version)."""
    if not version or not is_version(version):
        return _newest(VLLM_CHUNKED_POOLING)
    return VLLM_CHUNKED_POOLING.at("vllm", version, _newest(VLLM_CHUNKED_POOLING))


# --------------------------------------------------------------------------------------------
# vLLM


def vllm_default_gmu(version: str | None) -> float:
    """--gpu-memory-utilization default (:data:`VLLM_GMU_DEFAULT`; the newest release's when unknown)."""
    if not version or not is_version(version):
        return _newest(VLLM_GMU_DEFAULT)
    return VLLM_GMU_DEFAULT.at("vllm", version, _newest(VLLM_GMU_DEFAULT))


# --------------------------------------------------------------------------------------------
# measured activation peaks (H200, torch 2.11, transformers 5.17, bf16, batch x seq, peak = torch max allocated)

# variant, attention -> (weights bytes on the GPU, ((batch, seq, peak_bytes), ...))
H200_MEASURED: dict[tuple[str, str], tuple[int, tuple[tuple[int, int, int], ...]]] = {
    ("0.6B", "sdpa"): (
        1191568384,
        ((1, 512, 1297744896), (1, 8192, 2387076096), (1, 32768, 5872935936), (32, 512, 3540775936), (128, 512, 10486936576), (8, 8192, 10490930176)),
    ),
    ("0.6B", "eager"): (1225122816, ((1, 8192, 13191603200), (1, 16384, 46901355520))),
    ("4B", "sdpa"): (8131668992, ((1, 8192, 9989876736), (1, 32768, 15564499968), (32, 512, 11839831040))),
    ("8B", "sdpa"): (15168197632, ((1, 8192, 17252897792), (32, 512, 19329344512))),
}


@dataclass(frozen=True)
class Activation:
    """Activation peak (above the weights) of one forward pass."""

    bytes: int
    source: str  # "measured", "interpolated", "extrapolated"
    attention: str  # "sdpa" or "eager"
    tokens: int
    note: str = ""


def _sdpa_points(variant: str) -> list[tuple[int, int]]:
    w, runs = H200_MEASURED[(variant, "sdpa")]
    pts: dict[int, int] = {}
    for b, s, peak in runs:
        t = b * s
        pts[t] = max(pts.get(t, 0), peak - w)
    return sorted(pts.items())


def _interp(points: list[tuple[int, int]], t: float) -> tuple[float, str]:
    exact = dict(points)
    if t in exact:
        return float(exact[t]), "measured"
    t0, a0 = points[0]
    if t < t0:
        return a0 * t / t0, "interpolated"
    for (ta, aa), (tb, ab) in zip(points, points[1:]):
        if ta <= t <= tb:
            return aa + (ab - aa) * (t - ta) / (tb - ta), "interpolated"
    (ta, aa), (tb, ab) = points[-2], points[-1]
    return ab + (ab - aa) * (t - tb) / (tb - ta), "extrapolated"


def _eager_coeff_per_head() -> float:
    """Bytes per attention head per (query, key) pair of eager attention, fitted to the 0.6B eager runs."""
    w, runs = H200_MEASURED[("0.6B", "eager")]
    heads = VARIANT_SHAPES["0.6B"]["num_attention_heads"]
    pts = _sdpa_points("0.6B")
    cs = []
    for b, s, peak in runs:
        lin, _ = _interp(pts, b * s)
        cs.append((peak - w - lin) / (b * s * s * heads))
    return sum(cs) / len(cs)


EAGER_BYTES_PER_HEAD_PAIR = _eager_coeff_per_head()  # about 10.06


def activation_peak(variant: str | None, seq: int, batch: int = 1, attention: str = "sdpa", num_heads: int | None = None) -> Activation | None:
    """Activation peak above the weights for ``batch`` sequences of ``seq`` tokens (None: variant unknown)."""
    if variant not in VARIANT_SHAPES or seq <= 0 or batch <= 0:
        return None
    tokens = batch * seq
    lin, source = _interp(_sdpa_points(variant), tokens)
    if attention != "eager":
        return Activation(int(lin), source, "sdpa", tokens)
    heads = num_heads or VARIANT_SHAPES[variant]["num_attention_heads"]
    measured = {(b, s): p - w for (w, runs) in [H200_MEASURED[("0.6B", "eager")]] for b, s, p in runs} if variant == "0.6B" else {}
    if (batch, seq) in measured:
        return Activation(int(measured[(batch, seq)]), "measured", "eager", tokens)
    quad = EAGER_BYTES_PER_HEAD_PAIR * heads * batch * seq * seq
    src = "interpolated" if variant == "0.6B" and seq <= 16384 else "extrapolated"
    return Activation(int(lin + quad), src, "eager", tokens, "eager attention materialises the seq x seq score matrix per head")


# --------------------------------------------------------------------------------------------
# plans


@dataclass(frozen=True)
class SglangPlan:
    """What SGLang will do with this GPU (per GPU; with TP every GPU holds 1/TP of weights and KV heads)."""

    free: int  # free memory now (NVML)
    pre: float  # free after the CUDA context, before weights
    weights: float  # per GPU
    mfs: float
    cell: int
    context_length: int
    activation: int | None
    reserve: float  # pre * (1 - mfs): what SGLang leaves outside its static pool
    free_after_weights: float
    rest: float  # KV pool bytes (<= 0: "Not enough memory")
    kv_tokens_uncapped: int
    kv_tokens: int  # after --max-total-tokens
    max_total_tokens: int | None
    graph_bytes: float = 0.0  # CUDA graph / metadata part of the reserve

    @property
    def weights_fit(self) -> bool:
        return self.weights < self.pre

    @property
    def pool_ok(self) -> bool:
        return self.rest > 0 and self.kv_tokens_uncapped > 0

    @property
    def kv_holds_context(self) -> bool:
        return self.kv_tokens >= self.context_length

    @property
    def activation_room(self) -> float:
        return self.reserve - self.graph_bytes

    @property
    def activation_fits(self) -> bool:
        return self.activation is None or self.activation <= self.activation_room

    def mfs_for(self, tokens: int) -> float:
        return sglang_mfs_for_tokens(self.pre, self.free_after_weights, tokens, self.cell)

    @property
    def mfs_to_hold_context(self) -> float:
        """Smallest mfs (rounded up to 0.01) whose pool holds one full-length request."""
        return ceil_to(self.mfs_for(self.context_length))

    @property
    def mfs_max_for_activation(self) -> float | None:
        """Largest mfs (rounded down to 0.01) the doctor suggests: it leaves the activation peak plus 25 %, the CUDA
        graph and metadata reserve, and 1 GiB of slack outside the static pool."""
        if self.activation is None or self.pre <= 0:
            return None
        return floor_to(1 - (1.25 * self.activation + self.graph_bytes + SUGGEST_SLACK) / self.pre)


def plan_sglang(
    *,
    free: int,
    weights: float,
    cell: int,
    context_length: int,
    mfs: float,
    activation: int | None = None,
    max_total_tokens: int | None = None,
    graph_bytes: float = 0.0,
    context_overhead: int = CUDA_CONTEXT_BYTES,
) -> SglangPlan:
    pre = max(0.0, float(free - context_overhead))
    fa = pre - weights
    reserve = pre * (1 - mfs)
    rest = fa - reserve
    unc = sglang_kv_tokens(pre, fa, mfs, cell)
    capped = min(unc, max_total_tokens) if max_total_tokens else unc
    return SglangPlan(free, pre, weights, mfs, cell, context_length, activation, reserve, fa, rest, unc, capped, max_total_tokens, graph_bytes)


@dataclass(frozen=True)
class VllmPlan:
    total: int
    free: int
    gmu: float
    weights: float
    cell: int
    context_length: int
    activation: int
    overhead: int

    @property
    def budget(self) -> float:
        return self.gmu * self.total

    @property
    def budget_fits_free(self) -> bool:
        return self.budget <= self.free

    @property
    def kv_bytes(self) -> float:
        return self.budget - self.overhead - self.weights - self.activation

    @property
    def kv_tokens(self) -> int:
        return max(0, int(self.kv_bytes // self.cell)) if self.cell > 0 else 0

    @property
    def kv_holds_context(self) -> bool:
        return self.kv_tokens >= self.context_length

    @property
    def gmu_max_free(self) -> float:
        """Largest --gpu-memory-utilization (0.01 steps) that is still free now."""
        return floor_to(self.free / self.total)

    @property
    def gmu_needed(self) -> float:
        """Smallest --gpu-memory-utilization (0.01 steps) covering weights, activations and one full-length request."""
        need = self.overhead + self.weights + self.activation + self.context_length * self.cell
        return ceil_to(need / self.total)


def plan_vllm(
    *, total: int, free: int, gmu: float, weights: float, cell: int, context_length: int, activation: int, overhead: int = CUDA_CONTEXT_BYTES
) -> VllmPlan:
    return VllmPlan(total, free, gmu, weights, cell, context_length, activation, overhead)


def gib(x: float | None) -> str:
    return "?" if x is None else f"{x / GiB:.1f} GiB"


def weights_from_variant(variant: str | None) -> int | None:
    """bf16 bytes of a variant's checkpoint parameters (modelfiles.PARAMS x 2, lm_head included)."""
    from ..modelfiles import PARAMS

    return PARAMS[variant] * 2 if variant in PARAMS else None


def min_total_mib(totals: Iterable[int | None]) -> float | None:
    vals = [t / MiB for t in totals if t]
    return min(vals) if vals else None
