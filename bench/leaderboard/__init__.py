"""Leaderboards: the records of one suite aggregated per system into markdown and CSV tables, from the records
alone (no dataset is opened, nothing is retrained).

Only records whose suite version and dataset file hashes match the suite's current ones, and whose plugins
are at their current version and settings, are used; the rest are listed as excluded (an older plugin
version is superseded, never mixed in). Each system is compared with the suite's reference on per-user
metrics (bench.stats: paired t-test, Holm across the table, bootstrap interval). The output holds no
timestamps and the bootstrap is seeded, so regenerating it from the same records gives the same bytes (CI
checks this).

- load: which records count, each read and verified once
- significance: paired tests against the reference
- accuracy, variants, id_level, evidence_tables, memorisation, published, tokenizers, cost: one table each
- render: the markdown and CSV, written or checked
"""

from bench.leaderboard.cost import time_by_stage
from bench.leaderboard.render import build_tables, check_leaderboard, write_leaderboard

__all__ = ["build_tables", "check_leaderboard", "time_by_stage", "write_leaderboard"]
