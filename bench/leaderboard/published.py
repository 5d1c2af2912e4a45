"""Published results on the suite's split beside ours: targets to compare against, never values."""

from __future__ import annotations

import numpy as np
from tabulate import tabulate

from bench.metrics import parse_metric, short_name

def published_table(published, systems: dict[str, list[dict]], names: list[str]) -> list[str]:
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
