"""gpu.* checks end to end: Registry + Runner over NVML readings replayed from the real H200 recording
(tests/data/gpu/h200/h200_facts.json: idle, and busy with a holder process) and over this GPU-less host.

No GPU exists here or in CI, so the NVML side is always a replay (QWEN_DOCTOR_NVML_REPLAY). Multi-GPU hosts and
other GPU models are the recorded H200 device with fields changed, said at each use. Everything else is real:
model directories from the test kit, flag tables, real child processes holding the "GPU memory" (psutil reads
their pid, user and command line), and the CUDA trial allocation runs as the real subprocess against a stand-in
libcuda compiled here (the real driver API cannot run without a GPU).
"""

from __future__ import annotations

import copy
import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qwen_doctor.checks import gpu as gpu_checks
from qwen_doctor.context import RunOptions
from qwen_doctor.gpu.nvml import REPLAY_ENV
from qwen_doctor.results import Outcome, Status
from qwen_doctor.registry import Registry
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "gpu" / "h200"
FACTS_FILE = DATA / "h200_facts.json"
FACTS = json.loads(FACTS_FILE.read_text())
IDLE = f"{FACTS_FILE}#nvml_idle"
BUSY = f"{FACTS_FILE}#nvml_busy"
DRIVER_KEYS = ("driver_version", "nvml_version", "cuda_driver_version")
GPU_IDS = ["gpu.driver", "gpu.devices", "gpu.capability", "gpu.health", "gpu.other-processes", "gpu.memory-fit", "gpu.trial-allocation"]


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


def texts(results) -> list[str]:
    out = []
    for r in results.values():
        out.append(r.summary)
        if r.fix:
            out += [r.fix.text, r.fix.launch_command or "", *r.fix.commands]
    return out


# --------------------------------------------------------------------------------------------
# idle / no driver


def test_idle_h200_all_pass_and_the_kv_pool_follows_sglangs_formula(run, real_tokenizer_dir):
    res = run(IDLE, model_path=str(real_tokenizer_dir))
    assert [res[i].status for i in GPU_IDS] == [Status.PASS] * 6 + [Status.SKIP]
    assert "--deep" in res["gpu.trial-allocation"].summary
    assert res["gpu.driver"].evidence["driver_version"] == "580.159.04"
    assert res["gpu.devices"].evidence["selected_indices"] == [0]
    ev = res["gpu.memory-fit"].evidence
    assert "SGLang defaults assumed" in ev["server_rules"]
    assert ev["sglang_rule"] == "0.5.23" and ev["mem_fraction_static"] == 0.903
    assert ev["context_length"] == 32768 and ev["context_length_source"] == "max_position_embeddings"
    assert ev["kv_cell_bytes"] == 112 * 1024
    assert ev["weight_bytes"] == 595_776_512 * 2  # the real 0.6B files without weights: bf16 parameter count
    # independent recomputation from the raw recorded numbers
    pre = FACTS["nvml_idle"]["memory_info_v2"]["free"] - (150109880320 - FACTS["cuda_ctypes_probe"]["free_after_ctx"])
    want = int((pre - ev["weight_bytes"] - pre * (1 - 0.903)) // (112 * 1024))
    assert ev["kv_capacity"] == want
    # SGLang chunks prefill: activations are sized for the 8192-token chunk of an H200-class GPU
    assert ev["activation_batch_len"] == 8192
    assert ev["activation_bytes"] == FACTS["qwen3_0.6b"]["runs"][1]["peak_bytes"] - FACTS["qwen3_0.6b"]["weights_bytes"]


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


# --------------------------------------------------------------------------------------------
# other holders


@pytest.fixture()
def holder():
    secret = "sk-THISISASECRETKEY12345"
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "--api-key", secret, "--port", "30001"])
    try:
        yield p, secret
    finally:
        p.kill()
        p.wait(5)


def busy_replay_with_pid(tmp_path: Path, pid: int) -> str:
    d = device(0, busy=True)
    d["compute_processes"] = [f"{{'pid': {pid}, 'usedGpuMemory': 4563402752, 'gpuInstanceId': 4294967295, 'computeInstanceId': 4294967295}}"]
    d["uuid"] = FACTS["nvml_busy"]["uuid"]
    return write_replay(tmp_path, [d], "busy.json")


