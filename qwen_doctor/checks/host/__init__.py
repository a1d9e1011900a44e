"""Host checks (``host.*``): what this host does to the server about to start on it (the port it will bind)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...spec import collect
from . import port

if TYPE_CHECKING:  # pragma: no cover
    from ...registry import Registry

MODULES = (port,)


def register(registry: "Registry") -> None:
    """Built-in plugin: host checks."""
    registry.add_checks(*collect(MODULES))
