"""`python -m bench tokenize`: fit the SID tables a suite's runs will use (cached), write one tokenizer record
per table to results/tokenizers/, and show their diagnostics side by side."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from bench.errors import BenchError
from bench.identity import distinct_tables
from bench.quantize.diagnostics import alignment_cell, level_cells
from bench.suites import Suite, resolve, resolve_plugin


def tokenize_suite(suite: Suite, names: tuple[str, ...] | None, seeds: tuple[int, ...] | None, budget: str,
                   device: str, results_dir: Path | None = None) -> list[dict]:
    """Fit each distinct table (a tokenizer's own settings, and any a frozen sweep result gives it) for each
    seed; returns the tokenizer records written."""
    from bench.data import load_dataset
    from bench.io import atomic_write_json
    from bench.paths import results_dir as default_results_dir
    from bench.progress import stage
    from bench.protocol import make_split
    from bench.plan import narrow
    from bench.sids import fit_table

    names = narrow(list(suite.tokenizers), names, "tokenizers")
    if not names:
        raise BenchError(f"suite {suite.name} has no tokenizers")
    tables = [t for t in distinct_tables(resolve(suite, budget)) if t.entry in names]
    tables += [resolve_plugin(suite, "tokenizers", n, budget) for n in names if n not in {t.entry for t in tables}]
    dataset = load_dataset(suite.dataset)
    split = make_split(dataset, suite.protocol)
    infos, seen = [], set()
    for table in tables:
        for seed in seeds or suite.seeds[:1]:
            with stage(f"tokenizer {table.entry} seed {seed}") as info:
                fitted = fit_table(table.entry, table.plugin, table.config, seed, dataset, split, table.features,
                                   device)
                info.done = "from cache" if fitted.info["cache_hit"] else f"fitted in {fitted.info['fit_s']:.1f}s"
            variant = "" if (table.entry, seed) not in seen else f".{fitted.info['config_hash']}"
            seen.add((table.entry, seed))
            out = Path(results_dir or default_results_dir()) / "tokenizers" / suite.name / table.entry
            record = {k: v for k, v in fitted.info.items() if k != "cache_hit"}
            atomic_write_json(out / f"seed{seed}{variant}.json", record)
            infos.append(fitted.info)
    return infos


def diagnostics_table(infos: list[dict]) -> str:
    rows = []
    for info in infos:
        d = info["diagnostics"]
        embed = info["features"].get("text_embeddings", {}).get("embed_seconds")
        shape = (f"≤{d['n_levels']} tokens (mean {d['mean_length']:.1f})" if d["variable_length"] else
                 f"{len(d['levels'])}{' + dedup' if d['dedup_level'] else ''}")
        coherence = d.get("coherence")
        rows.append([info["name"], info["seed"], shape, *level_cells(d), f"{d['collided_share']:.1%}",
                     d["largest_bucket"], "-" if not coherence else
                     f"{coherence['same_first_code']:.2f} (random {coherence['random_codes']:.2f})",
                     alignment_cell(d), f"{info['fit_s']:.1f}", "-" if embed is None else f"{embed:.0f}"])
    return tabulate(rows, headers=["tokenizer", "seed", "levels", "usage per level", "entropy per level",
                                   "collided before dedup", "largest bucket", "coherence",
                                   "co-consumed lift (1 / 2 codes)", "fit s", "embed s"],
                    tablefmt="github", disable_numparse=True)
