"""GPU checks (``gpu.*``): driver, which GPUs the server will use, capability, health, who else holds memory,
memory fit by the server's own rules, and (``--deep``) a trial allocation through the CUDA driver API.

Read-only: NVML is only queried (once per run, shared by every target), no process is ever killed or signalled,
no GPU is ever reset. The one write-like action, the ``--deep`` trial allocation, runs in a subprocess with a
timeout, frees what it allocates at once, and is skipped on a GPU that any process is using.

``gpu.driver`` is the single SKIP point on a host without an NVIDIA driver: every other gpu check requires it.
pynvml is imported only when the checks run (:mod:`qwen_doctor.gpu.nvml`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...spec import collect
from . import capability, devices, driver, health, memory_fit, other_processes, trial_allocation

if TYPE_CHECKING:  # pragma: no cover
    from ...plugin import RegistryProtocol

MODULES = (driver, devices, capability, health, other_processes, memory_fit, trial_allocation)


def register(registry: "RegistryProtocol") -> None:
    """Built-in plugin: GPU checks."""
    registry.add_checks(*collect(MODULES))
