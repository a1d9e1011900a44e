"""GPU facts for the ``gpu.*`` checks: an NVML adapter, the servers' memory rules, a CUDA trial allocation.

Nothing here imports pynvml, torch or transformers at module top: :mod:`qwen_doctor.gpu.nvml` imports pynvml
inside :class:`~qwen_doctor.gpu.nvml.PynvmlBackend` only, :mod:`qwen_doctor.gpu.memory` is pure arithmetic and
:mod:`qwen_doctor.gpu.cuda_probe` uses ctypes in a subprocess.
"""
