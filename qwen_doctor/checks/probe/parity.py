"""probe.parity: the server's vectors are the model's own (model-card semantics), or the report says why not."""

from __future__ import annotations

import math
import os
import sys
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Sequence

from ...probe import NORM_TOL, BadVector, extract_vectors
from ...results import Outcome, Status
from ...spec import check
from ._common import REACHABLE, Budget, applies, client, embed_body, embeddings_work, halted, kind
from ._parity_fix import VLLM_NORMALIZE_KEY, VLLM_POOLER_FLAG, fix_for

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...parity_ref import ReferenceResult

#: the model card's example (Qwen3-Embedding README): two queries with the web-search instruction, two documents
TASK = "Given a web search query, retrieve relevant passages that answer the query"
QUERIES = ("What is the capital of China?", "Explain gravity")
DOCUMENTS = (
    "The capital of China is Beijing.",
    "Gravity is a force that attracts two bodies towards each other. It gives weight to physical objects and is responsible for the movement of planets around the sun.",
)
TEXTS = tuple(f"Instruct: {TASK}\nQuery:{q}" for q in QUERIES) + DOCUMENTS
#: minimum cosine with the reference, for every probe text: float32 serving, and reduced precision (or unknown)
COSINE_FP32 = 0.9999
COSINE_REDUCED = 0.99
#: weights above this size (bytes, as stored) are compared only with --deep: the 0.6B (1.19 GB in bf16) runs by default
DEEP_ABOVE_BYTES = 1_500_000_000
GIB = 1024**3
#: the reference process's address-space limit on top of the fp32 weights and the mapped files (torch's CUDA builds
#: reserve ~4 GiB of address space at import; the CPU build ~1 GiB)
ADDRESS_SPACE_EXTRA = 6 * GIB
#: what each alternative means, in the report
ALTERNATIVES = {
    "mean": ("mean", "mean pooling (the average over every token, not the last token)"),
    "mean_no_end": ("mean", "mean pooling (the average over every token, not the last token), without the end token"),
    "first": ("first", "first-token pooling (CLS-style, not the last token)"),
    "last_no_end": ("no-end", "no end token: the server's tokenizer does not append <|endoftext|>, so last-token pooling pools the text's own last token"),
}

_cache: "OrderedDict[tuple, ReferenceResult]" = OrderedDict()  # successful reference runs (serve re-runs every --cache s)
_cache_lock = threading.Lock()
_key_locks: dict[tuple, threading.Lock] = {}


