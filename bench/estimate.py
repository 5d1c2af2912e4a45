"""What a planned run costs: which of its jobs are done, and the wall time of the rest, estimated from the
records already in the results folder. `run --dry-run` prints it, so a suite's remaining time is known before
a core is spent (the leaderboard's time table says where the time of the finished ones went).

The estimate for a job is the median wall time of the current records of the same system (any seed), in the
results folder or among the project's committed records of the suite (a fresh folder is estimated too), else
of the same system with the same settings in other suites at the same budget (another dataset, but the same
model: title+tiger costs three times a 4-level tiger row, which a recommender's median would hide), else of
the same recommender plugin, else of that system's records made with older settings. A SID table that no
run record has used yet (a new tokenizer or seed) adds its tokenizer's median fit time once (from run records
or `tokenize` records; a table already in the cache makes that an overestimate), and an input feature its
tokenizer needs that this suite's records built (their cache key and build time) but the cache no longer holds
adds that build once: the CF embeddings alone take most of an hour. A job whose record holds
other settings is counted too: `run --replace-stale` retrains it. Records carry the wall time of the host that made
them (two one-thread jobs side by side, for the committed ones), so on another host this is a rate, not a
promise.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import records, registry
from bench.cache import Cache
from bench.errors import PluginError
from bench.paths import results_dir as default_results_dir


def job_seconds(record: dict) -> float:
    """A job's wall time as its record counts it: the fit (every process of a resumed one), evaluation and
    the beam-fidelity check; the SID table is shared between jobs and counted apart."""
    return records.fit_seconds(record) + records.evaluation_seconds(record)


@dataclass
class JobEstimate:
    status: str                 # "done", "to run", or "to run with --replace-stale" (a record of other settings, or
                                # one that kept no ranked lists, is there)
    seconds: float | None       # done: its record's time; else estimated, SID table included; None: nothing to go by
    basis: str = ""             # what the estimate rests on


def estimate(plans: list, results_dir, key: str) -> list[JobEstimate]:
    """One JobEstimate per job plan (bench.plan.JobPlan), in order."""
    current, older = defaultdict(list), defaultdict(list)
    by_plugin, table_fits, tables_done = defaultdict(list), defaultdict(list), set()
    plugin_fits = defaultdict(list)  # a tokenizer entry never fitted: its plugin's fits
    done_seconds = {}  # (system, seed) -> the finished job's own time
    statuses = []
    folders = {plan.path.parent.parent for plan in plans}  # runs/KEY/BUDGET: every record there is evidence
    # and the project's committed records of the same suite and budget: a fresh results folder (README's
    # main job writes to my-results/) still gets an estimate up front
    committed = default_results_dir()
    folders |= {committed / folder.relative_to(Path(results_dir)) for folder in folders
                if folder.is_relative_to(Path(results_dir))}
    wanted = {(plan.job.system, plan.job.seed): plan.run_id for plan in plans}
    seen_ids = set()  # a committed record and its copy in the results folder count once
    builds = {}  # input feature -> (cache key, build seconds), as this suite's records name them
    for record in _readable((path for folder in sorted(folders) for path in sorted(folder.rglob("seed*.json"))),
                            seen_ids):
        if record.table:
            table_fits[record.table].append(record.fit_s)
            plugin_fits[record.table_plugin].append(record.fit_s)
        builds.update({name: (key, seconds) for name, key, seconds in record.builds})
        if wanted.get((record.system, record.seed), record.run_id) == record.run_id:
            current[record.system].append(record.seconds)  # this job's own record, or one of a seed not planned now
            by_plugin[record.plugin].append(record.seconds)
            table = (record.table, record.seed) if record.table else None
            shared = table is None or table in tables_done  # a table two systems use is fitted once
            done_seconds[(record.system, record.seed)] = record.seconds + (0.0 if shared else record.fit_s)
            if table:
                tables_done.add(table)
        else:
            older[record.system].append(record.seconds)
    for path in sorted((Path(results_dir) / "tokenizers" / key).glob("*/seed*.json")):  # `tokenize` records
        try:
            fitted = json.loads(path.read_text())
            table_fits[path.parent.name].append(float(fitted["fit_s"]))
            plugin_fits[fitted.get("plugin", path.parent.name)].append(float(fitted["fit_s"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    elsewhere = defaultdict(list)  # (system, settings) at the same budget in the other suites' folders
    other_folders = sorted({other for folder in folders for other in folder.parent.parent.glob(f"*/{folder.name}")}
                           - folders)
    for record in _readable((path for other in other_folders for path in sorted(other.rglob("seed*.json"))),
                            seen_ids):
        elsewhere[record.system, record.settings].append(record.seconds)
        if record.table:  # a table never fitted here: its plugin's fits
            plugin_fits[record.table_plugin].append(record.fit_s)
    for plan in plans:
        there = records.existing(plan.path, plan.run_id)
        why = "kept no ranked lists" if there == records.NO_RANKED_LISTS else "holds other settings"
        statuses.append("done" if there == "" else "to run" if there is None else
                        f"to run with --replace-stale (its record {why})")
    out, built = [], set()
    for plan, status in zip(plans, statuses):
        system, plugin = plan.job.system, plan.system.recommender.plugin
        if status == "done":
            out.append(JobEstimate(status, done_seconds.get((system, plan.job.seed))))
            continue
        if current[system]:
            seconds, basis = float(np.median(current[system])), f"{len(current[system])} record(s) of this system"
        elif others := elsewhere[system, _planned_settings(plan.system)]:
            seconds, basis = float(np.median(others)), f"{len(others)} record(s) of this system in other suites"
        elif by_plugin[plugin]:
            seconds, basis = float(np.median(by_plugin[plugin])), f"{len(by_plugin[plugin])} {plugin} record(s)"
        elif older[system]:
            seconds, basis = float(np.median(older[system])), "this system's records of older settings"
        else:
            out.append(JobEstimate(status, None, "no record to go by"))
            continue
        tok = plan.system.tokenizer
        if tok is not None and (tok.entry, plan.job.seed) not in tables_done:  # this job fits the table
            tables_done.add((tok.entry, plan.job.seed))  # once, shared by the jobs after it
            if fits := table_fits[tok.entry] or plugin_fits[tok.plugin]:
                seconds += float(np.median(fits))
                basis += f", plus its {tok.entry} table's fit"
            for name in _uncached_builds(tok.plugin, builds, built):
                seconds += builds[name][1]
                basis += f", plus building its {name} (not in the cache)"
        out.append(JobEstimate(status, seconds, basis))
    return out


def _uncached_builds(plugin: str, builds: dict, built: set) -> list[str]:
    """The input features a tokenizer plugin needs whose recorded build is missing from the cache, each named
    once (the first job builds it, the others read it)."""
    try:
        needs = registry.get("tokenizers", plugin).needs
    except PluginError:  # an unknown plugin is the run's error to report, not the estimate's
        return []
    missing = [name for name in needs if name in builds and builds[name][0] not in built
               and not Cache().has(builds[name][0])]
    built.update(builds[name][0] for name in missing)
    return missing


def _settings(recommender: dict, tokenizer: dict | None) -> tuple:
    """A record's plugins and their settings' hashes: the same system in two suites trains the same model shape."""
    return tuple((part.get("plugin", part["name"]), part.get("version"), part.get("config_hash"))
                 for part in (recommender, tokenizer) if part)


def _planned_settings(system) -> tuple:
    from bench.identity import plugin_hash

    return tuple((part.plugin, part.version, plugin_hash(part.config))
                 for part in (system.recommender, system.tokenizer) if part is not None)


@dataclass(frozen=True)
class _Past:
    """What the estimate reads of one run record."""
    run_id: str
    system: str
    seed: int
    seconds: float
    plugin: str                 # the recommender's
    settings: tuple             # _settings()
    table: str | None = None    # the tokenizer entry whose SID table it used, that table's plugin and fit time
    table_plugin: str | None = None
    fit_s: float = 0.0
    builds: tuple = ()          # (feature, cache key, build seconds) of its tokenizer's cached input features


def _readable(paths, seen_ids: set):
    """The records among paths that can be read, each run once (a damaged record is `run`'s business; it
    estimates nothing)."""
    for path in paths:
        try:
            record = json.loads(path.read_text())
            recommender, tokenizer = record["recommender"], record.get("tokenizer")
            table = {"table": tokenizer["name"], "table_plugin": tokenizer.get("plugin", tokenizer["name"]),
                     "fit_s": float(tokenizer["fit_s"]), "builds": _builds(tokenizer)} if tokenizer else {}
            past = _Past(record["run_id"], record["system"], record["seeds"]["run"], job_seconds(record),
                         recommender.get("plugin", recommender["name"]), _settings(recommender, tokenizer), **table)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            continue
        if past.run_id not in seen_ids:
            seen_ids.add(past.run_id)
            yield past


def _builds(tokenizer: dict) -> tuple:
    return tuple((name, info["key"], float(info["seconds"])) for name, info in (tokenizer.get("features") or {}).items()
                 if isinstance(info, dict) and "key" in info and "seconds" in info)


def summary(plans: list, estimates: list[JobEstimate]) -> str:
    """The jobs, each with its status and estimate, and the total left."""
    lines = []
    for plan, est in zip(plans, estimates):
        text = est.status
        if est.status != "done":
            text += f", about {_duration(est.seconds)} ({est.basis})" if est.seconds is not None else f" ({est.basis})"
        lines.append(f"  {plan.job.system} seed {plan.job.seed}: {text}\n")
    left = [e for e in estimates if e.status != "done"]
    known = [e.seconds for e in left if e.seconds is not None]
    spent = sum(e.seconds or 0.0 for e in estimates if e.status == "done")
    forced = sum(e.status != "to run" for e in left)
    lines.append(f"{len(estimates) - len(left)} done, {len(left)} to run"
                 + (f" ({forced} of them with --replace-stale)" if forced else "")
                 + (f": about {_duration(sum(known))} of one worker (--workers N divides it)" if known else "")
                 + (f"; {len(left) - len(known)} with no record to go by, not counted" if len(known) < len(left)
                    else "") + "\n")
    if known and len(left) < len(estimates):
        lines.append(f"the whole selection: about {_duration(spent + sum(known))} of one worker (the done jobs' "
                     "records plus the estimate)\n")
    return "".join(lines)


def headline(estimates: list[JobEstimate]) -> str:
    """One line said before any work: how many jobs are left and about how long they take."""
    left = [e for e in estimates if e.status != "done"]
    known = [e.seconds for e in left if e.seconds is not None]
    if not left:
        return "all done"
    if not known:
        return f"{len(left)} to run, no record to estimate them by"
    unknown = len(left) - len(known)
    return (f"{len(left)} to run, about {_duration(sum(known))} of one worker by the records' pace"
            + (f" ({unknown} with no record to go by, not counted)" if unknown else ""))


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


class Pace:
    """The time left while a run goes: the estimates of the jobs not finished yet, scaled by how long the
    finished ones took against their estimates (this host's speed against the records' host), once at least
    a minute of estimated work has finished; a mean over finished jobs would call a 24-hour suite "about 3s
    left" after its popularity jobs."""

    def __init__(self, estimates: list[JobEstimate]):
        self.left = {i: e.seconds for i, e in enumerate(estimates) if e.status != "done"}
        self.actual = self.expected = 0.0

    def finished(self, index: int, seconds: float | None) -> None:
        expected = self.left.pop(index, None)
        if expected is not None and seconds is not None:
            self.actual, self.expected = self.actual + seconds, self.expected + expected

    def seconds_left(self) -> float | None:
        """None while a job left has no estimate (nothing to go by is not zero)."""
        if any(s is None for s in self.left.values()):
            return None
        speed = self.actual / self.expected if self.expected >= 60 else 1.0
        return sum(self.left.values()) * speed
