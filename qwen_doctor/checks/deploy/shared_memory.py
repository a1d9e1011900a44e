"""deploy.shared-memory: a container running tensor/pipeline/data parallelism across processes has the shared memory
NCCL needs (``--ipc=host``, ``--shm-size``, compose ``ipc: host`` / ``shm_size``, a Kubernetes ``emptyDir``
``medium: Memory`` on /dev/shm or ``hostIPC``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Applicability, Fix, Outcome, Status
from ...spec import check
from ._common import container_word, containerised, deployment, server_name

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context
    from ...target import Deployment

MIB = 1024 * 1024
#: /dev/shm of a container that sets nothing: Docker's --shm-size default (docker run reference), also what
#: containerd/CRI-O give a pod (kubernetes/kubernetes#28272)
DEFAULT_SHM = 64 * MIB
#: what NCCL's troubleshooting guide has containers pass (--shm-size=1g --ulimit memlock=-1)
RECOMMENDED_SHM = 1024 * MIB

#: the parallel sizes that start one process per rank, by server: (dest names across releases, flag as shown)
_SIZES = {
    "sglang": ((("tp_size", "tensor_parallel_size"), "--tp-size"), (("pp_size", "pipeline_parallel_size"), "--pp-size")),
    "vllm": (
        (("tensor_parallel_size",), "--tensor-parallel-size"),
        (("pipeline_parallel_size",), "--pipeline-parallel-size"),
        (("data_parallel_size",), "--data-parallel-size"),
    ),
}
_SGLANG_DP = ("dp_size", "data_parallel_size")


def _size_of(ctx: "Context", dests: tuple[str, ...]) -> int:
    srv = ctx.server
    assert srv is not None
    for dest in dests:
        if srv.given(dest):
            return srv.int_option(dest, 1) or 1
    return 1


def _ranks(ctx: "Context") -> tuple[int, list[str]]:
    srv = ctx.server
    assert srv is not None
    total = 1
    shown: list[str] = []
    for dests, flag in _SIZES.get(srv.kind, ()):
        n = _size_of(ctx, dests)
        if n > 1:
            total *= n
            shown.append(f"{flag} {n}")
    if srv.kind == "sglang":
        dp = _size_of(ctx, _SGLANG_DP)
        if dp > 1 and not srv.option("enable_dp_attention"):
            # each data-parallel replica is its own tensor-parallel group; replicas talk over ZMQ, not NCCL
            shown.append(f"--dp-size {dp}")
    return total, shown


def _size(n: int) -> str:
    return f"{n / (1024 * MIB):g} GiB" if n >= 1024 * MIB else f"{n / MIB:g} MiB"


def _fix(d: "Deployment") -> Fix:
    if d.kind == "kubernetes":
        text = (
            "Mount a memory-backed emptyDir on /dev/shm (or set hostIPC: true):\n"
            "volumes:\n  - name: dshm\n    emptyDir: {medium: Memory, sizeLimit: 16Gi}\n"
            "volumeMounts:  # in the container\n  - name: dshm\n    mountPath: /dev/shm"
        )
    elif d.kind == "compose":
        text = "Add ipc: host to the service (or shm_size: 16gb, at least 1gb), as SGLang's docker/compose.yaml does."
    else:
        text = f"Add --ipc=host (or --shm-size=16g, at least 1g) to the {d.runtime or 'docker'} run line, before the image."
    return Fix(text, applicability=Applicability.DISPLAY_ONLY)


@check(
    "deploy.shared-memory",
    "Shared memory for multi-GPU communication in the container",
    applies=containerised("sglang", "vllm"),
    reads=("deployment", "server"),
)
def check_shared_memory(ctx: "Context") -> Outcome:
    """What it checks: when the server runs more than one GPU process in a container (SGLang `--tp-size`/`--tp`,
    `--pp-size`; vLLM `--tensor-parallel-size`/`-tp`, `--pipeline-parallel-size`, `--data-parallel-size`), that the
    container has enough shared memory: `--ipc=host` / `ipc: host` / `hostIPC: true`, a `--shm-size` / `shm_size` of
    at least 1 GiB, or in Kubernetes an `emptyDir` with `medium: Memory` mounted on /dev/shm. With one process it
    does not apply.

    Why it matters: NCCL, which the ranks use to talk to each other, creates its buffers in /dev/shm, and "if
    insufficient shared memory is available, NCCL will fail to initialize" ("NCCL WARN Error: failed to extend
    /dev/shm/nccl-... to ... bytes"); its guide has containers pass `--shm-size=1g --ulimit memlock=-1` (NCCL User
    Guide, Troubleshooting: Runtime and MPI issues, Shared memory / Docker). A container's /dev/shm is 64 MB unless
    set (docker run reference, `--shm-size`; the same in a Kubernetes pod: kubernetes/kubernetes#28272). vLLM's
    docker guide requires `--ipc=host` or `--shm-size` "particularly for tensor parallel inference"
    (docs.vllm.ai/en/v0.7.3/deployment/docker.html); SGLang's docker/compose.yaml sets `ipc: host` and its
    Kubernetes manifest mounts a memory emptyDir on /dev/shm. vLLM also keeps its worker message queue in /dev/shm
    (10 x 16 MiB chunks: vllm/distributed/device_communicators/shm_broadcast.py and VLLM_MQ_MAX_CHUNK_BYTES_MB at
    v0.32.0), more than the 64 MB default. So with nothing set this is a FAIL (the ranks fail or hang while setting
    up the communicator, and the server never becomes ready); a size set below 1 GiB is a WARN (whether it is
    enough depends on the GPU count and NCCL's channels, which the doctor cannot settle).

    How to fix: docker run: `--ipc=host` (or `--shm-size=16g`); compose: `ipc: host` (or `shm_size: 16gb`);
    Kubernetes: a volume `emptyDir: {medium: Memory}` mounted at /dev/shm (or `hostIPC: true`).
    """
    t = ctx.target
    d = deployment(ctx)
    ranks, shown = _ranks(ctx)
    name = server_name(t.server)
    if ranks <= 1:
        why = f" ({', '.join(shown)}: each replica is one process)" if shown else ""
        return Outcome.passed(f"{name} runs one GPU process{why}: no inter-process NCCL communicator", ranks=ranks)
    par = ", ".join(shown)
    ev = {"ranks": ranks, "shm_size": d.shm_size, "ipc_host": d.ipc_host, "shm_memory_volume": d.shm_memory_volume}
    if d.ipc_host:
        how = "hostIPC: true" if d.kind == "kubernetes" else "ipc: host" if d.kind == "compose" else "--ipc=host"
        return Outcome.passed(f"{par}: {how} shares the host's /dev/shm", **ev)
    if d.kind == "kubernetes" and d.shm_memory_volume:
        if d.shm_size is not None and d.shm_size < RECOMMENDED_SHM:
            return Outcome.warn(
                f"{par}: the memory emptyDir on /dev/shm is limited to {_size(d.shm_size)}, below the 1 GiB NCCL's guide has containers use",
                _fix(d),
                **ev,
            )
        return Outcome.passed(f"{par}: a memory-backed emptyDir is mounted on /dev/shm", **ev)
    nccl = "NCCL fails or hangs setting up the communicator between the ranks ('NCCL WARN Error: failed to extend /dev/shm/nccl-...'), so the server never becomes ready"
    if d.shm_size is None or d.shm_size <= DEFAULT_SHM:
        set_how = f"is {_size(d.shm_size)}" if d.shm_size is not None else f"is the default {_size(DEFAULT_SHM)}"
        missing = (
            "no emptyDir medium: Memory on /dev/shm and no hostIPC" if d.kind == "kubernetes" else "no ipc: host" if d.kind == "compose" else "no --ipc=host"
        )
        return Outcome(Status.FAIL, f"{par} runs {ranks} GPU processes, but {container_word(d)} has {missing} and /dev/shm {set_how}: {nccl}", ev, _fix(d))
    if d.shm_size < RECOMMENDED_SHM:
        return Outcome.warn(
            f"{par}: /dev/shm is {_size(d.shm_size)}, below the 1 GiB NCCL's guide has containers use; with too little {nccl}",
            _fix(d),
            **ev,
        )
    return Outcome.passed(f"{par}: /dev/shm is {_size(d.shm_size)}", **ev)
