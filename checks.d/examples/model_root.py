"""Site policy example: models must live under /models (the read-only model volume).

A Hugging Face repo id (no local path) is allowed only when QWEN_DOCTOR_ALLOW_HUB=1 is set.
"""

import os
import posixpath

from qwen_doctor.plugin import Fix, Outcome, check

ROOT = os.environ.get("QWEN_DOCTOR_MODEL_ROOT", "/models")


def _has_model(ctx):
    return True if ctx.target.model_path else "no model path known"


@check("site.model-root", f"Model lives under {ROOT}", applies=_has_model)
def model_root(ctx):
    """What it checks: the model path is inside this site's model volume (/models, or $QWEN_DOCTOR_MODEL_ROOT).

    Why it matters: only that volume is backed up, scanned and mounted read-only on every serving node; a model
    elsewhere (a home directory, /tmp, a hub download at start-up) is missing on the next node.

    How to fix: copy the model under the root and point --model-path there.
    """
    path = ctx.target.model_path
    root = ROOT.rstrip("/") or "/"
    if ctx.model is not None and ctx.model.location.hub_id and ctx.model.directory is None:
        if os.environ.get("QWEN_DOCTOR_ALLOW_HUB") == "1":
            return Outcome.passed(f"hub id {path} allowed by QWEN_DOCTOR_ALLOW_HUB=1")
        return Outcome.fail(
            f"{path} is a hub id: the model is downloaded at start-up instead of served from {root}",
            Fix(f"Download it once into {root}/ and serve that directory."),
        )
    norm = posixpath.normpath(os.path.expanduser(path))
    if norm == root or norm.startswith(root + "/"):
        return Outcome.passed(f"{path} is under {root}")
    return Outcome.fail(
        f"{path} is outside {root}", Fix(f"Move the model under {root}/ and point the server there.", commands=(f"cp -r {path.rstrip('/')} {root}/",))
    )


def register(registry):
    registry.add_checks(model_root)
