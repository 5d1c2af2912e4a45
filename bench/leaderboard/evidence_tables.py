"""Leaderboard tables that read the evidence records keep (bench.evidence): beyond-accuracy metrics and
accuracy per slice. Records made before ranked lists were kept show "—" here, and only here."""

from __future__ import annotations

import numpy as np
from tabulate import tabulate

from bench.evidence import flatten
from bench.leaderboard.significance import p_text, per_user_mean
from bench.metric_registry import REGISTRY
from bench.slices import SLICES

MAIN_TABLE = ("recall", "ndcg", "hit")  # the accuracy table's (hit equals recall under leave-one-out)


def beyond_metrics() -> list[str]:
    """Every registered metric the accuracy table does not show: a metric registered later gets a column."""
    return [name for name in REGISTRY if name not in MAIN_TABLE]


def table_k(cutoffs) -> int:
    return 10 if 10 in cutoffs else max(cutoffs)


def _seed_range(values: list[float], digits: str) -> str:
    """' [min, max]' over seeds for a catalogue metric, '' with one seed.

    Not a bootstrap over users: coverage and Gini count distinct items, which grow with the number of users,
    so every resample of users (with replacement it holds about 63% of them distinct) measures a smaller
    population and lands below the point itself (Toys gru4rec: coverage@10 .8163, percentile interval
    [.7198, .7276]). What varies between runs of one system is its training seed: the range says that."""
    return f" [{min(values):{digits}}, {max(values):{digits}}]" if len(values) > 1 else ""


def beyond_accuracy_table(systems: dict[str, list[dict]], order: list[str], cutoffs) -> list[str]:
    """Every registered metric beyond Recall and NDCG (coverage, Entropy, tail share, novelty, average
    popularity, Gini of exposure, MRR, and any registered later) at K = 10: the mean over seeds; a catalogue
    metric also gets its range over seeds."""
    k = table_k(cutoffs)
    held = {name for recs in systems.values() for r in recs for name in r["metrics"]["test"]}
    # a metric that needs a context only some splits have (cold share) gets a column where a record has it
    beyond = [m for m in beyond_metrics() if not REGISTRY[m].needs or f"{m}@{k}" in held]
    names = [f"{m}@{k}" for m in beyond]
    if not any(name in r["metrics"]["test"] for recs in systems.values() for r in recs for name in names):
        return []
    rows = []
    for system in order:
        recs = sorted(systems[system], key=lambda r: r["seeds"]["run"])
        row = [system]
        for metric, name in zip(beyond, names):
            values = [r["metrics"]["test"][name] for r in recs if name in r["metrics"]["test"]]
            if not values:
                row.append("—")
                continue
            digits = ".1f" if metric == "avg_popularity" else ".4f"
            spread = _seed_range(values, digits) if REGISTRY[metric].scope == "catalogue" else ""
            row.append(f"{np.mean(values):{digits}}{spread}")
        rows.append(row)
    headers = ["system", *(f"{m.replace('_', ' ')}@{k}" + ("" if REGISTRY[m].higher_is_better else " ↓")
                           for m in beyond)]
    return ["Beyond accuracy (test, mean over seeds; ↓: lower is better, less concentrated on popular items; "
            "coverage and Gini are catalogue-level, with their range over seeds in brackets (not a bootstrap over "
            "users: a resample holds fewer distinct users and covers fewer items); Entropy is TIGER's: the "
            "entropy in nats of the categories, one level below the root, of a user's top K; tail: outside the "
            "20% most popular items by training interactions; novelty: mean -log2 of an item's share of "
            "training interactions; — : the record kept no ranked lists, `python -m bench rescore` cannot add it):",
            "", tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]


def slice_table(systems: dict[str, list[dict]], order: list[str], metric: str) -> list[str]:
    """`metric` per slice of the test users (target popularity, memorised or new transition, history length),
    each user's value averaged over the system's seeds first."""
    present = [{name for name in SLICES if f"test.slice.{name}" in (r.get("_arrays") or {})}
               for recs in systems.values() for r in recs]
    kept = set.union(*present) if present else set()  # the item slice exists under the cold_items split only
    columns = [(name, index, label) for name, labels in SLICES.items() if name in kept
               for index, label in enumerate(labels)]
    rows, sizes = [], {}
    for system in order:
        recs = [r for r in systems[system] if "test.slice.target_popularity" in (r.get("_arrays") or {})]
        if not recs:
            continue
        arrays = recs[0]["_arrays"]
        values = np.mean([r["_arrays"][f"test.{metric}"] for r in recs], axis=0)
        row = [system]
        for name, index, label in columns:
            if f"test.slice.{name}" not in arrays:
                row.append("—")
                continue
            mask = arrays[f"test.slice.{name}"] == index
            sizes[(name, label)] = int(mask.sum())
            row.append(f"{values[mask].mean():.4f}" if mask.any() else "—")
        rows.append(row)
    if not rows:
        return []
    headers = ["system", *(f"{label} ({sizes.get((name, label), 0):,})" for name, _, label in columns)]
    return [f"{metric} per slice of the test users (users in each slice in brackets): target popularity head / "
            "torso / tail (the target among the 20% / next 30% / other 50% of items by training interactions); "
            "transition new / memorised (some training example has the same last item and target); history length"
            + ("; item warm / cold (the target is a cold item, never trained on)" if "item" in kept else "") + ":",
            "", tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]


