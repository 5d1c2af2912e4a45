"""Command line: python -m bench {run, sweep, data, ls, leaderboard, check, tokenize, perf}."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.errors import BenchError

EXAMPLES = {
    "run": """examples:
  python -m bench run --suite amazon-beauty
  python -m bench run --suite amazon-beauty --recommenders popularity --seeds 0
  python -m bench run --suite tiny --budget smoke --set protocol.max_history=50 --dry-run
  python -m bench run --suite amazon-beauty --dataset-path ~/data/my-shop""",
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
  python -m bench leaderboard --suite tiny --check   (fail if the committed table differs)""",
    "check": """examples:
  python -m bench check tokenizer rkmeans
  python -m bench check tokenizer rkmeans --set balanced=true
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
  python -m bench perf recommender --tokenizer random --batches 4 --users 64""",
}


def _csv(kind):
    def parse(text: str):
        items = tuple(part.strip() for part in text.split(",") if part.strip())
        return tuple(kind(i) for i in items)
    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="SID Bench: compare item tokenizers (semantic IDs) for generative "
        "recommendation on one split, one recommender, with significance tests.")
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE",
                        help="load a one-off plugin file (tokenizer or recommender); repeatable")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="stage cache location (default: .cache/ in the checkout; or set SID_BENCH_CACHE)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help_text):
        return sub.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES[name],
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    run = command("run", "run a suite: every (tokenizer, recommender, seed) job, skipping finished ones")
    run.add_argument("--suite", required=True, help="suite name (suites/NAME.yaml) or path to a suite file")
    run.add_argument("--budget", default="auto", help="smoke, cpu, paper, or auto (paper on CUDA, else cpu)")
    run.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    run.add_argument("--seeds", type=_csv(int), help="comma-separated seeds (default: the suite's)")
    run.add_argument("--tokenizers", type=_csv(str), help="only these tokenizers of the suite")
    run.add_argument("--recommenders", type=_csv(str), help="only these recommenders of the suite")
    run.add_argument("--dataset-path", help="run the suite on your own dataset folder instead")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a suite setting, e.g. protocol.max_history=50; repeatable")
    run.add_argument("--results-dir", type=Path, help="where records go (default: results/ in the checkout)")
    run.add_argument("--force", action="store_true", help="rerun jobs that already have a record")
    run.add_argument("--threads", type=int, help="CPU threads per job (default: all cores, divided among workers)")
    run.add_argument("--workers", type=int, default=1,
                     help="run independent jobs in N processes (CPU threads divided; one GPU each if several)")
    run.add_argument("--dry-run", action="store_true", help="print the resolved config and the jobs, run nothing")

    sweep = command("sweep", "tune a (tokenizer, recommender) pair with Optuna on validation NDCG@10; "
                             "--freeze keeps the best")
    sweep.add_argument("--suite", required=True)
    sweep.add_argument("--tokenizer", help="a tokenizer of the suite (for recommenders that use SIDs)")
    sweep.add_argument("--recommender", default="tiger", help="a recommender of the suite (default: tiger)")
    sweep.add_argument("--trials", type=int, default=20,
                       help="finished trials wanted in the study, all workers together")
    sweep.add_argument("--storage", help="Optuna storage URL (default: sqlite file results/sweeps/studies.db)")
    sweep.add_argument("--study", help="study name (default: SUITE.SYSTEM.BUDGET)")
    sweep.add_argument("--budget", default="auto", help="smoke, cpu, paper, or auto")
    sweep.add_argument("--device", default="auto")
    sweep.add_argument("--seed", type=int, default=0, help="the TPE sampler's seed")
    sweep.add_argument("--threads", type=int, help="CPU threads per trial (default: all cores)")
    sweep.add_argument("--tune", default="recommender,tokenizer",
                       help="whose search spaces to sample: recommender, tokenizer, or both (default)")
    sweep.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a suite setting for every trial (e.g. a shorter step budget)")
    sweep.add_argument("--results-dir", type=Path)
    sweep.add_argument("--freeze", action="store_true",
                       help="run nothing; write the study's best settings to suites/tuned/SUITE/SYSTEM.BUDGET.yaml")

    data = command("data", "inspect and validate datasets")
    data.add_argument("action", choices=["stats", "validate"])
    data.add_argument("dataset", help="a registered dataset name or a dataset folder")
    data.add_argument("--json", action="store_true", help="print the statistics as JSON")

    ls = command("ls", "list plugins, datasets or suites (never imports torch)")
    ls.add_argument("what", choices=["tokenizers", "recommenders", "datasets", "suites"])

    board = command("leaderboard", "write results/leaderboards/SUITE.md and .csv from the records")
    board.add_argument("--suite", required=True)
    board.add_argument("--results-dir", type=Path)
    board.add_argument("--check", action="store_true",
                       help="do not write; fail if the committed tables differ from regenerated ones")

    check = command("check", "run a tokenizer's contract checks, or validate a record, dataset folder or suite")
    check.add_argument("what", choices=["tokenizer", "record", "dataset", "suite"])
    check.add_argument("targets", nargs="+")
    check.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="tokenizer config override for `check tokenizer`; repeatable")

    tokenize = command("tokenize", "fit a suite's tokenizers (cached) and print their SID diagnostics")
    tokenize.add_argument("--suite", required=True)
    tokenize.add_argument("--tokenizers", type=_csv(str), help="only these tokenizers of the suite")
    tokenize.add_argument("--seeds", type=_csv(int), help="comma-separated seeds (default: the suite's first)")
    tokenize.add_argument("--device", default="auto")
    tokenize.add_argument("--budget", default="cpu", choices=["smoke", "cpu", "paper"],
                          help="whose tokenizer settings to use (default: cpu)")
    tokenize.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    tokenize.add_argument("--results-dir", type=Path)

    perf = command("perf", "measure speed and memory; writes a JSON report to results/perf/")
    perf.add_argument("what", choices=["data", "recommender"])
    perf.add_argument("--dataset", default="amazon-beauty")
    perf.add_argument("--suite", default="amazon-beauty", help="recommender: the suite whose tokenizer gives SIDs")
    perf.add_argument("--tokenizer", default="rkmeans", help="recommender: tokenizer of the suite for the SIDs")
    perf.add_argument("--batches", type=int, default=12, help="recommender: timed training batches per system")
    perf.add_argument("--users", type=int, default=256, help="recommender: users decoded by our beam search")
    perf.add_argument("--results-dir", type=Path)
    return parser