def test_holder_named_with_redacted_command_line(run, tmp_path, holder):
    import getpass

    p, secret = holder
    res = run(busy_replay_with_pid(tmp_path, p.pid), model_path="Qwen/Qwen3-Embedding-0.6B")
    r = res["gpu.other-processes"]
    assert r.status is Status.WARN
    h = r.evidence["holders"][0]
    assert h["pid"] == p.pid and h["used_bytes"] == 4563402752 and h["gpu"] == 0
    assert h["user"] == getpass.getuser()
    assert "--api-key ***" in h["cmdline"]
    assert f"pid {p.pid}" in r.summary and "4.2 GiB" in r.summary
    assert all(secret not in x for x in texts(res) + [json.dumps(r.to_dict())])
    assert "kills every process on the card" in r.fix.text
    # memory-fit still passes (145 GB free) but names the holder nowhere it is not needed
    assert res["gpu.memory-fit"].status is Status.PASS


def test_the_examined_server_itself_is_not_another_holder(run, tmp_path, holder):
    p, _ = holder
    res = run(busy_replay_with_pid(tmp_path, p.pid), model_path="Qwen/Qwen3-Embedding-0.6B", pid=p.pid, label=f"pid {p.pid}", deep=True)
    assert res["gpu.other-processes"].status is Status.PASS
    # its own memory counts as free for the fit (the verdict is about starting it again) ...
    ev = res["gpu.memory-fit"].evidence
    assert ev["own_process_bytes"] == 4563402752
    assert ev["free_bytes"] == FACTS["nvml_busy"]["memory_info_v2"]["free"] + 4563402752
    # ... but the trial allocation never competes with the running server
    assert res["gpu.trial-allocation"].status is Status.SKIP and f"pid {p.pid}" in res["gpu.trial-allocation"].summary


def test_holder_from_another_pid_namespace(run, tmp_path):
    # the recorded holder pid (415 on the H200 host) is not a process here (or is an unrelated one): make sure it is absent
    import psutil

    pid = 4_000_000 - 7
    assert not psutil.pid_exists(pid)
    res = run(busy_replay_with_pid(tmp_path, pid))
    r = res["gpu.other-processes"]
    assert r.status is Status.WARN and "another container or PID namespace" in r.summary


# --------------------------------------------------------------------------------------------
# device selection


def four_gpus(tmp_path, **per_gpu):
    return write_replay(tmp_path, [device(i, **per_gpu.get(str(i), {})) for i in range(4)], "x4.json")


def test_cuda_visible_devices_parsing():
    from qwen_doctor.gpu.nvml import ReplayBackend, take_snapshot

    snap = take_snapshot(ReplayBackend({**{k: FACTS["nvml_idle"][k] for k in DRIVER_KEYS}, "devices": [device(i) for i in range(4)]}))
    parse = lambda v: gpu_checks.parse_cuda_visible_devices(v, snap.devices)  # noqa: E731
    assert parse(None) == ((0, 1, 2, 3), ())
    assert parse("1,0") == ((1, 0), ())
    assert parse(" 3 , 2 ") == ((3, 2), ())
    assert parse("GPU-00000002") == ((2,), ())
    assert parse("GPU-00000002-47fc-8db0-a7df-b45cac212a4d,0") == ((2, 0), ())
    vis, notes = parse("GPU-0000000")  # prefix of all four
    assert vis == () and "several GPUs" in notes[0]
    vis, notes = parse("0,7,1")
    assert vis == (0,) and "'7' is invalid" in notes[0] and "every entry after it" in notes[0]
    vis, notes = parse("")
    assert vis == () and "empty" in notes[0]
    vis, notes = parse("1,1")
    assert vis == (1,) and "repeats" in notes[0]
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


def test_unbalanced_tp_gpus_fail_like_sglang(run, tmp_path):
    rp = four_gpus(tmp_path, **{"2": {"free": 100 << 30}})
    res = run(rp, "env CUDA_VISIBLE_DEVICES=1,2 sglang serve --model-path /m/Qwen3-Embedding-8B --is-embedding --tp-size 2")
    r = res["gpu.memory-fit"]
    assert r.status is Status.FAIL
    assert "The memory capacity is unbalanced. Some GPUs may be occupied by other processes." in r.summary
    assert res["gpu.other-processes"].status is Status.WARN  # 40 GiB used by nothing visible


# --------------------------------------------------------------------------------------------
# memory fit


def relaunch(r) -> list[str]:
    assert r.fix is not None and r.fix.launch_command
    return shlex.split(r.fix.launch_command)


