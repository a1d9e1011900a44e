"""A head start for the slowest fact of a static check: the tokenizer load, started before the CLI is imported.

Loading the Qwen3 tokenizer takes a child process ~0.6 s; importing the CLI (typer, rich, the checks) takes the
doctor ~0.4 s. Started only once the checks ask for it, the load comes after both. So ``qwen-doctor check`` guesses
the tokenizer directory from its raw arguments first and starts the very same child
(:func:`qwen_doctor.tokenizer_tools.prefetch`) right away.

It is only a guess, and nothing depends on it being right: the facts layer still decides which directory the
tokenizer checks read (``--tokenizer-path``, the HF cache, the server's own report...) and asks
:func:`~qwen_doctor.tokenizer_tools.load_report` for it; that takes the early child's result only when it is for the
same real directory with the same request (no --samples). An unused child is stopped at exit. No guess is made when
the run may not load a tokenizer at all (``--select``, ``--offline``... are left to the normal path) or reads texts
(``--samples``).
"""

from __future__ import annotations

import os
from typing import Sequence

# options naming the tokenizer or model directory, in the order they win (a tokenizer override first)
_LAUNCH_TOKENIZER = ("--tokenizer-path", "--tokenizer")
_LAUNCH_MODEL = ("--model-path", "--model", "--model-id")
# doctor options after which a guess would be wasted or wrong
# --url: the live probe is the long pole there, and an early child only takes CPU from it (measured with
# bench/bench_probe_sglang.py); the tokenizer then loads when its checks ask, as before
_NO_GUESS = ("--select", "--samples", "--offline", "--help", "-h", "--from", "--url")
_NO_GUESS_ENV = (
    "QWEN_DOCTOR_SELECT",
    "QWEN_DOCTOR_SAMPLES",
    "QWEN_DOCTOR_OFFLINE",
    "QWEN_DOCTOR_FROM_FILE",
    "QWEN_DOCTOR_LAUNCH",
    "QWEN_DOCTOR_CONFIG",
    "QWEN_DOCTOR_URL",
)


def _value(args: Sequence[str], names: Sequence[str]) -> str | None:
    for i, a in enumerate(args):
        for n in names:
            if a == n and i + 1 < len(args):
                return args[i + 1]
            if a.startswith(n + "="):
                return a[len(n) + 1 :]
    return None


def guess_tokenizer_dir(args: Sequence[str], environ: "os._Environ[str] | dict[str, str]" = os.environ) -> str | None:
    """The local directory whose tokenizer.json ``qwen-doctor check ARGS`` will most likely load, or None."""
    if not args or args[0] != "check":
        return None
    try:
        cut = list(args).index("--")
    except ValueError:
        cut = len(args)
    own, launch = list(args[1:cut]), list(args[cut + 1 :])
    if any(a == n or a.startswith(n + "=") for a in own for n in _NO_GUESS) or any(environ.get(k) for k in _NO_GUESS_ENV):
        return None
    candidates = [_value(launch, _LAUNCH_TOKENIZER), _value(launch, _LAUNCH_MODEL)]
    if "serve" in launch:  # vllm serve MODEL
        nxt = launch[launch.index("serve") + 1 : launch.index("serve") + 2]
        if nxt and not nxt[0].startswith("-"):
            candidates.append(nxt[0])
    candidates.append(_value(own, ("--model-path",)))
    for c in candidates:
        if c and os.path.isfile(os.path.join(c, "tokenizer.json")):
            return c
        if c:
            return None  # the first named directory has no tokenizer.json (or is a repo id): the normal path
    return None


def start(args: Sequence[str]) -> bool:
    """Start the tokenizer child for ``args`` when there is a confident guess; never raises."""
    try:
        d = guess_tokenizer_dir(args)
        if d is None:
            return False
        from .tokenizer_tools import prefetch

        return prefetch(d)
    except Exception:  # noqa: BLE001 - a head start, never a reason to fail
        return False
