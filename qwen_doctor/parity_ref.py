"""The reference side of ``probe.parity``: the model's own vectors, computed in a bounded child process.

Two halves in one stdlib-only file:

* :func:`run_reference` (the doctor's side) starts ``PYTHON -I -B THIS_FILE`` with a JSON request on stdin and
  reads one JSON result line back. The interpreter is one that has torch and transformers (``--reference-python``,
  the server's own, or the doctor's when torch is importable); the doctor itself never imports torch. The child is
  killed at its time limit, runs under an address-space limit (``RLIMIT_AS``), dies with the doctor
  (``PR_SET_PDEATHSIG``), is started isolated (``-I``: no ``PYTHON*`` variables, no user site, no script
  directory on ``sys.path``), offline (``HF_HUB_OFFLINE``, ``local_files_only``) and never runs code shipped with
  a model (``trust_remote_code=False``).
* :func:`_worker` (the child's side, run as ``__main__``) follows the Qwen3-Embedding model card: the tokenizer with
  the end token ``<|endoftext|>`` appended, one forward pass per text (no padding), the final hidden state
  (``AutoModel`` = ``Qwen3Model``, final RMSNorm included), in float32. It returns the *raw* pooled vectors; the
  check normalises, truncates (Matryoshka) and compares them. Besides the model card's last-token vector it returns
  the alternatives a misconfigured server computes from the same hidden states: the mean of every token, the first
  token, and the last token of the sequence without the end token (and the mean of that sequence).

The worker must run on whatever Python the server uses (3.8 and later): no third-party import at module level, no
syntax newer than 3.8, and nothing imported from the doctor's package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any, Optional, Sequence

RESULT_MARKER = "QWEN_DOCTOR_PARITY_RESULT "
#: the token the Qwen3-Embedding tokenizer appends (the tiny test model has its own id for the same string)
END_TOKEN = "<|endoftext|>"
#: candidate name -> (the sequence it is computed on: "with"/"without" the end token, the pooling)
CANDIDATES = {
    "last": ("with", "last"),  # the model card: last token of the sequence with <|endoftext|>
    "mean": ("with", "mean"),
    "mean_no_end": ("without", "mean"),
    "first": ("with", "first"),
    "last_no_end": ("without", "last"),
}
_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "MALLOC_ARENA_MAX": "2",  # glibc arenas reserve address space per thread; the child runs under RLIMIT_AS
}


class ReferenceResult:
    """What the child returned: ``ok`` False with ``stage`` (spawn | import | tokenizer | load | forward | memory |
    timeout | crash) and ``error``; else ``vectors[candidate][i]`` for each text, and facts about the run."""

    def __init__(self, ok: bool, stage: str = "", error: str = "", data: Optional[dict[str, Any]] = None, wall_s: float = 0.0) -> None:
        self.ok, self.stage, self.error, self.data, self.wall_s = ok, stage, error, data or {}, wall_s

    @property
    def vectors(self) -> dict[str, list[list[float]]]:
        return self.data.get("vectors") or {}

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"ReferenceResult(ok={self.ok}, stage={self.stage!r}, error={self.error!r}, wall_s={self.wall_s:.1f})"


def child_env(threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(_ENV)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
        env[k] = str(threads)
    return env


def run_reference(
    python: str,
    model_dir: str,
    tokenizer_dir: str,
    texts: Sequence[str],
    *,
    timeout: float,
    memory_limit: Optional[int],
    threads: int = 2,
) -> ReferenceResult:
    """Compute the reference vectors of ``texts`` in a child ``python`` (killed after ``timeout`` s, at most
    ``memory_limit`` bytes of address space)."""
    request = json.dumps(
        {
            "model_dir": os.path.abspath(model_dir),
            "tokenizer_dir": os.path.abspath(tokenizer_dir),
            "texts": list(texts),
            "parent_pid": os.getpid(),
            "memory_limit": memory_limit,
            "threads": threads,
        },
        ensure_ascii=True,
    )
    cmd = [python, "-I", "-B", os.path.abspath(__file__)]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, input=request.encode("ascii"), capture_output=True, timeout=timeout, env=child_env(threads), check=False)
    except subprocess.TimeoutExpired:
        return ReferenceResult(False, "timeout", f"the reference computation did not finish within {timeout:.0f} s (stopped)", wall_s=time.monotonic() - t0)
    except OSError as exc:
        return ReferenceResult(False, "spawn", f"cannot start {python}: {exc.strerror or exc}", wall_s=time.monotonic() - t0)
    wall = time.monotonic() - t0
    out = proc.stdout.decode("utf-8", "replace")
    line = next((ln for ln in reversed(out.splitlines()) if ln.startswith(RESULT_MARKER)), None)
    if line is None:
        err = [ln.strip() for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        tail = err[-1] if err else f"exit code {proc.returncode}"
        if proc.returncode is not None and proc.returncode < 0:
            tail = f"killed by signal {-proc.returncode} ({tail})"
        return ReferenceResult(False, "crash", f"the reference process ended without a result: {tail[:300]}", wall_s=wall)
    try:
        payload = json.loads(line[len(RESULT_MARKER) :])
    except ValueError:
        return ReferenceResult(False, "crash", "the reference process wrote an unreadable result", wall_s=wall)
    if not payload.get("ok"):
        return ReferenceResult(False, str(payload.get("stage") or "crash"), str(payload.get("error") or "unknown error"), payload, wall)
    return ReferenceResult(True, data=payload, wall_s=wall)


# ------------------------------------------------------------------------------------------------------------
# the child


def _bound_self(parent_pid: Optional[int], memory_limit: Optional[int]) -> None:
    """Die with the doctor (Linux PR_SET_PDEATHSIG) and cap the address space, before any heavy import (the same
    bounds as qwen_doctor.tokenizer_tools._bound_self, repeated here: this file imports nothing of the doctor's)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except Exception:  # noqa: BLE001 - the timeout still bounds the child
            pass
        if parent_pid and os.getppid() != parent_pid:
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


def _err(stage: str, exc: BaseException) -> dict[str, Any]:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    if isinstance(exc, MemoryError) or "failed to map segment" in text or "cannot allocate memory" in text.lower():
        stage = "memory"  # the address-space limit (an import of torch's shared libraries fails with an ImportError)
    return {"ok": False, "stage": stage, "error": text[:500]}


def _load_model(torch: Any, transformers: Any, model_dir: str) -> Any:
    from transformers import AutoModel

    major = int(str(transformers.__version__).split(".")[0])
    kw: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False, "output_loading_info": True}
    kw["dtype" if major >= 5 else "torch_dtype"] = torch.float32
    try:
        model, info = AutoModel.from_pretrained(model_dir, attn_implementation="eager", **kw)
    except (TypeError, ValueError):  # a release without attn_implementation="eager" for this model
        model, info = AutoModel.from_pretrained(model_dir, **kw)
    missing = [k for k in (info or {}).get("missing_keys") or [] if "rotary" not in k and "inv_freq" not in k]
    if missing:
        raise LookupError(f"{len(missing)} weights missing from the checkpoint (e.g. {sorted(missing)[:3]}): the model would run on random values")
    return model.float().eval()


