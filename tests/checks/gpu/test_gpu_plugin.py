"""The gpu.* checks as a plugin: spec and docstrings, what they say (no folklore), what they import, and the CLI
end to end with a replayed GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from qwen_doctor.checks import gpu as gpu_checks
from qwen_doctor.gpu.nvml import REPLAY_ENV
from qwen_doctor.registry import Registry

from .helpers import FACTS_FILE, GPU_IDS, IDLE, REPO, RESET_REFUSED, busy_replay_with_pid, device, texts, write_replay


def test_registered_in_the_old_order_with_the_old_dependencies():
    reg = Registry()
    gpu_checks.register(reg)
    checks = {c.id: c for c in reg}
    assert list(checks) == GPU_IDS
    assert checks["gpu.driver"].depends_on == ()
    assert checks["gpu.devices"].depends_on == ("gpu.driver",)
    assert all(checks[i].depends_on == ("gpu.driver", "gpu.devices") for i in GPU_IDS[2:])
    assert checks["gpu.other-processes"].severity.value == "warn"
    assert checks["gpu.memory-fit"].uses == ("gpu.other-processes",) and checks["gpu.trial-allocation"].uses == ("gpu.memory-fit",)
    assert checks["gpu.trial-allocation"].timeout == 130.0 and checks["gpu.driver"].timeout == 15.0


def test_docstrings_have_the_three_paragraphs():
    reg = Registry()
    gpu_checks.register(reg)
    for chk in reg:
        paras = [p for p in chk.doc.split("\n\n") if p.strip()]
        assert [p.split(":", 1)[0] for p in paras] == ["What it checks", "Why it matters", "How to fix"], chk.id
        if "reset" in chk.doc.lower():
            assert "kills every process" not in chk.doc, chk.id  # false: nvidia-smi refuses a reset while the GPU is in use


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
                assert RESET_REFUSED in text, text
                assert "kills every process" not in text, text


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
    args = [sys.executable, "-m", "qwen_doctor", "check", "--model-path", str(real_tokenizer_dir), "--format", "json", "--select", "gpu"]
    env = dict(os.environ, PYTHONPATH=str(REPO), **{REPLAY_ENV: f"{FACTS_FILE}#nvml_busy"})
    env.pop("CUDA_VISIBLE_DEVICES", None)
    cp = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert cp.returncode == 0, cp.stderr + cp.stdout
    doc = json.loads(cp.stdout)
    got = {r["id"]: r["status"] for r in doc["results"] if r["id"].startswith("gpu.")}
    assert got["gpu.memory-fit"] == "pass" and got["gpu.driver"] == "pass"
    assert got["gpu.other-processes"] == "warn"  # the recorded holder (pid 415 on the H200 host)
    assert got["gpu.trial-allocation"] == "skip"
