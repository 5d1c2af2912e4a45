"""The SID diagnostics table: one row per tokenizer."""

from __future__ import annotations

from tabulate import tabulate

from bench.quantize.diagnostics import alignment_cell, level_cells

def tokenizer_rows(systems: dict[str, list[dict]]) -> list[list]:
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


def tokenizer_table(systems: dict[str, list[dict]]) -> list[str]:
    rows = tokenizer_rows(systems)
    if not rows:
        return []
    return ["SID diagnostics (seed of the first record per tokenizer; usage and normalised entropy per level, "
            "collisions before the disambiguation code, coherence = lift of P(same category | same first code) "
            "over random codes; co-consumed = lift of P(neighbours in a training sequence | same first code, same first two "
            "codes) over random pairs):", "",
            tabulate(rows, headers=["tokenizer", "inputs", "levels", "length", "usage", "entropy",
                                    "collided", "largest bucket", "coherence", "co-consumed", "fit s"],
                     tablefmt="github", disable_numparse=True), ""]
