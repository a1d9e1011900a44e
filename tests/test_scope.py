"""Issue 12 item 5: a model that is clearly not Qwen3-Embedding gets one scope line in the report (which model the
doctor saw, and that the general checks still ran), computed from the results by qwen_doctor.scope."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# config.json of meta-llama/Llama-3.2-1B-Instruct (huggingface.co/meta-llama/Llama-3.2-1B-Instruct, main), trimmed
LLAMA = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 2048,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "max_position_embeddings": 131072,
    "torch_dtype": "bfloat16",
    "vocab_size": 128256,
}


def test_a_llama_model_is_named_once_with_the_general_checks_that_ran(tmp_path):
    model = tmp_path / "Llama-3.2-1B-Instruct"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(LLAMA))
    r = subprocess.run(
        [sys.executable, "-m", "qwen_doctor", "check", "--offline", "--format", "json", "--", "sglang", "serve", "--model-path", str(model), "--is-embedding"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "QWEN_DOCTOR_SERVER_VERSION": "0.5.23", "HOME": str(tmp_path)},
    )
    assert r.returncode in (0, 1), r.stderr
    data = json.loads(r.stdout)
    scope = [n for n in data["notes"] if "Qwen3-Embedding rule" in n]
    assert len(scope) == 1, data["notes"]
    assert "LlamaForCausalLM model (config.json: LlamaForCausalLM, not Qwen3)" in scope[0]
    assert "general checks ran" in scope[0] and "launch.bind-host" in scope[0] and "Qwen3-Embedding rules skipped" in scope[0]


def test_a_qwen3_embedding_model_gets_no_scope_line(tmp_path):
    from qwen_doctor.results import Result, Status
    from qwen_doctor.scope import scope_notes
    from qwen_doctor.target import build_target

    t = build_target(["sglang", "serve", "--model-path", "/m/Qwen3-Embedding-0.6B", "--is-embedding"], label="t")
    ok = Result(id="model.config", title="x", category="model", status=Status.PASS, summary="fine", evidence={}, fix=None, duration_ms=0, target="t")
    skip = Result(id="x", title="x", category="model", status=Status.SKIP, summary="no model path", evidence={}, fix=None, duration_ms=0, target="t")
    assert scope_notes([t], [ok, skip]) == []