def decoding_points(systems: dict[str, list[dict]], order: list[str], variants: dict, accuracy: str,
                    diversity: str) -> list[tuple[str, str, list[dict], float, float]]:
    """(system, decoding, records, diversity mean, accuracy mean) for the beam and each of the suite's
    sampled variants that every seed of the system ran with the suite's current temperatures."""
    points = []
    for system in order:
        recs = [r for r in systems[system] if "test.ranked" in r["_arrays"]]
        if not recs:
            continue
        settings = [("beam", "test")]
        for name, sampling in variants.items():
            ran = [(r.get("decoding") or {}).get(name) for r in recs]
            if all(info and info["temperature"] == list(sampling.temperature) for info in ran):
                settings.append((name, f"decoding.{name}"))
        if len(settings) == 1:
            continue
        for name, part in settings:
            points.append((system, name, recs, float(per_user_mean(recs, diversity, part)[1].mean()),
                           float(per_user_mean(recs, accuracy, part)[1].mean())))
    return points


def decoding_table(systems: dict[str, list[dict]], order: list[str], variants: dict, accuracy: str, cutoffs,
                   figures: list, base: str) -> list[str]:
    """Beam search against the suite's sampled decodings of the same trained model (bench.decoding): accuracy,
    TIGER's Entropy, coverage and tail share per setting, each sampled setting paired with its own beam."""
    from bench.metrics import display_name
    from bench.stats import holm, paired_comparison

    k = table_k(cutoffs)
    diversity = f"entropy@{k}"
    points = decoding_points(systems, order, variants, accuracy, diversity)
    if not points:
        return []
    rows, raw = [], []
    for system, name, recs, entropy, value in points:
        part = "test" if name == "beam" else f"decoding.{name}"
        summary = [np.mean([flatten(r["metrics"])[part][m] for r in recs]) for m in (f"coverage@{k}", f"tail_share@{k}")]
        row = [system, name, "—" if name == "beam" else ", ".join(f"{t:g}" for t in variants[name].temperature),
               len(recs), f"{value:.4f}", f"{entropy:.3f}", f"{summary[0]:.3f}", f"{summary[1]:.3f}"]
        if name == "beam":
            row += ["", "", ""]
        else:
            comparison = paired_comparison(per_user_mean(recs, accuracy, part)[1], per_user_mean(recs, accuracy)[1])
            raw.append((len(rows), comparison.p_value))
            row += [f"{comparison.mean_difference:+.4f}", f"[{comparison.ci_low:+.4f}, {comparison.ci_high:+.4f}]", ""]
        rows.append(row)
    for (index, _), p in zip(raw, holm([p for _, p in raw])):
        rows[index][-1] = p_text(p)
    figures.append((f"{base}.diversity.png", "accuracy_against_diversity",
                    [(s, n, e, v) for s, n, _, e, v in points], f"{base.replace('.', ', budget ')}: "
                    "accuracy against diversity", display_name(accuracy)))
    label = display_name(accuracy)
    return ["Decoding: the beam against sampled decodings of the same trained model (TIGER's temperature "
            "sampling; temperatures per SID level, the last repeating; K distinct real items drawn without "
            "replacement, seeded). Test, mean over the seeds that ran the setting; Δ: the sampled setting minus its "
            "own beam, paired per user, 95% bootstrap CI, t-test p Holm-corrected across this table:", "",
            tabulate(rows, headers=["system", "decoding", "temperatures", "seeds", label, f"Entropy@{k}",
                                    f"coverage@{k}", f"tail share@{k}", f"Δ {label} vs beam", "95% CI",
                                    "p"], tablefmt="github", disable_numparse=True), "",
            f"![{label} against Entropy@{k} per decoding setting]({base}.diversity.png)", ""]
