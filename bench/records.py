"""Run records: one JSON file per (suite, budget, system, seed), per-user metrics in a compressed side file.

Layout: results/runs/<suite>/<budget>/<system>/seed<k>.json and seed<k>.per_user.npz. A record is written
only after its side file, both atomically, so a record on disk always describes a finished run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import jsonschema
import numpy as np

from bench import evidence
from bench.errors import BenchError, shorten
from bench.io import atomic_save_npz, atomic_write_json, load_npz
from bench.paths import PACKAGE_DIR
from bench.record_types import SCHEMA_VERSION, record_schema

SCHEMA_PATH = PACKAGE_DIR / "schema" / "record.schema.json"  # generated from bench.record_types (a test checks)


@lru_cache(maxsize=1)
def schema() -> dict:
    return record_schema()


def validate(record: dict, where: str = "record") -> None:
    validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {'.'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}" for e in errors[:10]]
        raise BenchError(f"{where} does not match the record schema v{SCHEMA_VERSION}:\n" + "\n".join(lines))


def results_key(suite: str, dataset: str | None = None, files: dict | None = None) -> str:
    """The folder under runs/ (and the leaderboard's name) of a suite's records: the suite's name on its own
    dataset; on a user's folder (--dataset-path), the suite, the folder's name and a hash of its files'
    content, so that two folders of one name, or a folder named like the suite's dataset, never meet."""
    if dataset is None:
        return suite
    digest = hashlib.sha256(json.dumps(dict(files or {}), sort_keys=True).encode()).hexdigest()[:8]
    return f"{suite}@{dataset}-{digest}"


def record_path(results: Path, suite: str, budget: str, system: str, seed: int) -> Path:
    """Where a run's record goes; every part is one folder name, so no record is ever written outside
    `results` (suite and entry names are checked when a suite loads; this is the last guard)."""
    for part in (suite, budget, system):
        if part in ("", ".", "..") or "/" in part or "\\" in part or Path(part).is_absolute():
            raise BenchError(f"{part!r} cannot name a results folder (it would leave {results})")
    return Path(results) / "runs" / suite / budget / system / f"seed{seed}.json"


def per_user_path(record_file: Path) -> Path:
    return record_file.with_name(record_file.stem + ".per_user.npz")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_run(path: Path, record: dict, per_user: dict[str, np.ndarray]) -> None:
    """Side file first, then the record that points at it (with its sha256); both atomic."""
    side = per_user_path(path)
    atomic_save_npz(side, per_user)
    record = dict(record)
    record["per_user"] = {**record.get("per_user", {}), "file": side.name,
                          "sha256": hashlib.sha256(side.read_bytes()).hexdigest()}
    validate(record, str(path))
    atomic_write_json(path, record)


def rewrite_summary(path: Path, record: dict, metrics: dict) -> None:
    """The record with new summaries (`rescore`), its side file untouched; validated, written atomically."""
    record = {key: value for key, value in record.items() if not key.startswith("_")}
    record["metrics"] = metrics
    validate(record, str(path))
    atomic_write_json(path, record)


MAX_RECORD_BYTES = 16 << 20  # a record is tens of KB; its arrays live in the side file


def read_record(path: Path) -> dict:
    try:
        if Path(path).stat().st_size > MAX_RECORD_BYTES:
            raise BenchError(f"{path}: cannot read the record (over {MAX_RECORD_BYTES >> 20} MB; a record is "
                             "tens of KB)")
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except RecursionError:
        raise BenchError(f"{path}: cannot read the record (JSON nested too deeply)") from None
    except (OSError, ValueError) as err:  # ValueError: invalid JSON or not UTF-8
        raise BenchError(f"{path}: cannot read the record ({shorten(str(err), 200)})") from None
    validate(record, str(path))
    return record


def check_layout(path: Path, record: dict) -> None:
    """A record under runs/ sits at runs/<suite>/<budget>/<system>/seed<run seed>.json: a record copied to
    another seed's (or system's) file would otherwise count twice, as two seeds of one run."""
    path = Path(path)
    expected = (record["suite"]["name"], record["suite"]["budget"], record["system"], f"seed{record['seeds']['run']}.json")
    found = (path.parents[2].name, path.parents[1].name, path.parent.name, path.name) if len(path.parents) > 3 else ()
    if found != expected:
        raise BenchError(f"{path}: the record says it is {'/'.join(expected)} (suite/budget/system/seed); a record "
                         "copied or moved to another run's place is not that run: move it back or delete it")


# (side file sha256, cutoffs, registered metrics) -> metrics from its lists, the most recent DERIVED_KEPT only
# (a Beauty record's are ~4 MB; `read_verified` and a leaderboard read each record's right after computing them)
DERIVED_KEPT = 32
_derived: "OrderedDict[tuple, tuple]" = OrderedDict()


def _derived_for(record: dict, arrays) -> tuple:
    key = _derived_key(record)
    if key in _derived:
        _derived.move_to_end(key)
    else:
        _derived[key] = evidence.metrics_from_lists(arrays, record["protocol"]["cutoffs"])
        while len(_derived) > DERIVED_KEPT:
            _derived.popitem(last=False)
    return _derived[key]


def read_per_user(path: Path, record: dict) -> dict[str, np.ndarray]:
    """The side file's arrays (sha-checked), plus, for a record that kept ranked lists, every registered
    metric's per-user values computed from them (bench.evidence)."""
    side = Path(path).with_name(record["per_user"]["file"])
    if not side.is_file():
        raise BenchError(f"{side}: per-user metrics of {path} are missing")
    sha = record["per_user"]["sha256"]
    if hashlib.sha256(side.read_bytes()).hexdigest() != sha:
        raise BenchError(f"{side}: sha256 differs from the one in {path}; the file was changed or damaged")
    arrays = load_npz(side)
    if evidence.has_lists(arrays):
        per_user, _ = _derived_for(record, arrays)
        arrays = {**per_user, **arrays}
    return arrays


def derived_summary(path: Path, record: dict) -> dict[str, dict[str, float]]:
    """Every registered metric's summary, computed from the record's lists ({} for a record without)."""
    arrays = read_per_user(path, record)
    if not evidence.has_lists(arrays):
        return {}
    return _derived[_derived_key(record)][1]


def _derived_key(record: dict) -> tuple:
    from bench.metric_registry import REGISTRY

    return record["per_user"]["sha256"], tuple(record["protocol"]["cutoffs"]), tuple(REGISTRY)


SUMMARY_TOLERANCE = 1e-6  # summaries are float64 means of float32 per-user values


def read_verified(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(record, per-user arrays), after checking that every metric the record summarises is the mean of its
    per-user values: a record whose summary was edited (or damaged) is an error, never believed."""
    record = read_record(path)
    per_user = read_per_user(path, record)
    from_lists = derived_summary(path, record)
    wrong = []
    for part, metrics in evidence.flatten(record["metrics"]).items():
        for name, value in metrics.items():
            key = f"{part}.{name}"
            if not np.isfinite(value):  # NaN compares as equal to nothing: say what it is
                wrong.append(f"{key} is not finite")
            elif name in from_lists.get(part, {}):  # catalogue metrics too: recomputed from the ranked lists
                if not abs(from_lists[part][name] - float(value)) <= SUMMARY_TOLERANCE:  # a NaN from the lists too
                    wrong.append(f"{key} = {value} but its ranked lists give {from_lists[part][name]:.6f}")
            elif key not in per_user:
                wrong.append(f"{key} has no per-user values")
            elif not np.isfinite(per_user[key]).all():
                wrong.append(f"{key} is not finite")
            elif abs(float(np.mean(per_user[key], dtype=np.float64)) - float(value)) > SUMMARY_TOLERANCE:
                wrong.append(f"{key} = {value} but its per-user values average "
                             f"{float(np.mean(per_user[key], dtype=np.float64)):.6f}")
    if wrong:
        raise BenchError(f"{path}: the summary does not match the per-user metrics ({'; '.join(wrong)}); the "
                         "record was edited or damaged: delete it (and its side file) and run the job again")
    return record, per_user


NO_RANKED_LISTS = ("a record without ranked lists (schema v1, made before records kept their evidence: it is read, "
                   "but no metric can be added to it)")


def existing(path: Path, run_id: str) -> str | None:
    """What a job's record path holds: None (nothing), "" (a verified record of exactly this run), or why the
    record there is not this run's (other settings, an edited summary, a damaged side file, or a version-1
    record of the same run, which kept no ranked lists: --replace-stale reruns it to keep them)."""
    if not Path(path).is_file():
        return None
    try:
        record, _ = read_verified(path)
    except BenchError as err:
        return str(err)
    try:
        check_layout(path, record)
    except BenchError as err:
        return str(err)
    if record["run_id"] != run_id:
        return f"a record made with other settings (run id {record['run_id']}; this job's is {run_id})"
    if record["schema_version"] < SCHEMA_VERSION:  # the same model, but no ranked lists to rescore or slice
        return NO_RANKED_LISTS
    return ""


def is_complete(path: Path, run_id: str) -> bool:
    """True when a verified record for exactly this run (same run id) and its intact side file exist."""
    return existing(path, run_id) == ""


class JobLock:
    """One runner per job: `PATH.lock` names the owner's host, pid and the process's start, so two runners (or
    two machines on a shared folder) never train the same job into one checkpoint. The lock appears with its
    content in one step (a hard link of a private file): created empty and written after, a racing runner
    could read it empty, call it no one's and take it too. A lock whose owner process is gone (same host; a
    live process that started at another time only reuses the pid of a runner killed before a restart) is
    stale and is taken over under `PATH.lock.takeover`, so two runners meeting one stale lock cannot both take
    it; a lock from another host is trusted."""

    def __init__(self, record_path: Path):
        self.path = Path(record_path).with_name(Path(record_path).name + ".lock")
        self.me = {"host": socket.gethostname(), "pid": os.getpid(), "started": process_start(os.getpid())}
        self.created: list[Path] = []  # folders acquire made, removed on release if nothing was written there

    def owner(self) -> dict | None:
        return _read_owner(self.path)

    def _create(self, path: Path) -> bool:
        """Make `path` hold this runner's name, atomically; False when it already exists."""
        private = path.with_name(f".{path.name}.{self.me['pid']}.{os.urandom(4).hex()}")  # one per call
        private.write_text(json.dumps(self.me))
        try:
            os.link(private, path)
            return True
        except FileExistsError:
            return False
        finally:
            private.unlink(missing_ok=True)

    def _stale(self, path: Path) -> bool:
        """The lock at `path` exists and its owner is gone (or it names no one)."""
        return _lock_state(path, self.me["host"]) in ("dead", "unreadable")

    def acquire(self) -> bool:
        self.created = [folder for folder in (self.path.parent, *self.path.parent.parents) if not folder.exists()]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            if self._create(self.path):
                return True
            if self._stale(self.path):
                return self._take_over()
            if self.path.exists():
                return False  # a live owner
        return False  # released and taken again, three times over: busy

    def _take_over(self) -> bool:
        """Replace a stale lock. Only the runner holding `.takeover` may, and it looks again once it holds it:
        a runner that saw the stale lock a moment ago may find it already replaced by a live one."""
        guard = self.path.with_name(self.path.name + ".takeover")
        if not self._create(guard):
            if self._stale(guard):  # its runner died mid-takeover: clear it, the next attempt proceeds
                guard.unlink(missing_ok=True)
            return False
        try:
            if self.path.exists() and not self._stale(self.path):
                return False  # replaced by a live runner since we looked
            self.path.unlink(missing_ok=True)
            return self._create(self.path)
        finally:
            guard.unlink(missing_ok=True)

    def release(self) -> None:
        if self.owner() == self.me:
            self.path.unlink(missing_ok=True)
        for folder in self.created:  # deepest first (a pruned sweep trial leaves no empty folder)
            try:
                folder.rmdir()
            except OSError:  # not empty: a record (or another runner's lock) lives there
                break


