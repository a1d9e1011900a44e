"""Trial allocation through the CUDA driver API (ctypes, no torch): ``python -m qwen_doctor.gpu.cuda_probe BYTES [DEVICE]``.

Run by the ``gpu.trial-allocation`` check (``--deep``) in a subprocess with a timeout. It initialises the driver,
retains the device's primary context, reads ``cuMemGetInfo``, allocates BYTES of ordinary device memory with
``cuMemAlloc`` (never managed memory), frees it at once and releases the context. It prints one JSON object on
stdout:

``{"ok": bool, "bytes": N, "device": D, "free_before": F, "total": T, "alloc_ms": ms, "rc": rc, "error": name,
"steps": [...]}``

Exit status: 0 the allocation succeeded; 1 the driver refused it (e.g. ``CUDA_ERROR_OUT_OF_MEMORY``, rc 2);
2 bad arguments; 3 no usable CUDA driver (library missing, ``cuInit`` or context failure).

DEVICE is a CUDA ordinal as this process sees it (after ``CUDA_VISIBLE_DEVICES``). ``QWEN_DOCTOR_LIBCUDA`` names
the driver library to load instead of ``libcuda.so.1`` (tests use a stand-in library). Stdlib only.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import time

CUDA_SUCCESS = 0
CUDA_ERROR_OUT_OF_MEMORY = 2
_LIB_NAMES = ("libcuda.so.1", "libcuda.so", "nvcuda.dll", "libcuda.dylib")


def _load() -> ctypes.CDLL | None:
    override = os.environ.get("QWEN_DOCTOR_LIBCUDA")
    for name in (override,) if override else _LIB_NAMES:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def _error_name(lib: ctypes.CDLL, rc: int) -> str:
    fn = getattr(lib, "cuGetErrorName", None)
    if fn is None:
        return f"CUDA error {rc}"
    s = ctypes.c_char_p()
    try:
        fn.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
        fn.restype = ctypes.c_int
        if fn(rc, ctypes.byref(s)) == CUDA_SUCCESS and s.value:
            return s.value.decode("ascii", "replace")
    except Exception:  # noqa: BLE001
        pass
    return f"CUDA error {rc}"


def probe(nbytes: int, device: int = 0) -> tuple[int, dict]:
    """Run the trial. Returns (exit status, report)."""
    out: dict = {"ok": False, "bytes": nbytes, "device": device, "steps": []}
    lib = _load()
    if lib is None:
        out["error"] = "no CUDA driver library (libcuda.so.1) on this host"
        return 3, out

    def fn(name: str, *argtypes):
        f = getattr(lib, name, None)
        if f is None:
            return None
        f.argtypes = list(argtypes)
        f.restype = ctypes.c_int
        return f

    t0 = time.perf_counter()

    def step(call: str, rc: int, **extra) -> int:
        out["steps"].append({"call": call, "rc": rc, "t_ms": round((time.perf_counter() - t0) * 1000, 2), **extra})
        if rc != CUDA_SUCCESS:
            out["rc"] = rc
            out["error"] = f"{call}: {_error_name(lib, rc)}"
        return rc

    cu_init = fn("cuInit", ctypes.c_uint)
    cu_device_get = fn("cuDeviceGet", ctypes.POINTER(ctypes.c_int), ctypes.c_int)
    ctx_retain = fn("cuDevicePrimaryCtxRetain", ctypes.POINTER(ctypes.c_void_p), ctypes.c_int)
    ctx_release = fn("cuDevicePrimaryCtxRelease_v2", ctypes.c_int) or fn("cuDevicePrimaryCtxRelease", ctypes.c_int)
    ctx_set = fn("cuCtxSetCurrent", ctypes.c_void_p)
    mem_info = fn("cuMemGetInfo_v2", ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t))
    mem_alloc = fn("cuMemAlloc_v2", ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t)
    mem_free = fn("cuMemFree_v2", ctypes.c_uint64)
    missing = [
        n
        for n, f in (
            ("cuInit", cu_init),
            ("cuDeviceGet", cu_device_get),
            ("cuDevicePrimaryCtxRetain", ctx_retain),
            ("cuDevicePrimaryCtxRelease", ctx_release),
            ("cuCtxSetCurrent", ctx_set),
            ("cuMemGetInfo_v2", mem_info),
            ("cuMemAlloc_v2", mem_alloc),
            ("cuMemFree_v2", mem_free),
        )
        if f is None
    ]
    if missing:
        out["error"] = f"the CUDA driver library lacks {', '.join(missing)}"
        return 3, out

    if step("cuInit", cu_init(0)) != CUDA_SUCCESS:
        return 3, out
    dev = ctypes.c_int()
    if step("cuDeviceGet", cu_device_get(ctypes.byref(dev), device)) != CUDA_SUCCESS:
        return 3, out
    ctx = ctypes.c_void_p()
    if step("cuDevicePrimaryCtxRetain", ctx_retain(ctypes.byref(ctx), dev.value)) != CUDA_SUCCESS:
        return 3, out
    status = 3
    try:
        if step("cuCtxSetCurrent", ctx_set(ctx)) != CUDA_SUCCESS:
            return 3, out
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        if step("cuMemGetInfo_v2", mem_info(ctypes.byref(free), ctypes.byref(total))) != CUDA_SUCCESS:
            return 3, out
        out["free_before"], out["total"] = int(free.value), int(total.value)
        ptr = ctypes.c_uint64(0)
        a0 = time.perf_counter()
        rc = mem_alloc(ctypes.byref(ptr), ctypes.c_size_t(nbytes))
        out["alloc_ms"] = round((time.perf_counter() - a0) * 1000, 2)
        step(f"cuMemAlloc_v2 {nbytes}", rc)
        if rc == CUDA_SUCCESS:
            try:
                out["ok"] = True
                status = 0
            finally:
                frc = mem_free(ptr)
                step("cuMemFree_v2", frc)
                out["freed"] = frc == CUDA_SUCCESS
        else:
            status = 1  # the driver refused the allocation (CUDA_ERROR_OUT_OF_MEMORY is rc 2)
    finally:
        step("cuDevicePrimaryCtxRelease", ctx_release(dev.value))
    out["total_ms"] = round((time.perf_counter() - t0) * 1000, 2)
    return status, out


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -m qwen_doctor.gpu.cuda_probe BYTES [DEVICE]"
    try:
        if not 1 <= len(args) <= 2:
            raise ValueError(usage)
        nbytes = int(args[0])
        device = int(args[1]) if len(args) > 1 else 0
        if nbytes <= 0 or device < 0:
            raise ValueError("BYTES must be > 0 and DEVICE >= 0")
    except ValueError as exc:
        msg = str(exc) if str(exc).startswith(("usage", "BYTES")) else f"{usage} ({exc})"
        sys.stdout.write(json.dumps({"ok": False, "error": msg}) + "\n")
        return 2
    status, report = probe(nbytes, device)
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    return status


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess in tests
    raise SystemExit(main())
