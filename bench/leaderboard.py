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

from bench import evidence, records, registry
from bench.config import config_hash, identity, to_dict
from bench.errors import BenchError
from bench.evidence_tables import beyond_accuracy_table, decoding_table, slice_table
from bench.metrics import display_name, higher_is_better, metric_names, parse_metric, short_name
from bench.record_types import DecodingSetup
from bench.io import atomic_write_bytes
from bench.slices import TRANSITION_SLICES
from bench.stats import BOOTSTRAP_SAMPLES, bootstrap_interval, holm, paired_comparison
from bench.suites import BUDGETS, ResolvedSuite, Suite, resolve, system_name
from bench.tokenizing import alignment_cell, level_cells

def _tested(selection: str) -> tuple[str, str]:
    """The metrics compared with the reference, Holm-corrected together: the selection metric first, then
    its partner at the same cutoff (ndcg@10 -> recall@10)."""
    kind, k = parse_metric(selection)
    return selection, f"{'recall' if kind == 'ndcg' else 'ndcg'}@{k}"


def _method(tested: tuple[str, str]) -> str:
    return (f"Δ: relative difference of the mean to the reference. Significance: two-sided paired t-test on "
            f"per-user test metrics (each user's metric averaged over the system's seeds first), Holm-corrected "
            f"across all {' and '.join(short_name(m) for m in tested)} comparisons of the table; 95% CI: percentile "
            f"bootstrap over users ({BOOTSTRAP_SAMPLES} resamples, seed 0) of the absolute difference in "
            f"{short_name(tested[0])}. Paired t rather than Wilcoxon: with thousands of users it is well "
            f"calibrated, Wilcoxon and sign tests are not (Ihemelandu & Ekstrand, SIGIR'23).")


def _group(paths: list[Path], suite: Suite, data_files: dict | None):
    """{budget: {system: [record, ...]}} for records of the suite's current settings, plus (path, reason) for
    those left out: another suite version or dataset, a superseded plugin version, a system the suite no longer
    has, or settings other than the ones the suite now resolves to (seeds of different settings never mix)."""
    groups: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    excluded, resolved = [], {}
    for path in paths:
        record = records.read_record(path)
        records.check_layout(path, record)  # one record per (system, seed): a copy is never another seed
        budget = record["suite"]["budget"]
        if budget not in resolved:
            resolved[budget] = resolve(suite, budget) if budget in BUDGETS else None
        if record["suite"]["version"] != suite.version:
            excluded.append((path, f"suite version {record['suite']['version']} (current {suite.version})"))
        elif data_files is not None and record["dataset"]["files"] != data_files:
            excluded.append((path, "dataset files differ from the current ones"))
        elif superseded := _superseded(record):
            excluded.append((path, superseded))
        elif differs := _other_settings(record, resolved[budget]):
            excluded.append((path, differs))
        else:
            _, arrays = records.read_verified(path)  # a summary that its per-user values contradict stops the table
            record["_path"] = str(path)  # for messages; never written back
            record["_arrays"] = arrays  # per-user values (and lists, slices, what they give), read and hashed once
            groups[budget][record["system"]].append(record)
    return groups, excluded


def _other_settings(record: dict, resolved: ResolvedSuite | None) -> str | None:
    """Why a record's settings are not the suite's current ones for its system (None when they are)."""
    if resolved is None or record["system"] not in resolved.systems:
        return f"'{record['system']}' is not a system of the suite at budget {record['suite']['budget']}"
    wanted = {**to_dict(resolved.suite.protocol), "selection_metric": resolved.suite.selection_metric}
    recorded = {key: record["protocol"].get(key, "ndcg@10" if key == "selection_metric" else None) for key in wanted}
    if recorded != wanted:
        return f"protocol differs from the suite's ({', '.join(k for k in wanted if recorded[k] != wanted[k])})"
    system = resolved.systems[record["system"]]
    for part, plugin in (("recommender", system.recommender), ("tokenizer", system.tokenizer)):
        info = record.get(part)
        if plugin is not None and info and info["config_hash"] != config_hash(identity(plugin.config)):
            now = identity(plugin.config)
            changed = sorted(_changed_keys(info["config"], now))
            return f"{part} settings differ from the suite's current ones ({', '.join(changed[:4]) or 'config'})"
    return None


