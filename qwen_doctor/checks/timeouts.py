"""The one timeout table of the built-in checks (seconds). A check not listed gets :data:`DEFAULT`.

A check that outlives its timeout is reported as ERROR and the others go on. Network probes carry their own
per-request timeouts inside these budgets (``--probe-timeout``); the tokenizer child is stopped 5 s before
``tokenizer.load``'s budget.
"""

from __future__ import annotations

DEFAULT = 10.0

TIMEOUTS: dict[str, float] = {
    "host.port": 15.0,
    "model.weights": 30.0,
    "tokenizer.load": 60.0,
    "gpu.driver": 15.0,  # NVML init + queries (10 s) and margin
    "gpu.devices": 15.0,
    "gpu.other-processes": 15.0,
    "gpu.memory-fit": 15.0,
    "gpu.trial-allocation": 130.0,  # all GPUs of one target (120 s) and margin
    "probe.reachable": 30.0,
    "probe.identity": 60.0,
    "probe.health": 60.0,
    "probe.embeddings": 90.0,
    "probe.dimensions": 40.0,
    "probe.content-type": 40.0,
    "probe.latency": 300.0,
    "probe.long-input": 150.0,
    "probe.metrics": 45.0,  # up to 3 reads of /metrics (--timeout each, at most 10 s) --metrics-interval apart
    "probe.load": 300.0,  # the bounded load probe (--load N): every step, and its /metrics reads
    "probe.parity": 420.0,  # the reference process: import torch (5-15 s), fp32 weights, 8 short forward passes; --deep 4B/8B: minutes
}


def timeout_for(check_id: str, *, builtin: bool = True) -> float:
    return TIMEOUTS.get(check_id, DEFAULT) if builtin else DEFAULT
