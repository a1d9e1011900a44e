"""launch.sglang-weight-loading: this SGLang release loads Qwen3-Embedding weights from this model path."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Applicability, Fix, Outcome
from ...spec import check
from ...versions import Behaviour, rows
from ._common import server_in

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

#: how SGLang maps Qwen3-Embedding's prefix-less weight keys ('layers.*', 'embed_tokens.*', 'norm.*')
SGLANG_WEIGHT_PREFIX = Behaviour(
    "sglang.qwen3-weight-prefix",
    "How SGLang's qwen3.py loads Qwen3-Embedding weight keys, which lack the 'model.' prefix.",
    (
        *rows("sglang", "sglang.md §7: no prefix handling in qwen3.py; https://github.com/sgl-project/sglang/issues/6917", ("<0.4.7", "unsupported")),
        *rows(
            "sglang",
            'sglang.md §7: qwen3.py `if "Embedding" in self.config.name_or_path` (https://github.com/sgl-project/sglang/pull/6990); '
            "crash https://github.com/sgl-project/sglang/pull/17535, random weights https://github.com/sgl-project/sglang/issues/10150",
            (">=0.4.7,<0.5.9", "path-dependent"),
        ),
        *rows("sglang", "sglang.md §7: qwen3.py @ 01b5f57 (v0.5.9): prefix added only when the key lacks it", (">=0.5.9", "fixed")),
    ),
)

PIP_UPGRADE = "pip install -U 'sglang>=0.5.9'"


@check(
    "launch.sglang-weight-loading",
    "SGLang version loads Qwen3-Embedding weights from this path",
    applies=server_in("sglang"),
    uses=("model.weights",),
    reads=("server",),
    claims=(SGLANG_WEIGHT_PREFIX.id,),
)
def check_sglang_model_support(ctx: "Context") -> Outcome:
    """What it checks: that this SGLang version loads Qwen3-Embedding weights correctly from this model path.

    Why it matters: SGLang <= 0.4.6 cannot load Qwen3-Embedding at all (`KeyError: 'layers.N.mlp.gate_up_proj.weight'`,
    sglang#6917). In 0.4.7 ... 0.5.8.post1 the fix applies only when the case-sensitive string `Embedding` occurs in
    `--model-path` (it adds the `model.` prefix the checkpoint lacks; sglang PR #6990); a directory such as
    `/models/qwen3-embedding-0.6b` or `checkpoint-8000` crashes at weight load with
    `KeyError: 'layers.0.mlp.gate_up_proj.weight'` after minutes of start-up (PR #17535), and a fine-tune whose keys
    already carry `model.` but whose path contains `Embedding` loads *random* weights (only "Parameter model.model.* not
    found" warnings; sglang#10150). 0.5.9 fixed both (prefix added only when missing; qwen3.py @ 01b5f57).

    How to fix: upgrade SGLang to >= 0.5.9, or (0.4.7-0.5.8.post1) keep `Embedding` in the directory name.
    """
    server = ctx.server
    assert server is not None
    v = server.version
    mp = ctx.target.model_path or ""
    if not server.known:
        if "Embedding" in mp:
            return Outcome.passed("path contains 'Embedding' (needed by SGLang 0.4.7-0.5.8.post1; 0.5.9 and later load from any path)")
        return Outcome.warn(
            "SGLang version unknown: on SGLang 0.4.7-0.5.8.post1 a model path without the case-sensitive 'Embedding' crashes at weight load "
            "(KeyError: 'layers.0.mlp.gate_up_proj.weight'); 0.5.9 and later are fine",
            Fix(
                "Give --server-version (or install SGLang here) so the doctor can tell; or use SGLang >= 0.5.9.",
                commands=(PIP_UPGRADE,),
                applicability=Applicability.UNSAFE,
            ),
            model_path=mp,
        )
    behaviour = server.at(SGLANG_WEIGHT_PREFIX)
    if behaviour is None or behaviour == "unsupported":
        older = f" ({v} is older than any release the doctor knows)" if behaviour is None else ""
        return Outcome.fail(
            f"SGLang {v} cannot load Qwen3-Embedding (KeyError: 'layers.N.mlp.gate_up_proj.weight' at weight load; support arrived in 0.4.7){older}",
            Fix("Upgrade SGLang to >= 0.5.9.", commands=(PIP_UPGRADE,), applicability=Applicability.UNSAFE),
        )
    if behaviour == "fixed":
        return Outcome.passed(f"SGLang {v} loads Qwen3-Embedding weights whatever the path")
    prefix = ctx.evidence("model.weights", "weight_key_prefix")
    upgrade = Fix(
        f"Upgrade SGLang to >= 0.5.9 (e.g. {PIP_UPGRADE}), or rename the model directory so its path contains 'Embedding'.",
        commands=(PIP_UPGRADE,),
        applicability=Applicability.UNSAFE,
    )
    has_word = "Embedding" in mp
    if prefix == "model.layers" and has_word:
        return Outcome.fail(
            f"SGLang {v} adds a 'model.' prefix because the path contains 'Embedding', but these weights already carry it: the model loads with random weights (only 'Parameter model.model.* not found' warnings)",
            Fix("Upgrade SGLang to >= 0.5.9, or serve from a path without 'Embedding'.", commands=(PIP_UPGRADE,), applicability=Applicability.UNSAFE),
            weight_key_prefix=prefix,
        )
    if prefix == "model.layers":
        return Outcome.passed(f"weights carry the 'model.' prefix, which SGLang {v} expects when the path lacks 'Embedding'", weight_key_prefix=prefix)
    if has_word:
        return Outcome.passed(f"path contains 'Embedding', which SGLang {v} needs to load Qwen3-Embedding weights", weight_key_prefix=prefix)
    if "embedding" in mp.lower():
        word = [w for w in mp.split("/") if "mbedding" in w.lower()][-1]
        why = f"the path contains '{word}' but the check in SGLang {v} is case-sensitive ('Embedding')"
    else:
        why = "the path lacks the case-sensitive string 'Embedding'"
    return Outcome.fail(
        f"SGLang {v} will crash at weight load with KeyError: 'layers.0.mlp.gate_up_proj.weight': {why}",
        upgrade,
        model_path=mp,
        weight_key_prefix=prefix,
    )