def _changed_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for key in set(old) | set(new):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out


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
        side = record["_arrays"]
        if users is not None and not np.array_equal(users, side["users"]):
            raise BenchError(f"{record['_path']}: evaluated users differ between seeds of {record['system']}; "
                             "records of one system must rank the same users")
        users = side["users"]
        values.append(side[f"test.{metric}"].astype(np.float64))
    return users, np.mean(values, axis=0)


def _same_users(users: np.ndarray, other_users: np.ndarray, system: str, other: str) -> None:
    """A paired test needs both systems' per-user values on the same users, in the same order."""
    if not np.array_equal(users, other_users):
        raise BenchError(f"{system} and {other} were evaluated on different users, so they cannot be paired; "
                         "were they run with different protocol settings?")


def _significance(systems: dict[str, list[dict]], reference: str, tested: tuple[str, str]) -> dict[str, dict]:
    """{system: {metric: Comparison with Holm-adjusted p}} against the reference."""
    found, raw = {}, []
    baseline = {metric: _per_user_mean(systems[reference], metric) for metric in tested}  # read once
    for system in sorted(systems):
        if system == reference:
            continue
        for metric in tested:
            ref_users, ref_values = baseline[metric]
            users, values = _per_user_mean(systems[system], metric)
            _same_users(users, ref_users, system, reference)
            found.setdefault(system, {})[metric] = paired_comparison(values, ref_values)
            raw.append((system, metric))
    adjusted = holm([found[s][m].p_value for s, m in raw])
    for (system, metric), p in zip(raw, adjusted):
        found[system][metric] = (found[system][metric], p)
    return found


def _base_system(record: dict, systems: dict[str, list[dict]]) -> str | None:
    """The system a variant departs from in one suite entry, when it has records: its tokenizer entry's plugin
    (plum-no-fusion+tiger -> plum+tiger), else its recommender entry's (rqvae+tiger-sid-tokens -> rqvae+tiger)."""
    tokenizer, recommender = record.get("tokenizer"), record["recommender"]
    candidates = []
    if tokenizer and tokenizer["name"] != tokenizer.get("plugin", tokenizer["name"]):
        candidates.append(system_name(tokenizer["plugin"], recommender["name"]))
    if recommender["name"] != recommender.get("plugin", recommender["name"]):
        candidates.append(system_name(tokenizer["name"] if tokenizer else None, recommender["plugin"]))
    return next((base for base in candidates if base in systems), None)


def _variant_table(systems: dict[str, list[dict]], order: list[str], tested: tuple[str, str]) -> list[str]:
    """Each variant (an ablation, or an entry that changes one setting of another) against the system it
    departs from, on the seeds both have: the question an ablation asks, which the table above (everything
    against the reference) does not answer. Holm-corrected across this table."""
    pairs = []
    for system in order:
        base = _base_system(systems[system][0], systems)
        seeds = sorted({r["seeds"]["run"] for r in systems[system]} & {r["seeds"]["run"] for r in systems[base]}
                       if base else ())
        if seeds:
            pairs.append((system, base, seeds))
    if not pairs:
        return []
    tests, raw = [], []
    for system, base, seeds in pairs:
        comparisons, means = {}, None
        for metric in tested:
            (users, ours), (base_users, theirs) = (
                _per_user_mean([r for r in systems[name] if r["seeds"]["run"] in seeds], metric)
                for name in (system, base))
            _same_users(users, base_users, system, base)
            comparisons[metric] = paired_comparison(ours, theirs)
            means = means or (float(ours.mean()), float(theirs.mean()))  # of the headline metric
        tests.append((system, base, seeds, comparisons[tested[0]], means))
        raw += [comparisons[metric].p_value for metric in tested]
    adjusted = iter(holm(raw))
    rows = []
    for system, base, seeds, main, (ours, theirs) in tests:
        p_main, p_partner = next(adjusted), next(adjusted)
        rows.append([system, base, ", ".join(map(str, seeds)), f"{ours:.4f}", f"{theirs:.4f}",
                     "—" if main.relative is None else f"{main.relative:+.1%}",
                     f"[{main.ci_low:+.4f}, {main.ci_high:+.4f}]", _p(p_main), _p(p_partner)])
    metric, other = map(short_name, tested)
    return ["Variants against the system they change (an ablation entry, or one setting changed), on the seeds "
            "both have, so that an ablation's effect is not read off two differences to the reference; paired "
            f"t-test on per-user test metrics, Holm-corrected across this table's {metric} and {other} "
            f"comparisons; 95% CI: bootstrap of the {metric} difference:", "",
            tabulate(rows, headers=["variant", "against", "seeds", metric, f"{metric} of base", f"Δ {metric}",
                                    f"95% CI Δ{metric}", f"p {metric}", f"p {other}"],
                     tablefmt="github", disable_numparse=True), ""]