def test_sglang_not_enough_memory_names_the_value_that_fits(run):
    argv = "python -m sglang.launch_server --model-path Qwen/Qwen3-Embedding-8B --is-embedding --mem-fraction-static 0.1"
    res = run(BUSY, argv)
    r = res["gpu.memory-fit"]
    assert r.status is Status.FAIL
    assert "Not enough memory. Please try to increase --mem-fraction-static" in r.summary
    suggested = r.evidence["suggested"]["--mem-fraction-static"]
    assert 0.1 < float(suggested) < 0.5
    assert f"--mem-fraction-static {suggested}" in r.fix.launch_command
    # the printed command fits
    again = run(BUSY, relaunch(r))["gpu.memory-fit"]
    assert again.status is Status.PASS and again.evidence["kv_capacity"] >= 40960


def test_kv_pool_below_context_length_warns_about_the_hang(run):
    argv = "sglang serve --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding --max-total-tokens 4096"
    r = run(IDLE, argv)["gpu.memory-fit"]
    assert r.status is Status.WARN
    assert "sglang#40459" in r.summary and "4096 tokens" in r.summary
    assert "--max-total-tokens 32768" in r.fix.launch_command
    assert run(IDLE, relaunch(r))["gpu.memory-fit"].status is Status.PASS


def test_no_kv_pool_with_prefill_only_disable_kv_cache(run):
    argv = ("sglang serve --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding --max-total-tokens 4096 --prefill-only-disable-kv-cache "
            "--chunked-prefill-size -1 --disable-radix-cache")
    r = run(IDLE, argv, server_version="0.5.23")["gpu.memory-fit"]
    assert r.status is Status.PASS and "no KV pool" in r.summary


def test_small_mem_fraction_warns_and_suggests_one_that_holds_the_context(run):
    # synthetic 24 GB GPU (the recorded H200 with 23028 MiB): 4B at --mem-fraction-static 0.4
    r = run(IDLE, "sglang serve --model-path Qwen/Qwen3-Embedding-4B --is-embedding --mem-fraction-static 0.4")["gpu.memory-fit"]
    assert r.status is Status.PASS  # plenty on an H200
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        rp = write_replay(Path(d), [device(0, total_mib=23028, name="NVIDIA A10", cuda_compute_capability=[8, 6])])
        r = run(rp, "sglang serve --model-path Qwen/Qwen3-Embedding-4B --is-embedding --mem-fraction-static 0.4")["gpu.memory-fit"]
        assert r.status is Status.WARN and "sglang#40459" in r.summary
        fixed = run(rp, relaunch(r))["gpu.memory-fit"]
        assert fixed.status is Status.PASS and fixed.evidence["kv_capacity"] >= 40960


def test_weights_that_do_not_fit_fail_without_suggesting_a_reset(run, tmp_path):
    rp = write_replay(tmp_path, [device(0, total_mib=16384, free=10 << 30, name="Small GPU")])
    r = run(rp, model_path="Qwen/Qwen3-Embedding-8B")["gpu.memory-fit"]
    assert r.status is Status.FAIL and "CUDA out of memory while loading" in r.summary
    assert "kills every process on the card" in r.fix.text


def test_vllm_utilization_above_free_memory(run):
    argv = "vllm serve Qwen/Qwen3-Embedding-0.6B --runner pooling --gpu-memory-utilization 0.99"
    r = run(BUSY, argv, server_version="0.33.0")["gpu.memory-fit"]
    assert r.status is Status.FAIL and "vLLM refuses to start" in r.summary
    assert r.evidence["suggested"] == {"--gpu-memory-utilization": "0.96"}  # floor(145.5 / 150.75 GB, 2)
    assert run(BUSY, relaunch(r), server_version="0.33.0")["gpu.memory-fit"].status is Status.PASS


def test_vllm_default_utilization_comes_from_the_release(run):
    r = run(IDLE, "vllm serve Qwen/Qwen3-Embedding-0.6B --task embed", server_version="0.13.0")["gpu.memory-fit"]
    assert r.status is Status.PASS and r.evidence["gpu_memory_utilization"] == 0.9
    r = run(IDLE, "vllm serve Qwen/Qwen3-Embedding-0.6B --runner pooling", server_version="0.33.0")["gpu.memory-fit"]
    assert r.evidence["gpu_memory_utilization"] == 0.92


def test_vllm_kv_cache_too_small_for_max_model_len(run, tmp_path):
    # synthetic 24 GB GPU: 8B (16.4 GB bf16) leaves too little KV cache for 40960 tokens at the default 0.92
    rp = write_replay(tmp_path, [device(0, total_mib=23028, name="NVIDIA A10", cuda_compute_capability=[8, 6])])
    r = run(rp, "vllm serve Qwen/Qwen3-Embedding-8B --runner pooling", server_version="0.33.0")["gpu.memory-fit"]
    assert r.status is Status.FAIL and "fewer than one 40960-token request" in r.summary
    sug = r.evidence["suggested"]
    assert "--max-model-len" in sug and int(sug["--max-model-len"]) < 40960
    assert run(rp, relaunch(r), server_version="0.33.0")["gpu.memory-fit"].status is Status.PASS


