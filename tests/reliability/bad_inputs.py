"""Bad inputs and the error each gets (issue 18): one list, tested in CI (test_bad_inputs_table.py) and
written out as docs/bad-inputs.md with the messages the code prints today:

    python -m tests.reliability.bad_inputs --out docs/bad-inputs.md

Each case builds its input in a scratch folder and gives the command line; it must end with exit code 2, one
`error:` message containing the expected fragment, and no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HEADER = "user_id\titem_id\ttimestamp\n"
GOOD = "".join(f"u{u}\ti{i}\t{100 + i}\n" for u in range(3) for i in range(4))


def folder(interactions: str | bytes, items: str | None = None, name: str = "interactions.tsv"):
    """A dataset folder with these file contents, validated with `data validate`."""
    def build(tmp: Path) -> list[str]:
        target = tmp / "data"
        target.mkdir()
        data = interactions.encode() if isinstance(interactions, str) else interactions
        (target / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        if items is not None:
            (target / "items.jsonl").write_text(items)
        return ["data", "validate", str(target)]
    return build


def args(*argv: str) -> Callable[[Path], list[str]]:
    return lambda tmp: [a.replace("{tmp}", str(tmp)) for a in argv]


def forged_record(tmp: Path) -> list[str]:
    source = Path(__file__).resolve().parents[2] / "results" / "runs" / "tiny" / "smoke" / "popularity"
    record = json.loads((source / "seed0.json").read_text())
    record["metrics"]["test"]["recall@5"] = 0.9
    (tmp / "seed0.json").write_text(json.dumps(record))
    (tmp / "seed0.per_user.npz").write_bytes((source / "seed0.per_user.npz").read_bytes())
    return ["check", "record", str(tmp / "seed0.json")]


def blocked_results(tmp: Path) -> list[str]:
    (tmp / "a-file").write_text("x")
    return ["run", "--suite", "tiny", "--budget", "smoke", "--recommenders", "popularity", "--results-dir",
            str(tmp / "a-file" / "results")]


def suite_file(text: str):
    def build(tmp: Path) -> list[str]:
        (tmp / "s.yaml").write_text(text)
        return ["run", "--suite", str(tmp / "s.yaml"), "--dry-run"]
    return build


RUN = ("run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu")


@dataclass(frozen=True)
class Case:
    what: str
    build: Callable[[Path], list[str]]
    expected: str


CASES = [
    # dataset files
    Case("interactions without a user_id column", folder("user\titem_id\ttimestamp\nu1\ti1\t1\n"),
         "missing column 'user_id' (did you mean 'user'?)"),
    Case("interactions without any order column", folder("user_id\titem_id\nu1\ti1\n"), "no order column"),
    Case("a timestamp that is a word", folder(HEADER + GOOD + "u0\ti9\tmonday\n"), "unparsable timestamp 'monday'"),
    Case("a timestamp of inf", folder(HEADER + GOOD + "u0\ti9\tinf\n"), "timestamp 'inf' is not a finite number"),
    Case("a timestamp beyond int64", folder(HEADER + GOOD + "u0\ti9\t1e30\n"), "not a finite number of seconds"),
    Case("the same (user, item) twice", folder(HEADER + GOOD + "u0\ti1\t999\n"), "duplicate interaction (user 'u0'"),
    Case("an empty item_id", folder(HEADER + GOOD + "u0\t\t999\n"), "empty item_id"),
    Case("a row with too few fields", folder(HEADER + GOOD + "u0\ti9\n"), "2 field(s), the header has 3"),
    Case("a row with too many fields", folder(HEADER + GOOD + "u0\ti9\t5\tx\n"), "4 field(s), the header has 3"),
    Case("a seq_idx used twice by one user", folder("user_id\titem_id\tseq_idx\nu1\ti1\t0\nu1\ti2\t0\n"),
         "duplicate seq_idx 0 for user 'u1'"),
    Case("a seq_idx that is not an integer", folder("user_id\titem_id\tseq_idx\nu1\ti1\tfirst\n"),
         "seq_idx 'first' is not a non-negative integer"),
    Case("a header and no rows", folder(HEADER), "header but no interactions"),
    Case("an empty interactions file", folder(""), "empty"),
    Case("bytes that are not UTF-8", folder(HEADER.encode() + b"u\xe9\ti1\t1\n"), "not valid UTF-8"),
    Case("a .gz file that is not gzip", lambda tmp: _broken_gzip(tmp), "not a valid gzip file"),
    Case("a folder without an interactions file", lambda tmp: _empty_folder(tmp), "no interactions file"),
    Case("items.jsonl with a broken JSON line", folder(HEADER + GOOD, '{"item_id": "i0"}\n{"item_id": "i1"\n'),
         "items.jsonl:2: invalid JSON"),
    Case("items.jsonl with a line without item_id", folder(HEADER + GOOD, '{"title": "x"}\n'),
         "missing or empty 'item_id'"),
    Case("items.jsonl with a price that is not a number", folder(HEADER + GOOD, '{"item_id": "i0", "price": "cheap"}\n'),
         "'price' must be a finite number or null"),
    Case("an interacted item missing from items.jsonl", folder(HEADER + GOOD, '{"item_id": "i0"}\n'),
         "has no line in items.jsonl"),
    Case("a dataset folder that does not exist", args("data", "stats", "{tmp}/no/such/folder"), "no such dataset folder"),
    Case("a file given as the dataset folder", lambda tmp: _a_file(tmp), "not a folder"),
    Case("a misspelt dataset name", args("data", "stats", "amazon-beuty"), "did you mean 'amazon-beauty'?"),
    # suites, settings and options
    Case("a misspelt suite", args("run", "--suite", "tinny"), "unknown suite 'tinny' (did you mean 'tiny'?)"),
    Case("a misspelt recommender", args(*RUN, "--recommenders", "populartiy"), "did you mean 'popularity'?"),
    Case("a misspelt setting", args(*RUN, "--set", "protocol.cutofs=[5]"), "did you mean 'cutoffs'?"),
    Case("a setting of the wrong type", args(*RUN, "--set", "protocol.max_history=many"), "max_history"),
    Case("an unknown budget", args("run", "--suite", "tiny", "--budget", "huge"), "--budget must be auto or one of smoke, cpu, paper"),
    Case("a negative seed", args(*RUN, "--seeds", "-1"), "seed '-1' must be an integer in [0, 2^32)"),
    Case("a seed past 2^64", args(*RUN, "--seeds", str(2 ** 64)), "must be an integer in [0, 2^32)"),
    Case("a seed that is not a number", args(*RUN, "--seeds", "0,x"), "seed 'x' must be an integer"),
    Case("zero workers", args(*RUN, "--workers", "0"), "--workers must be at least 1"),
    Case("a cutoff larger than the catalogue", args(*RUN, "--recommenders", "popularity", "--set",
                                                  "protocol.cutoffs=[10,200]"), "K = 200 exceeds the 120 items"),
    Case("a beam narrower than the largest cutoff", args(*RUN, "--set", "recommenders.tiger.budgets.smoke.train.beam_size=5"),
         "train.beam_size 5 is below the largest cutoff K = 10"),
    Case("a beam of zero", args(*RUN, "--set", "recommenders.tiger.budgets.smoke.train.beam_size=0"),
         "train.beam_size must be at least 1"),
    Case("a selection metric whose cutoff is not computed", args(*RUN, "--set", "selection_metric=ndcg@50"),
         "needs cutoff 50 in protocol.cutoffs"),
    Case("a suite file with an unknown key", suite_file("name: s\ndataset: tiny\nrecomenders: {}\n"), "recomenders"),
    Case("a suite naming an unknown plugin", suite_file("name: s\ndataset: tiny\nrecommenders:\n  nope: {}\n"), "nope"),
    Case("a results folder that cannot be written", blocked_results, "cannot be written"),
    Case("a plugin file that does not exist", args("--plugin", "{tmp}/no/plugin.py", "ls", "recommenders"),
         "plugin file not found"),
    Case("a file that is not a record", args("check", "record", "{tmp}"), "cannot read the record"),
    Case("a record whose summary was edited", forged_record, "the summary does not match the per-user metrics"),
]


def _broken_gzip(tmp: Path) -> list[str]:
    (tmp / "data").mkdir()
    (tmp / "data" / "interactions.tsv.gz").write_bytes(b"not gzip at all")
    return ["data", "validate", str(tmp / "data")]


def _empty_folder(tmp: Path) -> list[str]:
    (tmp / "data").mkdir()
    (tmp / "data" / "notes.txt").write_text("x")
    return ["data", "validate", str(tmp / "data")]


def _a_file(tmp: Path) -> list[str]:
    (tmp / "interactions.tsv").write_text(HEADER + GOOD)
    return ["data", "stats", str(tmp / "interactions.tsv")]


def attempt(case: Case, tmp: Path) -> tuple[int, str]:
    """(exit code, what the command wrote to stderr), run in this process."""
    from bench.cli import main

    argv = case.build(tmp)
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse's own errors
            code = exit_.code
    return code, err.getvalue()


def message(stderr: str) -> str:
    """The error as a reader sees it: the `error:` line and the first detail line under it."""
    lines = [line.rstrip() for line in stderr.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if "error:" in line), 0)
    return " ".join(line.strip() for line in lines[start:start + 2])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    out = parser.parse_args(argv).out
    rows = []
    for number, case in enumerate(CASES, start=1):
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["SID_BENCH_CACHE"] = str(Path(tmp) / "cache")
            code, stderr = attempt(case, Path(tmp))
        repo = str(Path(__file__).resolve().parents[2]) + os.sep
        shown = message(stderr).replace(tmp, "TMP").replace(repo, "").replace("|", "\\|")
        rows.append(f"| {number} | {case.what} | {code} | `{shown}` |")
    out.write_text("# Bad inputs and their errors\n\nGenerated by `python -m tests.reliability.bad_inputs --out "
                   f"{out.as_posix()}` from the cases in tests/reliability/bad_inputs.py (CI checks each: exit code "
                   "2, one message with the expected words, no traceback). Scratch paths show as TMP.\n\n"
                   "| # | input | exit | message |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
