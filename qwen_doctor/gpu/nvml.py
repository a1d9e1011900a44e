"""A thin, read-only adapter over NVML (nvidia-ml-py's ``pynvml``) that returns plain frozen dataclasses.

Two backends implement :class:`GpuBackend`:

* :class:`PynvmlBackend` talks to the real driver. ``pynvml`` is imported inside its methods only. Every call is
  wrapped: ``NVMLError_NotSupported`` becomes ``None`` with the field named in ``DeviceInfo.not_supported``
  (the H200 answers "Not Supported" for retired pages, which are replaced by row remapping on that card), any
  other NVML error becomes ``None`` with the message in ``DeviceInfo.errors``. A missing library
  (``NVMLError_LibraryNotFound``) or driver (``NVMLError_DriverNotLoaded``) is a :class:`NoDriver` state, not an
  exception.
* :class:`ReplayBackend` replays readings recorded on a real GPU (``tests/data/gpu/h200/h200_facts.json``) so the
  checks and the CLI can be exercised without a GPU. ``QWEN_DOCTOR_NVML_REPLAY=FILE[#KEY]`` makes
  :func:`backend_for_run` use it (``KEY`` picks a sub-object, e.g. ``h200_facts.json#nvml_busy``).

Replay format: a recorded object as written by the H200 recording script (``driver_version``,
``cuda_driver_version``, ``device_count``, ``name``, ``uuid``, ``memory_info_v1``/``memory_info_v2``,
``cuda_compute_capability``, ``mig_mode``, ``ecc_mode``, ``remapped_rows``, ``retired_pages_pending``,
``throttle_reasons``, ``pci_info``, ``compute_processes``; an unsupported field is recorded as
``{"error": "NVMLError_NotSupported"}``), or the same driver fields with a ``"devices": [...]`` list of such
per-device objects, or ``{"nvmlInit": {"error": "NVMLError_LibraryNotFound"}}`` for a host without a driver.

:func:`take_snapshot` reads everything once, in a worker thread with an explicit timeout (an NVML call on a GPU
that fell off the bus can block), and shuts NVML down again. Nothing here writes to the GPU.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from ..facts import as_int

REPLAY_ENV = "QWEN_DOCTOR_NVML_REPLAY"
NOT_SUPPORTED = "NVMLError_NotSupported"

# NVML clock event ("throttle") reason bits (nvml.h nvmlClocksEventReason*).
THROTTLE_BITS: tuple[tuple[int, str, bool], ...] = (
    # bit, name, is a problem (slowdown forced by hardware/thermals rather than idle/power policy)
    (0x1, "GpuIdle", False),
    (0x2, "ApplicationsClocksSetting", False),
    (0x4, "SwPowerCap", False),
    (0x8, "HwSlowdown", True),
    (0x10, "SyncBoost", False),
    (0x20, "SwThermalSlowdown", True),
    (0x40, "HwThermalSlowdown", True),
    (0x80, "HwPowerBrakeSlowdown", True),
    (0x100, "DisplayClockSetting", False),
)


def throttle_names(mask: int | None) -> tuple[tuple[str, bool], ...]:
    """Names of the set reason bits, each with whether it is a hardware/thermal slowdown."""
    if not mask:
        return ()
    return tuple((name, bad) for bit, name, bad in THROTTLE_BITS if mask & bit)


# --------------------------------------------------------------------------------------------
# plain data


@dataclass(frozen=True)
class NoDriver:
    """NVML cannot be used on this host. ``kind``: no-pynvml, no-library, no-driver, mismatch, error, timeout."""

    kind: str
    detail: str

    @property
    def is_absent(self) -> bool:
        """True when there is simply no NVIDIA stack here (a SKIP, not a problem)."""
        return self.kind in ("no-pynvml", "no-library", "no-driver")


@dataclass(frozen=True)
class DriverInfo:
    driver_version: str | None
    cuda_driver_version: int | None  # e.g. 13000 for CUDA 13.0
    nvml_version: str | None
    device_count: int

    @property
    def cuda_version(self) -> str | None:
        v = self.cuda_driver_version
        if not isinstance(v, int) or v <= 0:
            return None
        return f"{v // 1000}.{(v % 1000) // 10}"


@dataclass(frozen=True)
class RemappedRows:
    correctable: int
    uncorrectable: int
    pending: bool
    failure: bool


@dataclass(frozen=True)
class DeviceInfo:
    """One GPU as NVML numbers it (PCI bus order). ``None`` = unknown; see not_supported / errors."""

    index: int
    uuid: str | None = None
    name: str | None = None
    pci_bus_id: str | None = None
    memory_total: int | None = None  # bytes
    memory_free: int | None = None
    memory_used: int | None = None  # v2 'used' (excludes driver-reserved memory) where available
    memory_reserved: int | None = None  # driver-reserved (NVML memory v2), None on v1-only drivers
    compute_capability: tuple[int, int] | None = None
    mig_mode: tuple[int, int] | None = None  # (current, pending), 1 = enabled
    ecc_mode: tuple[int, int] | None = None  # (current, pending)
    remapped_rows: RemappedRows | None = None
    retired_pages_pending: bool | None = None
    throttle_reasons: int | None = None
    not_supported: tuple[str, ...] = ()
    errors: tuple[tuple[str, str], ...] = ()

    @property
    def total_mib(self) -> float | None:
        """memory.total in MiB, as `nvidia-smi --query-gpu=memory.total` prints it (what SGLang reads)."""
        return self.memory_total / (1 << 20) if self.memory_total is not None else None

    @property
    def cc_str(self) -> str | None:
        return f"{self.compute_capability[0]}.{self.compute_capability[1]}" if self.compute_capability else None

    @property
    def mig_enabled(self) -> bool:
        return bool(self.mig_mode and self.mig_mode[0] == 1)


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    used_bytes: int | None  # None when NVML cannot attribute memory (e.g. MIG without privileges)


@dataclass(frozen=True)
class GpuSnapshot:
    source: str  # "nvml" or "replay:<file>"
    driver: DriverInfo
    devices: tuple[DeviceInfo, ...]
    processes: tuple[tuple[GpuProcess, ...], ...] = field(default_factory=tuple)  # per device, same order

    def processes_of(self, index: int) -> tuple[GpuProcess, ...]:
        for dev, procs in zip(self.devices, self.processes):
            if dev.index == index:
                return procs
        return ()

    def device(self, index: int) -> DeviceInfo | None:
        for dev in self.devices:
            if dev.index == index:
                return dev
        return None


class GpuBackend(Protocol):
    """What the gpu checks need from NVML. Implementations never raise for NotSupported fields."""

    source: str

    def open(self) -> DriverInfo | NoDriver: ...

    def device(self, index: int) -> DeviceInfo: ...

    def processes(self, index: int) -> tuple[GpuProcess, ...]: ...

    def close(self) -> None: ...


class ReplayError(ValueError):
    """A replay file that cannot be read (a usage problem of the doctor, reported as ERROR)."""


# --------------------------------------------------------------------------------------------
# the real driver


class PynvmlBackend:
    """NVML through nvidia-ml-py. ``pynvml`` is imported lazily, on :meth:`open`."""

    source = "nvml"

    def __init__(self) -> None:
        self._nv: Any = None
        self._handles: dict[int, Any] = {}

    def open(self) -> DriverInfo | NoDriver:
        if sys.platform.startswith("linux"):
            # what pynvml's nvmlInit loads first (CDLL("libnvidia-ml.so.1")): without it, the answer is known
            # without importing pynvml (a 3 MB module) on the many hosts that have no NVIDIA driver
            import ctypes

            try:
                ctypes.CDLL("libnvidia-ml.so.1")
            except OSError as exc:
                return NoDriver("no-library", f"the NVML library (libnvidia-ml.so.1) was not found: {exc}")
        try:
            import pynvml  # noqa: PLC0415 - heavy-ish, and absent on some hosts: only when GPU checks run
        except ImportError as exc:
            return NoDriver("no-pynvml", f"nvidia-ml-py is not installed ({exc})")
        nv = pynvml
        try:
            nv.nvmlInit()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a state
            return _init_failure(exc)
        self._nv = nv
        count, err = self._call("device_count", nv.nvmlDeviceGetCount)
        driver, _ = self._call("driver_version", nv.nvmlSystemGetDriverVersion)
        cuda, _ = self._call("cuda_driver_version", nv.nvmlSystemGetCudaDriverVersion)
        nvml_v, _ = self._call("nvml_version", nv.nvmlSystemGetNVMLVersion)
        if count is None:
            self.close()
            return NoDriver("error", f"nvmlDeviceGetCount failed: {err}")
        return DriverInfo(_s(driver), cuda if isinstance(cuda, int) else None, _s(nvml_v), int(count))

    def _call(self, what: str, fn: Callable[..., Any], *args: Any) -> tuple[Any, str | None]:
        """(value, None) | (None, NOT_SUPPORTED) | (None, 'NVMLError_X: message')."""
        nv = self._nv
        try:
            return fn(*args), None
        except Exception as exc:  # noqa: BLE001
            not_supported = getattr(nv, "NVMLError_NotSupported", None) if nv is not None else None
            if not_supported is not None and isinstance(exc, not_supported):
                return None, NOT_SUPPORTED
            return None, f"{type(exc).__name__}: {exc}"

    def _handle(self, index: int) -> Any:
        if index not in self._handles:
            self._handles[index] = self._nv.nvmlDeviceGetHandleByIndex(index)
        return self._handles[index]

    def device(self, index: int) -> DeviceInfo:
        nv = self._nv
        rec = _Recorder()
        h, err = self._call("handle", self._handle, index)
        if h is None:
            return DeviceInfo(index, errors=(("handle", err or "unknown error"),))
        name = rec.take("name", *self._call("name", nv.nvmlDeviceGetName, h))
        uuid = rec.take("uuid", *self._call("uuid", nv.nvmlDeviceGetUUID, h))
        pci = rec.take("pci_info", *self._call("pci_info", nv.nvmlDeviceGetPciInfo, h))
        mem2 = None
        if hasattr(nv, "nvmlMemory_v2"):
            mem2, _e = self._call("memory_info_v2", nv.nvmlDeviceGetMemoryInfo, h, nv.nvmlMemory_v2)
        mem1 = None if mem2 is not None else rec.take("memory_info", *self._call("memory_info", nv.nvmlDeviceGetMemoryInfo, h))
        cc = rec.take("cuda_compute_capability", *self._call("cc", nv.nvmlDeviceGetCudaComputeCapability, h))
        mig = rec.take("mig_mode", *self._call("mig", nv.nvmlDeviceGetMigMode, h))
        ecc = rec.take("ecc_mode", *self._call("ecc", nv.nvmlDeviceGetEccMode, h))
        rows = rec.take("remapped_rows", *self._call("rows", nv.nvmlDeviceGetRemappedRows, h))
        pages = rec.take("retired_pages_pending", *self._call("pages", nv.nvmlDeviceGetRetiredPagesPendingStatus, h))
        reasons_fn = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or nv.nvmlDeviceGetCurrentClocksThrottleReasons
        reasons = rec.take("throttle_reasons", *self._call("throttle", reasons_fn, h))
        mem = mem2 if mem2 is not None else mem1
        return DeviceInfo(
            index=index,
            uuid=_s(uuid),
            name=_s(name),
            pci_bus_id=_s(getattr(pci, "busId", None)) if pci is not None else None,
            memory_total=as_int(getattr(mem, "total", None)),
            memory_free=as_int(getattr(mem, "free", None)),
            memory_used=as_int(getattr(mem, "used", None)),
            memory_reserved=as_int(getattr(mem2, "reserved", None)) if mem2 is not None else None,
            compute_capability=_pair(cc),
            mig_mode=_pair(mig),
            ecc_mode=_pair(ecc),
            remapped_rows=_rows(rows),
            retired_pages_pending=bool(pages) if pages is not None else None,
            throttle_reasons=as_int(reasons),
            not_supported=tuple(rec.not_supported),
            errors=tuple(rec.errors),
        )

    def processes(self, index: int) -> tuple[GpuProcess, ...]:
        h, err = self._call("handle", self._handle, index)
        if h is None:
            return ()
        procs, err = self._call("compute_processes", self._nv.nvmlDeviceGetComputeRunningProcesses, h)
        out = []
        for p in procs or ():
            pid = as_int(getattr(p, "pid", None))
            if pid is not None:
                out.append(GpuProcess(pid, as_int(getattr(p, "usedGpuMemory", None))))
        return tuple(out)

    def close(self) -> None:
        if self._nv is not None:
            try:
                self._nv.nvmlShutdown()
            except Exception:  # noqa: BLE001
                pass
        self._nv = None
        self._handles = {}


def _init_failure(exc: BaseException) -> NoDriver:
    name = type(exc).__name__
    msg = str(exc) or name
    if name == "NVMLError_LibraryNotFound":
        return NoDriver("no-library", f"the NVML library (libnvidia-ml.so.1) was not found: {msg}")
    if name == "NVMLError_DriverNotLoaded":
        return NoDriver("no-driver", f"the NVIDIA kernel driver is not loaded: {msg}")
    if name == "NVMLError_LibRmVersionMismatch":
        return NoDriver("mismatch", msg)
    if isinstance(exc, OSError):
        return NoDriver("no-library", f"cannot load the NVML library: {msg}")
    return NoDriver("error", f"{name}: {msg}")


class _Recorder:
    def __init__(self) -> None:
        self.not_supported: list[str] = []
        self.errors: list[tuple[str, str]] = []

    def take(self, name: str, value: Any, err: str | None) -> Any:
        if err == NOT_SUPPORTED:
            self.not_supported.append(name)
        elif err is not None:
            self.errors.append((name, err))
        return value


def _s(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def _pair(v: Any) -> tuple[int, int] | None:
    if v is None:
        return None
    try:
        a, b = v
        return int(a), int(b)
    except (TypeError, ValueError):
        return None


def _rows(v: Any) -> RemappedRows | None:
    if v is None:
        return None
    try:
        corr, unc, pending, failure = v
        return RemappedRows(int(corr), int(unc), bool(pending), bool(failure))
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------------------------
# replay of recorded readings


class ReplayBackend:
    """Readings recorded on a real GPU, replayed. Same outputs as :class:`PynvmlBackend`."""

    def __init__(self, data: Mapping[str, Any], source: str = "replay") -> None:
        if not isinstance(data, Mapping):
            raise ReplayError(f"{source}: a replay must be a JSON object")
        self.data = data
        self.source = source
        devices = data.get("devices")
        if devices is None:
            devices = [data]
        if not isinstance(devices, list) or not all(isinstance(d, Mapping) for d in devices):
            raise ReplayError(f"{source}: 'devices' must be a list of objects")
        self._devices: list[Mapping[str, Any]] = list(devices)

    @classmethod
    def from_file(cls, spec: str) -> "ReplayBackend":
        """``FILE`` or ``FILE#KEY[.KEY...]`` (a sub-object of the JSON document)."""
        from ..readers import ReadError, read_text

        path, _, key = spec.partition("#")
        try:
            doc = json.loads(read_text(path, "json"))
        except ReadError as exc:
            raise ReplayError(f"{REPLAY_ENV}={spec}: cannot read: {exc}") from None
        except ValueError as exc:
            raise ReplayError(f"{REPLAY_ENV}={spec}: not JSON: {exc}") from None
        for part in [k for k in key.split(".") if k]:
            if not isinstance(doc, Mapping) or part not in doc:
                raise ReplayError(f"{REPLAY_ENV}={spec}: no key {part!r}")
            doc = doc[part]
        return cls(doc, f"replay:{Path(path).name}{'#' + key if key else ''}")

    def open(self) -> DriverInfo | NoDriver:
        init = self.data.get("nvmlInit")
        if isinstance(init, Mapping) and init.get("error"):
            name = str(init["error"])
            exc = type(name, (Exception,), {})(init.get("msg") or name)
            return _init_failure(exc)
        count = self.data.get("device_count")
        if not isinstance(count, int):
            count = len(self._devices)
        cuda = self.data.get("cuda_driver_version")
        return DriverInfo(
            _s(_value(self.data.get("driver_version"))),
            cuda if isinstance(cuda, int) else None,
            _s(_value(self.data.get("nvml_version"))),
            int(count),
        )

    def _raw(self, index: int) -> Mapping[str, Any]:
        if not 0 <= index < len(self._devices):
            raise ReplayError(f"{self.source}: no recorded device {index}")
        return self._devices[index]

    def device(self, index: int) -> DeviceInfo:
        raw = self._raw(index)
        rec = _Recorder()

        def get(key: str) -> Any:
            v = raw.get(key)
            if isinstance(v, Mapping) and "error" in v and len(v) <= 2:
                err = str(v["error"])
                rec.take(key, None, NOT_SUPPORTED if err == NOT_SUPPORTED else f"{err}: {v.get('msg', '')}".rstrip(": "))
                return None
            return v

        mem2 = get("memory_info_v2")
        mem1 = get("memory_info_v1") if mem2 is None else None
        mem = mem2 if isinstance(mem2, Mapping) else mem1 if isinstance(mem1, Mapping) else {}
        pci = get("pci_info")
        pages = get("retired_pages_pending")
        return DeviceInfo(
            index=int(raw.get("index", index)),
            uuid=_s(get("uuid")),
            name=_s(get("name")),
            pci_bus_id=_s(pci.get("busId")) if isinstance(pci, Mapping) else None,
            memory_total=as_int(mem.get("total")),
            memory_free=as_int(mem.get("free")),
            memory_used=as_int(mem.get("used")),
            memory_reserved=as_int(mem2.get("reserved")) if isinstance(mem2, Mapping) else None,
            compute_capability=_pair(get("cuda_compute_capability")),
            mig_mode=_pair(get("mig_mode")),
            ecc_mode=_pair(get("ecc_mode")),
            remapped_rows=_rows(get("remapped_rows")),
            retired_pages_pending=bool(pages) if pages is not None else None,
            throttle_reasons=as_int(get("throttle_reasons")),
            not_supported=tuple(rec.not_supported),
            errors=tuple(rec.errors),
        )

    def processes(self, index: int) -> tuple[GpuProcess, ...]:
        raw = self._raw(index).get("compute_processes") or []
        out = []
        for p in raw if isinstance(raw, list) else []:
            if isinstance(p, str):  # recorded as the repr of pynvml's friendly object: "{'pid': 415, ...}"
                try:
                    p = ast.literal_eval(p)
                except (ValueError, SyntaxError):
                    continue
            if isinstance(p, Mapping) and as_int(p.get("pid")) is not None:
                out.append(GpuProcess(int(p["pid"]), as_int(p.get("usedGpuMemory", p.get("used_bytes")))))
        return tuple(out)

    def close(self) -> None:
        return None


