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
import re
import tempfile
import zlib
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
# a dry run's estimate comes from the committed records, which every new record moves: shown as T
ESTIMATE = re.compile(r"about \d+(?:\.\d+)? (?:min|h)\b")


@dataclass(frozen=True)
class Case:
    what: str
    build: Callable[[Path], list[str]]
    expected: str
    code: int = 2  # 0: the input is valid, or is handled and reported: `expected` is what the run says
    env: tuple = ()  # (name, value) pairs set while the case runs


def plugin_file(source: str, *argv: str, suite: str | None = None):
    """A one-off plugin file (and a suite file at {tmp}/s.yaml), then the command line (`{plugin}` stands for
    the plugin's path)."""
    def build(tmp: Path) -> list[str]:
        (tmp / "plugin.py").write_text(source)
        if suite is not None:
            (tmp / "s.yaml").write_text(suite)
        return [a.replace("{plugin}", str(tmp / "plugin.py")).replace("{tmp}", str(tmp)) for a in argv]
    return build


def copied_record(tmp: Path) -> list[str]:
    """The committed tiny popularity record copied to seed7.json: it is not a seventh seed."""
    source = Path(__file__).resolve().parents[2] / "results" / "runs" / "tiny" / "smoke" / "popularity"
    target = tmp / "results" / "runs" / "tiny" / "smoke" / "popularity"
    target.mkdir(parents=True)
    for name in ("seed0.json", "seed0.per_user.npz"):
        (target / name).write_bytes((source / name).read_bytes())
    (target / "seed7.json").write_bytes((source / "seed0.json").read_bytes())
    return ["leaderboard", "--suite", "tiny", "--results-dir", str(tmp / "results")]


def nan_summary(tmp: Path) -> list[str]:
    source = Path(__file__).resolve().parents[2] / "results" / "runs" / "tiny" / "smoke" / "popularity"
    text = (source / "seed0.json").read_text()
    record = json.loads(text)
    record["metrics"]["test"]["recall@5"] = float("nan")
    (tmp / "seed0.json").write_text(json.dumps(record))
    (tmp / "seed0.per_user.npz").write_bytes((source / "seed0.per_user.npz").read_bytes())
    return ["check", "record", str(tmp / "seed0.json")]


def raw_record(data: bytes):
    def build(tmp: Path) -> list[str]:
        (tmp / "seed0.json").write_bytes(data)
        return ["check", "record", str(tmp / "seed0.json")]
    return build


def gzip_bomb(tmp: Path) -> list[str]:
    """About 2 MB of gzip that inflates to 2 GiB (a header, then zeros)."""
    (tmp / "data").mkdir()
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(tmp / "data" / "interactions.tsv.gz", "wb") as out:
        out.write(packer.compress(HEADER.encode()))
        zeros = bytes(1 << 20)
        for _ in range(2048):
            out.write(packer.compress(zeros))
        out.write(packer.flush())
    return ["data", "validate", str(tmp / "data")]


def sparse_file(tmp: Path) -> list[str]:
    """A 2 GB interactions file that is one header line and a hole: nothing is read into memory."""
    (tmp / "data").mkdir()
    with open(tmp / "data" / "interactions.tsv", "wb") as out:
        out.write(HEADER.encode())
        out.truncate(2 * 10 ** 9)
    return ["data", "validate", str(tmp / "data")]


def items_folder(tmp: Path) -> list[str]:
    """items.jsonl that is a folder: never ignored."""
    (tmp / "data" / "items.jsonl").mkdir(parents=True)
    (tmp / "data" / "interactions.tsv").write_text(HEADER + GOOD)
    return ["data", "validate", str(tmp / "data")]


ALIAS_BOMB = "name: s\ndataset: tiny\ndescription: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"l{i}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))
TINY_SUITE = "name: s\ndataset: tiny\nseeds: [0]\nprotocol: {cutoffs: [5, 10]}\n"
TINY_TIGER = ("  tiger:\n    budgets:\n      smoke:\n        model: {encoder_layers: 1, decoder_layers: 1, d_model: 32, "
              "heads: 2, d_kv: 16, d_ff: 64}\n        train: {max_epochs: 1, batch_size: 64, beam_size: 10}\n")
