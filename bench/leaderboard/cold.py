"""The cold-start table (cold_items split only): accuracy on the users whose target is a cold item and on the
others, the share of cold items in the lists, each as decoded and under TIGER's epsilon rule, and every system
against the reference on the cold users. Read from the records' lists and slice labels alone."""

from __future__ import annotations

import numpy as np
from tabulate import tabulate

from bench.evidence import CAPPED_PART, COLD_CAP
from bench.leaderboard.evidence_tables import table_k
from bench.leaderboard.significance import p_text, per_user_mean, same_users
from bench.metrics import short_name
from bench.slices import COLD_SLICES
from bench.stats import holm, paired_comparison

COLD = COLD_SLICES.index("cold")


def cold_start_table(systems: dict[str, list[dict]], order: list[str], cutoffs, reference: str | None) -> list[str]:
    k = table_k(cutoffs)
    recall, ndcg, share = f"recall@{k}", f"ndcg@{k}", f"cold_share@{k}"
    kept = {s: [r for r in systems[s] if f"{CAPPED_PART}.{recall}" in r.get("_arrays", {})] for s in order}
    kept = {s: recs for s, recs in kept.items() if recs}
    if not kept:
        return []
    rows, raw = [], []
    baseline = per_user_mean(kept[reference], ndcg) if reference in kept else None
    for system, recs in kept.items():
        row = [system, len(recs)]
        cold = recs[0]["_arrays"]["test.slice.item"] == COLD
        for part in ("test", CAPPED_PART):
            r_values, n_values, shares = (per_user_mean(recs, metric, part)[1] for metric in (recall, ndcg, share))
            row += [f"{r_values[~cold].mean():.4f}", f"{r_values[cold].mean():.4f}", f"{n_values[~cold].mean():.4f}",
                    f"{n_values[cold].mean():.4f}", f"{shares.mean():.3f}"]
        if baseline is None:
            pass
        elif system == reference:
            row += ["reference", "", ""]
        else:
            users, values = per_user_mean(recs, ndcg)
            same_users(users, baseline[0], system, reference)
            comparison = paired_comparison(values[cold], baseline[1][cold])
            raw.append((len(rows), comparison.p_value))
            row += [f"{comparison.mean_difference:+.4f}", f"[{comparison.ci_low:+.4f}, {comparison.ci_high:+.4f}]", ""]
        rows.append(row)
    for (index, _), p in zip(raw, holm([p for _, p in raw])):
        rows[index][-1] = p_text(p)
    any_arrays = next(iter(kept.values()))[0]["_arrays"]
    n_cold = int((any_arrays["test.slice.item"] == COLD).sum())
    r, n = short_name(recall), short_name(ndcg)
    eps = f"ε = {COLD_CAP:g}"
    headers = ["system", "seeds", f"{r} warm", f"{r} cold", f"{n} warm", f"{n} cold", f"cold share@{k}",
               f"{r} warm, {eps}", f"{r} cold, {eps}", f"{n} warm, {eps}", f"{n} cold, {eps}",
               f"cold share@{k}, {eps}"] + ([f"Δ {n} cold vs {reference}", "95% CI", "p"] if baseline else [])
    return [f"Cold-start items (TIGER's unseen items): test accuracy of the {n_cold:,} users whose target is a cold "
            "item (never in training, validation or any history; its text known) and of the others, and the share "
            f"of cold items in the top {k}; first as decoded, then under TIGER's epsilon rule ({eps}: each list "
            f"reordered so that any top K holds at most ⌊{COLD_CAP:g}·K⌋ cold items, the warm items below moving "
            "up). Mean over seeds" + (f"; Δ: {n} on the cold users as decoded against the reference, paired per user, "
                                      "95% bootstrap CI, t-test p Holm-corrected across this table" if baseline else "")
            + ". TIGER gives its own cold-start result as a "
            "figure only (Rajput et al. 2023, Section 4.3: Recall@K on unseen items, TIGER above Semantic-KNN at "
            "ε = 0.1); LIGER (Yang et al. 2024) reports TIGER's cold-item Recall@10 on Beauty as 0 under its "
            "protocol:", "",
            tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]
