"""Command line: python -m bench {run, sweep, data, ls, leaderboard, rescore, check, tokenize, perf}."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from bench import registry
from bench.config import comma_list, parse_set, seed_value
from bench.errors import BenchError, ConfigError
from bench.suites import describe_suites, load_suite

EXAMPLES = {
    "run": """examples:
  python -m bench run --suite amazon-beauty
  python -m bench run --suite amazon-beauty --recommenders popularity --seeds 0
  python -m bench run --suite tiny --budget smoke --set protocol.max_history=50 --dry-run
  python -m bench run --suite amazon-beauty --dataset-path ~/data/my-shop
  python -m bench run --suite amazon-beauty --scheduler tcp://10.0.0.5:8786   (jobs on a Dask cluster)""",
    "sweep": """examples:
  python -m bench sweep --suite amazon-beauty --tokenizer rqvae --recommender tiger --trials 20
  python -m bench sweep --suite amazon-beauty --recommender sasrec --trials 20 --budget cpu
  python -m bench sweep --suite S --tokenizer T --trials 50 --storage postgresql://user@host/db --study S-T
      (run the same command on every machine: the workers share the study; 50 trials in total)
  python -m bench sweep --suite amazon-beauty --tokenizer rqvae --recommender tiger --freeze""",
    "data": """examples:
  python -m bench data stats amazon-beauty
  python -m bench data stats ~/data/my-shop        (a folder in the documented format)
  python -m bench data validate ~/data/my-shop""",
    "ls": """examples:
  python -m bench ls recommenders
  python -m bench ls datasets""",
    "leaderboard": """examples:
  python -m bench leaderboard --suite amazon-beauty
  python -m bench leaderboard --suite tiny --check   (fail if the committed table differs)
  python -m bench leaderboard --suite amazon-beauty --dataset-path ~/data/my-shop   (after run --dataset-path)
  python -m bench leaderboard --suite amazon-beauty,amazon-toys   (across datasets: ranks, Kendall's tau)""",
    "rescore": """examples:
  python -m bench rescore --suite tiny          (every registered metric, from the records' ranked lists)
  python -m bench rescore --results-dir my-results
  python -m bench rescore --suite amazon-beauty --add-slices   (slices for records made before they were kept)""",
    "check": """examples:
  python -m bench check tokenizer rkmeans
  python -m bench check tokenizer rkmeans --set balanced=true
  python -m bench check recommender tiger
  python -m bench --plugin my_tokenizer.py check tokenizer my-tokenizer
  python -m bench check record results/runs/amazon-beauty/cpu/popularity/seed0.json
  python -m bench check dataset ~/data/my-shop
  python -m bench check suite amazon-beauty""",
    "tokenize": """examples:
  python -m bench tokenize --suite amazon-beauty
  python -m bench tokenize --suite amazon-beauty --tokenizers rkmeans,title --seeds 0""",
    "perf": """examples:
  python -m bench perf data --dataset amazon-beauty
  python -m bench perf recommender                 (ours vs Hugging Face T5, on Beauty rkmeans SIDs)
  python -m bench perf recommender --tokenizer random --batches 4 --users 64
  python -m bench perf scale                       (cost of each stage at 10^4, 10^5, 10^6 items)
  python -m bench perf decode                      (beam search against the matmul roofline, fp32 and bf16)
  python -m bench perf train --tokenizer rqvae     (cpu-budget tiger training here and with the CPU held to AVX2)
  python -m bench perf gpu                         (the CUDA path on one GPU; --device cpu --quick to try it)""",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="SID Bench: compare item tokenizers (semantic IDs) for generative "
        "recommendation on one split, one recommender, with significance tests.")
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE",
                        help="load a one-off plugin file (tokenizer or recommender); repeatable")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="stage cache location (default: .cache/ in the checkout; or set SID_BENCH_CACHE)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help_text, *common):
        """A subcommand with its examples, and any of the options most commands share."""
        cmd = sub.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES[name],
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        shared = {"suite": (["--suite"], {"required": True, "help": "suite name (suites/NAME.yaml) or a suite file"}),
                  "set": (["--set"], {"action": "append", "default": [], "metavar": "KEY=VALUE",
                                      "help": "override a setting, e.g. protocol.max_history=50; repeatable"}),
                  "results": (["--results-dir"], {"type": Path, "help": "default: results/ in the checkout"}),
                  "device": (["--device"], {"default": "auto", "help": "auto, cpu or cuda[:N]"}),
                  "seeds": (["--seeds"], {"type": comma_list(seed_value), "help": "comma-separated seeds"}),
                  "tokenizers": (["--tokenizers"], {"type": comma_list(str), "help": "only these tokenizers of the suite"})}
        for option in common:
            flags, kwargs = shared[option]
            cmd.add_argument(*flags, **kwargs)
        return cmd

    run = command("run", "run a suite: every (tokenizer, recommender, seed) job, skipping finished ones",
                  "suite", "set", "results", "device", "seeds", "tokenizers")
    run.add_argument("--budget", default="auto", help="smoke, cpu, paper, or auto (paper on CUDA, else cpu)")
    run.add_argument("--recommenders", type=comma_list(str), help="only these recommenders of the suite")
    run.add_argument("--dataset-path", help="run the suite on your own dataset folder instead")
    replace = run.add_mutually_exclusive_group()
    replace.add_argument("--force", dest="replace", action="store_const", const="all", default="none",
                         help="rerun every selected job, replacing its record")
    replace.add_argument("--replace-stale", dest="replace", action="store_const", const="stale",
                         help="rerun only jobs whose record holds other settings (after a budget changed) or kept "
                              "no ranked lists; keep the rest")
    run.add_argument("--threads", type=int, help="CPU threads per job (default: all cores, divided among workers)")
    run.add_argument("--workers", type=int, default=1,
                     help="run independent jobs in N processes (CPU threads divided; one GPU each if several)")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="run the jobs on a Dask cluster (tcp://HOST:PORT of `dask scheduler`)")
    run.add_argument("--dry-run", action="store_true", help="print the resolved config and the jobs, run nothing")

    sweep = command("sweep", "tune a (tokenizer, recommender) pair with Optuna on the suite's validation metric; "
                             "--freeze keeps the best", "suite", "set", "results", "device")
    sweep.add_argument("--tokenizer", help="a tokenizer of the suite (for recommenders that use SIDs)")
    sweep.add_argument("--recommender", default="tiger", help="a recommender of the suite (default: tiger)")
    sweep.add_argument("--trials", type=int, default=20, help="finished trials wanted in the study, all workers together")
    sweep.add_argument("--storage", help="Optuna storage URL (default: sqlite file results/sweeps/studies.db)")
    sweep.add_argument("--study", help="study name (default: SUITE.SYSTEM.BUDGET)")
    sweep.add_argument("--budget", default="auto", help="smoke, cpu, paper, or auto")
    sweep.add_argument("--seed", type=int, default=0, help="the TPE sampler's seed")
    sweep.add_argument("--threads", type=int, help="CPU threads per trial (default: all cores)")
    sweep.add_argument("--tune", default="recommender,tokenizer",
                       help="whose search spaces to sample: recommender, tokenizer, or both (default)")
    sweep.add_argument("--freeze", action="store_true",
                       help="run nothing; write the study's best settings to suites/tuned/SUITE/SYSTEM.BUDGET.yaml, "
                            "if they beat the suite's own setting significantly on validation")
    sweep.add_argument("--force", action="store_true",
                       help="with --freeze: freeze the best trial without that comparison")

    data = command("data", "inspect and validate datasets")
    data.add_argument("action", choices=["stats", "validate"])
    data.add_argument("dataset", help="a registered dataset name or a dataset folder")
    data.add_argument("--json", action="store_true", help="print the statistics as JSON")

    command("ls", "list plugins, datasets or suites (never imports torch)").add_argument(
        "what", choices=["tokenizers", "recommenders", "datasets", "suites"])

    board = command("leaderboard", "write results/leaderboards/SUITE.md and .csv from the records",
                    "suite", "set", "results")
    board.add_argument("--dataset-path", help="the table of the suite's runs on your own dataset folder")
    board.add_argument("--check", action="store_true",
                       help="do not write; fail if the committed tables differ from regenerated ones")

    rescore = command("rescore", "recompute every registered metric from the ranked lists records keep, without "
                      "retraining, and rewrite their summaries", "results")
    rescore.add_argument("--suite", help="only this suite's records (its results folder name); default: all")
    rescore.add_argument("--add-slices", action="store_true", help="first give records made before slices were "
                         "kept their slice labels, from their dataset (read once; the records' hashes must match)")
    rescore.add_argument("--add-sid-prefixes", action="store_true", help="first give generative records made "
                         "before it was kept each item's SID prefix (TIGER's retrieval of unseen items), from the "
                         "SID table of the same hash in this machine's cache")

    check = command("check", "run a plugin's contract checks, or validate a record, dataset folder or suite", "set")
    check.add_argument("what", choices=["tokenizer", "recommender", "record", "dataset", "suite"])
    check.add_argument("targets", nargs="+")

    tokenize = command("tokenize", "fit a suite's tokenizers (cached) and print their SID diagnostics",
                       "suite", "set", "results", "device", "seeds", "tokenizers")
    tokenize.add_argument("--budget", default="cpu", choices=["smoke", "cpu", "paper"],
                          help="whose tokenizer settings to use (default: cpu)")

    perf = command("perf", "measure speed and memory; writes a JSON report to results/perf/", "results")
    perf.add_argument("what", choices=["data", "recommender", "scale", "decode", "train", "gpu"])
    perf.add_argument("--device", default="cuda", help="gpu: the device to prove (default cuda; cpu to try it)")
    perf.add_argument("--quick", action="store_true", help="gpu: small sizes, the whole check in minutes on a CPU")
    perf.add_argument("--sizes", type=comma_list(int), default=(10_000, 100_000, 1_000_000),
                      help="scale: catalogue sizes (default 10000,100000,1000000)")
    perf.add_argument("--dataset", default="amazon-beauty")
    perf.add_argument("--suite", default="amazon-beauty", help="recommender: the suite whose tokenizer gives SIDs")
    perf.add_argument("--tokenizer", default="rkmeans", help="recommender, decode: tokenizer of the suite for the SIDs")
    perf.add_argument("--batches", type=int, help="recommender, train: timed training batches per measurement "
                      "(default 12, 120)")
    perf.add_argument("--users", type=int, help="recommender, decode: users decoded (default 256, 1024)")
    perf.add_argument("--threads", type=int, help="scale, decode: CPU threads per measurement (default 2)")
    perf.add_argument("--against", action="append", metavar="KEY=VALUE",
                      help="train: also measure the budget with this `--set` (repeatable), in the same rounds, and "
                           "report the ratio of examples/s")
    return parser