def cmd_run(args) -> int:
    import yaml

    from bench.config import parse_set
    from bench.runner import RunOptions, plan, run_suite
    from bench.suites import load_suite, resolved

    suite = load_suite(args.suite, parse_set(args.set))
    options = RunOptions(budget=args.budget, device=args.device, seeds=args.seeds, tokenizers=args.tokenizers,
                         recommenders=args.recommenders, dataset_path=args.dataset_path,
                         results_dir=args.results_dir, force=args.force, workers=args.workers,
                         threads=args.threads)
    if args.dry_run:
        from bench.device import resolve_budget

        budget = resolve_budget(args.budget, "cpu" if args.device == "auto" else args.device) \
            if args.budget != "auto" else "auto (paper on CUDA, cpu otherwise; showing cpu)"
        shown = resolved(suite, budget if budget in ("smoke", "cpu", "paper") else "cpu")
        shown["budget"] = budget
        print(yaml.safe_dump(shown, sort_keys=False), end="")
        jobs = plan(suite, options)
        print(f"jobs ({len(jobs)}):")
        for job in jobs:
            print(f"  {job.system} seed {job.seed}")
        return 0
    paths = run_suite(suite, options)
    print(f"{len(paths)} record(s) under {Path(paths[0]).parents[2] if paths else '-'}")
    return 0


