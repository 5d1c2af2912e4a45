"""Leaderboards: records of one suite aggregated per system into markdown and CSV tables.

Only records whose suite version and dataset file hashes match the suite's current ones, and whose plugins
are at their current version, are used; the rest are listed as excluded (an older plugin version is
superseded, never mixed in). Each system is compared with the suite's reference on per-user metrics
(bench.stats: paired t-test, Holm across the table, bootstrap interval). A second table gives each
tokenizer's SID diagnostics. The output holds no timestamps and the bootstrap is seeded, so regenerating it
from the same records gives the same bytes (CI checks this).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

import numpy as np
from tabulate import tabulate

from bench import records, registry
from bench.errors import BenchError
from bench.io import atomic_write_bytes
from bench.stats import BOOTSTRAP_SAMPLES, bootstrap_interval, holm, paired_comparison

METRICS = ("recall@5", "ndcg@5", "recall@10", "ndcg@10")
TESTED = ("ndcg@10", "recall@10")  # compared with the reference, Holm-corrected together
METHOD = (f"Δ: relative difference of the mean to the reference. Significance: two-sided paired t-test on per-user "
          f"test metrics (each user's metric averaged over the system's seeds first), Holm-corrected across all "
          f"{' and '.join(m.upper().replace('RECALL', 'R').replace('NDCG', 'N') for m in TESTED)} comparisons "
          f"of the table; 95% CI: percentile bootstrap over users ({BOOTSTRAP_SAMPLES} resamples, seed 0) of the "
          f"absolute difference in N@10. Paired t rather than Wilcoxon: with thousands of users it is well "
          f"calibrated, Wilcoxon and sign tests are not (Ihemelandu & Ekstrand, SIGIR'23).")


def _group(paths: list[Path], version: int, data_files: dict | None):
    """{budget: {system: [record, ...]}} for matching records, plus (path, reason) for those left out."""
    groups: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    excluded = []
    for path in paths:
        record = records.read_record(path)
        if record["suite"]["version"] != version:
            excluded.append((path, f"suite version {record['suite']['version']} (current {version})"))
        elif data_files is not None and record["dataset"]["files"] != data_files:
            excluded.append((path, "dataset files differ from the current ones"))
        elif superseded := _superseded(record):
            excluded.append((path, superseded))
        else:
            record["_path"] = str(path)  # for the per-user side file; never written back
            groups[record["suite"]["budget"]][record["system"]].append(record)
    return groups, excluded


def _superseded(record: dict) -> str | None:
    """Why a record's plugin version is not the installed one (None when it is, or the plugin is unknown)."""
    for kind, part in (("recommenders", "recommender"), ("tokenizers", "tokenizer")):
        info = record.get(part)
        if not info:
            continue
        plugin = info.get("plugin", info["name"])  # records before the suites' `plugin:` key name it alone
        try:
            current = registry.get(kind, plugin).version
        except BenchError:
            continue
        if info["version"] != current:
            return f"superseded: {part} '{plugin}' version {info['version']} (current {current})"
    return None


