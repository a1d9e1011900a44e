"""`qwen-doctor completion SHELL`: a completion script for bash, zsh and fish (Typer's), that calls qwen-doctor
back for candidates; an unknown shell is a usage error. --version still imports none of typer/rich."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("QWEN_DOCTOR_", "_QWEN_DOCTOR_"))}
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "qwen_doctor", *args], capture_output=True, text=True, timeout=60, env=e, cwd="/tmp")


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o"), ("zsh", "#compdef qwen-doctor"), ("fish", "complete --command qwen-doctor")])
def test_each_shell_gets_a_script(shell, marker):
    r = cli("completion", shell)
    assert r.returncode == 0, r.stderr
    assert "qwen-doctor" in r.stdout and marker in r.stdout
    assert "_QWEN_DOCTOR_COMPLETE" in r.stdout  # it asks qwen-doctor itself for the candidates
    assert r.stderr == ""


def test_unknown_shell_is_a_usage_error():
    r = cli("completion", "tcsh")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == "qwen-doctor: error: unknown shell 'tcsh' for completion; choose from bash, zsh, fish\n"
    r = cli("completion")
    assert r.returncode == 2 and "SHELL" in r.stderr


def test_the_script_callback_completes_commands_and_options():
    r = cli(env={"_QWEN_DOCTOR_COMPLETE": "complete_bash", "COMP_WORDS": "qwen-doctor ch", "COMP_CWORD": "1"})
    assert r.returncode == 0 and {"check", "checks"} <= set(r.stdout.split())
    r = cli(env={"_QWEN_DOCTOR_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "qwen-doctor check --fo"})
    assert r.returncode == 0 and "--format" in r.stdout
    r = cli(env={"_QWEN_DOCTOR_COMPLETE": "complete_fish", "_TYPER_COMPLETE_ARGS": "qwen-doctor comp", "_TYPER_COMPLETE_FISH_ACTION": "get-args"})
    assert r.returncode == 0 and "completion" in r.stdout


def test_version_still_imports_nothing_heavy():
    code = (
        "import sys; from qwen_doctor.entry import main; main(['--version']); "
        "print([m for m in ('typer','rich','transformers','torch','pynvml') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines()[-1] == "[]"