def _figures(suite_name: str, budget: str, systems: dict, means: dict, figures: list, headline: str) -> list[str]:
    """Markdown links to this budget's figures; their data goes to `figures`."""
    intervals = []
    for system, recs in systems.items():
        _, values = _per_user_mean(recs, headline)
        low, high = bootstrap_interval(values)
        intervals.append((system, float(values.mean()), low, high))
    base = f"{suite_name}.{budget}"
    figures.append((f"{base}.ndcg.png", "metric_with_intervals", intervals, f"{suite_name}, budget {budget}",
                    display_name(headline)))
    lines = [f"![test {display_name(headline)} with 95% intervals]({base}.ndcg.png)", ""]
    points = [(s, recs[0]["tokenizer"]["diagnostics"]["collided_share"], means[s][headline])
              for s, recs in sorted(systems.items()) if recs[0].get("tokenizer")]
    if len(points) >= 2:
        figures.append((f"{base}.collisions.png", "quality_against_collisions", points,
                        f"{suite_name}, budget {budget}: quality vs collisions", display_name(headline)))
        lines += [f"![{display_name(headline)} against collisions before disambiguation]({base}.collisions.png)", ""]
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
                *level_cells(d),
                f"{d['collided_share']:.1%}", d["largest_bucket"], "—" if coherence is None else f"{coherence:.2f}",
                alignment_cell(d).replace("-", "—"), f"{tokenizer['fit_s']:.1f}"]
    return [rows[name] for name in sorted(rows)]


def time_by_stage(systems: dict[str, list[dict]]) -> dict[str, float]:
    """Seconds spent per stage by the records of one table, each shared stage counted once: a text or CF
    embedding once per content hash, a SID table once per (tokenizer, seed), as the cache shares them."""
    features, tables = {}, {}
    stages = dict.fromkeys(["text embeddings", "CF embeddings", "SID fits", "generative training",
                            "generative evaluation", "RecBole training", "RecBole evaluation", "other"], 0.0)
    for recs in systems.values():
        for record in recs:
            timing, tokenizer = record["timing"], record.get("tokenizer")
            evaluation = records.evaluation_seconds(record)
            if tokenizer:
                tables[(tokenizer["name"], tokenizer["seed"])] = tokenizer["fit_s"]
                for name, info in (tokenizer.get("features") or {}).items():
                    if name in ("text_embeddings", "cf_embeddings"):
                        features[(name, info["hash"])] = info.get("embed_seconds", info["seconds"])
                stages["generative training"] += records.fit_seconds(record)
                stages["generative evaluation"] += evaluation
            elif record["recommender"].get("plugin") == "recbole":
                stages["RecBole training"] += records.fit_seconds(record)
                stages["RecBole evaluation"] += evaluation
            else:
                stages["other"] += timing["total_s"]
    stages["SID fits"] = sum(tables.values())
    for (name, _), seconds in features.items():
        stages["text embeddings" if name == "text_embeddings" else "CF embeddings"] += seconds
    return stages


def _time_table(systems: dict[str, list[dict]]) -> list[str]:
    stages = time_by_stage(systems)
    total = sum(stages.values())
    if not total:
        return []
    rows = [[stage, f"{seconds / 3600:.2f}", f"{seconds / total:.0%}"] for stage, seconds in stages.items()]
    rows.append(["total", f"{total / 3600:.2f}", "100%"])
    return ["Where the time goes (the table's records, wall-clock seconds as each recorded them, so threads and "
            "hosts may differ; shared stages counted once: an embedding per content, a SID table per tokenizer "
            "and seed; training includes its per-epoch validation, evaluation is the final validation, test "
            "and beam-fidelity scoring):", "",
            tabulate(rows, headers=["stage", "hours", "share"], tablefmt="github", disable_numparse=True), ""]


