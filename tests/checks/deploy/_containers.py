"""Targets for the container checks, built as the readers build them: the launch command a real deployment runs,
with the Deployment facts its file or run line gives (part A of issue 12 fills these from the files)."""

from __future__ import annotations

import shlex

from qwen_doctor.target import Deployment, PortMapping, build_target
from tests.checks.deploy import by, run


def target(cmd: str, version: str | None = None, **dep):
    dep.setdefault("kind", "compose")
    return build_target(shlex.split(cmd), server_version=version, label="t", source=dep["kind"], deployment=Deployment(**dep))


def result(check_id: str, cmd: str, version: str | None = None, **dep):
    return by(run([target(cmd, version, **dep)]), check_id)


def ports(*pairs: tuple[int | None, int]) -> tuple[PortMapping, ...]:
    return tuple(PortMapping(container=c, published=p) for p, c in pairs)