RAISES_IN_FIT = """
from bench.recommender import Recommender, register_recommender

@register_recommender("raises-in-fit")
class RaisesInFit(Recommender):
    def fit(self, split, sids, seed):
        return {}["no such key"]

    def recommend(self, examples, k):
        raise AssertionError("never reached")
"""
HUGE_CODES = """
import numpy as np
from bench.tokenizer import ItemTokenizer, SIDTable, register_tokenizer

@register_tokenizer("huge-codes")
class HugeCodes(ItemTokenizer):
    needs = ()

    def fit(self, inputs, seed):
        n = inputs.n_items
        codes = np.stack([np.arange(n) + 2 ** 32, np.zeros(n, dtype=np.int64)], axis=1)
        return SIDTable(codes, (n, 1))
"""


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
    # issue 37, by class. 1: names that collide
    Case("a recommender entry named like a generated system", suite_file(
        "name: s\ndataset: tiny\ntokenizers: {random: {}}\nrecommenders:\n  tiger: {}\n  random+tiger: {plugin: popularity}\n"),
         "recommenders entry 'random+tiger' is not a safe name"),
    Case("a suite key written twice", suite_file("name: s\ndataset: tiny\nseeds: [0]\nseeds: [1]\n"),
         "s.yaml:4: the key 'seeds' appears twice in one mapping (first on line 3)"),
    # 2: order values out of range
    Case("a seq_idx of inf", folder("user_id\titem_id\tseq_idx\nu1\ti1\t0\nu1\ti2\tinf\n"),
         "seq_idx 'inf' is not a non-negative integer below 2^31"),
    Case("a seq_idx of 1e19", folder("user_id\titem_id\tseq_idx\nu1\ti1\t0\nu1\ti2\t1e19\n"),
         "seq_idx '1e19' is not a non-negative integer below 2^31"),
    # 3: settings that make training diverge
    Case("a learning rate of .inf", args(*RUN, "--set", "recommenders.tiger.budgets.smoke.train.lr=.inf"),
         "train.lr: expected a finite number, got inf"),
    Case("a learning rate of .nan", args(*RUN, "--set", "recommenders.tiger.budgets.smoke.train.lr=.nan"),
         "train.lr: expected a finite number, got nan"),
    Case("a negative learning rate", args(*RUN, "--set", "recommenders.tiger.budgets.smoke.train.lr=-0.1"),
         "train.lr must be a non-negative number, got -0.1"),
    Case("a finite learning rate so high that the loss becomes NaN", args(
        *RUN, "--tokenizers", "random", "--recommenders", "tiger", "--seeds", "0", "--results-dir", "{tmp}/results",
        "--set", "recommenders.tiger.budgets.smoke.train.lr=1.0e+30"),
         "the run diverged and no record is written"),
    # 4: records that lie
    Case("a record whose summary is NaN", nan_summary, "test.recall@5 is not finite"),
    Case("a record copied to another seed's file", copied_record,
         "the record says it is tiny/smoke/popularity/seed0.json"),
    # 5: names that leave the results folder
    Case("a suite entry named ../../../../escaped", suite_file(
        "name: s\ndataset: tiny\nrecommenders:\n  ../../../../escaped: {plugin: popularity}\n"), "is not a safe name"),
    Case("a suite entry named by an absolute path", suite_file(
        "name: s\ndataset: tiny\nrecommenders:\n  /tmp/escaped: {plugin: popularity}\n"), "is not a safe name"),
    Case("a suite named ../escaped", suite_file("name: ../escaped\ndataset: tiny\nrecommenders: {popularity: {}}\n"),
         "suite name '../escaped' is not a safe name"),
    # 6: small inputs that would take all memory, or flood the screen
    Case("a YAML alias bomb of under 1 KB", suite_file(ALIAS_BOMB), "expands to more than 100,000 values"),
    Case("a 2 MB gzip that inflates to 2 GiB", gzip_bomb, "inflates to more than 1,024 MB"),
    Case("a sparse 2 GB interactions file", sparse_file, "holds more than 1,024 MB"),
    Case("a timestamp of a million characters", folder(HEADER + GOOD + "u0\ti9\t" + "7" * 10 ** 6 + "x\n"),
         "(1,000,003 characters)"),
    # 7: what used to end in a traceback
    Case("a YAML date where a number belongs", suite_file("name: s\ndataset: tiny\nversion: 2026-12-06\n"),
         "version: expected an integer, got '2026-12-06'"),
    Case("a !!set in a suite", suite_file("name: s\ndataset: tiny\nseeds: !!set {0, 1}\n"),
         "the tag 'tag:yaml.org,2002:set' is not allowed"),
    Case("a !!binary in a suite", suite_file("name: s\ndataset: tiny\ndescription: !!binary aGk=\n"),
         "the tag 'tag:yaml.org,2002:binary' is not allowed"),
    Case("suite seeds out of range", suite_file("name: s\ndataset: tiny\nseeds: [0, -1]\n"),
         "seeds: seed -1 must be an integer in [0, 2^32)"),
    Case("a suite that is not UTF-8", lambda tmp: _bytes_suite(tmp, b"name: s\ndataset: tiny\ndescription: caf\xe9\n"),
         "s.yaml:3: not valid UTF-8 (byte 0xe9)"),
    Case("a record that is not UTF-8", raw_record(b'{"schema_version": "caf\xe9"}'), "cannot read the record"),
    Case("a record of deeply nested JSON", raw_record(b"[" * 100_000 + b"]" * 100_000),
         "cannot read the record (JSON nested too deeply)"),
    Case("items.jsonl with deeply nested JSON", folder(HEADER + GOOD, "[" * 100_000 + "]" * 100_000 + "\n"),
         "items.jsonl:1: JSON nested too deeply to read"),
    Case("--threads -1", args(*RUN, "--threads", "-1"), "--threads must be at least 1, got -1"),
    Case("a plugin file that is not Python", plugin_file("name: s\nthis is YAML, not Python: [\n", "--plugin",
                                                          "{plugin}", "ls", "recommenders"),
         "failed in import: SyntaxError"),
    Case("a plugin whose fit raises", plugin_file(RAISES_IN_FIT, "--plugin", "{plugin}", "run", "--suite", "{tmp}/s.yaml",
                                                  "--budget", "smoke", "--results-dir", "{tmp}/results",
                                                  suite=TINY_SUITE + "recommenders:\n  raises-in-fit: {}\n"),
         "recommender 'raises-in-fit' failed in fit: KeyError: 'no such key' at"),
    # 8: a valid file that was refused
    Case("a CSV whose header fields are quoted", folder('"user_id","item_id","timestamp"\n' + GOOD.replace("\t", ","),
                                                        name="interactions.csv"),
         "valid (3 users, 4 items, 12 interactions)", code=0),
    # 9: accepted without a word
    Case("a plugin that calls sys.exit(0) at import", plugin_file("import sys\nsys.exit(0)\n", "--plugin", "{plugin}",
                                                                  "ls", "recommenders"),
         "failed in import: exited (sys.exit)"),
    Case("SID codes above 2^32", plugin_file(HUGE_CODES, "--plugin", "{plugin}", "run", "--suite", "{tmp}/s.yaml",
                                             "--budget", "smoke", "--results-dir", "{tmp}/results",
                                             suite=TINY_SUITE + "tokenizers:\n  huge-codes: {}\nrecommenders:\n" + TINY_TIGER),
         "codes must lie in [0, 2^31), got values in [0, 4294967415]"),
    Case("items.jsonl that is a folder", items_folder, "items.jsonl: not a regular file"),
    Case("users with one or two interactions", folder(HEADER + GOOD + "u7\ti1\t5\nu8\ti1\t5\nu8\ti2\t6\n"),
         "note: 2 user(s) have fewer than 3 interactions: the leave-one-out split", code=0),
    # 10: progress that misled
    Case("a dry run into a fresh results folder", args("run", "--suite", "amazon-beauty", "--results-dir", "{tmp}/fresh",
                                                       "--recommenders", "popularity,sasrec", "--dry-run"),
         "0 done, 6 to run: about", code=0,  # from the project's committed records (as in a fresh clone)
         env=(("SID_BENCH_RESULTS", str(Path(__file__).resolve().parents[2] / "results")),)),
]


