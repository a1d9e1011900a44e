"""Container images of SGLang, vLLM and TEI: the one table of what each image runs, which release its tag names,
and whether it needs an NVIDIA GPU.

Read by the ``docker|podman|nerdctl run`` reader (:mod:`qwen_doctor.containers`) and by the compose and Kubernetes
reader (:mod:`qwen_doctor.deployfiles`). Stdlib only; import-light.

=====================================  ==========================================================================
image                                  what it runs (ENTRYPOINT, CMD, ENV), per source
=====================================  ==========================================================================
``vllm/vllm-openai``                   ENTRYPOINT ``python3 -m vllm.entrypoints.openai.api_server`` before 0.12.0,
                                       ``vllm serve`` since (:data:`VLLM_IMAGE_ENTRYPOINT`); CUDA: needs a GPU
``vllm/vllm-openai-cpu``,              the same ENTRYPOINTs (vllm-project/vllm docker/Dockerfile.cpu, target
``.../vllm-cpu-release-repo``          vllm-openai); CPU only
``ghcr.io/huggingface/                 ENTRYPOINT ``text-embeddings-router``, CMD ``--json-output``, ``ENV PORT=80``
text-embeddings-inference``            (TEI Dockerfile, Dockerfile-cuda); tags ``[FLAVOUR-]VERSION``: ``cpu-`` is the
                                       CPU build, ``turing-``, ``86-``, ``89-``, ``hopper-``, ``100-``, ``120-`` and
                                       no prefix (Ampere 80) are CUDA builds
``lmsysorg/sglang``                    no server ENTRYPOINT: the command starts the server itself (sgl-project/sglang
                                       docker/compose.yaml runs ``python3 -m sglang.launch_server``); CUDA unless the
                                       tag names ROCm, Xeon/CPU or NPU
=====================================  ==========================================================================

A tag that is not a release (``latest``, ``nightly``, ``dev``, no tag, a digest only) is *unpinned*: the doctor then
assumes the newest release it knows, and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .versions import Behaviour, Range, Row, is_version

#: the ENTRYPOINT of vllm/vllm-openai (and its CPU image) per release
VLLM_IMAGE_ENTRYPOINT: Behaviour[tuple[str, ...]] = Behaviour(
    "vllm.image-entrypoint",
    "The ENTRYPOINT of the vllm/vllm-openai image (target vllm-openai of docker/Dockerfile).",
    (
        Row(
            "vllm",
            Range("<0.12.0"),
            ("python3", "-m", "vllm.entrypoints.openai.api_server"),
            "vllm-project/vllm docker/Dockerfile at 0000977eaf87 (target vllm-openai: ENTRYPOINT "
            '["python3", "-m", "vllm.entrypoints.openai.api_server"]); vllm-project/vllm issue #27389 (an October 2025 '
            "image: `api_server.py: error: unrecognized arguments` for a positional model)",
        ),
        Row(
            "vllm",
            Range(">=0.12.0"),
            ("vllm", "serve"),
            'vllm-project/vllm docker/Dockerfile at dead20baf70d (target vllm-openai: ENTRYPOINT ["vllm", "serve"]) and '
            "docker/Dockerfile.cpu (same); vllm-project/vllm issue #37133 (0.17.1 image: `vllm: error: unrecognized "
            "arguments: serve`). The first release with it lies between 0.11.1 and 0.12.0; 0.12.0 is assumed",
        ),
    ),
)

TEI_ENTRYPOINT = ("text-embeddings-router",)
TEI_CMD = ("--json-output",)
TEI_ENV = {"PORT": "80"}
#: TEI image tag prefixes (README "Docker images"): what each build is for
TEI_FLAVOURS = {
    "cpu": "CPU",
    "turing": "Turing GPUs (T4, RTX 2000; experimental)",
    "86": "Ampere 86 GPUs (A10, A40, ...)",
    "89": "Ada Lovelace GPUs (RTX 4000, L4, L40, ...)",
    "hopper": "Hopper GPUs (H100, H200)",
    "100": "Blackwell 100 GPUs (B200, GB200)",
    "120": "Blackwell 120 GPUs (RTX 5000 series)",
}
SERVER_NAMES = {"sglang": "SGLang", "vllm": "vLLM", "tei": "TEI"}
_UNPINNED_TAGS = ("latest", "nightly", "dev", "main", "edge")


@dataclass(frozen=True)
class ImageRef:
    """An image reference split into its parts (``registry/repo:tag@digest``)."""

    raw: str
    registry: str  # docker.io when none is written
    repo: str  # e.g. vllm/vllm-openai (docker.io library images as library/NAME)
    tag: str | None
    digest: str | None


def parse_image(ref: str) -> ImageRef:
    """Split an image reference. Never raises: anything is a (possibly odd) reference."""
    raw = ref.strip()
    name, _, digest = raw.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = None
    if ":" in last:  # a tag (a registry port has a '/' after it)
        tag = last.split(":", 1)[1]
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry, repo = parts[0].lower(), "/".join(parts[1:])
    else:
        registry, repo = "docker.io", name
    if registry in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        registry = "docker.io"
        if "/" not in repo:
            repo = "library/" + repo
    return ImageRef(raw, registry, repo.lower(), tag or None, digest or None)


@dataclass(frozen=True)
class ImageFacts:
    """What a known server image runs and which release its tag names."""

    image: str
    server: str  # sglang | vllm | tei
    tag: str | None
    version: str | None  # the release the tag names; None: unpinned
    unpinned: str | None  # why the tag names no release ("tag latest", "no tag", "a digest only"), else None
    flavour: str | None  # TEI's tag prefix, or the part of an SGLang/vLLM tag after the release (cu126, rocm630, ...)
    gpu_image: bool | None  # needs an NVIDIA GPU (None: another accelerator, e.g. ROCm)
    entrypoint: tuple[str, ...]  # () for an image with no server ENTRYPOINT
    entrypoint_source: str  # where the ENTRYPOINT comes from
    cmd: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def version_source(self) -> str:
        """Where the version comes from: ``image tag v0.11.0``; for an unpinned image, the release assumed instead."""
        if self.version:
            return f"image tag {self.tag}"
        newest = newest_release(self.server)
        return (
            f"image {self.image} ({self.unpinned}): assumed {SERVER_NAMES.get(self.server, self.server)} {newest or '(newest known)'}, the newest known release"
        )

    def assumed_note(self, assumed: str | None) -> str | None:
        """The sentence saying which release the doctor assumes for an unpinned image (None when pinned)."""
        if self.version is not None:
            return None
        name = SERVER_NAMES.get(self.server, self.server)
        example = f"{self.image.split('@', 1)[0].rsplit(':', 1)[0] if self.tag else self.image.split('@', 1)[0]}:{_example_tag(self.server, assumed)}"
        return (
            f"the image {self.image} is not pinned to a release ({self.unpinned}): the doctor assumes {name} {assumed or '(newest known)'}, "
            f"the newest release it knows; pin a release tag (e.g. {example}) so the checks match what runs"
        )


def _example_tag(server: str, version: str | None) -> str:
    v = version or "X.Y.Z"
    return v if server == "tei" else f"v{v}"


def _release(tag: str, pattern: str) -> tuple[str | None, str | None]:
    m = re.fullmatch(pattern, tag)
    if not m or not is_version(m.group(1)):
        return None, None
    return m.group(1), (m.group(2) or None)


def _unpinned(ref: ImageRef) -> str:
    if ref.tag is None:
        return "a digest only" if ref.digest else "no tag, so docker pulls latest"
    return f"tag {ref.tag}"


def newest_release(server: str) -> str | None:
    from .flags import table_versions

    try:
        versions = table_versions(server)
    except ValueError:
        return None
    return versions[-1] if versions else None


def image_facts(image: str | None) -> ImageFacts | None:
    """The facts of a known SGLang, vLLM or TEI image; None for any other image (or none)."""
    if not image or not isinstance(image, str) or not image.strip():
        return None
    ref = parse_image(image)
    repo, reg, tag = ref.repo, ref.registry, ref.tag
    shown = ref.raw
    if repo.endswith("text-embeddings-inference") and (reg in ("ghcr.io", "docker.io") or "huggingface" in repo):
        version = flavour = None
        if tag:
            m = re.fullmatch(r"(?:([a-z0-9]+)-)?(\d+(?:\.\d+){1,2}|latest)", tag)
            if m:
                flavour = m.group(1)
                version = m.group(2) if m.group(2) != "latest" else None
        notes = []
        if flavour and flavour in TEI_FLAVOURS:
            notes.append(f"TEI image flavour '{flavour}': built for {TEI_FLAVOURS[flavour]}")
        elif tag and flavour is None and version:
            notes.append("TEI image without a flavour prefix: the CUDA build for Ampere 80 GPUs (A100, A30)")
        gpu = not (flavour == "cpu" or (tag or "").startswith("cpu"))
        return ImageFacts(
            shown,
            "tei",
            tag,
            version,
            None if version else _unpinned(ref),
            flavour,
            gpu,
            TEI_ENTRYPOINT,
            "TEI Dockerfile and Dockerfile-cuda: ENTRYPOINT text-embeddings-router, CMD --json-output, ENV PORT=80",
            TEI_CMD,
            dict(TEI_ENV),
            tuple(notes),
        )
    last = repo.rsplit("/", 1)[-1]
    cpu_repo = last in ("vllm-openai-cpu", "vllm-cpu-release-repo", "vllm-arm64-cpu-release-repo", "vllm-cpu")
    if repo in ("vllm/vllm-openai", "vllm/vllm-openai-rocm") or last in ("vllm-openai", "vllm-openai-rocm") or cpu_repo:
        version, flavour = _release(tag or "", r"v?(\d+\.\d+(?:\.\d+)*(?:rc\d+|\.post\d+)?)(?:[-_+](.+))?")
        if version is None and tag and "-" in tag:
            flavour = tag.split("-", 1)[1]
        at = version or newest_release("vllm") or "0.12.0"
        ep = VLLM_IMAGE_ENTRYPOINT.at("vllm", at, ("vllm", "serve"))
        row = VLLM_IMAGE_ENTRYPOINT.row("vllm", at)
        rocm = "rocm" in repo or "rocm" in (tag or "")
        gpu = False if cpu_repo else (None if rocm else True)
        notes = ("a ROCm (AMD GPU) image: the NVIDIA checks do not apply to it",) if rocm else ()
        return ImageFacts(shown, "vllm", tag, version, None if version else _unpinned(ref), flavour, gpu, tuple(ep), row.source if row else "", (), {}, notes)
    if repo == "lmsysorg/sglang" or (last == "sglang" and reg != "docker.io"):
        version, flavour = _release(tag or "", r"v?(\d+\.\d+\.\d+(?:\.\d+)?(?:\.?post\d+|rc\d+)?)(?:-(.+))?")
        if version is None and tag and "-" in tag:
            flavour = tag.split("-", 1)[1]
        suffix = (tag or "").lower()
        notes: tuple[str, ...] = ()
        gpu: bool | None = True
        if "rocm" in suffix or "npu" in suffix or "musa" in suffix:
            gpu = None
            notes = (f"an SGLang image for another accelerator ({flavour or tag}): the NVIDIA checks do not apply to it",)
        elif "xeon" in suffix or "cpu" in suffix:
            gpu = False
        return ImageFacts(
            shown,
            "sglang",
            tag,
            version,
            None if version else _unpinned(ref),
            flavour,
            gpu,
            (),
            "sgl-project/sglang docker/Dockerfile has no server ENTRYPOINT (docker/compose.yaml starts python3 -m sglang.launch_server itself)",
            (),
            {},
            notes,
        )
    return None


def entrypoint_problem(image: str, entrypoint: tuple[str, ...], args: list[str] | tuple[str, ...]) -> tuple[str, str] | None:
    """(problem, fix) when the command repeats what the image's ENTRYPOINT already runs (``vllm serve serve ...``);
    None when it fits."""
    if not args or not entrypoint:
        return None
    ep = " ".join(entrypoint)
    first = args[0].rsplit("/", 1)[-1]
    repeated = None
    vllm_ep = entrypoint[:2] == ("vllm", "serve") or entrypoint[-1:] == ("vllm.entrypoints.openai.api_server",)
    if vllm_ep and (first in ("serve", "vllm") or list(args[:2]) == ["python3", "-m"] or first.startswith("python")):
        repeated = " ".join(args[:2]) if first == "vllm" else args[0]
    elif entrypoint[:1] == TEI_ENTRYPOINT and first == "text-embeddings-router":
        repeated = args[0]
    if repeated is None:
        return None
    problem = (
        f"the image {image} already has ENTRYPOINT [{', '.join(repr(x) for x in entrypoint)}], and the command/args are appended to it, "
        f"so the container runs `{ep} {' '.join(args[:3])} ...`: '{repeated}' is not an option, the server refuses the command line and the container exits"
    )
    return problem, f"Drop '{repeated}' from the start of the command/args (give only the options), or override the entrypoint."


def bare_args_problem(image: str, args: list[str] | tuple[str, ...]) -> tuple[str, str] | None:
    """(problem, fix) for options only on an image whose ENTRYPOINT does not start the server (lmsysorg/sglang)."""
    if not args or not args[0].startswith("-"):
        return None
    return (
        f"the image {image} has no server ENTRYPOINT, so the command is run as a program: '{args[0]}' is not one, and the container exits",
        "Start the command with the launcher: python3 -m sglang.launch_server (or sglang serve) followed by the options.",
    )


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtTpP]?)([iI]?)([bB]?)\s*")
_K8S_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*(Ki|Mi|Gi|Ti|Pi|Ei|k|K|M|G|T|P|E|m)?\s*")


def parse_size(value: object, *, kubernetes: bool = False) -> int | None:
    """Bytes of a size as Docker/compose (``64m``, ``1g``, ``10.24gb``, ``2GiB``: powers of 1024, go-units RAMInBytes)
    or Kubernetes (``1Gi`` powers of 1024, ``1G`` powers of 1000) write it; None when it is not a size."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        try:
            return int(value) if value >= 0 else None
        except (ValueError, OverflowError):  # nan, inf
            return None
    text = str(value)
    if kubernetes:
        m = _K8S_SIZE.fullmatch(text)
        if not m:
            return None
        units = {None: 1, "m": 1e-3, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
        units.update({"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60})
        try:
            return int(float(m.group(1)) * units[m.group(2)])
        except (ValueError, OverflowError):
            return None
    m = _SIZE.fullmatch(text)
    if not m:
        return None
    power = " kmgtp".index(m.group(2).lower() or " ")
    try:
        return int(float(m.group(1)) * (1024**power))
    except (ValueError, OverflowError):
        return None


def human_size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            v = n / size
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n} B"
