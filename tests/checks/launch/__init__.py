"""Tests of the launch.* checks, on real launch commands from the servers' docs and issues.

Commands cited:
- SGLang docs quick start (docs.sglang.io/supported_models/embedding_models.html, shared/reference/sglang.md end of §10)
- Qwen maintainer's vLLM command (github.com/QwenLM/Qwen3-Embedding/issues/147, vllm-tei-qwen3.md B.1)
- The vLLM CPU recipe command (shared/recipes/REPORT.md §2a)
The model directories are real: config.json and modules.json of Qwen/Qwen3-Embedding-0.6B from shared/reference.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_doctor.checks import launch as launch_checks
from qwen_doctor.registry import Registry
from qwen_doctor.runner import Runner
from qwen_doctor.target import build_target
from tests.testkit import modeldirs

DATA_FILES = Path(__file__).resolve().parents[2] / "data" / "qwen3-embedding-0.6b"

SGLANG_QUICKSTART = "python3 -m sglang.launch_server --model-path Qwen/Qwen3-Embedding-4B --is-embedding --host 0.0.0.0 --port 30000"
QWEN_VLLM_147 = (
    "vllm serve Qwen/Qwen3-Embedding-4B --served-model-name Qwen3-Embedding-4B --task embed "
    "--hf-overrides '{\"is_matryoshka\": true}' --max-model-len 32768 --enable-prefix-caching "
    "--tensor-parallel-size 2 --gpu-memory-utilization 0.15 --trust-remote-code --host 0.0.0.0 --port 8000"
)
RECIPE_VLLM = (
    "python -m vllm.entrypoints.openai.api_server --model /abs/path/tiny-qwen3 --runner pooling --convert embed "
    "--served-model-name tiny-qwen3 --host 127.0.0.1 --port 8123 --max-model-len 512 --dtype float32 --enforce-eager "
    "--uvicorn-log-level warning"
)


def real_file(name: str) -> Path:
    """A real Qwen3-Embedding-0.6B repository file from shared/reference (skips when shared is absent)."""
    bases = [DATA_FILES]
    try:
        bases.insert(0, modeldirs.real_files_dir())
    except modeldirs.SharedFilesMissing:
        pass
    for base in bases:
        if (base / name).exists():
            return base / name
    pytest.skip(f"real model file {name} not found (set QWEN_DOCTOR_SHARED)")


def run(cmd, version, ids=None, **kw):
    """Run the launch checks on one launch command: ({id: result}, target)."""
    reg = Registry()
    launch_checks.register(reg)
    target = build_target([cmd] if isinstance(cmd, str) else cmd, server_version=version, **kw)
    results = Runner(reg, select=(lambda c: c.id in ids) if ids else None).run([target])
    return {r.id: r for r in results}, target


SNAPSHOT_SHA = "c54f2e6e80b2d7b7de06f51cec4959f6b3e03418"


def hf_cache(hf_home: Path, repo_id: str, files: dict[str, Path]) -> Path:
    """A Hugging Face cache laid out as huggingface_hub writes it under ``hf_home``:
    ``hub/models--<org>--<name>/{blobs/<hash>, refs/main, snapshots/<sha>/<file> -> ../../blobs/<hash>}``."""
    import hashlib
    import shutil

    repo = hf_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / SNAPSHOT_SHA
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(SNAPSHOT_SHA)
    for name, src in files.items():
        data = src.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        shutil.copy(src, blob)
        link = snap / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("../" * (len(Path(name).parts) + 1)) / "blobs" / blob.name)
    return snap