@check(
    "probe.parity",
    "Vectors match the model's own (numerical parity)",
    applies=applies,
    requires=REACHABLE,
    uses=("probe.identity", "probe.embeddings", "probe.dimensions", "probe.latency"),
    reads=("http", "server", "model", "tokenizer"),
    claims=(VLLM_POOLER_FLAG, VLLM_NORMALIZE_KEY, "sglang.qwen3-weight-prefix"),
)
def check_parity(ctx: "Context") -> Outcome:
    """What it checks: the server's vectors for four fixed texts (the model card's two queries in the `Instruct: {task}\\nQuery:{query}` form and its two documents; and one `dimensions` request when probe.dimensions found it honoured) against reference vectors computed here from the same weights with the model card's semantics: the tokenizer with <|endoftext|> appended, last-token pooling of the final hidden state, L2 normalisation, Matryoshka truncation then re-normalisation. Every text must reach a cosine of at least 0.9999 when the server computes in float32 (an explicit --dtype float32, or a float32 checkpoint outside vLLM's --dtype auto) and 0.99 in bfloat16/float16 or an unknown dtype. The reference runs in a separate process (never in the doctor's): the interpreter of --reference-python, else the server process's own (it has torch), else the doctor's when torch is importable; killed at the check's time limit, under an address-space limit, offline. Models over 1.5 GB of weights (the 4B and 8B) are compared only with --deep, and only when the host has the memory for the fp32 weights.

    Why it matters: the worst embedding failures answer HTTP 200 with well-formed, normalised vectors, and retrieval quietly collapses: mean pooling instead of the last token (a stale copy without 1_Pooling, a pooler override; vllm-tei-qwen3.md E.1), a tokenizer.json without the post-processor that appends <|endoftext|> (QwenLM/Qwen3-Embedding#54), a missing L2 normalisation, NaN from fp16 on the 8B (Qwen3-Embedding#164), or another checkpoint behind the right name (SGLang 0.4.7-0.5.8.post1 runs `model.`-prefixed checkpoints on random weights when the path contains "Embedding", sglang#10150). On a mismatch the check computes those alternatives from the same hidden states (mean pooling, first-token pooling, no end token, no normalisation) and names the one the server's vectors match; one that matches none is a different checkpoint.

    How to fix: vLLM: the pooler override (--pooler-config from 0.11.0, --override-pooler-config before; '{"pooling_type": "LAST"}', normalisation `use_activation` from 0.32, `normalize` in 0.10.1-0.13); TEI: --pooling last-token; SGLang pools the last token and normalises in every release; a tokenizer.json whose post-processor appends <|endoftext|> (151643); --dtype bfloat16 instead of fp16; point the doctor at the server's own model files (--model-path) and give --reference-python PATH (a Python with torch and transformers >= 4.51) when it says so.
    """
    stop = halted(ctx)  # the server stalled (consecutive timeouts) or the deadline is near
    if stop is not None:
        return stop
    skip = embeddings_work(ctx)
    if skip:
        return Outcome.skip(skip)
    mf = ctx.model
    if mf is None or mf.directory is None:
        return Outcome.skip("no local model directory to compute the reference vectors from (give --model-path DIR: the files the server serves)")
    model_dir = str(mf.directory)
    unreadable = _unreadable_weights(mf.directory)
    if mf.weight_bytes is None or unreadable:
        what = f"{unreadable} is not readable by this user (run the doctor as the server's user)" if unreadable else "no readable safetensors weights"
        return Outcome.skip(f"cannot compute the reference vectors: {what} in {model_dir} (give --model-path DIR of the served model)")
    stored = mf.weight_bytes
    fp32 = stored * 4 // _bytes_per_value(mf.config_dtype)
    size = f"{mf.identity.name} ({stored / 1e9:.2f} GB of weights, {fp32 / GIB:.1f} GiB in fp32)"
    if stored > DEEP_ABOVE_BYTES and not ctx.options.deep:
        return Outcome.skip(
            f"the reference for {size} is opt-in: run with --deep (models up to {DEEP_ABOVE_BYTES / 1e9:.1f} GB of weights are compared by default)"
        )
    need = int(fp32 * 1.5) + GIB  # measured: the 0.6B (2.2 GiB in fp32) peaks at 3.85 GB RSS (bench/bench_parity.py)
    avail = _available_memory()
    if avail is not None and need > avail:
        return Outcome.skip(f"the reference for {size} needs ~{need / GIB:.1f} GiB of host memory, {avail / GIB:.1f} GiB is available here")
    python, where = reference_python(ctx)
    if python is None:
        return Outcome.skip(
            f"no Python with torch here to compute the reference ({where}): give --reference-python PATH (an interpreter with torch and transformers, e.g. the server's venv python)"
        )
    tmf, _tok_where = ctx.tokenizer_model()
    tok_dir = str(tmf.directory) if tmf is not None and tmf.directory is not None else model_dir

    budget = Budget("probe.parity")
    served, dim_check, failed = _server_vectors(ctx, budget)
    if failed is not None:
        return failed
    ref, cached = _reference(python, model_dir, tok_dir, timeout=max(5.0, budget.left() - 1.0), memory_limit=fp32 + stored + ADDRESS_SPACE_EXTRA)
    ev: dict[str, Any] = {
        "reference_python": python,
        "reference_python_source": where,
        "model_dir": model_dir,
        "texts": len(TEXTS),
        "reference_s": round(ref.wall_s, 1),
        "reference_cached": cached,
    }
    for k in ("versions", "peak_rss_mb", "import_s", "load_s", "forward_s", "tokenizer_appends"):
        if k in ref.data:
            ev[k] = ref.data[k]
    if not ref.ok:
        return _reference_failed(ref, python, where, ev)
    dtype, dtype_src = mf.serving_dtype(ctx.server)
    k = kind(ctx)
    tight = dtype == "float32" and not (k == "vllm" and "auto" in dtype_src)
    threshold = COSINE_FP32 if tight else COSINE_REDUCED
    ev.update(serving_dtype=dtype, serving_dtype_source=dtype_src, threshold=threshold)
    return _compare(ctx, served, dim_check, ref, threshold, ev, model_dir, k)


# -- inputs ------------------------------------------------------------------------------------------------


def _bytes_per_value(dtype: str | None) -> int:
    return 4 if dtype in ("float32", "fp32") else 8 if dtype == "float64" else 2


def _unreadable_weights(directory: Any) -> str | None:
    try:
        for f in sorted(directory.glob("*.safetensors")):
            if not os.access(f, os.R_OK):
                return f.name
    except OSError as exc:
        return f"the directory ({exc.strerror})"
    return None


def _available_memory() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001
        return None


def _is_python(path: str) -> bool:
    return os.path.isabs(path) and os.path.basename(path).startswith("python") and os.path.isfile(path) and os.access(path, os.X_OK)


