"""The one bounded reader: every file the doctor reads goes through :func:`read_bytes` / :func:`read_text`.

It opens with ``O_NONBLOCK`` (a FIFO never blocks the open) and, where a symlink is not expected,
``O_NOFOLLOW``; refuses FIFOs, sockets and device nodes; and reads at most a stated cap per kind of file.
A refused or oversized file is a :class:`ReadError` with a one-line message naming the file, never a crash.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .sanitize import printable

KiB = 1024
MiB = 1024 * KiB

#: the most bytes read from each kind of file
CAPS = {
    "config": 4 * MiB,  # --config, .env
    "manifest": 16 * MiB,  # --from: compose files, Kubernetes manifests (a rendered chart can be large), systemd units
    "json": 16 * MiB,  # config.json, tokenizer_config.json, sentence-transformers files
    "tokenizer": 64 * MiB,  # tokenizer.json (the real Qwen3 one is 11 MB)
    "samples": 64 * MiB,
    "source": 1 * MiB,  # a checks.d drop-in
    "proc": 1 * MiB,  # /proc/PID/environ, cmdline
    "small": 64 * KiB,  # refs/main, LFS pointers
}


class ReadError(OSError):
    """A file that could not be read within the rules; ``str()`` is a one-line message naming the file."""


def _kind_of_mode(mode: int) -> str | None:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device node"
    if stat.S_ISDIR(mode):
        return "a directory"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return None


def _open_fd(path: str | os.PathLike[str], kind: str, follow_symlinks: bool) -> tuple[int, os.stat_result, str]:
    """(fd, fstat, printable name) of a regular file opened read-only and non-blocking. Raises :class:`ReadError`."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    name = printable(os.fsdecode(path))
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ReadError(f"{name}: no such file") from None
    except PermissionError:
        raise ReadError(f"{name}: permission denied") from None
    except IsADirectoryError:
        raise ReadError(f"{name}: is a directory, not a regular file (refused)") from None
    except OSError as exc:
        if not follow_symlinks and os.path.islink(path):
            raise ReadError(f"{name}: is a symbolic link (refused)") from None
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO opened for writing only
            raise ReadError(f"{name}: is a socket or a device without a reader, not a regular file (refused)") from None
        raise ReadError(f"{name}: cannot open: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        what = _kind_of_mode(st.st_mode)
        if what is not None:
            raise ReadError(f"{name}: is {what}, not a regular file (refused)")
    except BaseException:
        os.close(fd)
        raise
    return fd, st, name


def read_bytes(path: str | os.PathLike[str], kind: str = "json", *, follow_symlinks: bool = True, cap: int | None = None) -> bytes:
    """The whole file, at most ``cap`` (default ``CAPS[kind]``) bytes. Raises :class:`ReadError`."""
    limit = cap if cap is not None else CAPS[kind]
    fd, st, name = _open_fd(path, kind, follow_symlinks)
    try:
        if st.st_size > limit:
            raise ReadError(f"{name}: is {st.st_size} bytes, over the {limit}-byte limit for a {kind} file")
        chunks: list[bytes] = []
        total = 0
        while True:
            try:
                chunk = os.read(fd, min(1 * MiB, limit + 1 - total))
            except BlockingIOError:
                raise ReadError(f"{name}: would block (refused)") from None
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise ReadError(f"{name}: is over the {limit}-byte limit for a {kind} file")
        return b"".join(chunks)
    except ReadError:
        raise
    except OSError as exc:
        raise ReadError(f"{name}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


@contextmanager
def mapped(path: str | os.PathLike[str], kind: str = "tokenizer", *, follow_symlinks: bool = True, cap: int | None = None) -> Iterator[Any]:
    """A read-only memory map of a regular, non-empty file of at most ``cap`` (default ``CAPS[kind]``) bytes, for a
    large file read in parts without a copy of the whole (tokenizer.json). Raises :class:`ReadError`."""
    import mmap

    limit = cap if cap is not None else CAPS[kind]
    fd, st, name = _open_fd(path, kind, follow_symlinks)
    try:
        if st.st_size > limit:
            raise ReadError(f"{name}: is {st.st_size} bytes, over the {limit}-byte limit for a {kind} file")
        if st.st_size == 0:
            raise ReadError(f"{name}: is empty")
        mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        if isinstance(exc, ReadError):
            raise
        raise ReadError(f"{name}: cannot map: {exc.strerror or exc}") from None
    finally:
        os.close(fd)  # the map keeps its own reference to the file
    try:
        yield mm
    finally:
        mm.close()


def read_head(path: str | os.PathLike[str], nbytes: int, *, offset: int = 0, follow_symlinks: bool = True) -> bytes:
    """At most ``nbytes`` bytes from ``offset`` of a regular file (a prefix: an LFS pointer test, a safetensors
    header, a --samples file that is truncated rather than refused). Raises :class:`ReadError`."""
    fd, _st, name = _open_fd(path, "head", follow_symlinks)
    try:
        chunks: list[bytes] = []
        total = 0
        while total < nbytes:
            chunk = os.pread(fd, min(1 * MiB, nbytes - total), offset + total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise ReadError(f"{name}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def file_digest(path: str | os.PathLike[str], hasher: Any, kind: str = "tokenizer") -> None:
    """Feed a regular file of at most ``CAPS[kind]`` bytes to ``hasher`` (``.update``) in chunks. Raises :class:`ReadError`."""
    limit = CAPS[kind]
    fd, st, name = _open_fd(path, kind, True)
    try:
        if st.st_size > limit:
            raise ReadError(f"{name}: is {st.st_size} bytes, over the {limit}-byte limit for a {kind} file")
        total = 0
        while True:
            chunk = os.read(fd, 1 * MiB)
            if not chunk:
                return
            total += len(chunk)
            if total > limit:
                raise ReadError(f"{name}: is over the {limit}-byte limit for a {kind} file")
            hasher.update(chunk)
    except ReadError:
        raise
    except OSError as exc:
        raise ReadError(f"{name}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def loads_json(text: str | bytes) -> Any:
    """``json.loads`` of untrusted text: nesting deeper than the interpreter allows is a ValueError, not a crash."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def read_text(path: str | os.PathLike[str], kind: str = "json", *, follow_symlinks: bool = True, cap: int | None = None) -> str:
    data = read_bytes(path, kind, follow_symlinks=follow_symlinks, cap=cap)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReadError(f"{printable(os.fsdecode(path))}: is not UTF-8 text (byte {exc.start})") from None


def read_json_file(p: Path, kind: str = "json") -> tuple[Any, str | None]:
    """(parsed JSON, None) or (None, a short reason naming the file): missing, not regular, LFS pointer, unreadable, invalid."""
    from .safetensors_header import lfs_pointer

    try:
        if not p.exists():
            return None, f"{p.name} is missing"
    except OSError as exc:
        return None, f"{p.name} cannot be read: {exc.strerror or exc}"
    try:
        if not stat.S_ISREG(p.stat().st_mode):
            return None, f"{p.name} is not a regular file"
    except OSError as exc:
        return None, f"{p.name} cannot be read: {exc.strerror or exc}"
    if lfs_pointer(p) is not None:
        return None, f"{p.name} is a git-LFS pointer, not the file (run git lfs pull)"
    try:
        text = read_text(p, kind)
    except ReadError as exc:
        msg = str(exc)
        if "permission denied" in msg:
            return None, f"{p.name} is not readable by the doctor's user"
        if "not UTF-8" in msg:
            return None, f"{p.name} is not UTF-8 text{msg.split('text', 1)[1]}"
        return None, msg.replace(printable(os.fsdecode(p)), p.name, 1)
    try:
        return loads_json(text), None
    except ValueError as exc:
        m = getattr(exc, "msg", str(exc))
        where = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
        return None, f"{p.name} is not valid JSON: {m}{where}"