def _is_lock_file(path: Path) -> bool:
    """A job lock (`seed0.json.lock`), its takeover guard (`.lock.takeover`) or the private file a runner
    links either from (`.seed0.json.lock.<pid>.<random>`): each holds its owner's host, pid and process start."""
    name = path.name
    return name.endswith((".json.lock", ".json.lock.takeover")) or (name.startswith(".") and ".json.lock." in name)


def _read_owner(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def process_start(pid: int) -> str | None:
    """Who process `pid` is, beyond its number: the boot's id and the process's start in clock ticks after
    boot (Linux's /proc). A process that later gets the same pid (after a restart, say) has another; None
    where /proc cannot tell, and a lock then goes by its pid alone."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        fields = Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[1].split()
        return f"{boot}:{fields[19]}"  # field 22 of stat, counted from the state (field 3) after the name
    except (OSError, IndexError, ValueError):
        return None


def _owner_alive(owner: dict, host: str) -> bool:
    """Whether the process a lock names still runs; one on another host is trusted (we cannot look). A live
    process with the lock's pid but another start is not its owner: the pid was reused."""
    if owner.get("host") != host:
        return True
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, ValueError, TypeError):
        return True
    started, now = owner.get("started"), process_start(owner["pid"])
    return started is None or now is None or started == now


