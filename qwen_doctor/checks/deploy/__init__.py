"""Deployment-file checks (``deploy.*``): what a compose file or Kubernetes manifest does around the launch command:
the image's ENTRYPOINT, the probes, the port mapping.

They read ``ctx.target.deployment`` (a typed :class:`~qwen_doctor.target.Deployment`), filled in by
:mod:`qwen_doctor.deployfiles` for targets from ``--from``; version-dependent health-route behaviour is in the
tables of :mod:`._health`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...spec import collect
from . import entrypoint, port_mapping, probes

if TYPE_CHECKING:  # pragma: no cover
    from ...registry import Registry

MODULES = (entrypoint, probes, port_mapping)


def register(registry: "Registry") -> None:
    """Built-in plugin: deployment-file checks."""
    registry.add_checks(*collect(MODULES))
