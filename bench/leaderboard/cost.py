"""Where the suite's hours went, per stage, each shared stage counted once."""

from __future__ import annotations

from tabulate import tabulate

from bench import records

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


def time_table(systems: dict[str, list[dict]]) -> list[str]:
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
