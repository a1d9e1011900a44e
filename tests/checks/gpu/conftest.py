"""Fixtures of the gpu.* check tests: a run over replayed NVML readings, a real holder process, and a stand-in
libcuda compiled here for the trial allocation (the real driver API cannot run without a GPU)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys

import pytest

from qwen_doctor.checks import gpu as gpu_checks
from qwen_doctor.context import RunOptions
from qwen_doctor.gpu.nvml import REPLAY_ENV
from qwen_doctor.registry import Registry
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target

from .helpers import FACTS


@pytest.fixture()
def run(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("PYTORCH_CUDA_ALLOC_CONF", raising=False)

    def go(replay: str | None, argv=None, *, model_path=None, deep=False, extra_plugins=(), **target_kw):
        if replay is None:
            monkeypatch.delenv(REPLAY_ENV, raising=False)
        else:
            monkeypatch.setenv(REPLAY_ENV, replay)
        reg = Registry()
        for p in extra_plugins:
            p(reg)
        gpu_checks.register(reg)
        if isinstance(argv, str):
            argv = shlex.split(argv)
        t = build_target(argv or None, model_path=model_path, **target_kw)
        return {r.id: r for r in Runner(reg, RunOptions(deep=deep)).run([t])}

    return go


@pytest.fixture()
def holder():
    secret = "sk-THISISASECRETKEY12345"
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "--api-key", secret, "--port", "30001"])
    try:
        yield p, secret
    finally:
        p.kill()
        p.wait(5)


FAKE_LIBCUDA = r"""
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <stddef.h>
#include <unistd.h>
static void logmsg(const char *what, unsigned long long a) {
    const char *p = getenv("FAKE_CUDA_LOG");
    if (!p) return;
    FILE *f = fopen(p, "a");
    if (f) { fprintf(f, "%s %llu\n", what, a); fclose(f); }
}
static unsigned long long free_bytes(void) { const char *p = getenv("FAKE_CUDA_FREE"); return p ? strtoull(p, 0, 10) : (1ULL << 36); }
int cuInit(unsigned f) {
    logmsg("cuInit", f);
    const char *z = getenv("FAKE_CUDA_SLEEP");
    if (z) sleep(atoi(z));  /* a driver that hangs */
    const char *e = getenv("FAKE_CUDA_INIT_RC");
    return e ? atoi(e) : 0;
}
int cuDeviceGet(int *d, int ord) { logmsg("cuDeviceGet", ord); *d = ord; return 0; }
int cuDevicePrimaryCtxRetain(void **ctx, int dev) { logmsg("cuDevicePrimaryCtxRetain", dev); *ctx = (void *)0x1234; return 0; }
int cuDevicePrimaryCtxRelease_v2(int dev) { logmsg("cuDevicePrimaryCtxRelease_v2", dev); return 0; }
int cuCtxSetCurrent(void *ctx) { logmsg("cuCtxSetCurrent", (unsigned long long)(uintptr_t)ctx); return 0; }
int cuMemGetInfo_v2(size_t *f, size_t *t) { *f = free_bytes(); *t = free_bytes() + 644939776ULL; logmsg("cuMemGetInfo_v2", *f); return 0; }
int cuMemAlloc_v2(unsigned long long *p, size_t n) { logmsg("cuMemAlloc_v2", n); if (n > free_bytes()) return 2; *p = 0xdead0000ULL; return 0; }
int cuMemFree_v2(unsigned long long p) { logmsg("cuMemFree_v2", p); return 0; }
int cuMemAllocManaged(unsigned long long *p, size_t n, unsigned f) { logmsg("cuMemAllocManaged", n); *p = 1; return 0; }
int cuGetErrorName(int rc, const char **s) { *s = rc == 2 ? "CUDA_ERROR_OUT_OF_MEMORY" : rc == 100 ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_UNKNOWN"; return 0; }
"""


@pytest.fixture(scope="session")
def fake_libcuda(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the stand-in libcuda")
    d = tmp_path_factory.mktemp("fakecuda")
    (d / "fake.c").write_text(FAKE_LIBCUDA)
    so = d / "libcuda_fake.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(so), str(d / "fake.c")], check=True, timeout=60)
    return so


@pytest.fixture()
def cuda(monkeypatch, fake_libcuda, tmp_path):
    log = tmp_path / "cuda.log"
    monkeypatch.setenv("QWEN_DOCTOR_LIBCUDA", str(fake_libcuda))
    monkeypatch.setenv("FAKE_CUDA_LOG", str(log))
    # what cuMemGetInfo returned on the recorded idle H200 after the primary context was created
    monkeypatch.setenv("FAKE_CUDA_FREE", str(FACTS["cuda_ctypes_probe"]["free_after_ctx"]))
    monkeypatch.delenv("FAKE_CUDA_INIT_RC", raising=False)
    return log