def _per_user_mean(recs: list[dict], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(users, the metric per user averaged over the records' seeds); every seed must rank the same users."""
    users, values = None, []
    for record in recs:
        side = records.read_per_user(Path(record["_path"]), record)
        if users is not None and not np.array_equal(users, side["users"]):
            raise ValueError(f"{record['_path']}: evaluated users differ between seeds of {record['system']}")
        users = side["users"]
        values.append(side[f"test.{metric}"].astype(np.float64))
    return users, np.mean(values, axis=0)


def _significance(systems: dict[str, list[dict]], reference: str) -> dict[str, dict[str, object]]:
    """{system: {metric: Comparison with Holm-adjusted p}} against the reference."""
    found, raw = {}, []
    baseline = {metric: _per_user_mean(systems[reference], metric) for metric in TESTED}  # read once
    for system in sorted(systems):
        if system == reference:
            continue
        for metric in TESTED:
            ref_users, ref_values = baseline[metric]
            users, values = _per_user_mean(systems[system], metric)
            if not np.array_equal(users, ref_users):
                raise ValueError(f"{system} and {reference} were evaluated on different users")
            found.setdefault(system, {})[metric] = paired_comparison(values, ref_values)
            raw.append((system, metric))
    adjusted = holm([found[s][m].p_value for s, m in raw])
    for (system, metric), p in zip(raw, adjusted):
        found[system][metric] = (found[system][metric], p)
    return found


def _figures(suite_name: str, budget: str, systems: dict, means: dict, figures: list) -> list[str]:
    """Markdown links to this budget's figures; their data goes to `figures`."""
    intervals = []
    for system, recs in systems.items():
        _, values = _per_user_mean(recs, "ndcg@10")
        low, high = bootstrap_interval(values)
        intervals.append((system, float(values.mean()), low, high))
    base = f"{suite_name}.{budget}"
    figures.append((f"{base}.ndcg.png", "metric_with_intervals", intervals, f"{suite_name}, budget {budget}"))
    lines = [f"![test NDCG@10 with 95% intervals]({base}.ndcg.png)", ""]
    points = [(s, recs[0]["tokenizer"]["diagnostics"]["collided_share"], means[s]["ndcg@10"])
              for s, recs in sorted(systems.items()) if recs[0].get("tokenizer")]
    if len(points) >= 2:
        figures.append((f"{base}.collisions.png", "quality_against_collisions", points,
                        f"{suite_name}, budget {budget}: quality vs collisions"))
        lines += [f"![NDCG@10 against collisions before disambiguation]({base}.collisions.png)", ""]
    return lines


def _p(p: float) -> str:
    return "<1e-4" if p < 1e-4 else f"{p:.4f}"


def _tokenizer_table(systems: dict[str, list[dict]]) -> list[list]:
    """One row per tokenizer (first seed's table): its item features (naming the text model), code usage,
    collisions, coherence, fit time."""
    rows = {}
    for recs in systems.values():
        for record in recs:
            tokenizer = record.get("tokenizer")
            if not tokenizer or tokenizer["name"] in rows:
                continue
            d = tokenizer["diagnostics"]
            coherence = (d.get("coherence") or {}).get("lift")
            inputs = ", ".join(f"{name} ({info['model']})" if isinstance(info, dict) and info.get("model") else name
                               for name, info in sorted((tokenizer.get("features") or {}).items()))
            rows[tokenizer["name"]] = [
                tokenizer["name"], inputs or "—", d["n_levels"], "variable" if d["variable_length"] else "fixed",
                " / ".join(f"{level['usage']:.0%}" for level in d["levels"][:4]),
                " / ".join(f"{abs(level['entropy']):.2f}" for level in d["levels"][:4]),  # never "-0.00"
                f"{d['collided_share']:.1%}", d["largest_bucket"], "—" if coherence is None else f"{coherence:.2f}",
                f"{tokenizer['fit_s']:.1f}"]
    return [rows[name] for name in sorted(rows)]


def _cell(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"


def _setup(record: dict) -> str:
    """What a reader must know to compare a generative system: encoder input, beam, constraint, budget,
    precision, and how often the beam found the exact top 10."""
    training = record["training"]
    if "encoder_input" not in training:
        return ""
    constraint = "constrained" if training.get("constrained", True) else "unconstrained"
    parts = [training["encoder_input"], f"beam {training['beam_size']}", constraint]
    parts.append(f"{training['steps']:,} steps" if "steps" in training else f"{training['epochs']} epochs")
    if "precision" in training:
        parts.append(training["precision"])
    fidelity = record.get("beam_fidelity")
    if fidelity:
        k = fidelity["k"]
        parts.append(f"beam = exact top {k} for {fidelity['same_top_k_share']:.0%} of users "
                     f"(R@{k} lost {fidelity[f'recall@{k}_lost']:+.4f})")
    return ", ".join(parts)


def build_tables(suite_name: str, version: int, results: Path, data_files: dict | None,
                 reference: str | None, figures: list | None = None) -> tuple[str, str, list[tuple[Path, str]]]:
    """(markdown, csv, excluded) for every budget with records; the figures' data is appended to `figures`
    as (file name, plot function name, data, title) when a list is given (the markdown links them anyway)."""
    figures = figures if figures is not None else []
    groups, excluded = _group(records.find_records(results, suite_name), version, data_files)
    md = [f"# Leaderboard: {suite_name}", "",
          "Generated by `python -m bench leaderboard` from the records in `results/runs/`; do not edit by hand.", ""]
    rows_csv = []
    for budget in sorted(groups):
        systems = groups[budget]
        means = {s: {m: float(np.mean([r["metrics"]["test"][m] for r in recs])) for m in METRICS}
                 for s, recs in systems.items()}
        order = sorted(systems, key=lambda s: (-means[s]["ndcg@10"], s))
        ref = reference if reference in systems else None
        significance = _significance(systems, ref) if ref else {}
        table = []
        for system in order:
            recs = sorted(systems[system], key=lambda r: r["seeds"]["run"])
            row = [system, len(recs)]
            row += [_cell([r["metrics"]["test"][m] for r in recs]) for m in METRICS]
            tests = {}
            if ref:
                if system == ref:
                    row += ["reference", "", "", ""]
                else:
                    tests = significance[system]
                    (n10, p_n10), (_, p_r10) = tests["ndcg@10"], tests["recall@10"]
                    row += ["—" if n10.relative is None else f"{n10.relative:+.1%}",
                            f"[{n10.ci_low:+.4f}, {n10.ci_high:+.4f}]", _p(p_n10), _p(p_r10)]
            row.append(f"{np.mean([r['timing']['fit_s'] for r in recs]):.1f}")
            row.append(_setup(recs[0]))
            table.append(row)
            csv_row = {"budget": budget, "system": system, "seeds": len(recs),
                       **{f"{m}_mean": round(means[system][m], 6) for m in METRICS},
                       **{f"{m}_std": round(float(np.std([r["metrics"]["test"][m] for r in recs], ddof=1))
                                        if len(recs) > 1 else 0.0, 6) for m in METRICS}}
            for metric in TESTED:
                comparison, p = tests.get(metric, (None, None))
                csv_row |= {f"{metric}_diff": "" if comparison is None else round(comparison.mean_difference, 6),
                            f"{metric}_ci_low": "" if comparison is None else round(comparison.ci_low, 6),
                            f"{metric}_ci_high": "" if comparison is None else round(comparison.ci_high, 6),
                            f"{metric}_p_holm": "" if p is None else float(f"{p:.4g}")}
            csv_row["fit_s_mean"] = round(float(np.mean([r["timing"]["fit_s"] for r in recs])), 3)
            rows_csv.append(csv_row)
        headers = ["system", "seeds", "R@5", "N@5", "R@10", "N@10"]
        if ref:
            headers += [f"Δ N@10 vs {ref}", "95% CI ΔN@10", "p N@10", "p R@10"]
        headers += ["fit s", "setup"]
        any_record = next(iter(next(iter(systems.values()))))
        protocol = any_record["protocol"]
        dataset = any_record["dataset"]
        md += [f"## Budget `{budget}`", "", tabulate(table, headers=headers, tablefmt="github",
                                                      disable_numparse=True), "",
               f"Test split, mean ± sample std over seeds. Dataset `{dataset['name']}`: {dataset['users']:,} users, "
               f"{dataset['items']:,} items, {dataset['interactions']:,} interactions (order: "
               f"{dataset['order_source']}). Protocol: {protocol['split']}; {protocol['ranking']}; history of the "
               f"last {protocol['max_history']} items; {protocol['evaluated_users']:,} evaluated users.", ""]
        if ref:
            md += [METHOD, ""]
        md += _figures(suite_name, budget, systems, means, figures)
        tokenizers = _tokenizer_table(systems)
        if tokenizers:
            md += ["SID diagnostics (seed of the first record per tokenizer; usage and normalised entropy per level, "
                   "collisions before the disambiguation code, coherence = lift of P(same category | same first code) "
                   "over random codes):", "",
                   tabulate(tokenizers, headers=["tokenizer", "inputs", "levels", "length", "usage", "entropy",
                                                 "collided", "largest bucket", "coherence", "fit s"],
                            tablefmt="github", disable_numparse=True), ""]
    if not groups:
        md += ["No records yet: run `python -m bench run --suite " + suite_name + "`.", ""]
    if excluded:
        md += [f"{len(excluded)} record(s) excluded (other suite version or dataset files, or a superseded plugin "
               "version):", ""]
        md += [f"- `{Path(path).relative_to(results).as_posix()}`: {reason}" for path, reason in excluded] + [""]
    buffer = io.StringIO()
    if rows_csv:
        writer = csv.DictWriter(buffer, fieldnames=list(rows_csv[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows_csv)
    return "\n".join(md), buffer.getvalue(), excluded


def write_leaderboard(suite_name: str, version: int, results: Path, data_files: dict | None,
                      reference: str | None) -> tuple[Path, Path]:
    figures: list = []
    markdown, table_csv, _ = build_tables(suite_name, version, results, data_files, reference, figures)
    out = Path(results) / "leaderboards"
    from bench import plots

    for name, function, data, title in figures:
        getattr(plots, function)(data, title, out / name)
    md_path, csv_path = out / f"{suite_name}.md", out / f"{suite_name}.csv"
    atomic_write_bytes(md_path, markdown.encode())
    atomic_write_bytes(csv_path, table_csv.encode())
    return md_path, csv_path
