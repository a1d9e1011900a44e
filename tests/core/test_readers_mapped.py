"""readers.mapped: the bounded reader's memory map (tokenizer.json read in parts): same refusals as read_bytes."""

from __future__ import annotations

import os

import pytest

from qwen_doctor.readers import ReadError, mapped


def test_maps_a_regular_file_and_follows_a_symlink(tmp_path):
    f = tmp_path / "blob"
    f.write_bytes(b'{"a": 1}')
    link = tmp_path / "tokenizer.json"
    link.symlink_to(f)
    with mapped(link, "tokenizer") as mm:
        assert mm[:] == b'{"a": 1}'
    with pytest.raises(ReadError, match="symbolic link"):
        with mapped(link, "tokenizer", follow_symlinks=False):
            pass


@pytest.mark.parametrize("what", ["empty", "over the cap", "directory", "fifo", "missing"])
def test_refusals(tmp_path, what):
    p = tmp_path / "x.json"
    if what == "empty":
        p.write_bytes(b"")
    elif what == "over the cap":
        p.write_bytes(b"x" * 101)
    elif what == "directory":
        p.mkdir()
    elif what == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs here")
        os.mkfifo(p)  # opened non-blocking and refused by its type: never waits for a writer
    with pytest.raises(ReadError) as info:
        with mapped(p, "tokenizer", cap=100):
            pass
    assert "x.json" in str(info.value)