def reference_python(ctx: "Context") -> tuple[str | None, str]:
    """(the interpreter that computes the reference, where it comes from), or (None, why there is none)."""
    if ctx.options.reference_python:
        return ctx.options.reference_python, "--reference-python"
    t = ctx.target
    dep = t.deployment
    if t.launch is not None and not (dep is not None and dep.in_container):
        for tok in t.launch.prefix[:2]:  # the interpreter the command (or a console script's shebang) runs
            if _is_python(tok):
                return tok, (f"the interpreter of the server process (pid {t.pid})" if t.pid else "the launch command's interpreter")
    if t.pid:
        try:
            import psutil

            exe = psutil.Process(t.pid).exe()
            if exe and _is_python(exe):
                return exe, f"the executable of the server process (pid {t.pid})"
        except Exception:  # noqa: BLE001 - gone, or another user's
            pass
    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        return sys.executable, "the doctor's own interpreter"
    return None, "no --reference-python, no server process interpreter on this host, and torch is not importable by the doctor"


def _server_vectors(ctx: "Context", budget: Budget) -> tuple[list[list[float]], tuple[int, list[float]] | None, Outcome | None]:
    """The server's vector for each probe text, and (k, vector) of one `dimensions=k` request when probe.dimensions passed."""
    o = ctx.options
    out: list[list[float]] = []
    dim_check = None
    want = ctx.evidence("probe.dimensions", "requested")
    honoured = (r := ctx.result("probe.dimensions")) is not None and r.status is Status.PASS and ctx.evidence("probe.dimensions", "dim") == want
    with client(ctx) as c:
        for text in TEXTS:
            r1 = c.post_json("/v1/embeddings", embed_body(ctx, text), read_timeout=budget.read(o.probe_timeout))
            if r1.failure is not None or r1.status != 200:
                return [], None, Outcome.warn(f"could not embed the probe texts: {r1.describe()}", None, http_status=r1.status)
            try:
                (v,) = extract_vectors(r1.json(), 1)
            except BadVector as exc:
                return [], None, Outcome.warn(f"could not read the server's vector: {exc}", None, http_status=200)
            out.append(v)
        if honoured and isinstance(want, int):
            r2 = c.post_json("/v1/embeddings", embed_body(ctx, TEXTS[0], dimensions=want), read_timeout=budget.read(o.probe_timeout))
            try:
                (v,) = extract_vectors(r2.json(), 1) if r2.status == 200 else (None,)
                dim_check = (want, v) if v else None
            except BadVector:
                dim_check = None
    return out, dim_check, None


# -- the reference -----------------------------------------------------------------------------------------


def _signature(d: str) -> tuple:
    sig = []
    try:
        for e in sorted(os.scandir(d), key=lambda e: e.name):
            if e.name.endswith((".safetensors", ".json", ".txt")) and e.is_file():
                st = e.stat()
                sig.append((e.name, st.st_size, st.st_mtime_ns))
    except OSError:
        pass
    return tuple(sig)


def _reference(python: str, model_dir: str, tok_dir: str, *, timeout: float, memory_limit: int) -> "tuple[ReferenceResult, bool]":
    """(the reference vectors, whether they were cached): computed once per model files and interpreter (a run's
    targets and serve's runs share them; changed files change the key)."""
    from ...parity_ref import run_reference

    key = (python, os.path.realpath(model_dir), os.path.realpath(tok_dir), _signature(model_dir), _signature(tok_dir), TEXTS)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key], True
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        with _cache_lock:
            if key in _cache:
                return _cache[key], True
        threads = max(1, min(4, os.cpu_count() or 1))
        res = run_reference(python, model_dir, tok_dir, TEXTS, timeout=timeout, memory_limit=memory_limit, threads=threads)
        with _cache_lock:
            _key_locks.pop(key, None)
            if res.ok:
                _cache[key] = res
                while len(_cache) > 4:
                    _cache.popitem(last=False)
        return res, False


def _reference_failed(ref: "ReferenceResult", python: str, where: str, ev: dict[str, Any]) -> Outcome:
    ev.update(reference_stage=ref.stage, reference_error=ref.error)
    give = "give --reference-python PATH (a Python with torch and transformers >= 4.51, e.g. the server's venv python)"
    if ref.stage in ("import", "spawn"):
        return Outcome.skip(f"{python} ({where}) cannot compute the reference: {ref.error}; {give}", **ev)
    if ref.stage in ("tokenizer", "load") and ("qwen3" in ref.error.lower() or "does not recognize" in ref.error):
        return Outcome.skip(f"the transformers of {python} ({where}) does not know Qwen3: {ref.error}; {give}", **ev)
    what = {"timeout": "timed out", "memory": "ran out of its memory limit", "load": "could not load the model", "tokenizer": "could not load the tokenizer"}
    return Outcome.warn(f"the reference computation {what.get(ref.stage, 'failed')} ({python}, {where}): {ref.error}", None, **ev)


