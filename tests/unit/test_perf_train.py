"""`perf train` measures the cpu budget's tiger here and with the CPU held to AVX2, each in its own process."""

import pytest

from bench import perf_train


@pytest.mark.slow
def test_the_avx2_measurement_runs_avx2_kernels_in_fp32():
    report = perf_train.run("tiny", "random", steps=2, rounds=1)
    here, there = report["this_host"], report["avx2_only"]
    assert there["cpu_capability"] == "AVX2" and there["precision"] == "fp32"  # the emulation took hold
    assert here["examples_per_s"] > 0 and there["examples_per_s"] > 0
    assert report["speedup_here"] == here["examples_per_s"] / there["examples_per_s"]
    assert there["budget_training_minutes"] > 0
