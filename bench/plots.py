"""Leaderboard figures, for readers who would rather look than read: NDCG@10 with its 95% interval per system,
and quality against the tokenizer's collisions. PNG files next to the markdown that links them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.io import atomic_write_bytes


def _figure_bytes(figure) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def metric_with_intervals(rows: list[tuple[str, float, float, float]], title: str, path: Path,
                          metric: str = "NDCG@10") -> None:
    """rows: (system, mean, ci_low, ci_high), drawn best first as horizontal error bars."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rows = sorted(rows, key=lambda r: r[1])
    figure, axis = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    y = np.arange(len(rows))
    means = np.array([r[1] for r in rows])
    errors = np.array([[r[1] - r[2] for r in rows], [r[3] - r[1] for r in rows]])
    axis.errorbar(means, y, xerr=errors, fmt="o", color="#1f4e79", ecolor="#7a9cc6", capsize=3)
    axis.set_yticks(y, [r[0] for r in rows])
    axis.set_xlabel(f"test {metric} (mean over users; 95% bootstrap interval)")
    axis.set_title(title)
    axis.grid(axis="x", alpha=0.3)
    atomic_write_bytes(path, _figure_bytes(figure))
    plt.close(figure)


def quality_against_collisions(points: list[tuple[str, float, float]], title: str, path: Path,
                               metric: str = "NDCG@10") -> None:
    """points: (system, collided share before disambiguation, NDCG@10)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for name, collided, quality in points:
        axis.scatter(collided * 100, quality, color="#1f4e79")
        axis.annotate(name, (collided * 100, quality), textcoords="offset points", xytext=(4, 4), fontsize=8)
    axis.set_xlabel("items in colliding buckets before disambiguation (%)")
    axis.set_ylabel(f"test {metric}")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    atomic_write_bytes(path, _figure_bytes(figure))
    plt.close(figure)


def cost_against_size(stages: dict, path: Path) -> None:
    """`perf scale`: seconds against catalogue size per stage, log-log, with each fitted exponent."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for stage, result in stages.items():
        sizes = [run["n"] for run in result["runs"]]
        seconds = [run["seconds"] for run in result["runs"]]
        axis.loglog(sizes, seconds, "o-", label=f"{stage} (b = {result['exponent']:.2f})")
    axis.set_xlabel("items in the catalogue")
    axis.set_ylabel("seconds (beam search: per user)")
    axis.set_title("Cost against catalogue size (time ∝ n^b)")
    axis.grid(which="both", alpha=0.3)
    axis.legend(fontsize=8)
    atomic_write_bytes(path, _figure_bytes(figure))
    plt.close(figure)


def accuracy_against_diversity(points: list[tuple[str, str, float, float]], title: str, path: Path,
                               metric: str = "NDCG@10") -> None:
    """points: (system, decoding setting, Entropy@10, accuracy); one line per system through its settings,
    in order of entropy, the beam drawn as a square."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    for system in dict.fromkeys(p[0] for p in points):
        mine = sorted((p for p in points if p[0] == system), key=lambda p: p[2])
        line, = axis.plot([p[2] for p in mine], [p[3] for p in mine], "o-", label=system, markersize=4)
        for _, setting, entropy, value in mine:
            if setting == "beam":
                axis.plot([entropy], [value], "s", color=line.get_color(), markersize=7)
            axis.annotate(setting, (entropy, value), textcoords="offset points", xytext=(3, 3), fontsize=7)
    axis.set_xlabel("Entropy@K of the recommended items' categories (nats; higher: more diverse)")
    axis.set_ylabel(f"test {metric}")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    atomic_write_bytes(path, _figure_bytes(figure))
    plt.close(figure)


def accuracy_across_datasets(points: list[tuple[str, float, float]], title: str, path: Path, first: str,
                             other: str, metric: str = "ndcg@10") -> None:
    """points: (system, metric on the first dataset, on the other); the diagonal marks equal values."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 5))
    for name, x, y in points:
        axis.scatter(x, y, color="#1f4e79")
        axis.annotate(name, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
    if points:
        top = max(max(p[1], p[2]) for p in points) * 1.05
        axis.plot([0, top], [0, top], color="#999999", linewidth=0.8, linestyle="--")
    axis.set_xlabel(f"test {metric} on {first}")
    axis.set_ylabel(f"test {metric} on {other}")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    atomic_write_bytes(path, _figure_bytes(figure))
    plt.close(figure)
