"""The deploy plugin: its checks, in report order, each documented for `qwen-doctor explain`."""

from __future__ import annotations

from qwen_doctor.checks import deploy
from qwen_doctor.registry import Registry


def test_deploy_checks_are_documented_for_explain():
    reg = Registry()
    deploy.register(reg)
    assert reg.ids() == [
        "deploy.entrypoint",
        "deploy.command-string",
        "deploy.gpu-access",
        "deploy.shared-memory",
        "deploy.bind-address",
        "deploy.probes",
        "deploy.port-mapping",
    ]
    for c in reg:
        paras = [p for p in c.doc.split("\n\n") if p.strip()]
        assert [p.split(":")[0] for p in paras] == ["What it checks", "Why it matters", "How to fix"], c.id