def _broken_gzip(tmp: Path) -> list[str]:
    (tmp / "data").mkdir()
    (tmp / "data" / "interactions.tsv.gz").write_bytes(b"not gzip at all")
    return ["data", "validate", str(tmp / "data")]


def _empty_folder(tmp: Path) -> list[str]:
    (tmp / "data").mkdir()
    (tmp / "data" / "notes.txt").write_text("x")
    return ["data", "validate", str(tmp / "data")]


def _bytes_suite(tmp: Path, data: bytes) -> list[str]:
    (tmp / "s.yaml").write_bytes(data)
    return ["run", "--suite", str(tmp / "s.yaml"), "--dry-run"]


def _a_file(tmp: Path) -> list[str]:
    (tmp / "interactions.tsv").write_text(HEADER + GOOD)
    return ["data", "stats", str(tmp / "interactions.tsv")]


def attempt(case: Case, tmp: Path) -> tuple[int, str]:
    """(exit code, what the command wrote: stderr, then stdout), run in this process."""
    from bench.cli import main

    argv = case.build(tmp)
    err, out = io.StringIO(), io.StringIO()
    saved = {name: os.environ.get(name) for name, _ in case.env}
    os.environ.update(dict(case.env))
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse's own errors
            code = exit_.code
        finally:
            for name, value in saved.items():
                os.environ.pop(name) if value is None else os.environ.__setitem__(name, value)
    return code, err.getvalue() + out.getvalue()