def _memorisation_table(systems: dict[str, list[dict]], order: list[str], names: list[str]) -> list[str]:
    """Recall at the largest cutoff on memorised and on new test transitions (bench.memorisation), from the
    transition labels that records with ranked lists keep; systems whose records predate them are left out."""
    metric = next(m for m in reversed(names) if m.startswith("recall@"))
    rows, share = [], 0.0
    for system in order:
        recs = [r for r in systems[system] if "test.slice.transition" in (r.get("_arrays") or {})]
        if not recs:
            continue
        flags = recs[0]["_arrays"]["test.slice.transition"] == TRANSITION_SLICES.index("memorised")
        _, values = _per_user_mean(recs, metric)
        share = float(flags.mean())
        mean = (lambda mask: f"{values[mask].mean():.4f}" if mask.any() else "—")
        rows.append([system, mean(flags), mean(~flags)])
    if not rows:
        return []
    label = short_name(metric)
    return [f"{label} on memorised and on new test transitions: a transition (last history item -> target) is "
            f"memorised when a training example has the same pair ({share:.1%} of test users; systems whose "
            "records kept no slices are left out):", "",
            tabulate(rows, headers=["system", f"{label} memorised", f"{label} new"], tablefmt="github",
                     disable_numparse=True), ""]


def _id_level_table(systems: dict[str, list[dict]], order: list[str], names: list[str]) -> list[str]:
    """Item level (the headline) beside ID level, where a generated ID shared by colliding twins counts as a
    hit for each of them (how many papers' evaluators count), and the inflation that counting gives."""
    k = max(parse_metric(m)[1] for m in names)
    rows = []
    for system in order:
        recs = systems[system]
        if not all(r["metrics"].get("test_id_level") for r in recs):
            continue
        row = [system]
        for kind in ("recall", "ndcg"):
            item = float(np.mean([r["metrics"]["test"][f"{kind}@{k}"] for r in recs]))
            by_id = float(np.mean([r["metrics"]["test_id_level"][f"{kind}@{k}"] for r in recs]))
            row += [f"{item:.4f}", f"{by_id:.4f}", f"{by_id / item - 1:+.1%}" if item else "—"]
        rows.append(row)
    if not rows:
        return []
    r, n = short_name(f"recall@{k}"), short_name(f"ndcg@{k}")
    return ["Item level (headline: a hit is the target item) against ID level (a hit is any item whose semantic "
            "ID, the codes before disambiguation, is the target's, so a colliding twin counts, as evaluators "
            "that compare generated IDs count it):", "",
            tabulate(rows, headers=["system", f"{r} item", f"{r} ID", "inflation", f"{n} item", f"{n} ID",
                                    "inflation"], tablefmt="github", disable_numparse=True), ""]


def _published_table(published, systems: dict[str, list[dict]], names: list[str]) -> list[str]:
    """The suite's published rows (same split) beside ours: our paired system's mean over its seeds, item level,
    and ours as a share of the published figure at the largest cutoff. Published numbers are shown, never used."""
    if not published:
        return []
    k = max(parse_metric(m)[1] for m in names)
    at_k = [m for m in names if parse_metric(m)[1] == k]
    rows = []
    for row in published:
        recs = systems.get(row.pairs_with or "", [])
        cells = [row.name, *(f"{row.metrics[m]:.4f}" if m in row.metrics else "" for m in names)]
        if recs:
            ours = {m: float(np.mean([r["metrics"]["test"][m] for r in recs])) for m in names}
            cells.append(f"{row.pairs_with} ({len(recs)} seed{'s' * (len(recs) > 1)})")
            cells += [f"{ours[m]:.4f}" for m in names]
            cells.append(" / ".join(f"{ours[m] / row.metrics[m]:.0%}" if m in row.metrics else "—" for m in at_k))
        else:
            cells += [row.pairs_with + " (no record)" if row.pairs_with else "", *("" for _ in names), ""]
        cells.append(row.source + (f"; {row.note}" if row.note else ""))
        rows.append(cells)
    short = [short_name(m) for m in names]
    return ["Published results on this split beside ours (the suite's `published` rows; ours: test, item level, "
            "mean over seeds, at this budget; papers that compare generated IDs count at ID level, see above):", "",
            tabulate(rows, headers=["published", *short, "ours", *(f"ours {n}" for n in short),
                                    f"ours / published {' / '.join(short_name(m) for m in at_k)}", "source"],
                     tablefmt="github", disable_numparse=True), ""]