def dataset_stats(dataset) -> dict:
    import numpy as np

    lengths = dataset.sequence_lengths
    stats = {
        "dataset": dataset.name,
        "users": dataset.n_users, "items": dataset.n_items, "interactions": dataset.n_interactions,
        "density": dataset.n_interactions / (dataset.n_users * dataset.n_items),
        "order_source": dataset.order_source,
        "sequence_length": {"min": int(lengths.min()), "median": float(np.median(lengths)),
                            "mean": float(lengths.mean()), "p90": float(np.percentile(lengths, 90)),
                            "max": int(lengths.max())},
        "item_interactions": {"min": int(np.bincount(dataset.items).min()),
                              "max": int(np.bincount(dataset.items).max())},
        "files": dict(dataset.files),
    }
    if dataset.timestamps is not None:
        import datetime as dt

        first, last = (dt.datetime.fromtimestamp(int(t), dt.timezone.utc).date().isoformat()
                       for t in (dataset.timestamps.min(), dataset.timestamps.max()))
        stats["time_range"] = [first, last]
    if dataset.item_meta is not None:
        n = dataset.n_items
        meta = dataset.item_meta
        stats["metadata_coverage"] = {
            "title": sum(m.title is not None for m in meta) / n,
            "brand": sum(m.brand is not None for m in meta) / n,
            "categories": sum(bool(m.categories) for m in meta) / n,
            "price": sum(m.price is not None for m in meta) / n,
            "description": sum(m.description is not None for m in meta) / n,
        }
    else:
        stats["metadata_coverage"] = None
    return stats


def print_stats(stats: dict) -> None:
    from tabulate import tabulate

    seq = stats["sequence_length"]
    rows = [("users", f"{stats['users']:,}"), ("items", f"{stats['items']:,}"),
            ("interactions", f"{stats['interactions']:,}"), ("density", f"{stats['density']:.5f}"),
            ("order", stats["order_source"]),
            ("sequence length", f"min {seq['min']}, median {seq['median']:g}, mean {seq['mean']:.2f}, "
                                f"p90 {seq['p90']:g}, max {seq['max']}"),
            ("interactions per item", f"min {stats['item_interactions']['min']}, "
                                      f"max {stats['item_interactions']['max']}")]
    if "time_range" in stats:
        rows.append(("time range", " .. ".join(stats["time_range"])))
    coverage = stats["metadata_coverage"]
    if coverage is None:
        rows.append(("metadata", "no items file"))
    else:
        rows.append(("metadata coverage", ", ".join(f"{k} {v:.1%}" for k, v in coverage.items())))
    print(f"dataset {stats['dataset']}")
    print(tabulate(rows, tablefmt="plain"))


def cmd_data(args) -> int:
    from bench.data import load_dataset

    dataset = load_dataset(args.dataset)
    if args.action == "validate":
        print(f"{args.dataset}: valid ({dataset.n_users:,} users, {dataset.n_items:,} items, "
              f"{dataset.n_interactions:,} interactions)")
        for note in dataset.notes:
            print(f"note: {note}")
        return 0
    stats = dataset_stats(dataset)
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        print_stats(stats)
    return 0


def cmd_ls(args) -> int:
    from tabulate import tabulate

    if args.what == "datasets":
        from bench.data import describe_datasets

        print(tabulate(describe_datasets(), headers=["dataset", "description"], tablefmt="plain"))
        return 0
    if args.what == "suites":
        import yaml

        from bench.suites import available_suites

        rows = []
        for name, path in available_suites().items():
            data = yaml.safe_load(path.read_text()) or {}
            rows.append((name, data.get("dataset", "?"), data.get("description", "")))
        print(tabulate(rows, headers=["suite", "dataset", "description"], tablefmt="plain"))
        return 0
    from bench import registry

    rows = []
    for name, cls in registry.available(args.what).items():
        doc = (cls.__doc__ or sys.modules[cls.__module__].__doc__ or "").strip().splitlines()
        rows.append((name, doc[0] if doc else "", registry.source_of(args.what, name)))
    if not rows:
        print(f"no {args.what} registered yet")
        return 0
    print(tabulate(rows, headers=[args.what[:-1], "description", "source"], tablefmt="plain"))
    return 0