def test_tei_with_eager_attention_on_an_old_gpu(run, tmp_path):
    # synthetic T4 (compute capability 7.5): TEI runs Qwen3 without flash attention there -> eager-like memory
    rp = write_replay(tmp_path, [device(0, total_mib=15360, name="Tesla T4", cuda_compute_capability=[7, 5])])
    r = run(rp, "text-embeddings-router --model-id Qwen/Qwen3-Embedding-0.6B")["gpu.memory-fit"]
    assert r.evidence["attention"] == "eager"
    assert r.status is Status.FAIL  # 16384 tokens of eager attention need ~45 GB
    assert "truncate" in r.fix.text
    fit = int(r.evidence["suggested"]["--max-batch-tokens"])
    assert 0 < fit < 16384
    ok = run(rp, relaunch(r))["gpu.memory-fit"]
    assert ok.status is Status.PASS and ok.evidence["context_length"] == fit


def test_no_model_known_skips_memory_fit(run):
    r = run(IDLE)["gpu.memory-fit"]
    assert r.status is Status.SKIP and "cannot size the model" in r.summary


def test_tiny_model_weights_from_safetensors_headers(run, tiny_model_dir):
    st = tiny_model_dir / "model.safetensors"
    raw = st.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert gpu_checks.safetensors_weight_bytes(tiny_model_dir) == len(raw) - 8 - n
    r = run(IDLE, model_path=str(tiny_model_dir))["gpu.memory-fit"]
    assert r.status is Status.PASS
    assert r.evidence["weight_bytes"] == len(raw) - 8 - n and r.evidence["weights_source"] == "safetensors headers"
    assert r.evidence["activation_bytes"] is None  # not a Qwen3-Embedding variant: not estimated


def test_evidence_of_the_model_checks_is_used(run):
    def model_plugin(reg):
        reg.check("model.config", "config", "model")(lambda ctx: Outcome.passed("ok", variant="8B", num_key_value_heads=8, head_dim=128, num_hidden_layers=36, max_position_embeddings=40960, torch_dtype="bfloat16"))
        reg.check("model.weights", "weights", "model")(lambda ctx: Outcome.passed("ok", weight_bytes=15_000_000_000))

    r = run(IDLE, model_path="/nonexistent/some-model", extra_plugins=[model_plugin])["gpu.memory-fit"]
    assert r.status is Status.PASS
    assert r.evidence["weight_bytes"] == 15_000_000_000 and r.evidence["weights_source"].startswith("model.weights")
    assert r.evidence["kv_cell_bytes"] == 144 * 1024 and r.evidence["context_length"] == 40960


# --------------------------------------------------------------------------------------------
# capability and health


def test_old_gpu_bf16_and_fa3(run, tmp_path):
    rp = write_replay(tmp_path, [device(0, total_mib=15360, name="Tesla T4", cuda_compute_capability=[7, 5])])
    r = run(rp, "sglang serve --model-path Qwen/Qwen3-Embedding-8B --is-embedding --dtype bfloat16 --attention-backend fa3")["gpu.capability"]
    assert r.status is Status.FAIL
    assert "FlashAttention v3 Backend requires SM>=80 and SM<=90" in r.summary and "bfloat16 needs 8.0" in r.summary
    assert "--dtype float32" in r.fix.launch_command and "--attention-backend flashinfer" in r.fix.launch_command
    r = run(rp, "sglang serve --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding")["gpu.capability"]
    assert r.status is Status.WARN and "--dtype float16" in r.fix.launch_command
    r = run(IDLE, "sglang serve --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding --attention-backend trtllm_mha")["gpu.capability"]
    assert r.status is Status.FAIL and "SM100" in r.summary
    r = run(IDLE, "sglang serve --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding --attention-backend fa3")["gpu.capability"]
    assert r.status is Status.PASS