# -- the comparison ----------------------------------------------------------------------------------------


def _unit(v: Sequence[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v] if n > 0 else list(v)


def _cos(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b) or not a:
        return float("nan")
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(x * x for x in b))
    if na == 0 or nb == 0:
        return float("nan")
    return sum(x * y for x, y in zip(a, b)) / (na * nb)


def _min_cos(served: list[list[float]], ref: list[list[float]]) -> float:
    vals = [_cos(s, r) for s, r in zip(served, ref)]
    return min(vals) if vals and all(v == v for v in vals) else float("nan")


def _compare(
    ctx: "Context", served: list[list[float]], dim_check: Any, ref: "ReferenceResult", threshold: float, ev: dict[str, Any], model_dir: str, k: str | None
) -> Outcome:
    vec = ref.vectors
    ref_dim = len(vec["last"][0])
    ev["dim"] = ref_dim
    if any(not all(math.isfinite(x) for x in v) for v in served):
        return Outcome.fail(
            "the server's vectors contain NaN/inf (fp16 overflow: Qwen3-Embedding-8B in fp16, Qwen3-Embedding#164)", fix_for(ctx, "nan", k, model_dir), **ev
        )
    if any(len(v) != ref_dim for v in served):
        ev["cause"] = "checkpoint"
        return Outcome.fail(
            f"the server's vectors have {len(served[0])} dimensions, the model in {model_dir} {ref_dim}: a different checkpoint is served",
            fix_for(ctx, "checkpoint", k, model_dir),
            **ev,
        )
    scores = {name: _min_cos(served, vs) for name, vs in vec.items()}
    ev["min_cosine"] = {name: round(s, 6) if s == s else None for name, s in scores.items()}
    norms = [math.sqrt(sum(x * x for x in v)) for v in served]
    ev["server_norms"] = [round(n, 5) for n in norms]
    rule = f"min cosine >= {threshold} for {ev.get('serving_dtype') or 'an unknown dtype'}"
    texts = f"{len(QUERIES)} queries and {len(DOCUMENTS)} documents"
    if scores["last"] >= threshold:
        problems = []
        if any(abs(n - 1.0) > NORM_TOL for n in norms):
            ev["cause"] = "no-norm"
            problems.append(
                f"the vectors point the model's way (cosine {scores['last']:.6f}) but are not L2-normalised (norms {min(norms):.4f}-{max(norms):.4f}): "
                "dot-product / inner-product indexes rank them differently"
            )
        if dim_check is not None:
            want, v = dim_check
            c = _cos(v, _unit(vec["last"][0])[:want])
            ev.update(dimensions_requested=want, dimensions_cosine=round(c, 6) if c == c else None)
            if not (c >= threshold):
                problems.append(
                    f"dimensions={want} returns a vector that is not the first {want} values of the model's (cosine {c:.5f}): Matryoshka truncation is wrong"
                )
        if problems:
            fix = fix_for(ctx, "no-norm", k, model_dir) if ev.get("cause") == "no-norm" else None
            return Outcome.warn("; ".join(problems), fix, **ev)
        extra = f", dimensions={dim_check[0]} too" if dim_check is not None else ""
        return Outcome.passed(f"the server's vectors are the model's own: cosine {scores['last']:.6f} ({rule}) over {texts}{extra}", **ev)
    alts = sorted(((s, name) for name, s in scores.items() if name in ALTERNATIVES and s == s), reverse=True)
    ref_part = f"cosine with the model card's vectors {scores['last']:.4f} < {threshold}"
    if alts and alts[0][0] >= threshold:
        s, name = alts[0]
        cause, text = ALTERNATIVES[name]
        ev["cause"] = cause
        ev["matched"] = name
        if cause == "no-end" and ev.get("tokenizer_appends") is False:
            text += " (the local tokenizer.json does not append it either; the reference appends it, as the model card does)"
        return Outcome.fail(f"the server's vectors match {text} (cosine {s:.6f}); {ref_part}", fix_for(ctx, cause, k, model_dir), **ev)
    ev["cause"] = "checkpoint"
    best = ", ".join(f"{n} {s:.3f}" for s, n in alts[:3])
    note = " (fp16 serving can also drift this far on long inputs)" if ev.get("serving_dtype") == "float16" and scores["last"] > 0.9 else ""
    return Outcome.fail(
        f"the server's vectors match none of the model's: {ref_part}, and no known misconfiguration explains them ({best}): a different checkpoint is served under this name{note}",
        fix_for(ctx, "checkpoint", k, model_dir),
        **ev,
    )
