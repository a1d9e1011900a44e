"""gpu.devices: CUDA_VISIBLE_DEVICES, --tp-size and --base-gpu-id mapped onto replayed GPUs (the recorded H200
renumbered into synthetic four-GPU hosts)."""

from __future__ import annotations

from qwen_doctor.checks import gpu as gpu_checks
from qwen_doctor.checks.gpu._common import parse_cuda_visible_devices
from qwen_doctor.context import RunOptions
from qwen_doctor.gpu.nvml import REPLAY_ENV
from qwen_doctor.registry import Registry
from qwen_doctor.results import Status
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target

from .helpers import DRIVER_KEYS, FACTS, device, four_gpus


def test_cuda_visible_devices_parsing():
    from qwen_doctor.gpu.nvml import ReplayBackend, take_snapshot

    snap = take_snapshot(ReplayBackend({**{k: FACTS["nvml_idle"][k] for k in DRIVER_KEYS}, "devices": [device(i) for i in range(4)]}))
    parse = lambda v: parse_cuda_visible_devices(v, snap.devices)  # noqa: E731
    assert parse(None) == ((0, 1, 2, 3), ())
    assert parse("1,0") == ((1, 0), ())
    assert parse(" 3 , 2 ") == ((3, 2), ())
    assert parse("GPU-00000002") == ((2,), ())
    assert parse("GPU-00000002-47fc-8db0-a7df-b45cac212a4d,0") == ((2, 0), ())
    vis, notes = parse("GPU-0000000")  # prefix of all four
    assert vis == () and "several GPUs" in notes[0]
    vis, notes = parse("0,7,1")
    assert vis == (0,) and "'7' is invalid" in notes[0] and "only the devices listed before an invalid entry" in notes[0]
    vis, notes = parse("")
    assert vis == () and "empty" in notes[0]
    vis, notes = parse("1,1")
    assert vis == (1,) and "twice" in notes[0] and "cannot confirm" in notes[0]  # undocumented in CUDA: not asserted (issue 14)
    vis, notes = parse("MIG-1234")
    assert vis == () and "MIG" in notes[0]


def test_tp_and_cuda_visible_devices_select_the_gpus(run, tmp_path):
    rp = four_gpus(tmp_path)
    res = run(rp, "env CUDA_VISIBLE_DEVICES=2,3 python -m sglang.launch_server --model-path /m/Qwen3-Embedding-0.6B --is-embedding --tp-size 2")
    r = res["gpu.devices"]
    assert r.status is Status.PASS and r.evidence["selected_indices"] == [2, 3]
    assert r.evidence["cuda_visible_devices_source"] == "launch command environment"
    res = run(rp, "env CUDA_VISIBLE_DEVICES=2,3 python -m sglang.launch_server --model-path /m/Qwen3-Embedding-0.6B --is-embedding --tp-size 2 --base-gpu-id 1")
    r = res["gpu.devices"]
    assert r.status is Status.FAIL and "CUDA sees only 2" in r.summary and "--base-gpu-id 1" in r.summary
    assert res["gpu.memory-fit"].status is Status.SKIP and "gpu.devices" in res["gpu.memory-fit"].blocked_by
    res = run(rp, "vllm serve /m/Qwen3-Embedding-0.6B --runner pooling --tensor-parallel-size 2", server_version="0.33.0")
    assert res["gpu.devices"].evidence["selected_indices"] == [0, 1]


def test_shell_cuda_visible_devices_and_invalid_entries(run, tmp_path, monkeypatch):
    rp = four_gpus(tmp_path)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,9,1")
    monkeypatch.setenv(REPLAY_ENV, rp)
    reg = Registry()
    gpu_checks.register(reg)
    t = build_target(None, model_path="Qwen/Qwen3-Embedding-0.6B")
    res = {r.id: r for r in Runner(reg, RunOptions()).run([t])}
    r = res["gpu.devices"]
    assert r.status is Status.WARN and r.evidence["selected_indices"] == [3]
    assert r.evidence["cuda_visible_devices_source"] == "this shell's environment"
    assert "'9' is invalid" in r.summary
