"""The NVML adapter: replay of the readings recorded on a real H200 (idle, and busy with a holder process), a host
without a driver (this machine: the real pynvml against no libnvidia-ml), and the wrapping of NVML errors.

There is no GPU here or in CI. The real PynvmlBackend is exercised two ways: against this driverless host, and
(test_pynvml_backend_reads_every_field) with its pynvml module replaced by a stand-in that answers the NVML calls
with the recorded H200 values and raises pynvml's real NVMLError_NotSupported where the H200 did.
"""

from __future__ import annotations

import ctypes.util
import json
import os
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from qwen_doctor.gpu import nvml
from qwen_doctor.gpu.nvml import NoDriver, PynvmlBackend, ReplayBackend, ReplayError

DATA = Path(__file__).parent / "data" / "gpu" / "h200"
FACTS_FILE = DATA / "h200_facts.json"
FACTS = json.loads(FACTS_FILE.read_text())


def replay(key: str) -> ReplayBackend:
    return ReplayBackend.from_file(f"{FACTS_FILE}#{key}")


def test_idle_h200_replay():
    snap = nvml.take_snapshot(replay("nvml_idle"))
    assert not isinstance(snap, NoDriver)
    assert snap.source == "replay:h200_facts.json#nvml_idle"
    d = snap.driver
    assert (d.driver_version, d.cuda_driver_version, d.cuda_version, d.device_count) == ("580.159.04", 13000, "13.0", 1)
    g = snap.devices[0]
    assert g.name == "NVIDIA H200" and g.uuid == "GPU-8576b782-47fc-8db0-a7df-b45cac212a4d"
    assert g.compute_capability == (9, 0) and g.cc_str == "9.0"
    assert g.memory_total == 150754820096 and g.memory_free == 150109880320
    assert g.memory_used == 0 and g.memory_reserved == 644939776  # NVML v2 separates driver-reserved memory
    assert g.mig_mode == (0, 0) and not g.mig_enabled
    assert g.ecc_mode == (1, 1)
    assert g.remapped_rows == nvml.RemappedRows(0, 0, False, False)
    assert g.pci_bus_id == "00000000:00:06.0"
    # recorded as NVMLError_NotSupported: None, listed, and not an error
    assert g.retired_pages_pending is None
    assert g.not_supported == ("retired_pages_pending",)
    assert g.errors == ()
    assert nvml.throttle_names(g.throttle_reasons) == (("GpuIdle", False),)
    assert snap.processes_of(0) == ()


def test_total_memory_in_mib_is_what_nvidia_smi_prints():
    # SGLang reads `nvidia-smi --query-gpu=memory.total` (MiB); the recorded CSV says 143771 MiB
    csv = (DATA / "nvidia_smi_csv.txt").read_text()
    assert "143771 MiB" in csv
    g = nvml.take_snapshot(replay("nvml_idle")).devices[0]
    assert g.total_mib == 143771


def test_busy_h200_replay_has_the_holder_process():
    snap = nvml.take_snapshot(replay("nvml_busy"))
    procs = snap.processes_of(0)
    assert procs == (nvml.GpuProcess(FACTS["nvml_busy"]["holder_pid"], 4563402752),)
    g = snap.devices[0]
    assert g.memory_used == 4572643328 and g.memory_free == 145537236992
    assert nvml.throttle_names(g.throttle_reasons) == (("SwPowerCap", False),)


def test_no_driver_replay_is_a_state_not_an_error():
    b = ReplayBackend({"nvmlInit": {"error": "NVMLError_LibraryNotFound", "msg": "NVML Shared Library Not Found"}})
    s = nvml.take_snapshot(b)
    assert isinstance(s, NoDriver) and s.kind == "no-library" and s.is_absent
    b = ReplayBackend({"nvmlInit": {"error": "NVMLError_DriverNotLoaded"}})
    assert nvml.take_snapshot(b).kind == "no-driver"
    b = ReplayBackend({"nvmlInit": {"error": "NVMLError_LibRmVersionMismatch", "msg": "Driver/library version mismatch"}})
    s = nvml.take_snapshot(b)
    assert s.kind == "mismatch" and not s.is_absent


@pytest.mark.skipif(ctypes.util.find_library("nvidia-ml") is not None or os.path.exists("/dev/nvidiactl"), reason="this host has an NVIDIA driver")
def test_real_pynvml_on_this_driverless_host():
    s = nvml.take_snapshot(PynvmlBackend())
    assert isinstance(s, NoDriver)
    assert s.kind == "no-library" and s.is_absent
    assert "libnvidia-ml" in s.detail


def test_backend_for_run_honours_the_replay_variable(tmp_path):
    b = nvml.backend_for_run({nvml.REPLAY_ENV: f"{FACTS_FILE}#nvml_busy"})
    assert isinstance(b, ReplayBackend)
    assert isinstance(nvml.backend_for_run({}), PynvmlBackend)
    with pytest.raises(ReplayError, match="no key 'nope'"):
        nvml.backend_for_run({nvml.REPLAY_ENV: f"{FACTS_FILE}#nope"})
    with pytest.raises(ReplayError, match="cannot read"):
        nvml.backend_for_run({nvml.REPLAY_ENV: str(tmp_path / "missing.json")})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ReplayError, match="not JSON"):
        nvml.backend_for_run({nvml.REPLAY_ENV: str(bad)})


