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


@pytest.mark.slow
def test_a_comparison_is_measured_in_the_same_rounds():
    report = perf_train.run("tiny", "random", steps=2, rounds=1,
                            against=["recommenders.tiger.budgets.cpu.model.positions=learned"])
    other = report["against"]
    assert other["settings"] == ["recommenders.tiger.budgets.cpu.model.positions=learned"]
    assert report["ratio_here"] == report["this_host"]["examples_per_s"] / other["examples_per_s_here"]
    assert report["ratio_avx2"] == report["avx2_only"]["examples_per_s"] / other["examples_per_s_avx2"]