def _suite(args):
    return load_suite(args.suite, parse_set(args.set))


def cmd_run(args) -> int:
    from bench.plan import RunOptions, describe_plan
    from bench.runner import run_suite

    suite = _suite(args)
    options = RunOptions(**{name: getattr(args, name) for name in RunOptions.__dataclass_fields__})
    if args.dry_run:
        print(describe_plan(suite, options), end="")
        return 0
    paths = run_suite(suite, options)
    print(f"{len(paths)} record(s) under {Path(paths[0]).parents[2] if paths else '-'}")
    return 0


def cmd_data(args) -> int:
    from bench.data import load_dataset
    from bench.data.stats import dataset_stats, format_stats, validation_summary

    if args.action == "validate":
        print(validation_summary(args.dataset))
    else:
        stats = dataset_stats(load_dataset(args.dataset))
        print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0


def cmd_ls(args) -> int:
    from tabulate import tabulate

    from bench.data import describe_datasets

    describe, headers = {"datasets": (describe_datasets, ["dataset", "description"]),
                         "suites": (describe_suites, ["suite", "dataset", "description"])}.get(
        args.what, (lambda: registry.describe(args.what), [args.what[:-1], "description", "source"]))
    rows = describe()
    print(tabulate(rows, headers=headers, tablefmt="plain") if rows else f"no {args.what} registered yet")
    return 0


