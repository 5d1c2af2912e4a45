"""Issue 18: a tiger run and a SASRec run SIGKILLed in training resume to the record an uninterrupted run
writes (the full table over every stage: python -m tests.reliability.fault_injection)."""

import pytest

from tests.reliability.fault_injection import main


@pytest.mark.slow
def test_killed_in_training_resumes_to_the_uninterrupted_record():
    outcomes = main(["--stages", "after epoch 1"])
    assert [(o.system, o.killed) for o in outcomes] == [("rqvae+tiger", True), ("sasrec", True)]
    assert all(o.identical for o in outcomes), [o.difference for o in outcomes]
