"""Helpers shared by the model.* checks (and the tokenizer.* checks' applicability): where the files are, how to
download what is missing, and short message helpers. Locations come from the facts layer (``ctx.model.location``,
``ctx.tokenizer_model()``); nothing here opens a file."""

from __future__ import annotations

import shlex
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ...modelfiles import looks_like_hub_id

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

SHOW = 5  # items named in a summary before "and N more"


def applies_model(ctx: "Context") -> bool | str:
    """The model checks apply when a model path is known and its files are here (a local directory or a hub-cache snapshot)."""
    t = ctx.target
    mf = ctx.model
    if mf is None:
        return "no model path known: give --model-path DIR or a launch command"
    loc = mf.location
    if loc.directory is None and loc.hub_id:
        return (
            f"{t.model_path} is a Hugging Face repo id with no local copy here (not in {', '.join(loc.searched[:3])}): "
            f"the server downloads it at start-up; to check the files, download them "
            f"(hf download {t.model_path} --local-dir DIR) and pass --model-path DIR"
        )
    return True


def applies_tokenizer(ctx: "Context") -> bool | str:
    """As :func:`applies_model`, and a --tokenizer / --tokenizer-path that names a hub id must be here too."""
    ok = applies_model(ctx)
    if ok is not True:
        return ok
    from ...facts import tokenizer_written

    t = ctx.target
    tw = tokenizer_written(t)
    if tw is not None:
        loc = ctx.facts.location(t, tw)
        if loc.directory is None and loc.hub_id:
            opt = "--tokenizer-path" if t.server == "sglang" else "--tokenizer"
            return f"the tokenizer comes from {opt} {tw}, a Hugging Face repo id with no local copy here"
    return True


def model_dir(ctx: "Context") -> Path:
    """The local model directory (guaranteed by requires=model.directory)."""
    mf = ctx.model
    assert mf is not None and mf.directory is not None
    return mf.directory


def model_key(ctx: "Context") -> str:
    """The run-wide key of the model directory (its real path): targets sharing it share what is read from it."""
    assert ctx.model is not None
    return ctx.model.location.key


def tok_dir(ctx: "Context") -> tuple[Path, str]:
    """(the directory the tokenizer is read from, where it comes from)."""
    d, where, _ = tok_location(ctx)
    return d, where


def tok_location(ctx: "Context") -> tuple[Path, str, str]:
    """(the tokenizer directory, where it comes from, its run-wide key)."""
    mf, where = ctx.tokenizer_model()
    if mf is not None and mf.directory is not None:
        return mf.directory, where, mf.location.key
    return model_dir(ctx), "the model directory", model_key(ctx)


def hf_repo(ctx: "Context") -> str | None:
    """The upstream repo for this model, when the variant is known from config.json's shape (never guessed)."""
    t = ctx.target
    if t.model_path and looks_like_hub_id(t.model_path) and t.model_path.startswith("Qwen/"):
        return t.model_path
    v = ctx.model.shape_variant if ctx.model is not None else None
    return f"Qwen/Qwen3-Embedding-{v}" if v else None


def download(ctx: "Context", d: Path, files: Iterable[str] = ()) -> tuple[str, tuple[str, ...]]:
    """(where to take files from, the command that downloads them); no command when the upstream repo is unknown
    (a fine-tune or another model: the doctor does not guess its repository)."""
    repo = hf_repo(ctx)
    if repo is None:
        return "the model's repository", ()
    names = " ".join(files)
    return repo, (f"hf download {repo} {names + ' ' if names else ''}--local-dir {shq(str(d))}",)


def more(items: list[str], n: int = SHOW) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def shq(p: str) -> str:
    return shlex.quote(p)


def is_regular(p: Path) -> bool:
    try:
        return stat.S_ISREG(p.stat().st_mode)
    except OSError:
        return False


def qwen3_only(what: str, base=None):
    """An ``applies`` for a rule of Qwen3-Embedding's own (``what`` names it): SKIP, naming the model seen, for a model
    that is clearly something else. ``base`` is the applicability test it builds on (default: the model's)."""
    first = base or applies_model

    def applies(ctx: "Context") -> bool | str:
        ok = first(ctx)
        if ok is not True:
            return ok
        mf = ctx.model
        if mf is not None and not mf.qwen3_rules_apply():
            return f"{what} is a Qwen3-Embedding rule, and this model is {mf.identity.describe()}"
        return True

    return applies