def test_multi_device_replay_document():
    idle = FACTS["nvml_idle"]
    second = dict(idle, uuid="GPU-2", index=1)
    doc = nvml.replay_document([idle, second], {"driver_version": "580.159.04", "cuda_driver_version": 13000})
    snap = nvml.take_snapshot(ReplayBackend(doc))
    assert [d.index for d in snap.devices] == [0, 1]
    assert [d.uuid for d in snap.devices] == [idle["uuid"], "GPU-2"]


class _HangingBackend:
    """A backend whose NVML call never returns, as on a GPU that fell off the bus (cannot be produced here)."""

    source = "hanging"

    def __init__(self) -> None:
        self.release = threading.Event()

    def open(self):
        self.release.wait(30)
        return NoDriver("error", "released")

    def device(self, index):  # pragma: no cover - never reached
        raise AssertionError

    def processes(self, index):  # pragma: no cover
        raise AssertionError

    def close(self):
        pass


def test_snapshot_times_out_instead_of_hanging():
    b = _HangingBackend()
    try:
        s = nvml.take_snapshot(b, timeout=0.2)
        assert isinstance(s, NoDriver) and s.kind == "timeout" and "did not answer" in s.detail
    finally:
        b.release.set()


def test_pynvml_errors_are_classified_with_the_real_exception_classes():
    import pynvml

    b = PynvmlBackend()
    b._nv = pynvml  # only the exception classes are used by _call

    def not_supported():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    def no_permission():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NO_PERMISSION)

    assert b._call("x", not_supported) == (None, nvml.NOT_SUPPORTED)
    value, err = b._call("x", no_permission)
    assert value is None and err.startswith("NVMLError_NoPermission")
    assert b._call("x", lambda: 7) == (7, None)
    # init failures map to states
    assert nvml._init_failure(pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)).kind == "no-library"
    assert nvml._init_failure(pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)).kind == "no-driver"
    assert nvml._init_failure(pynvml.NVMLError(pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH)).kind == "mismatch"


def _stand_in_pynvml(rec: dict):
    """pynvml's API answering with one recorded H200 reading; NotSupported raised with pynvml's real class."""
    import pynvml

    def ns():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    mem2 = rec["memory_info_v2"]
    procs = [SimpleNamespace(pid=415, usedGpuMemory=4563402752)] if rec.get("compute_processes") else []
    calls: list[str] = []

    def track(name, fn):
        def inner(*a):
            calls.append(name)
            return fn(*a)

        return inner

    mod = SimpleNamespace(
        NVMLError_NotSupported=pynvml.NVMLError_NotSupported,
        nvmlMemory_v2=pynvml.nvmlMemory_v2,
        nvmlInit=track("nvmlInit", lambda: None),
        nvmlShutdown=track("nvmlShutdown", lambda: None),
        nvmlDeviceGetCount=lambda: rec["device_count"],
        nvmlSystemGetDriverVersion=lambda: rec["driver_version"],
        nvmlSystemGetCudaDriverVersion=lambda: rec["cuda_driver_version"],
        nvmlSystemGetNVMLVersion=lambda: rec["nvml_version"],
        nvmlDeviceGetHandleByIndex=lambda i: ("h", i),
        nvmlDeviceGetName=lambda h: rec["name"],
        nvmlDeviceGetUUID=lambda h: rec["uuid"],
        nvmlDeviceGetPciInfo=lambda h: SimpleNamespace(busId=rec["pci_info"]["busId"]),
        nvmlDeviceGetMemoryInfo=lambda h, version=None: (
            SimpleNamespace(**mem2) if version == pynvml.nvmlMemory_v2 else SimpleNamespace(**rec["memory_info_v1"])
        ),
        nvmlDeviceGetCudaComputeCapability=lambda h: tuple(rec["cuda_compute_capability"]),
        nvmlDeviceGetMigMode=lambda h: list(rec["mig_mode"]),
        nvmlDeviceGetEccMode=lambda h: list(rec["ecc_mode"]),
        nvmlDeviceGetRemappedRows=lambda h: tuple(rec["remapped_rows"]),
        nvmlDeviceGetRetiredPagesPendingStatus=lambda h: ns(),
        nvmlDeviceGetCurrentClocksEventReasons=lambda h: rec["throttle_reasons"],
        nvmlDeviceGetComputeRunningProcesses=lambda h: procs,
    )
    return mod, calls


def test_pynvml_backend_reads_every_field():
    rec = FACTS["nvml_busy"]
    mod, calls = _stand_in_pynvml(rec)
    b = PynvmlBackend()
    b._nv = mod
    real = replay("nvml_busy")
    real.open()
    assert b.device(0) == real.device(0)  # same DeviceInfo from the live path and the replay path
    assert b.processes(0) == (nvml.GpuProcess(415, 4563402752),)
    b.close()
    assert calls == ["nvmlShutdown"]
