"""Deployment-file checks (``deploy.*``): what a compose file or Kubernetes manifest does around the launch command:
the image's ENTRYPOINT, the command given as one string, the GPUs and shared memory the container gets, the
address the server binds, the probes, the port mapping.

They read ``ctx.target.deployment`` (a typed :class:`~qwen_doctor.target.Deployment`), filled in by
:mod:`qwen_doctor.deployfiles` for targets from ``--from``; version-dependent health-route behaviour is in the
tables of :mod:`._health`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...spec import collect
from . import bind_address, command_string, entrypoint, gpu_access, port_mapping, probes, shared_memory

if TYPE_CHECKING:  # pragma: no cover
    from ...registry import Registry

MODULES = (entrypoint, command_string, gpu_access, shared_memory, bind_address, probes, port_mapping)


def register(registry: "Registry") -> None:
    """Built-in plugin: deployment-file checks."""
    registry.add_checks(*collect(MODULES))
