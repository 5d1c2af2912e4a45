"""The variants table: an ablation (or an entry changing one setting) against the system it departs from."""

from __future__ import annotations

from tabulate import tabulate

from bench.leaderboard.significance import p_text, per_user_mean, same_users
from bench.metrics import short_name
from bench.stats import holm, paired_comparison
from bench.suites import system_name

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


def variant_table(systems: dict[str, list[dict]], order: list[str], tested: tuple[str, str]) -> list[str]:
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
                per_user_mean([r for r in systems[name] if r["seeds"]["run"] in seeds], metric)
                for name in (system, base))
            same_users(users, base_users, system, base)
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
                     f"[{main.ci_low:+.4f}, {main.ci_high:+.4f}]", p_text(p_main), p_text(p_partner)])
    metric, other = map(short_name, tested)
    return ["Variants against the system they change (an ablation entry, or one setting changed), on the seeds "
            "both have, so that an ablation's effect is not read off two differences to the reference; paired "
            f"t-test on per-user test metrics, Holm-corrected across this table's {metric} and {other} "
            f"comparisons; 95% CI: bootstrap of the {metric} difference:", "",
            tabulate(rows, headers=["variant", "against", "seeds", metric, f"{metric} of base", f"Δ {metric}",
                                    f"95% CI Δ{metric}", f"p {metric}", f"p {other}"],
                     tablefmt="github", disable_numparse=True), ""]
