"""gpu.trial-allocation (--deep): the real probe subprocess against a stand-in libcuda compiled here (the real
driver API cannot run without a GPU), sized by gpu.memory-fit over the recorded H200 readings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from qwen_doctor.checks.gpu.trial_allocation import run_probe
from qwen_doctor.results import Status

from .helpers import IDLE, REPO, RESET_REFUSED, busy_replay_with_pid, calls


def test_trial_allocation_allocates_the_needed_size_and_frees_it(run, cuda, real_tokenizer_dir):
    res = run(IDLE, model_path=str(real_tokenizer_dir), deep=True)
    r = res["gpu.trial-allocation"]
    assert r.status is Status.PASS, r.summary
    need = res["gpu.memory-fit"].evidence["need_bytes"]
    assert r.evidence["need_bytes"] == need
    log = calls(cuda)
    names = [c[0] for c in log]
    assert ("cuMemAlloc_v2", need) in log
    assert ("cuMemFree_v2", 0xDEAD0000) in log
    assert names.index("cuMemFree_v2") > names.index("cuMemAlloc_v2")
    assert names[-1] == "cuDevicePrimaryCtxRelease_v2"
    assert "cuMemAllocManaged" not in names
    assert "expandable_segments:True" in r.evidence["if_oom_at_run_time"]  # SGLang is a PyTorch server


def test_trial_allocation_refused_is_not_called_fragmentation(run, cuda, monkeypatch):
    monkeypatch.setenv("FAKE_CUDA_FREE", str(1 << 30))
    r = run(IDLE, model_path="Qwen/Qwen3-Embedding-0.6B", deep=True)["gpu.trial-allocation"]
    assert r.status is Status.FAIL
    assert "CUDA_ERROR_OUT_OF_MEMORY" in r.summary and "not fragmentation" in r.summary
    assert "expandable_segments" not in json.dumps(r.to_dict())  # does not apply when the driver lacks the memory
    assert RESET_REFUSED in r.fix.text and "kills every process" not in r.fix.text


def test_trial_allocation_when_cuda_cannot_start(run, cuda, monkeypatch):
    monkeypatch.setenv("FAKE_CUDA_INIT_RC", "100")
    r = run(IDLE, model_path="Qwen/Qwen3-Embedding-0.6B", deep=True)["gpu.trial-allocation"]
    assert r.status is Status.FAIL and "CUDA_ERROR_NO_DEVICE" in r.summary and "NVML sees the GPU" in r.summary
    monkeypatch.setenv("QWEN_DOCTOR_LIBCUDA", "/nonexistent/libcuda.so.1")
    r = run(IDLE, model_path="Qwen/Qwen3-Embedding-0.6B", deep=True)["gpu.trial-allocation"]
    assert r.status is Status.FAIL and "no CUDA driver library" in r.summary


def test_a_hanging_driver_is_cut_off_by_the_timeout(cuda, monkeypatch):
    from qwen_doctor.gpu.nvml import ReplayBackend, take_snapshot

    monkeypatch.setenv("FAKE_CUDA_SLEEP", "30")
    dev = take_snapshot(ReplayBackend.from_file(IDLE)).devices[0]
    rc, rep = run_probe(1 << 20, dev, timeout=1.0)
    assert rc is None and "no answer within 1 s" in rep["error"]


def test_trial_allocation_skips_a_gpu_in_use(run, cuda, tmp_path, holder):
    p, _ = holder
    r = run(busy_replay_with_pid(tmp_path, p.pid), model_path="Qwen/Qwen3-Embedding-0.6B", deep=True)["gpu.trial-allocation"]
    assert r.status is Status.SKIP and f"pid {p.pid}" in r.summary
    assert calls(cuda) == []  # nothing touched the driver


def test_trial_allocation_for_tei_does_not_mention_pytorch(run, cuda):
    r = run(IDLE, "text-embeddings-router --model-id Qwen/Qwen3-Embedding-0.6B", deep=True)["gpu.trial-allocation"]
    assert r.status is Status.PASS
    assert "if_oom_at_run_time" not in r.evidence


def test_cuda_probe_command_line(fake_libcuda, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), QWEN_DOCTOR_LIBCUDA=str(fake_libcuda), FAKE_CUDA_FREE=str(8 << 30))
    probe = [sys.executable, "-m", "qwen_doctor.gpu.cuda_probe"]
    cp = subprocess.run(probe + [str(1 << 30)], capture_output=True, text=True, env=env, timeout=60)
    out = json.loads(cp.stdout)
    assert cp.returncode == 0 and out["ok"] and out["freed"] and out["free_before"] == 8 << 30
    cp = subprocess.run(probe + [str(9 << 30), "0"], capture_output=True, text=True, env=env, timeout=60)
    assert cp.returncode == 1 and json.loads(cp.stdout)["error"].endswith("CUDA_ERROR_OUT_OF_MEMORY")
    cp = subprocess.run(probe + ["lots"], capture_output=True, text=True, env=env, timeout=60)
    assert cp.returncode == 2 and "usage" in json.loads(cp.stdout)["error"]
    env["QWEN_DOCTOR_LIBCUDA"] = str(tmp_path / "nope.so")
    cp = subprocess.run(probe + ["1024"], capture_output=True, text=True, env=env, timeout=60)
    assert cp.returncode == 3 and not json.loads(cp.stdout)["ok"]
