"""Fixtures of the claims tests: the launch tests' real model directory and hermetic HF cache."""

from tests.checks.launch.conftest import model_dir, no_hf_cache  # noqa: F401
