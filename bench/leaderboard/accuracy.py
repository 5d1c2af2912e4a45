"""The accuracy table's cells: mean ± std over seeds, the generative setup, and the figures it links."""

from __future__ import annotations

import numpy as np

from bench.leaderboard.significance import per_user_mean
from bench.metrics import display_name
from bench.record_types import DecodingSetup
from bench.stats import bootstrap_interval

def cell(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"


def setup_text(record: dict) -> str:
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


def figure_links(suite_name: str, budget: str, systems: dict, means: dict, figures: list, headline: str) -> list[str]:
    """Markdown links to this budget's figures; their data goes to `figures`."""
    intervals = []
    for system, recs in systems.items():
        _, values = per_user_mean(recs, headline)
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
