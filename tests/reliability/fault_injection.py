"""Fault injection (issue 18): SIGKILL a tiny run at every stage, run it again, and compare the record the
resumed run writes with the one an uninterrupted run writes.

    python -m tests.reliability.fault_injection                    # every stage, tiger and SASRec
    python -m tests.reliability.fault_injection --out docs/fault-injection.md

A stage is named by the log line that opens it; the killer reads the run's log as it comes and sends SIGKILL
the moment that line appears, so the process dies inside the stage (text embedding, tokenizer fit, an epoch,
the final evaluation, the record write). Each kill gets a fresh cache, so no stage is skipped by a cache hit.
Records are compared on everything but wall-clock fields: run id, metrics, per-user values, training curve.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path


from bench import records

REPO = Path(__file__).resolve().parents[2]
COMMON = ["run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu", "--threads", "1", "--seeds", "0"]
SYSTEMS = {
    "rqvae+tiger": ["--recommenders", "tiger", "--tokenizers", "rqvae",
                    "--set", "recommenders.tiger.budgets.smoke.train.max_epochs=4",
                    "--set", "recommenders.tiger.budgets.smoke.train.max_steps=400",
                    "--set", "recommenders.tiger.budgets.smoke.train.patience=10"],
    "sasrec": ["--recommenders", "sasrec", "--set", "recommenders.sasrec.budgets.smoke.epochs=4",
               "--set", "recommenders.sasrec.config.stopping_step=10"],
}
STAGES = {  # (system, stage): the log line that opens it
    ("rqvae+tiger", "text embedding"): "features: embedding",
    ("rqvae+tiger", "RQ-VAE fit"): "rqvae epoch 1:",
    ("rqvae+tiger", "training, after epoch 1"): "] epoch 1: loss",
    ("rqvae+tiger", "training, after epoch 3"): "] epoch 3: loss",
    ("rqvae+tiger", "final evaluation"): "] epoch 4: loss",
    ("sasrec", "data preparation"): "suite tiny, budget smoke",
    ("sasrec", "training, after epoch 1"): "SASRec epoch 1:",
    ("sasrec", "training, after epoch 3"): "SASRec epoch 3:",
    ("sasrec", "final evaluation"): "SASRec epoch 4:",
}
WALL_CLOCK = ("examples_per_s", "fit_s", "valid_s", "test_s", "total_s", "created_at", "provenance", "timing",
              "cache_hit")  # and every key ending in seconds or minutes


def run(system: str, results: Path, cache: Path, kill_at: str | None = None) -> bool:
    """Run one job; with `kill_at`, SIGKILL it when that line appears. True when it was killed."""
    env = {**os.environ, "SID_BENCH_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "bench", *COMMON, *SYSTEMS[system], "--results-dir",
                                str(results)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    killed = False
    for line in process.stderr:
        if kill_at is not None and kill_at in line:
            os.killpg(process.pid, signal.SIGKILL)
            killed = True
            break
    process.wait()
    process.stderr.close()
    if not killed and process.returncode != 0:
        raise RuntimeError(f"{system} failed with exit code {process.returncode}")
    return killed


def essence(path: Path) -> dict:
    """A record without its wall-clock fields, plus its per-user values."""
    record, per_user = records.read_verified(path)

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items()
                    if k not in WALL_CLOCK and not k.endswith(("seconds", "minutes"))}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return {"record": strip(record), "per_user": {k: v.tolist() for k, v in per_user.items()}}


@dataclass
class Outcome:
    system: str
    stage: str
    killed: bool
    identical: bool
    difference: str = ""


def inject(system: str, stage: str, marker: str, reference: dict, scratch: Path) -> Outcome:
    results, cache = scratch / "results", scratch / "cache"
    killed = run(system, results, cache, kill_at=marker)
    run(system, results, cache)  # the same command again: resumes where the kill left it
    found = records.find_records(results, "tiny")
    if len(found) != 1:
        return Outcome(system, stage, killed, False, f"{len(found)} records after the rerun")
    got = essence(found[0])
    if got == reference:
        return Outcome(system, stage, killed, True)
    keys = _differences(reference["record"], got["record"])
    if reference["per_user"] != got["per_user"]:
        keys.append("per-user values")
    return Outcome(system, stage, killed, False, "differs in " + ", ".join(keys[:6]))


def _differences(a, b, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for key in sorted(set(a) | set(b)) for d in _differences(a.get(key), b.get(key), f"{prefix}{key}.")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{prefix}{i}.")]
    return [] if a == b else [f"{prefix.rstrip('.')} ({a!r:.40} vs {b!r:.40})"]


def main(argv: list[str] | None = None) -> list[Outcome]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated: " + ", ".join(SYSTEMS))
    parser.add_argument("--stages", help="only stages whose name contains this text")
    parser.add_argument("--out", type=Path, help="write the table as markdown here")
    args = parser.parse_args(argv)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="fault-injection-") as tmp:
        for system in args.systems.split(","):
            run(system, Path(tmp) / system / "reference" / "results", Path(tmp) / system / "reference" / "cache")
            reference = essence(records.find_records(Path(tmp) / system / "reference" / "results", "tiny")[0])
            for number, ((name, stage), marker) in enumerate(STAGES.items()):
                if name != system or (args.stages and args.stages not in stage):
                    continue
                outcome = inject(system, stage, marker, reference, Path(tmp) / system / f"kill{number}")
                outcomes.append(outcome)
                print(f"{system:12s} killed in {stage:26s} -> resumed record "
                      f"{'identical' if outcome.identical else 'DIFFERS: ' + outcome.difference}"
                      f"{'' if outcome.killed else ' (the run ended before the kill)'}", flush=True)
    if args.out:
        rows = [f"| {o.system} | {o.stage} | {'yes' if o.killed else 'no (ended first)'} | "
                f"{'identical' if o.identical else 'differs: ' + o.difference} |" for o in outcomes]
        args.out.write_text("# Fault injection\n\nGenerated by `python -m tests.reliability.fault_injection --out "
                            f"{args.out.as_posix()}`: each run of the tiny suite is killed with SIGKILL at the "
                            "start of a stage, then the same command is run again; the record it writes is "
                            "compared with an uninterrupted run's (everything but wall-clock fields).\n\n"
                            "| system | killed in | killed | record after the rerun |\n|---|---|---|---|\n"
                            + "\n".join(rows) + "\n")
    return outcomes


if __name__ == "__main__":
    results = main()
    sys.exit(0 if all(o.identical for o in results) else 1)
