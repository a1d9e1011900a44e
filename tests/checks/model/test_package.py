"""The model plugin as a whole: light imports, the docs of every check, the registration order."""

from __future__ import annotations

import subprocess
import sys

from qwen_doctor.checks import model as mc
from qwen_doctor.checks import tokenizer as tc
from qwen_doctor.registry import Registry

from .conftest import MODEL_IDS


def test_module_import_is_light():
    code = (
        "import sys; import qwen_doctor.checks.model, qwen_doctor.checks.tokenizer, qwen_doctor.safetensors_header, qwen_doctor.tokenizer_tools;"
        "bad = [m for m in ('transformers', 'torch', 'pynvml', 'tokenizers', 'numpy', 'safetensors') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr


def test_every_check_has_the_three_paragraph_doc():
    reg = Registry()
    mc.register(reg)
    tc.register(reg)
    assert len(reg) == 10
    for c in reg:
        paras = [p.strip() for p in c.doc.split("\n\n") if p.strip()]
        assert [p.split(":")[0] for p in paras] == ["What it checks", "Why it matters", "How to fix"], c.id
        assert c.category in ("model", "tokenizer")


def test_registration_order_is_the_report_order():
    reg = Registry()
    mc.register(reg)
    assert [c.id for c in reg] == list(MODEL_IDS)