def cmd_sweep(args) -> int:
    from bench.device import resolve_budget, resolve_device
    from bench.sweep import freeze, run_sweep, summary, sweep_target

    device = resolve_device(args.device)
    target = sweep_target(_suite(args), args.tokenizer, args.recommender,
                          resolve_budget(args.budget, device), args.tune)
    if args.freeze:
        path = freeze(target, args.storage, args.study, args.results_dir, force=args.force)
        print(f"{path.read_text()}\nwrote {path}")
        return 0
    print(summary(run_sweep(target, args.trials, args.storage, args.study, device, args.seed, args.results_dir,
                            threads=args.threads)))
    return 0


def cmd_leaderboard(args) -> int:
    from bench.leaderboard import check_leaderboard, write_leaderboard
    from bench.paths import results_dir

    results = args.results_dir or results_dir()
    if "," in args.suite:  # several suites: the cross-dataset table
        from bench.leaderboard.across import check_across, write_across

        suites = [load_suite(name, parse_set(args.set)) for name in args.suite.split(",")]
        if args.dataset_path:
            raise BenchError("--dataset-path names one dataset; the cross-dataset table reads each suite's own")
        if args.check:
            check_across(suites, results)
            print(f"{args.suite}: cross-dataset leaderboard matches its records")
            return 0
        md_path, csv_path = write_across(suites, results)
        print(f"{md_path.read_text()}\nwrote {md_path} and {csv_path}")
        return 0
    suite = _suite(args)
    if args.check:
        check_leaderboard(suite, results, args.dataset_path)
        print(f"{suite.name}: leaderboard matches its records")
        return 0
    md_path, csv_path = write_leaderboard(suite, results, args.dataset_path)
    print(f"{md_path.read_text()}\nwrote {md_path} and {csv_path}")
    return 0


