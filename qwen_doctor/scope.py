"""The report's one scope line per target whose model is clearly not Qwen3-Embedding (issue 12, item 5).

Qwen3-Embedding rules (pooling, tokenizer end token, dimensions, ...) SKIP on such a model, each naming it; the
report then says once which model it saw, how many Qwen3-specific checks it skipped, and which general checks ran.
Read from the results only (data flows one way: results -> renderers).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterable, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from .results import Result
    from .target import Target

#: the SKIP reason of a Qwen3-Embedding rule on another model (model/_common.py, tokenizer/_common.py)
_RULE = re.compile(r"is a Qwen3-Embedding rule, and this model is (?P<model>.+)$")


def scope_notes(targets: Sequence["Target"], results: Iterable["Result"]) -> list[str]:
    """One line per target whose Qwen3-Embedding rules were skipped because the model is something else."""
    from .results import Status

    by_target: dict[str, list["Result"]] = {}
    for r in results:
        by_target.setdefault(r.target, []).append(r)
    out = []
    for t in targets:
        rs = by_target.get(t.label, [])
        skipped = [(r, m) for r in rs if r.status is Status.SKIP for m in [_RULE.search(r.summary or "")] if m]
        if not skipped:
            continue
        model = skipped[0][1].group("model")
        ran = sorted({r.id for r in rs if r.status not in (Status.SKIP,)})
        shown = ", ".join(ran[:8]) + (f" and {len(ran) - 8} more" if len(ran) > 8 else "")
        out.append(
            f"{t.label}: model {model}; {len(skipped)} Qwen3-Embedding rule{'s' if len(skipped) != 1 else ''} skipped, "
            f"general checks ran ({len(ran)}{': ' + shown if ran else ''})"
        )
    return out
