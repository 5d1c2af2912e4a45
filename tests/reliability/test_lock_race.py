"""Issue 18.5: racing runners take a job's lock one at a time, whether the lock is new or left by a dead
runner. The lock used to be created empty and written after; under load a second runner read it empty,
called it no one's and took it too (a CI run on a loaded machine saw one job trained twice)."""

import json
import multiprocessing
import socket
import time

import pytest

from bench import records

RACERS, ROUNDS = 6, 12


def _race(path, start, winners):
    lock = records.JobLock(path)
    start.wait()
    if lock.acquire():
        with winners.get_lock():
            winners.value += 1
        time.sleep(0.05)  # hold it while the others try (a winner exits without release, as if killed)


@pytest.mark.parametrize("left_by", ["nobody", "a dead runner"])
def test_of_many_runners_racing_for_one_lock_exactly_one_wins(tmp_path, left_by, dead_pid):
    forking = multiprocessing.get_context("fork")
    counts = []
    for round_ in range(ROUNDS):
        record = tmp_path / f"round{round_}" / "seed0.json"
        record.parent.mkdir()
        if left_by == "a dead runner":
            record.with_name("seed0.json.lock").write_text(
                json.dumps({"host": socket.gethostname(), "pid": dead_pid}))
        start, winners = forking.Barrier(RACERS), forking.Value("i", 0)
        racers = [forking.Process(target=_race, args=(record, start, winners)) for _ in range(RACERS)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(timeout=60)
        counts.append(winners.value)
        assert not [p.name for p in record.parent.iterdir() if p.name != "seed0.json.lock"]  # no private files
    assert counts == [1] * ROUNDS
