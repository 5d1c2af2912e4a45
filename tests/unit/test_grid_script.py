"""scripts/grid.sh (issue 44's grid) holds every job of the three suites it runs, and nothing else: a job left
out of it would be a row silently missing from the final leaderboards."""

import os
import shlex
import subprocess
import time
from pathlib import Path

from bench.plan import RunOptions, plan
from bench.suites import load_suite

REPO = Path(__file__).parents[2]
SUITES = ("amazon-beauty", "amazon-toys", "amazon-beauty-cold")


def grid_commands() -> list[dict]:
    out = subprocess.run(["bash", str(REPO / "scripts" / "grid.sh")], env={**os.environ, "GRID_DRY": "1"},
                         capture_output=True, text=True, check=True).stdout
    commands = []
    for line in out.splitlines():
        words = shlex.split(line)
        options = {words[i][2:]: words[i + 1] for i in range(len(words) - 1)
                   if words[i].startswith("--") and not words[i + 1].startswith("--")}
        assert "--replace-stale" in words and options["budget"] == "cpu" and options["threads"] == "1"
        commands.append(options)
    return commands


def jobs(suite_name: str, **selection) -> set:
    return {(j.recommender, j.tokenizer, j.seed) for j in plan(load_suite(suite_name), RunOptions(**selection))}


def test_the_grid_holds_every_job_of_its_suites():
    covered: dict[str, set] = {name: set() for name in SUITES}
    for command in grid_commands():
        assert command["suite"] in SUITES
        selection = {"seeds": tuple(int(s) for s in command["seeds"].split(",")),
                     "recommenders": tuple(command["recommenders"].split(","))}
        if "tokenizers" in command:
            selection["tokenizers"] = tuple(command["tokenizers"].split(","))
        selected = jobs(command["suite"], **selection)
        assert selected, command  # a line that names no job is a typo
        covered[command["suite"]] |= selected
    for name in SUITES:
        assert covered[name] == jobs(name, seeds=(0, 1, 2)), name


def test_a_second_grid_refuses_to_start_while_one_runs(tmp_path):
    """grid.sh replaces its worktree at start: a second one would pull the code from under the first's jobs."""
    work = tmp_path / "grid"
    holder = subprocess.Popen(["flock", str(work) + ".running", "sleep", "60"])
    try:
        for _ in range(100):  # until flock holds it
            if subprocess.run(["flock", "-n", str(work) + ".running", "true"]).returncode:
                break
            time.sleep(0.05)
        else:  # never held: grid.sh would really start (and add a worktree to this repository)
            raise AssertionError("flock did not take the lock within 5 s")
        result = subprocess.run(["bash", str(REPO / "scripts" / "grid.sh"), "0"], capture_output=True, text=True,
                                env={**os.environ, "GRID_WORKTREE": str(work)}, timeout=60)
    finally:
        holder.kill()
    assert result.returncode == 1 and "another grid.sh is running" in result.stderr
    assert not work.exists()  # it touched nothing


def test_the_script_is_read_whole_before_it_runs():
    """bash reads a script as it runs it: a commit that edits grid.sh under a running grid broke its end once
    (2026-12-08). One { } block ending in exit is parsed whole first, so an edit reaches only the next grid."""
    code = [line for line in (REPO / "scripts" / "grid.sh").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert code[0] == "{" and code[-2:] == ["exit", "}"]