def _worker(req: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"ok": True}
    t0 = time.perf_counter()
    try:
        import torch
        import transformers
    except BaseException as exc:  # noqa: BLE001 - ImportError, or a broken install
        return _err("import", exc)
    out["versions"] = {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__}
    out["import_s"] = round(time.perf_counter() - t0, 2)
    try:
        torch.set_num_threads(max(1, int(req.get("threads") or 1)))
    except Exception:  # noqa: BLE001
        pass
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(req["tokenizer_dir"], local_files_only=True, trust_remote_code=False)
        end_id = tok.convert_tokens_to_ids(END_TOKEN)
        if not isinstance(end_id, int) or end_id == getattr(tok, "unk_token_id", None):
            end_id = tok.pad_token_id
        if not isinstance(end_id, int):
            raise LookupError(f"the tokenizer has no {END_TOKEN} token")
        seqs = []
        appended = []
        for text in req["texts"]:
            ids = list(tok(text, add_special_tokens=True)["input_ids"])
            appended.append(bool(ids) and ids[-1] == end_id)
            with_end = ids if appended[-1] else ids + [end_id]
            seqs.append({"with": with_end, "without": with_end[:-1]})
    except BaseException as exc:  # noqa: BLE001
        return _err("tokenizer", exc)
    out.update(end_id=end_id, tokenizer_appends=all(appended), lengths=[len(s["with"]) for s in seqs])
    t1 = time.perf_counter()
    try:
        model = _load_model(torch, transformers, req["model_dir"])
    except BaseException as exc:  # noqa: BLE001
        return _err("load", exc)
    out["load_s"] = round(time.perf_counter() - t1, 2)
    t2 = time.perf_counter()
    vectors: dict[str, list[list[float]]] = {name: [] for name in CANDIDATES}
    try:
        with torch.inference_mode():
            for s in seqs:
                # one causal forward pass: the sequence without the end token is its prefix, so its hidden states
                # are the first n-1 rows of the same pass (same positions, same causal attention)
                ids = torch.tensor([s["with"]], dtype=torch.long)
                h = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0].double()
                hidden = {"with": h, "without": h[:-1] if h.shape[0] > 1 else None}
                for name, (which, pool) in CANDIDATES.items():
                    hw = hidden[which]
                    if hw is None:
                        vectors[name].append([])
                        continue
                    v = hw[-1] if pool == "last" else hw[0] if pool == "first" else hw.mean(0)
                    vectors[name].append([float(x) for x in v.tolist()])
    except BaseException as exc:  # noqa: BLE001
        return _err("forward", exc)
    out["forward_s"] = round(time.perf_counter() - t2, 2)
    out["vectors"] = vectors
    try:
        import resource

        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    except Exception:  # noqa: BLE001
        pass
    return out


def _main() -> int:
    try:
        req = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    except ValueError as exc:
        payload: dict[str, Any] = _err("crash", exc)
    else:
        _bound_self(req.get("parent_pid"), req.get("memory_limit"))
        try:
            payload = _worker(req)
        except BaseException as exc:  # noqa: BLE001 - report, never a traceback
            payload = _err("crash", exc)
    sys.stdout.write(RESULT_MARKER + json.dumps(payload, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
