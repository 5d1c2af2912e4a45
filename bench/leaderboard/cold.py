"""The cold-start table (cold_items split only): accuracy on the users whose target is a cold item and on the
others, and the share of cold items in the lists, under three readings of the same test lists (as decoded,
TIGER's epsilon cap, TIGER's retrieval of unseen items by ID prefix), and every system against the reference
on the cold users under the same reading; then each collaborative system against each content-only one on
warm and on cold users. Read from the records' lists and slice labels alone."""

from __future__ import annotations

from tabulate import tabulate

from bench import registry
from bench.errors import BenchError
from bench.evidence import CAPPED_PART, COLD_CAP, PREFIX_PART
from bench.leaderboard.evidence_tables import table_k
from bench.leaderboard.significance import p_text, per_user_mean, same_users
from bench.metrics import short_name
from bench.slices import COLD_SLICES
from bench.stats import holm, paired_comparison

COLD = COLD_SLICES.index("cold")
EPS = f"ε = {COLD_CAP:g}"
READINGS = {"test": "as decoded", CAPPED_PART: EPS, PREFIX_PART: f"prefix, {EPS}"}


def cold_start_table(systems: dict[str, list[dict]], order: list[str], cutoffs, reference: str | None) -> list[str]:
    k = table_k(cutoffs)
    recall, ndcg, share = f"recall@{k}", f"ndcg@{k}", f"cold_share@{k}"
    kept = {s: [r for r in systems[s] if f"{CAPPED_PART}.{recall}" in r.get("_arrays", {})] for s in order}
    kept = {s: recs for s, recs in kept.items() if recs}
    if not kept:
        return []
    cold = next(iter(kept.values()))[0]["_arrays"]["test.slice.item"] == COLD

    def read(recs, part):  # a reading exists for a system when every seed's record holds it
        return part == "test" or all(f"{part}.{recall}" in r["_arrays"] for r in recs)

    baseline = {part: per_user_mean(kept[reference], ndcg, part) for part in READINGS
                if reference in kept and read(kept[reference], part)}
    rows, raw = [], []
    for system, recs in kept.items():
        for part, reading in READINGS.items():
            if not read(recs, part):
                continue
            (users, r_values), n_values, shares = (per_user_mean(recs, recall, part),
                                                   per_user_mean(recs, ndcg, part)[1], per_user_mean(recs, share, part)[1])
            row = [system, reading, len(recs), f"{r_values[~cold].mean():.4f}", f"{r_values[cold].mean():.4f}",
                   f"{n_values[~cold].mean():.4f}", f"{n_values[cold].mean():.4f}", f"{shares.mean():.3f}"]
            if baseline and system == reference:
                row += ["reference", "", ""]
            elif part in baseline:
                same_users(users, baseline[part][0], system, reference)
                comparison = paired_comparison(n_values[cold], baseline[part][1][cold])
                raw.append((len(rows), comparison.p_value))
                row += [f"{comparison.mean_difference:+.4f}", f"[{comparison.ci_low:+.4f}, {comparison.ci_high:+.4f}]", ""]
            elif baseline:
                row += ["", "", ""]
            rows.append(row)
    for (index, _), p in zip(raw, holm([p for _, p in raw])):
        rows[index][-1] = p_text(p)
    r, n = short_name(recall), short_name(ndcg)
    headers = ["system", "reading", "seeds", f"{r} warm", f"{r} cold", f"{n} warm", f"{n} cold",
               f"cold share@{k}"] + ([f"Δ {n} cold vs {reference}", "95% CI", "p"] if baseline else [])
    return [f"Cold-start items (TIGER's unseen items): test accuracy of the {int(cold.sum()):,} users whose target is "
            "a cold item (never in training, validation or any history; its text known) and of the others, and the "
            f"share of cold items in the top {k}, under three readings of the same lists: *as decoded*; *{EPS}* "
            f"(TIGER's epsilon rule: each list reordered so that any top K holds at most ⌊{COLD_CAP:g}·K⌋ cold "
            "items, the warm items below moving up); *prefix* (generative systems: TIGER's retrieval of unseen "
            "items, each listed item followed by the items without training interactions that share its ID less "
            f"the last code, then the same cap). Mean over seeds"
            + (f"; Δ: {n} on the cold users against the reference under the same reading, paired per user, 95% "
               "bootstrap CI, t-test p Holm-corrected across this table" if baseline else "")
            + ". TIGER gives its own cold-start result as a figure only (Rajput et al. 2023, Section 4.3: Recall@K "
            "on unseen items, TIGER above Semantic-KNN at ε = 0.1); LIGER (Yang et al. 2024) reports TIGER's "
            "cold-item Recall@10 on Beauty as 0 under its protocol:", "",
            tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]


