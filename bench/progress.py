"""Progress for people: a line per stage with its time, and bars (tqdm) for anything that takes a while."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

from tqdm.auto import tqdm

_START = time.monotonic()


def log(message: str) -> None:
    elapsed = time.monotonic() - _START
    print(f"[{elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)


@contextmanager
def stage(name: str, quiet: bool = False):
    """Log the start and the duration of a stage (unless `quiet`); the body can add a result with `.done = '...'`."""
    if not quiet:
        log(f"{name} ...")
    start = time.monotonic()
    info = type("StageInfo", (), {"done": ""})()
    yield info
    if not quiet:
        log(f"{name}: done in {time.monotonic() - start:.1f}s{(' — ' + info.done) if info.done else ''}")


def bar(iterable=None, total=None, desc: str = "", unit: str = "it"):
    """A tqdm bar that appears only when the work lasts more than 2 s (quiet for quick stages and tests)."""
    interactive = sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, unit=unit, delay=2.0, leave=False, dynamic_ncols=True,
                mininterval=0.5 if interactive else 30.0, file=sys.stderr)


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