def _lock_state(path: Path, host: str) -> str:
    """What the lock file at `path` says: gone (no file, or released just now), alive, dead (its owner process
    is gone) or unreadable (no owner in it: damaged, or a private file its runner is still writing)."""
    try:
        owner = json.loads(path.read_text())
    except FileNotFoundError:
        return "gone"
    except (OSError, ValueError):
        return "unreadable"
    if not isinstance(owner, dict):
        return "unreadable"
    return "alive" if _owner_alive(owner, host) else "dead"


def remove_stale_locks(folder: Path) -> list[Path]:
    """Remove the lock files under `folder` (locks, takeover guards, a killed runner's private files) whose
    owner process is gone (this host only), and the folders they leave empty. A killed sweep trial's folder
    is never reused (the next trial has its own number), so its lock would otherwise stay behind; a resumed
    suite run needs none of this (it takes its lock over)."""
    folder = Path(folder)
    host = socket.gethostname()
    removed = []
    for path in sorted(p for p in folder.rglob("*") if _is_lock_file(p)) if folder.is_dir() else []:
        state = _lock_state(path, host)
        private = path.name.startswith(".")  # empty while its runner writes it: only a dead owner's goes
        if state not in ("dead", "unreadable") or (private and state == "unreadable"):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
        for parent in path.parents:  # empty folders up to (not including) `folder`
            if parent == folder or folder not in parent.parents:
                break
            try:
                parent.rmdir()
            except OSError:
                break
    return removed


def fit_seconds(record: dict) -> float:
    """The fit's wall seconds over all its processes. Records made before a resumed fit counted its earlier,
    killed processes in `timing.fit_s` hold only the last process there; their `training.train_minutes`
    (kept in the checkpoint by tiger) holds the whole training."""
    fit_s = record["timing"]["fit_s"]
    training_s = 60.0 * (record.get("training") or {}).get("train_minutes", 0.0)
    return training_s if training_s > fit_s + 1.0 else fit_s  # beyond the minutes' rounding: a resumed fit


def evaluation_seconds(record: dict) -> float:
    """Evaluation's wall seconds: validation, test, the beam-fidelity check and any sampled decodings."""
    timing = record["timing"]
    return (timing["valid_s"] + timing["test_s"] + timing.get("decoding_s", 0.0)
            + (record.get("beam_fidelity") or {}).get("seconds", 0.0))


def find_records(results: Path, suite: str | None = None) -> list[Path]:
    base = Path(results) / "runs" / (suite or "")
    return sorted(p for p in base.rglob("seed*.json")) if base.is_dir() else []