def signals(record: dict) -> set[str]:
    """What a system reads about items, by the features its tokenizer and its recommender recorded:
    "content", "collaborative" (who consumed what) or "popularity" (bench.tokenizer.FEATURES)."""
    from bench.tokenizer import FEATURES

    names = set((record.get("tokenizer") or {}).get("features") or {})
    recommender = record["recommender"]
    if "features" in recommender:
        names |= set(recommender["features"])
    else:  # records before recommenders recorded theirs (2026-12-07): the installed plugin's declaration
        try:
            names |= set(registry.get("recommenders", recommender.get("plugin", recommender["name"])).needs)
        except BenchError:  # a plugin this checkout does not have: what its tokenizer recorded is all we know
            pass
    return {FEATURES[name].signal for name in names if name in FEATURES}


def collaborative_table(systems: dict[str, list[dict]], order: list[str], cutoffs) -> list[str]:
    """Each collaborative system (its tokenizer reads who consumed what: LETTER, DAS, PLUM) against each
    content-only one (title, rqvae, rkmeans IDs; text-knn), paired per user on the warm and on the cold test
    users, each system's lists read as TIGER's protocol serves them (prefix retrieval then the cap for
    generative systems, the cap alone for the others): what collaborative signal buys where it exists and
    costs where it does not."""
    k = table_k(cutoffs)
    ndcg = f"ndcg@{k}"

    def protocol_part(recs):
        for part in (PREFIX_PART, CAPPED_PART):
            if all(f"{part}.{ndcg}" in r.get("_arrays", {}) for r in recs):
                return part
        return None

    kinds = {s: signals(systems[s][0]) for s in order}
    parts = {s: protocol_part(systems[s]) for s in order}
    collaborative = [s for s in order if "collaborative" in kinds[s] and parts[s]]
    content = [s for s in order if kinds[s] & {"content"} and "collaborative" not in kinds[s] and parts[s]]
    if not collaborative or not content:
        return []
    values = {s: per_user_mean(systems[s], ndcg, parts[s]) for s in collaborative + content}
    cold = systems[collaborative[0]][0]["_arrays"]["test.slice.item"] == COLD
    rows, raw = [], []
    for system in collaborative:
        users, mine = values[system]
        for other in content:
            same_users(users, values[other][0], system, other)
            row = [system, other]
            for mask in (~cold, cold):
                comparison = paired_comparison(mine[mask], values[other][1][mask])
                raw.append((len(rows), len(row) + 2, comparison.p_value))
                row += [f"{comparison.mean_difference:+.4f}",
                        f"[{comparison.ci_low:+.4f}, {comparison.ci_high:+.4f}]", ""]
            rows.append(row)
    for (index, column, _), p in zip(raw, holm([p for *_, p in raw])):
        rows[index][column] = p_text(p)
    n = short_name(ndcg)
    reading = {PREFIX_PART: f"prefix, {EPS}", CAPPED_PART: EPS}
    served = "; ".join(f"{s}: {reading[parts[s]]}" for s in collaborative + content)
    return [f"Collaborative against content-only systems: each system whose tokenizer reads who consumed what "
            f"(CF embeddings, co-occurrence, user histories) against each that reads item content alone, {n} on "
            f"the {int((~cold).sum()):,} warm and the {int(cold.sum()):,} cold test users (Δ: the collaborative one "
            "minus the other, paired per user, mean over seeds, 95% bootstrap CI, t-test p Holm-corrected across this "
            f"table). Each system's lists as TIGER's protocol serves them ({served}):", "",
            tabulate(rows, headers=["collaborative", "against", f"Δ {n} warm", "95% CI", "p", f"Δ {n} cold", "95% CI",
                                    "p"], tablefmt="github", disable_numparse=True), ""]