def message(output: str, expected: str) -> str:
    """What a reader sees: the `error:` line and the first detail line under it; for a run that ends well,
    the line that says what the case is about."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if "error:" in line), None)
    if start is None:
        start = next((i for i, line in enumerate(lines) if expected in line), 0)
        return lines[start].strip() if lines else ""
    return " ".join(line.strip() for line in lines[start:start + 2])


@dataclass(frozen=True)
class Outcome:
    code: int
    output: str  # stderr, then stdout
    shown: str   # the line a reader sees, scratch paths as TMP


def run_case(case: Case) -> Outcome:
    """One case in a scratch folder of its own (results and caches inside it)."""
    saved = {name: os.environ.get(name) for name in ("SID_BENCH_CACHE", "SID_BENCH_RESULTS")}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SID_BENCH_CACHE"] = str(Path(tmp) / "cache")
        os.environ["SID_BENCH_RESULTS"] = str(Path(tmp) / "results")
        try:
            code, output = attempt(case, Path(tmp))
        finally:
            for name, value in saved.items():
                os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)
    repo = str(Path(__file__).resolve().parents[2]) + os.sep
    shown = message(output, case.expected).replace(tmp, "TMP").replace(repo, "").replace("|", "\\|")
    return Outcome(code, output, ESTIMATE.sub("about T", shown))


DOC = Path(__file__).resolve().parents[2] / "docs" / "bad-inputs.md"


def render(outcomes: list[Outcome]) -> str:
    rows = [f"| {number} | {case.what} | {outcome.code} | `{outcome.shown}` |"
            for number, (case, outcome) in enumerate(zip(CASES, outcomes), start=1)]
    return ("# Bad inputs and their errors\n\nGenerated by `python -m tests.reliability.bad_inputs --out "
            "docs/bad-inputs.md` from the cases in tests/reliability/bad_inputs.py (CI checks each: exit code 2, "
            "one message with the expected words, no traceback; exit 0 where the input is valid or is handled and "
            "reported, with the line that says so; and that this file is what the cases print today). Scratch "
            "paths show as TMP.\n\n| # | input | exit | message |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DOC)
    out = parser.parse_args(argv).out
    out.write_text(render([run_case(case) for case in CASES]))


if __name__ == "__main__":
    main()
