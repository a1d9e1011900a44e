"""Shared by the gpu.* check tests: the NVML readings recorded on a real H200 (tests/data/gpu/h200/h200_facts.json:
idle, and busy with a holder process), and synthetic hosts made from the recorded device with fields changed
(said at each use). No GPU exists here or in CI, so the NVML side is always a replay (QWEN_DOCTOR_NVML_REPLAY)."""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "tests" / "data" / "gpu" / "h200"
FACTS_FILE = DATA / "h200_facts.json"
FACTS = json.loads(FACTS_FILE.read_text())
IDLE = f"{FACTS_FILE}#nvml_idle"
BUSY = f"{FACTS_FILE}#nvml_busy"
DRIVER_KEYS = ("driver_version", "nvml_version", "cuda_driver_version")
GPU_IDS = ["gpu.driver", "gpu.devices", "gpu.capability", "gpu.health", "gpu.other-processes", "gpu.memory-fit", "gpu.trial-allocation"]
#: what every mention of a GPU reset must say (pitfalls.md #12; nvidia-smi(1) --gpu-reset)
RESET_REFUSED = "refused while any process uses the GPU"


def device(i: int = 0, *, busy: bool = False, total_mib: int | None = None, free: int | None = None, **fields):
    """The recorded H200 device (idle or busy), renumbered and with fields changed (synthetic hosts)."""
    d = copy.deepcopy(FACTS["nvml_busy" if busy else "nvml_idle"])
    d["index"] = i
    d["uuid"] = f"GPU-{i:08d}-47fc-8db0-a7df-b45cac212a4d"
    m = d["memory_info_v2"]
    if total_mib is not None:
        m["total"] = total_mib << 20
        m["free"] = m["total"] - m["reserved"]
        m["used"] = 0
    if free is not None:
        m["used"] = m["total"] - m["reserved"] - free
        m["free"] = free
    d.update(fields)
    return d


def write_replay(tmp_path: Path, devices: list[dict], name: str = "replay.json") -> str:
    doc = {k: FACTS["nvml_idle"][k] for k in DRIVER_KEYS}
    doc["devices"] = devices
    doc["device_count"] = len(devices)
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return str(p)


def busy_replay_with_pid(tmp_path: Path, pid: int) -> str:
    d = device(0, busy=True)
    d["compute_processes"] = [f"{{'pid': {pid}, 'usedGpuMemory': 4563402752, 'gpuInstanceId': 4294967295, 'computeInstanceId': 4294967295}}"]
    d["uuid"] = FACTS["nvml_busy"]["uuid"]
    return write_replay(tmp_path, [d], "busy.json")


def four_gpus(tmp_path, **per_gpu):
    return write_replay(tmp_path, [device(i, **per_gpu.get(str(i), {})) for i in range(4)], "x4.json")


def texts(results) -> list[str]:
    out = []
    for r in results.values():
        out.append(r.summary)
        if r.fix:
            out += [r.fix.text, r.fix.launch_command or "", *r.fix.commands]
    return out


def relaunch(r) -> list[str]:
    assert r.fix is not None and r.fix.launch_command
    return shlex.split(r.fix.launch_command)


def calls(log: Path) -> list[tuple[str, int]]:
    return [(a, int(b)) for a, b in (line.split() for line in log.read_text().splitlines())] if log.exists() else []
