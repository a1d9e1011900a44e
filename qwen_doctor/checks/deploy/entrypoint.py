"""deploy.entrypoint: the container's command fits the image's ENTRYPOINT (read by qwen_doctor.deployfiles)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Fix, Outcome
from ...spec import check
from ._common import deployment, from_file, server_name

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


@check(
    "deploy.entrypoint",
    "Command fits the image's ENTRYPOINT",
    applies=from_file("compose", "kubernetes", "docker-run"),
    reads=("deployment",),
)
def check_entrypoint(ctx: "Context") -> Outcome:
    """What it checks: that the container's command fits the image's ENTRYPOINT: `vllm/vllm-openai` images start
    `vllm serve` themselves and TEI images `text-embeddings-router`, so the command/args must hold only options;
    `lmsysorg/sglang` images have no server ENTRYPOINT, so the command must start the server.

    Why it matters: `command: ["serve", "Qwen/Qwen3-Embedding-0.6B"]` on vllm/vllm-openai runs `vllm serve serve
    Qwen/...` and vLLM exits with "unrecognized arguments" (so does `docker run vllm/vllm-openai vllm serve ...`);
    `command: --model-path ...` (or `docker run lmsysorg/sglang --model-path ...`) on lmsysorg/sglang tries to
    run `--model-path` as a program. Either way the container exits at once and restarts in a loop. (The images'
    ENTRYPOINTs: vllm-project/vllm docker/Dockerfile, target vllm-openai; TEI Dockerfile and Dockerfile-cuda;
    sgl-project/sglang docker/compose.yaml starts `python3 -m sglang.launch_server` itself.)

    How to fix: for vLLM and TEI images give only the options (or override the entrypoint); for SGLang images start
    with `python3 -m sglang.launch_server` (or `sglang serve`).
    """
    t = ctx.target
    d = deployment(ctx)
    notes = list(d.notes)
    if d.entrypoint_problem:
        return Outcome.fail(
            d.entrypoint_problem,
            Fix(d.entrypoint_fix or "Make the command fit the image's ENTRYPOINT."),
            image=d.image,
            image_entrypoint=list(d.image_entrypoint) if d.image_entrypoint is not None else None,
            notes=notes,
        )
    how = {
        "image": f"the image's ENTRYPOINT {' '.join(d.image_entrypoint or ()) or '(none)'}",
        "file": "the run line's --entrypoint" if d.kind == "docker-run" else "the file's own entrypoint/command",
    }.get(d.entrypoint_source or "", "the command as written")
    launcher = t.launch.launcher if t.launch else "?"
    return Outcome.passed(f"{how} starts {server_name(t.server)} ({launcher})", image=d.image, notes=notes)
