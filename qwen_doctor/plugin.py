"""The public plugin API of qwen-doctor: third-party plugins and checks.d drop-ins import only from here.

A plugin is a callable ``register(registry)``. It declares check functions with :func:`check` and hands them to
the registry instance it is given::

    from qwen_doctor.plugin import Fix, Outcome, check

    @check("site.port-range", "Server port inside the site's range", requires=())
    def port_range(ctx):
        \"\"\"What it checks: ... (the docstring is what `qwen-doctor explain site.port-range` shows)\"\"\"
        port = ctx.target.port
        ...
        return Outcome.passed(f"port {port} is inside the range")

    def register(registry):
        registry.add_checks(port_range)

A check gets a :class:`Context`: ``ctx.target`` (the deployment), ``ctx.server`` (:class:`ServerFacts`: kind,
version, where the version came from, options), ``ctx.model`` (:class:`ModelFacts`: location, config,
identity, context length, dtype, weights), ``ctx.options`` (the run's options), ``ctx.relaunch.fix(...)`` (a
fix with a corrected launch command) and ``ctx.result(id)`` for checks it ``requires`` or ``uses``.

:data:`API_VERSION` follows semantic versioning: a new name is a minor bump; removing or changing one is a major one.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .context import Context, RunOptions
from .facts import Identity, ModelFacts, ModelLocation, ServerFacts
from .results import Applicability, Fix, Outcome, Result, Status
from .spec import CheckFunc, CheckSpec, always, check
from .target import Deployment, Target
from .versions import Behaviour, Range, Row, version_at_least

API_VERSION = "1.0"


@runtime_checkable
class RegistryProtocol(Protocol):
    """What a plugin's ``register(registry)`` may call."""

    def add_checks(self, *funcs: CheckFunc) -> None:
        """Register functions declared with :func:`check`."""
        ...


__all__ = [
    "API_VERSION",
    "Applicability",
    "Behaviour",
    "CheckFunc",
    "CheckSpec",
    "Context",
    "Deployment",
    "Fix",
    "Identity",
    "ModelFacts",
    "ModelLocation",
    "Outcome",
    "Range",
    "RegistryProtocol",
    "Result",
    "Row",
    "RunOptions",
    "ServerFacts",
    "Status",
    "Target",
    "always",
    "check",
    "version_at_least",
]