def cmd_rescore(args) -> int:
    from bench import rescore
    from bench.paths import results_dir

    print(rescore.run(args.results_dir or results_dir(), args.suite, args.add_slices, args.add_sid_prefixes))
    return 0


def cmd_check(args) -> int:
    from bench.checks import check_target

    return 0 if all(check_target(args.what, target, args.set) for target in args.targets) else 1


def cmd_tokenize(args) -> int:
    from bench.device import resolve_device
    from bench.tokenizing import diagnostics_table, tokenize_suite

    print(diagnostics_table(tokenize_suite(_suite(args), args.tokenizers, args.seeds, args.budget,
                                           resolve_device(args.device), args.results_dir)))
    return 0


def cmd_perf(args) -> int:
    from bench import perf

    if args.what == "gpu":
        from bench import perf_gpu

        report, out = perf_gpu.write(args.device, args.quick, args.results_dir)
        print(perf_gpu.summary(report))
        print(f"wrote {out}")
        return 0
    report, out = perf.write_report(args.what, args.dataset, args.suite, args.tokenizer, args.batches, args.users,
                                    args.results_dir, tuple(args.sizes), args.threads or 2, args.against)
    if args.what == "scale":
        print("\n".join(f"{stage:22s} b = {result['exponent']:.2f}" for stage, result in report["stages"].items()))
    else:
        print("\n".join(f"{key:45s} {value:,.3f}" if isinstance(value, float) else f"{key:45s} {value}"
                        for key, value in report.items() if key != "provenance"))
    print(f"wrote {out}")
    return 0


COMMANDS = {"run": cmd_run, "data": cmd_data, "ls": cmd_ls, "leaderboard": cmd_leaderboard, "check": cmd_check,
            "tokenize": cmd_tokenize, "perf": cmd_perf, "sweep": cmd_sweep, "rescore": cmd_rescore}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cache_dir:
        os.environ["SID_BENCH_CACHE"] = str(Path(args.cache_dir).expanduser().resolve())
    try:
        for option in ("threads", "workers", "trials", "batches", "users"):  # counts: at least one
            if getattr(args, option, None) is not None and getattr(args, option) < 1:
                raise ConfigError(f"--{option} must be at least 1, got {getattr(args, option)}")
        for path in args.plugin:
            registry.load_plugin_file(path)
        return COMMANDS[args.command](args)
    except BenchError as err:
        if os.environ.get("SID_BENCH_DEBUG"):  # a plugin's failure, with the whole traceback of its cause
            traceback.print_exception(err)
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished jobs keep their records; run the same command to resume", file=sys.stderr)
        return 130
