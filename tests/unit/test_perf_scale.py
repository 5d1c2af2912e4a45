"""`perf scale`: the exponent fit and one measured stage (the numbers themselves are benchmarks, not tests)."""

import pytest

from bench import perf_scale


def test_exponent_of_a_known_power_law():
    sizes = [10, 100, 1000]
    assert perf_scale.exponent(sizes, [3 * n ** 1.5 for n in sizes]) == pytest.approx(1.5)
    assert perf_scale.exponent(sizes, [7.0, 7.0, 7.0]) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.slow
def test_a_stage_is_measured_in_its_own_process_at_every_size():
    report = perf_scale.run(sizes=(300, 600), stages=("collisions", "beam search per user"), threads=1,
                            log=lambda line: None)
    for stage in ("collisions", "beam search per user"):
        runs = report["stages"][stage]["runs"]
        assert [r["n"] for r in runs] == [300, 600] and all(r["seconds"] > 0 for r in runs)
        assert isinstance(report["stages"][stage]["exponent"], float)
    assert report["stages"]["beam search per user"]["runs"][0]["users_per_s"] > 0
