"""Unit tests of the pieces the corpus leans on: the sanitizer, the bounded readers, the bounded YAML loader, the
one deadline clock, and out-of-range numbers in a config file."""

from __future__ import annotations

import hashlib
import os
import time
import xml.etree.ElementTree as ET

import pytest

from qwen_doctor import clock
from qwen_doctor.config import ConfigError, resolve
from qwen_doctor.deployfiles import DeployFileError, targets_from_file
from qwen_doctor.readers import ReadError, file_digest, loads_json, read_bytes, read_head
from qwen_doctor.sanitize import printable, xml_safe

from .cases import _bomb


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("\x1b[31mred", "\\x1b[31mred"),
        ("a\nb", "a\\nb"),
        ("a\rb\tc", "a\\rb\\tc"),
        ("\x9b1m", "\\x9b1m"),
        ("\u202eevil", "\\u202eevil"),
        ("caf\udce9", "caf\\xe9"),
        ("plain é 中", "plain é 中"),
    ],
)
def test_printable_escapes_controls_and_keeps_text(raw, shown):
    assert printable(raw) == shown
    printable(raw).encode("utf-8")  # always encodes


def test_printable_can_keep_newlines_and_xml_safe_is_valid_xml():
    assert printable("a\n\x1bb", keep_newlines=True) == "a\n\\x1bb"
    nasty = "x" + "".join(map(chr, range(32))) + "\ufffe\udcff"
    ET.fromstring("<a>" + xml_safe(nasty).replace("<", "&lt;").replace("&", "&amp;") + "</a>")


def test_readers_refuse_fifo_and_devices_and_bound_reads(tmp_path):
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero"):
        with pytest.raises(ReadError, match="not a regular file"):
            read_bytes(path, "config")
        with pytest.raises(ReadError, match="not a regular file"):
            read_head(path, 10)
        with pytest.raises(ReadError, match="not a regular file"):
            file_digest(path, hashlib.sha256())
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(5 * 1024**3)
    with pytest.raises(ReadError, match="over the"):
        read_bytes(big, "config")
    assert read_head(big, 8, offset=1024) == b"\0" * 8
    with pytest.raises(ValueError, match="nested too deeply"):
        loads_json("[" * 100_000 + "]" * 100_000)


def test_yaml_alias_bomb_is_refused_fast_and_small(tmp_path):
    p = tmp_path / "bomb.yaml"
    p.write_text(_bomb(9))
    t0 = time.monotonic()
    with pytest.raises(DeployFileError, match="alias bomb"):
        targets_from_file(p)
    assert time.monotonic() - t0 < 5


def test_many_aliases_of_a_small_value_are_fine(tmp_path):
    lines = ["x-env: &env {A: '1'}", "services:"]
    for i in range(2000):
        lines += [
            f"  s{i}:",
            "    image: lmsysorg/sglang",
            "    environment: *env",
            f"    command: python3 -m sglang.launch_server --model-path m --is-embedding --port {30000 + i}",
        ]
    p = tmp_path / "c.yaml"
    p.write_text("\n".join(lines) + "\n")
    assert len(targets_from_file(p)) == 2000


@pytest.mark.parametrize(
    "text, words", [("port = 99999999999999999999\n", "port must be <= 65535"), ("deadline = 1" + "0" * 400 + "\n", "deadline: the number is out of range")]
)
def test_out_of_range_toml_numbers_name_the_file_and_key(tmp_path, text, words):
    cfg = tmp_path / "qd.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as e:
        resolve({}, env={}, cwd=tmp_path, config=str(cfg))
    assert words in str(e.value) and "qd.toml" in str(e.value)


def test_one_clock_from_the_start():
    clock.start()
    try:
        assert clock.remaining() is None and not clock.expired()
        clock.set_deadline(0.05)
        assert 0 < clock.remaining() <= 0.05
        assert clock.bound(10) <= 0.05
        time.sleep(0.06)
        assert clock.expired() and clock.remaining() == 0
        assert "--deadline of 0.05 s" in clock.not_done("x")
    finally:
        clock.start()


def test_runner_gets_what_is_left_of_the_deadline():
    from qwen_doctor.registry import default_registry
    from qwen_doctor.runner import Runner
    from qwen_doctor.target import build_target

    t = build_target(["python3", "-m", "sglang.launch_server", "--model-path", "m", "--is-embedding"])
    t0 = time.monotonic()
    results = Runner(default_registry(use_default_dirs=False), select=lambda c: c.category == "launch", deadline=5, deadline_at=time.monotonic() - 1).run([t])
    assert time.monotonic() - t0 < 3
    assert results and all("--deadline of 5 s" in r.summary for r in results if r.status.value in ("skip", "error") and "deadline" in r.summary)