def cmd_sweep(args) -> int:
    from bench import registry
    from bench.device import resolve_budget, resolve_device
    from bench.errors import ConfigError, did_you_mean
    from bench.config import parse_set
    from bench.suites import load_suite
    from bench.sweep import SweepTarget, freeze, run_sweep

    suite = load_suite(args.suite, parse_set(args.set))
    for kind, name in (("recommenders", args.recommender), ("tokenizers", args.tokenizer)):
        if name is not None and name not in getattr(suite, kind):
            known = list(getattr(suite, kind))
            raise ConfigError(f"'{name}' is not one of the suite's {kind}{did_you_mean(name, known)}")
    uses_sids = registry.get("recommenders", suite.plugin_name("recommenders", args.recommender)).uses_sids
    if uses_sids != bool(args.tokenizer):
        raise ConfigError(f"recommender '{args.recommender}' " + ("needs --tokenizer" if uses_sids else
                                                                   "does not use semantic IDs: drop --tokenizer"))
    device = resolve_device(args.device)
    tune = tuple(part.strip() for part in args.tune.split(","))
    if not tune or set(tune) - {"recommender", "tokenizer"}:
        raise ConfigError(f"--tune takes recommender, tokenizer or both, got {args.tune!r}")
    target = SweepTarget(suite, args.tokenizer, args.recommender, resolve_budget(args.budget, device), tune)
    if args.freeze:
        path = freeze(target, args.storage, args.study, args.results_dir)
        print(path.read_text())
        print(f"wrote {path}")
        return 0
    if args.trials < 1:
        raise ConfigError("--trials must be at least 1")
    study = run_sweep(target, args.trials, args.storage, args.study, device, args.seed, args.results_dir,
                      threads=args.threads)
    states = {}
    for trial in study.trials:
        states[trial.state.name.lower()] = states.get(trial.state.name.lower(), 0) + 1
    print(f"study {study.study_name}: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
    if any(t.state.name == "COMPLETE" for t in study.trials):
        print(f"best: validation NDCG@10 {study.best_value:.4f} with {study.best_params}")
    return 0


def cmd_leaderboard(args) -> int:
    from bench.data import DATASETS
    from bench.leaderboard import build_tables, write_leaderboard
    from bench.paths import results_dir
    from bench.suites import load_suite

    suite = load_suite(args.suite)
    results = args.results_dir or results_dir()
    spec = DATASETS.get(suite.dataset)
    data_files = dict(spec.sha256) if spec is not None and hasattr(spec, "sha256") else None
    if args.check:
        markdown, table_csv, _ = build_tables(suite.name, suite.version, results, data_files, suite.reference)
        out = results / "leaderboards"
        stale = [p for p, text in ((out / f"{suite.name}.md", markdown), (out / f"{suite.name}.csv", table_csv))
                 if not p.is_file() or p.read_text() != text]
        if stale:
            raise BenchError("leaderboard differs from the records: " + ", ".join(map(str, stale)) +
                             f"\n  regenerate it with `python -m bench leaderboard --suite {suite.name}`")
        print(f"{suite.name}: leaderboard matches its records")
        return 0
    md_path, csv_path = write_leaderboard(suite.name, suite.version, results, data_files, suite.reference)
    print(md_path.read_text())
    print(f"wrote {md_path} and {csv_path}")
    return 0


def cmd_check(args) -> int:
    if args.what == "tokenizer":
        from bench.checks import run_checks
        from bench.config import parse_set

        overrides = {".".join(path): value for path, value in parse_set(args.set)}
        results = [run_checks(name, overrides) for name in args.targets]
        return 0 if all(results) else 1
    if args.what == "record":
        from bench import records

        for target in args.targets:
            record = records.read_record(Path(target))
            records.read_per_user(Path(target), record)
            print(f"{target}: valid record (schema v{record['schema_version']}, {record['system']}, "
                  f"seed {record['seeds']['run']})")
    elif args.what == "dataset":
        from bench.data import load_dataset

        for target in args.targets:
            dataset = load_dataset(target)
            print(f"{target}: valid ({dataset.n_users:,} users, {dataset.n_items:,} items)")
    else:
        from bench.suites import load_suite

        for target in args.targets:
            suite = load_suite(target)
            print(f"{target}: valid suite ({len(suite.tokenizers)} tokenizer(s), "
                  f"{len(suite.recommenders)} recommender(s), seeds {list(suite.seeds)})")
    return 0


def cmd_tokenize(args) -> int:
    from tabulate import tabulate

    from bench.config import parse_set
    from bench.data import load_dataset
    from bench.device import resolve_device
    from bench.io import atomic_write_json
    from bench.paths import results_dir
    from bench.progress import stage
    from bench.protocol import make_split
    from bench.runner import narrow
    from bench.sids import fit_table
    from bench.suites import load_suite

    suite = load_suite(args.suite, parse_set(args.set))
    names = narrow(list(suite.tokenizers), args.tokenizers, "tokenizers")
    if not names:
        raise BenchError(f"suite {suite.name} has no tokenizers")
    seeds = args.seeds or suite.seeds[:1]
    device = resolve_device(args.device)
    dataset = load_dataset(suite.dataset)
    split = make_split(dataset, suite.protocol)
    rows = []
    for name in names:
        for seed in seeds:
            with stage(f"tokenizer {name} seed {seed}") as info:
                fitted = fit_table(name, suite.plugin_name("tokenizers", name),
                                   suite.plugin_config("tokenizers", name, args.budget), seed, dataset, split,
                                   suite.features, device)
                info.done = "from cache" if fitted.info["cache_hit"] else f"fitted in {fitted.info['fit_s']:.1f}s"
            out = (args.results_dir or results_dir()) / "tokenizers" / suite.name / name / f"seed{seed}.json"
            atomic_write_json(out, {k: v for k, v in fitted.info.items() if k != "cache_hit"})
            d = fitted.info["diagnostics"]
            embed = fitted.info["features"].get("text_embeddings", {}).get("embed_seconds")
            shape = (f"≤{d['n_levels']} tokens (mean {d['mean_length']:.1f})" if d["variable_length"] else
                     f"{len(d['levels'])}{' + dedup' if d['dedup_level'] else ''}")
            rows.append([name, seed, shape,
                         " / ".join(f"{lvl['usage']:.0%}" for lvl in d["levels"][:4]),
                         " / ".join(f"{lvl['entropy']:.2f}" for lvl in d["levels"][:4]),
                         f"{d['collided_share']:.1%}", d["largest_bucket"],
                         "-" if not d.get("coherence") else f"{d['coherence']['same_first_code']:.2f} "
                         f"(random {d['coherence']['random_codes']:.2f})",
                         f"{fitted.info['fit_s']:.1f}", "-" if embed is None else f"{embed:.0f}"])
    print(tabulate(rows, headers=["tokenizer", "seed", "levels", "usage per level", "entropy per level",
                                  "collided before dedup", "largest bucket", "coherence", "fit s", "embed s"],
                   tablefmt="github", disable_numparse=True))
    return 0


def cmd_perf(args) -> int:
    from bench import perf
    from bench.data import load_dataset
    from bench.io import atomic_write_json
    from bench.paths import results_dir
    from bench.protocol import make_split
    from bench.provenance import provenance

    if args.what == "data":
        report = {"benchmark": "data", "dataset": args.dataset, **perf.run_data(args.dataset)}
    else:
        from bench.sids import fit_table
        from bench.suites import load_suite

        suite = load_suite(args.suite)
        dataset = load_dataset(suite.dataset)
        split = make_split(dataset, suite.protocol)
        fitted = fit_table(args.tokenizer, suite.plugin_name("tokenizers", args.tokenizer),
                           suite.plugin_config("tokenizers", args.tokenizer, "cpu"), 0, dataset, split,
                           suite.features)
        report = {"benchmark": "recommender", "suite": suite.name, "tokenizer": args.tokenizer,
                  **perf.run(split, fitted.table, n_batches=args.batches, n_users=args.users)}
    report["provenance"] = provenance("cpu")
    out = (args.results_dir or results_dir()) / "perf" / f"{args.what}.json"
    atomic_write_json(out, report)
    for key, value in report.items():
        if key != "provenance":
            print(f"{key:45s} {value:,.3f}" if isinstance(value, float) else f"{key:45s} {value}")
    print(f"wrote {out}")
    return 0


COMMANDS = {"run": cmd_run, "data": cmd_data, "ls": cmd_ls, "leaderboard": cmd_leaderboard, "check": cmd_check,
            "tokenize": cmd_tokenize, "perf": cmd_perf, "sweep": cmd_sweep}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cache_dir:
        import os

        os.environ["SID_BENCH_CACHE"] = str(Path(args.cache_dir).expanduser().resolve())
    try:
        if args.plugin:
            from bench import registry

            for path in args.plugin:
                registry.load_plugin_file(path)
        return COMMANDS[args.command](args)
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished jobs keep their records; run the same command to resume",
              file=sys.stderr)
        return 130
