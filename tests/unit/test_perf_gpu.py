"""Issue 42: the GPU check's own parts run on the CPU (every test runs there), so the script a GPU's scarce
minutes go to has been run before."""

from bench import perf_gpu


def test_paper_budget_throughput_and_decoding_measure_on_a_cpu():
    report = perf_gpu.tiger_throughput("cpu", quick=True)
    assert report["timed_steps"] == perf_gpu.QUICK_STEPS
    for precision in ("bf16", "fp32"):
        part = report[precision]
        assert part["examples_per_s"] > 0 and part["steps_per_s"] > 0 and part["peak_memory_gib"] is None
        projected = report["model"]["budget_steps"] / part["steps_per_s"] / 3600  # from the rounded steps/s
        assert abs(part["paper_budget_hours"] - projected) <= 0.01 + 0.002 * projected
    assert report["beam_search"]["users"] == perf_gpu.QUICK_USERS and report["beam_search"]["users_per_s"] > 0


def test_the_summary_names_a_failed_check_and_keeps_the_others():
    report = {"quick": True, "device": {"device": "cpu", "torch": "2.13.0", "cuda": None},
              "tiny_suite": {"records": {"popularity/seed0": {}}, "seconds": 1.0, "wrong_device": []},
              "tiger_paper_budget": {"error": "RuntimeError: CUDA out of memory"},
              "sweep": {"finished": 4, "distinct_settings": 4, "ran_twice": False},
              "sasrec": {"suite": "tiny", "fit_s": 1.5, "device": "cpu"}}
    text = perf_gpu.summary(report)
    assert "tiger_paper_budget: FAILED RuntimeError: CUDA out of memory" in text
    assert "4 trials, 4 distinct settings, ran twice: False" in text and "tiny suite: 1 records" in text