@pytest.mark.parametrize(
    "fields,status,needle",
    [
        ({"remapped_rows": [0, 2, 1, 0]}, Status.WARN, "row remap is pending"),
        ({"remapped_rows": [0, 2, 0, 1]}, Status.FAIL, "row remapping failed"),
        ({"retired_pages_pending": 1}, Status.WARN, "page retirement is pending"),
        ({"throttle_reasons": 0x40}, Status.WARN, "HwThermalSlowdown"),
        ({"mig_mode": [1, 1]}, Status.WARN, "MIG is enabled"),
        ({"ecc_mode": [0, 1]}, Status.WARN, "ECC mode change is pending"),
        ({"throttle_reasons": 0x4}, Status.PASS, "power cap"),
    ],
)
def test_health_readings(run, tmp_path, fields, status, needle):
    r = run(write_replay(tmp_path, [device(0, **fields)]))["gpu.health"]
    assert r.status is status
    assert needle in r.summary
    if r.fix and "reset" in r.fix.text:
        assert "kills every process on the card" in r.fix.text


def test_not_supported_readings_are_listed_not_errors(run):
    r = run(IDLE)["gpu.health"]
    assert r.status is Status.PASS
    assert r.evidence["gpus"][0]["not_supported"] == ["retired_pages_pending"]


# --------------------------------------------------------------------------------------------
# trial allocation (--deep) against a stand-in libcuda

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


@pytest.fixture(scope="module")
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


def calls(log: Path) -> list[tuple[str, int]]:
    return [(a, int(b)) for a, b in (line.split() for line in log.read_text().splitlines())] if log.exists() else []


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
    assert "kills every process on the card" in r.fix.text


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
    rc, rep = gpu_checks.run_probe(1 << 20, dev, timeout=1.0)
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


# --------------------------------------------------------------------------------------------
# what the doctor says, and what it imports


def test_docstrings_have_the_three_paragraphs():
    reg = Registry()
    gpu_checks.register(reg)
    for chk in reg:
        paras = [p for p in chk.doc.split("\n\n") if p.strip()]
        assert [p.split(":", 1)[0] for p in paras] == ["What it checks", "Why it matters", "How to fix"], chk.id


def test_no_folklore_in_any_output(run, tmp_path, holder):
    p, _ = holder
    scenarios = [
        run(IDLE, model_path="Qwen/Qwen3-Embedding-0.6B"),
        run(busy_replay_with_pid(tmp_path, p.pid), "sglang serve --model-path Qwen/Qwen3-Embedding-8B --is-embedding --mem-fraction-static 0.1"),
        run(write_replay(tmp_path, [device(0, remapped_rows=[0, 1, 1, 0])], "r.json"), model_path="Qwen/Qwen3-Embedding-0.6B"),
        run(write_replay(tmp_path, [device(0, total_mib=16384, free=10 << 30)], "s.json"), model_path="Qwen/Qwen3-Embedding-8B"),
    ]
    for res in scenarios:
        for text in texts(res):
            assert "--disable-flash-attn" not in text
            if "reset" in text.lower():
                assert "kills every process on the card" in text, text


def test_importing_the_gpu_modules_stays_light():
    code = textwrap.dedent(
        """
        import sys
        import qwen_doctor.checks.gpu, qwen_doctor.gpu.nvml, qwen_doctor.gpu.memory, qwen_doctor.gpu.cuda_probe
        heavy = [m for m in ("pynvml", "torch", "transformers") if m in sys.modules]
        print(",".join(heavy))
        """
    )
    cp = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.strip() == ""


def test_cli_end_to_end_with_a_replayed_gpu(tmp_path, real_tokenizer_dir):
    from qwen_doctor.registry import default_registry

    args = [sys.executable, "-m", "qwen_doctor", "check", "--model-path", str(real_tokenizer_dir), "--format", "json", "--select", "gpu"]
    if default_registry(use_default_dirs=False).get("gpu.driver") is None:
        # not yet a built-in plugin: load it as a drop-in
        dropin = tmp_path / "checks.d"
        dropin.mkdir()
        (dropin / "gpu_checks.py").write_text("from qwen_doctor.checks.gpu import register\n")
        args += ["--checks-dir", str(dropin)]
    env = dict(os.environ, PYTHONPATH=str(REPO), **{REPLAY_ENV: f"{FACTS_FILE}#nvml_busy"})
    env.pop("CUDA_VISIBLE_DEVICES", None)
    cp = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert cp.returncode == 0, cp.stderr + cp.stdout
    doc = json.loads(cp.stdout)
    got = {r["id"]: r["status"] for r in doc["results"] if r["id"].startswith("gpu.")}
    assert got["gpu.memory-fit"] == "pass" and got["gpu.driver"] == "pass"
    assert got["gpu.other-processes"] == "warn"  # the recorded holder (pid 415 on the H200 host)
    assert got["gpu.trial-allocation"] == "skip"
