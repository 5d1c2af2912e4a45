"""Issue 37.10: the time left is the estimates of the jobs not done, at this host's pace, not the mean time
of the jobs done so far times the jobs left."""

from bench.estimate import JobEstimate, Pace, headline


def test_quick_jobs_first_do_not_make_a_long_suite_look_short():
    estimates = [JobEstimate("to run", 1.0)] * 3 + [JobEstimate("to run", 3600.0)] * 2
    pace = Pace(estimates)
    for index in range(3):
        pace.finished(index, 0.5)  # popularity: quicker than its records, but that says little
    assert pace.seconds_left() == 7200.0


def test_the_pace_of_finished_jobs_scales_what_is_left():
    pace = Pace([JobEstimate("to run", 600.0), JobEstimate("to run", 600.0), JobEstimate("done", 30.0)])
    pace.finished(0, 1200.0)  # this host is half as fast as the records' host
    assert pace.seconds_left() == 1200.0


def test_a_job_with_nothing_to_go_by_leaves_the_time_unknown():
    pace = Pace([JobEstimate("to run", 60.0), JobEstimate("to run", None)])
    assert pace.seconds_left() is None
    pace.finished(1, 5.0)
    assert pace.seconds_left() == 60.0


def test_the_headline_says_the_jobs_and_the_hours_up_front():
    estimates = [JobEstimate("done", 10.0), JobEstimate("to run", 5400.0), JobEstimate("to run", 5400.0),
                 JobEstimate("to run", None)]
    assert headline(estimates) == ("3 to run, about 3.0 h of one worker by the records' pace "
                                   "(1 with no record to go by, not counted)")
    assert headline([JobEstimate("done", 1.0)]) == "all done"