def _value(v: Any) -> Any:
    return None if isinstance(v, Mapping) and "error" in v else v


# --------------------------------------------------------------------------------------------
# entry points


def backend_for_run(env: Mapping[str, str] | None = None) -> GpuBackend:
    """The backend a run uses: a replay when ``QWEN_DOCTOR_NVML_REPLAY`` is set, else the real NVML."""
    env = os.environ if env is None else env
    spec = env.get(REPLAY_ENV, "").strip()
    if spec:
        return ReplayBackend.from_file(spec)
    return PynvmlBackend()


def read_snapshot(backend: GpuBackend) -> GpuSnapshot | NoDriver:
    """Read the driver, every device and its compute processes (synchronously)."""
    driver = backend.open()
    if isinstance(driver, NoDriver):
        return driver
    try:
        devices = tuple(backend.device(i) for i in range(driver.device_count))
        procs = tuple(backend.processes(d.index) for d in devices)
    finally:
        backend.close()
    return GpuSnapshot(backend.source, driver, devices, procs)


def take_snapshot(backend: GpuBackend, timeout: float = 10.0) -> GpuSnapshot | NoDriver:
    """:func:`read_snapshot` in a daemon thread, abandoned after ``timeout`` seconds (NVML can block on a
    GPU that fell off the bus). Exceptions of the backend propagate."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = read_snapshot(backend)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=work, name="qwen-doctor-nvml", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        return NoDriver("timeout", f"NVML did not answer within {timeout:g} s (a GPU may have fallen off the bus; see `dmesg` for Xid errors)")
    if "error" in box:
        raise box["error"]
    return box["value"]


def replay_document(devices: Sequence[Mapping[str, Any]], driver: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build a multi-device replay object from per-device recordings (tests and bench scripts)."""
    doc: dict[str, Any] = dict(driver or {})
    doc["devices"] = [dict(d) for d in devices]
    doc["device_count"] = len(devices)
    return doc
