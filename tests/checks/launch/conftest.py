"""Fixtures of the launch-check tests."""

from __future__ import annotations

import shutil

import pytest

from tests.checks.launch import real_file


@pytest.fixture()
def model_dir(tmp_path):
    """A model directory with the real 0.6B config.json and sentence-transformers files, named with 'Embedding'."""
    d = tmp_path / "Qwen3-Embedding-0.6B"
    (d / "1_Pooling").mkdir(parents=True)
    for name in ("config.json", "modules.json", "1_Pooling/config.json"):
        shutil.copy(real_file(name), d / name)
    return d


@pytest.fixture(autouse=True)
def no_hf_cache(tmp_path, monkeypatch):
    """Hermetic Hugging Face cache: no HF_HOME/HF_HUB_CACHE of the machine, and an empty home directory, so a hub id
    resolves only to a cache a test builds."""
    for name in ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
