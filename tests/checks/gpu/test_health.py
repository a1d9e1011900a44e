"""gpu.health on the recorded H200 readings, with fields changed where a fault is simulated (said per case)."""

from __future__ import annotations

import pytest

from qwen_doctor.results import Status

from .helpers import IDLE, RESET_REFUSED, device, write_replay


@pytest.mark.parametrize(
    "fields,status,needle",
    [
        ({"remapped_rows": [0, 2, 1, 0]}, Status.WARN, "row remap is pending"),
        ({"remapped_rows": [0, 2, 0, 1]}, Status.FAIL, "row remapping failed"),
        ({"retired_pages_pending": 1}, Status.WARN, "page retirement is pending"),
        ({"throttle_reasons": 0x40}, Status.WARN, "HwThermalSlowdown"),
        ({"mig_mode": [1, 1]}, Status.WARN, "MIG is enabled"),
        ({"ecc_mode": [0, 1]}, Status.WARN, "ECC mode change is pending"),
        ({"throttle_reasons": 0x4}, Status.PASS, "power cap"),
    ],
)
def test_health_readings(run, tmp_path, fields, status, needle):
    r = run(write_replay(tmp_path, [device(0, **fields)]))["gpu.health"]
    assert r.status is status
    assert needle in r.summary
    if r.fix and "reset" in r.fix.text:
        assert RESET_REFUSED in r.fix.text
        assert "kills every process" not in r.fix.text  # false: nvidia-smi refuses the reset instead


def test_not_supported_readings_are_listed_not_errors(run):
    r = run(IDLE)["gpu.health"]
    assert r.status is Status.PASS
    assert r.evidence["gpus"][0]["not_supported"] == ["retired_pages_pending"]
