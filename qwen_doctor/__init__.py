"""qwen-doctor: pre-flight diagnostics for serving Qwen3-Embedding behind SGLang, vLLM and TEI.

This module must stay import-light: ``qwen-doctor --version`` imports only this.
"""

__version__ = "0.1.0"
