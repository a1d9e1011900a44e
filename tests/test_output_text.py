"""The text report: commands and paths are never broken across lines, the width comes from the terminal or COLUMNS
(none: no wrapping at all), TERM=dumb and NO_COLOR get no colour, a fix that repeats the summary is not printed
twice. Run through the real CLI in a subprocess (output piped, or on a pseudo-terminal) and through the renderer."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from qwen_doctor.render import RenderOptions, Report
from qwen_doctor.render.text import render_text, wrap_words
from qwen_doctor.results import Applicability, Fix, Result, Status
from qwen_doctor.target import build_target

ROOT = Path(__file__).resolve().parents[1]
# a trailing slash (a SAFE fix with a corrected launch command) and no --is-embedding
LAUNCH = ["--", "sglang", "serve", "--model-path", "/models/Qwen3-Embedding-0.6B/", "--port", "30000"]
CHECK = ["check", "--offline", "--select", "launch", "--server-version", "0.5.23"]
ESC = "\x1b["


def _env(**extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_DOCTOR_") and k not in ("NO_COLOR", "COLUMNS", "LINES", "TERM")}
    e["PYTHONPATH"] = str(ROOT)
    e.update(extra)
    return e


def cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qwen_doctor", *args], capture_output=True, text=True, timeout=120, env=_env(**env), cwd="/tmp")


def cli_on_tty(*args: str, **env: str) -> str:
    """Run the CLI with stdout and stderr on a pseudo-terminal; returns what it wrote."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "qwen_doctor", *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=_env(**env), cwd="/tmp")
        os.close(slave)
        chunks: list[bytes] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        proc.wait(timeout=30)
    finally:
        os.close(master)
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def _corrected_command() -> str:
    r = cli(*CHECK, "--format", "json", *LAUNCH)
    cmd = json.loads(r.stdout)["targets"][0]["corrected_launch_command"]
    assert cmd and len(cmd) > 40, r.stdout[-2000:]
    return cmd


def test_corrected_command_is_one_line_with_columns_40_piped():
    cmd = _corrected_command()
    r = cli(*CHECK, *LAUNCH, COLUMNS="40")
    lines = [ln.strip() for ln in r.stdout.splitlines()]
    assert cmd in lines, r.stdout  # whole, on a line of its own, never split
    assert ESC not in r.stdout  # piped: no colour
    # prose did wrap at 40 columns (between words: a line is longer only when one word is)
    prose = [ln for ln in r.stdout.splitlines() if not ln.lstrip().startswith(("sglang serve ", "command:", "model:", "$ "))]
    assert all(len(ln) <= 40 or " " not in ln.strip() for ln in prose), [ln for ln in prose if len(ln) > 40]


def test_no_terminal_and_no_columns_wraps_nothing():
    data = json.loads(cli(*CHECK, "--format", "json", *LAUNCH).stdout)
    r = cli(*CHECK, "-v", *LAUNCH)
    text = r.stdout
    assert data["targets"][0]["corrected_launch_command"] in [ln.strip() for ln in text.splitlines()]
    for res in data["results"]:
        assert any(res["summary"] in ln for ln in text.splitlines()), res["id"]  # every summary on one line
    assert ESC not in text


def test_tty_wraps_prose_but_never_the_command_and_colours_unless_dumb():
    cmd = _corrected_command()
    out = cli_on_tty(*CHECK, *LAUNCH, COLUMNS="40", TERM="xterm-256color")
    assert ESC in out  # a terminal: colour
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)
    assert cmd in [ln.strip() for ln in plain.splitlines()], plain
    assert ESC not in cli_on_tty(*CHECK, *LAUNCH, TERM="dumb")
    assert ESC not in cli_on_tty(*CHECK, *LAUNCH, TERM="xterm-256color", NO_COLOR="1")


# ------------------------------------------------------------------------------------------------
# the renderer alone


def _report(fix: Fix, summary: str) -> Report:
    target = build_target(["sglang", "serve", "--model-path", "/very/long/path/to/models/Qwen3-Embedding-0.6B/", "--port", "30000"], label="t")
    r = Result(id="launch.model-path", title="t", category="launch", status=Status.WARN, summary=summary, evidence={}, fix=fix, duration_ms=1, target="t")
    return Report((target,), (r,))


def test_renderer_keeps_commands_and_paths_whole_at_any_width():
    long_cmd = "sglang serve --model-path /very/long/path/to/models/Qwen3-Embedding-0.6B --is-embedding --port 30000 --host 0.0.0.0"
    fix = Fix(
        "Drop the trailing slash so the served name is the directory name.",
        commands=("chmod o+r /very/long/path/to/models/Qwen3-Embedding-0.6B/model.safetensors",),
        launch_command=long_cmd,
        applicability=Applicability.SAFE,
    )
    report = _report(fix, "the served model name keeps the trailing slash of /very/long/path/to/models/Qwen3-Embedding-0.6B/ and clients must send it")
    for width in (20, 40, 80, None):
        text = render_text(report, RenderOptions(width=width))
        lines = [ln.strip() for ln in text.splitlines()]
        assert long_cmd in lines, (width, text)
        assert "$ " + fix.commands[0] in lines
        assert any("/very/long/path/to/models/Qwen3-Embedding-0.6B/" in ln for ln in lines)
        if width is None:
            assert any(report.results[0].summary in ln for ln in lines)


def test_wrap_words_breaks_between_words_only():
    from rich.text import Text

    t = Text("  ✗ FAIL  x.y  one two three /a/very/long/path/that/does/not/fit/in/twenty four")
    parts = [p.plain for p in wrap_words(t, 20)]
    assert "".join(p.strip() + " " for p in parts).split() == t.plain.split()  # nothing lost, nothing cut
    assert any(p.strip() == "/a/very/long/path/that/does/not/fit/in/twenty" for p in parts)
    assert all(len(p) <= 20 or " " not in p.strip() for p in parts)


def test_a_fix_that_repeats_the_summary_is_printed_once():
    same = _report(Fix("Take tokenizer.json from the model repository."), "stale tokenizer: take tokenizer.json from the model repository")
    text = render_text(same, RenderOptions())
    assert text.lower().count("take tokenizer.json from the model repository") == 1
    other = _report(Fix("Re-embed the stored vectors."), "stale tokenizer")
    assert "fix: Re-embed the stored vectors." in render_text(other, RenderOptions())
