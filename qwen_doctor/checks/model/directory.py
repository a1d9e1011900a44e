"""model.directory: the model path is a non-empty directory here."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from ...results import Fix, Outcome
from ...spec import check
from ._common import applies_model

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


@check("model.directory", "Model directory exists", applies=applies_model, reads=("model", "deployment"))
def check_directory(ctx: "Context") -> Outcome:
    """What it checks: the model path exists here and is a non-empty directory (a local path, or a Hugging Face repo id
    whose snapshot is in the local hub cache, which is where the server would take it from).

    Why it matters: a wrong path is found only after the server has started, and a repo id the server must download
    makes start-up depend on the network. A Hugging Face repo id with no local copy is skipped with a note: its files
    cannot be checked before the server downloads them.

    How to fix: point --model-path (or the launch command) at the directory holding config.json, the weights and the
    tokenizer; if the server runs in a container, run the doctor where that directory is mounted.
    """
    t = ctx.target
    assert ctx.model is not None
    loc = ctx.model.location
    written = loc.written
    if loc.directory is None:
        p = Path(os.path.expanduser(written))
        try:
            st = p.stat()
        except FileNotFoundError:
            dangling = p.is_symlink()
            what = f"a dangling symlink (to {os.readlink(p)})" if dangling else "does not exist on this machine"
            dep = t.deployment
            if not dangling and dep is not None and dep.kind in ("compose", "kubernetes"):
                # a path inside the container's volume: not a defect of this machine
                return Outcome.skip(
                    f"model path {written} is inside the {dep.kind} container, not on this machine; "
                    "pass --model-path with a local copy of the same files to check them",
                    model_path=written,
                )
            return Outcome.fail(
                f"model path {written} {what}: the server will fail at start-up",
                Fix(
                    "Check the path. If the server runs in a container, run the doctor where the model is mounted, or pass --model-path with the host path of the same files."
                ),
                model_path=written,
            )
        except PermissionError:
            return Outcome.fail(
                f"model path {written} cannot be reached: a parent directory denies access to the doctor's user",
                Fix("Run the doctor as the user the server runs as, or fix the directory permissions."),
                model_path=written,
            )
        except OSError as exc:
            return Outcome.fail(f"model path {written} cannot be read: {exc.strerror or exc}", model_path=written)
        if not stat.S_ISDIR(st.st_mode):
            return Outcome.fail(
                f"model path {written} is a file, not a directory: the servers expect the directory holding config.json, the weights and the tokenizer",
                Fix(f"Pass the directory instead: --model-path {os.path.dirname(os.path.abspath(p)) or '/'}"),
                model_path=written,
            )
        return Outcome.fail(f"model path {written} is not usable", model_path=written)
    d = loc.directory
    try:
        names = sorted(os.listdir(d))
    except PermissionError:
        return Outcome.fail(
            f"{d} cannot be listed by the doctor's user (no read permission on the directory)",
            Fix(f"Run the doctor as the server's user, or: chmod a+rx {d}"),
            model_dir=str(d),
        )
    except OSError as exc:
        return Outcome.fail(f"{d} cannot be listed: {exc.strerror or exc}", model_dir=str(d))
    visible = [n for n in names if not n.startswith(".")]
    if not visible:
        return Outcome.fail(
            f"{d} is empty: an interrupted download or the wrong directory",
            Fix("Download the model again into this directory (hf download Qwen/Qwen3-Embedding-0.6B --local-dir DIR)."),
            model_dir=str(d),
        )
    extra = f" ({loc.how})" if loc.how != "local directory" else ""
    return Outcome.passed(f"{d} is a directory with {len(visible)} entries{extra}", model_dir=str(d), source=loc.how, entries=len(visible))