def _cell(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"


def _setup(record: dict) -> str:
    """What a reader must know to compare a generative system: encoder input, beam, constraint, budget,
    precision, and how often the beam found the exact top 10."""
    training = record["training"]
    setup = DecodingSetup.from_training(training)
    if setup is None:
        return ""
    parts = [setup.encoder_input, f"beam {setup.beam_size}", "constrained" if setup.constrained else "unconstrained"]
    if setup.user_ids == "sids":
        parts.append("user SIDs")
    parts.append(f"{training['steps']:,} steps" if "steps" in training else f"{training['epochs']} epochs")
    if "precision" in training:
        parts.append(training["precision"])
    fidelity = record.get("beam_fidelity")
    if fidelity:
        k = fidelity["k"]
        parts.append(f"beam = exact top {k} for {fidelity['same_top_k_share']:.0%} of users "
                     f"(R@{k} lost {fidelity[f'recall@{k}_lost']:+.4f})")
    return ", ".join(parts)


def build_tables(suite: Suite, results: Path, data_files: dict | None, figures: list | None = None,
                 key: str | None = None, dataset_path: str | None = None) -> tuple[str, str, list[tuple[Path, str]]]:
    """(markdown, csv, excluded) for every budget with records under runs/KEY (the suite's name, or its
    run on a user's folder); the figures' data is appended to `figures` as (file name, plot function name,
    data, title, metric label) when a list is given (the markdown links them anyway)."""
    figures = figures if figures is not None else []
    suite_name, reference = key or suite.name, suite.reference
    names, tested = metric_names(suite.protocol.cutoffs), _tested(suite.selection_metric)
    headline = tested[0]
    groups, excluded = _group(records.find_records(results, suite_name), suite, data_files)
    dirty = False
    md = [f"# Leaderboard: {suite_name}", "",
          "Generated by `python -m bench leaderboard` from the records in `results/runs/`; do not edit by hand.", ""]
    rows_csv = []
    for budget in sorted(groups):
        systems = groups[budget]
        means = {s: {m: float(np.mean([r["metrics"]["test"][m] for r in recs])) for m in names}
                 for s, recs in systems.items()}
        sign = -1 if higher_is_better(headline) else 1  # best first
        order = sorted(systems, key=lambda s: (sign * means[s][headline], s))
        ref = reference if reference in systems else None
        significance = _significance(systems, ref, tested) if ref else {}
        table = []
        for system in order:
            recs = sorted(systems[system], key=lambda r: r["seeds"]["run"])
            from_dirty_tree = any(r["provenance"].get("git_dirty") for r in recs)
            dirty |= from_dirty_tree
            row = [system + (" †" if from_dirty_tree else ""), len(recs)]
            row += [_cell([r["metrics"]["test"][m] for r in recs]) for m in names]
            tests = {}
            if ref:
                if system == ref:
                    row += ["reference", "", "", ""]
                else:
                    tests = significance[system]
                    (main, p_main), (_, p_partner) = tests[tested[0]], tests[tested[1]]
                    row += ["—" if main.relative is None else f"{main.relative:+.1%}",
                            f"[{main.ci_low:+.4f}, {main.ci_high:+.4f}]", _p(p_main), _p(p_partner)]
            row.append(f"{np.mean([records.fit_seconds(r) for r in recs]):.1f}")
            row.append(_setup(recs[0]))
            table.append(row)
            csv_row = {"budget": budget, "system": system, "seeds": len(recs),
                       **{f"{m}_mean": round(means[system][m], 6) for m in names},
                       **{f"{m}_std": round(float(np.std([r["metrics"]["test"][m] for r in recs], ddof=1))
                                        if len(recs) > 1 else 0.0, 6) for m in names}}
            for metric in tested:
                comparison, p = tests.get(metric, (None, None))
                csv_row |= {f"{metric}_diff": "" if comparison is None else round(comparison.mean_difference, 6),
                            f"{metric}_ci_low": "" if comparison is None else round(comparison.ci_low, 6),
                            f"{metric}_ci_high": "" if comparison is None else round(comparison.ci_high, 6),
                            f"{metric}_p_holm": "" if p is None else float(f"{p:.4g}")}
            csv_row["fit_s_mean"] = round(float(np.mean([records.fit_seconds(r) for r in recs])), 3)
            rows_csv.append(csv_row)
        headers = ["system", "seeds", *map(short_name, names)]
        if ref:
            main, partner = map(short_name, tested)
            headers += [f"Δ {main} vs {ref}", f"95% CI Δ{main}", f"p {main}", f"p {partner}"]
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
            md += [_method(tested), ""]
        if dirty:
            md += ["† made from a checkout with uncommitted changes: the git sha in the record does not name the "
                   "code that ran.", ""]
            dirty = False
        md += _figures(suite_name, budget, systems, means, figures, headline)
        md += _variant_table(systems, order, tested)
        md += _id_level_table(systems, order, names)
        md += beyond_accuracy_table(systems, order, suite.protocol.cutoffs)
        md += decoding_table(systems, order, suite.decoding, headline, suite.protocol.cutoffs, figures,
                             f"{suite_name}.{budget}")
        md += slice_table(systems, order, headline)
        if suite_name == suite.name:  # printed numbers are for the suite's own data, not a user's folder
            md += _published_table(suite.published, systems, names)
        md += _memorisation_table(systems, order, names)
        tokenizers = _tokenizer_table(systems)
        if tokenizers:
            md += ["SID diagnostics (seed of the first record per tokenizer; usage and normalised entropy per level, "
                   "collisions before the disambiguation code, coherence = lift of P(same category | same first code) "
                   "over random codes; co-consumed = lift of P(neighbours in a training sequence | same first code, same first two "
                   "codes) over random pairs):", "",
                   tabulate(tokenizers, headers=["tokenizer", "inputs", "levels", "length", "usage", "entropy",
                                                 "collided", "largest bucket", "coherence", "co-consumed",
                                                 "fit s"],
                            tablefmt="github", disable_numparse=True), ""]
        md += _time_table(systems)
    if not groups:
        md += ["No records yet: run `python -m bench run --suite " + suite_name + "`.", ""]
    if excluded:
        md += [f"{len(excluded)} record(s) excluded (other suite version, dataset files or settings, or a "
               "superseded plugin version):", ""]
        md += [f"- `{Path(path).relative_to(results).as_posix()}`: {reason}" for path, reason in excluded] + [""]
    buffer = io.StringIO()
    if rows_csv:
        writer = csv.DictWriter(buffer, fieldnames=list(rows_csv[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows_csv)
    return "\n".join(md), buffer.getvalue(), excluded


def _data_files(suite: Suite) -> dict | None:
    """The sha256 of a registered dataset's files (records of other data are left out); None for a folder."""
    from bench.data import DATASETS

    spec = DATASETS.get(suite.dataset)
    return dict(spec.sha256) if spec is not None and hasattr(spec, "sha256") else None


def _source(suite: Suite, dataset_path: str | None) -> tuple[str, dict | None]:
    """(results key, dataset file hashes) of the records a table is built from: the suite's own dataset, or
    the user's folder that `run --dataset-path` was given (its records live under runs/SUITE@NAME-HASH)."""
    if dataset_path is None:
        return suite.name, _data_files(suite)
    from bench.data.dataset import folder_files

    files = folder_files(Path(dataset_path))  # hashed, never parsed: the leaderboard reads records only
    return records.results_key(suite.name, Path(dataset_path).name, files), files


def _tables(suite: Suite, results: Path, dataset_path: str | None, figures: list | None = None):
    key, data_files = _source(suite, dataset_path)
    markdown, table_csv, _ = build_tables(suite, results, data_files, figures, key, dataset_path)
    out = Path(results) / "leaderboards"
    return markdown, table_csv, out / f"{key}.md", out / f"{key}.csv"


def write_leaderboard(suite: Suite, results: Path, dataset_path: str | None = None) -> tuple[Path, Path]:
    figures: list = []
    markdown, table_csv, md_path, csv_path = _tables(suite, results, dataset_path, figures)
    from bench import plots

    for name, function, data, title, metric in figures:
        getattr(plots, function)(data, title, md_path.parent / name, metric)
    atomic_write_bytes(md_path, markdown.encode())
    atomic_write_bytes(csv_path, table_csv.encode())
    return md_path, csv_path


def check_leaderboard(suite: Suite, results: Path, dataset_path: str | None = None) -> None:
    """Raise unless the committed tables are exactly what the records give (CI runs this)."""
    markdown, table_csv, md_path, csv_path = _tables(suite, results, dataset_path)
    stale = [p for p, text in ((md_path, markdown), (csv_path, table_csv)) if not p.is_file() or p.read_text() != text]
    if stale:
        raise BenchError("leaderboard differs from the records: " + ", ".join(map(str, stale)) +
                         f"\n  regenerate it with `python -m bench leaderboard --suite {suite.name}"
                         + (f" --dataset-path {dataset_path}`" if dataset_path else "`"))
