"""Errors that reach the user as one clear message instead of a traceback."""

from __future__ import annotations


class BenchError(Exception):
    """Base class: the CLI prints these without a traceback and exits with status 2."""


class ConfigError(BenchError):
    """A suite file, a --set override or a plugin config is wrong."""


class PluginError(BenchError):
    """A plugin cannot be found or does not follow its contract."""


class LeakageError(PluginError):
    """A plugin reached for data it must never see (the test split during fit)."""


class DatasetError(BenchError):
    """A dataset file is malformed. Holds every problem found, each naming file and line."""

    def __init__(self, problems: list[str] | str, more: int = 0):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.more = more
        text = "\n".join(f"  {p}" for p in self.problems)
        if more:
            text += f"\n  ... and {more} more problem(s) of the same kinds"
        header = "the dataset has a problem:" if len(self.problems) == 1 else (
            f"the dataset has {len(self.problems) + more} problems:")
        super().__init__(f"{header}\n{text}")


def did_you_mean(name: str, choices) -> str:
    """' (did you mean 'x'?)' when a close match exists, else a list of the valid names."""
    import difflib

    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    if not choices:
        return " (there are none)"
    shown = ", ".join(choices[:12]) + (", ..." if len(choices) > 12 else "")
    return f" (valid: {shown})"


class TrainingDiverged(BenchError):
    """A training loss became NaN or infinite: the run stops, and no record is written."""


def check_finite_loss(value: float, what: str, step: int) -> float:
    """`value`, or TrainingDiverged when it is NaN or infinite: a diverged run must never become a record
    of zeros that looks like a result."""
    if value != value or value in (float("inf"), float("-inf")):
        raise TrainingDiverged(f"{what}: the training loss is {value} at step {step}; the run diverged and no "
                               "record is written (a learning rate too high, or non-finite inputs?)")
    return value


def shorten(text: str, limit: int = 300) -> str:
    """`text` cut to about `limit` characters: an error quotes at most a line of a user's input."""
    return text if len(text) <= limit else f"{text[:limit - 20]}... ({len(text):,} characters)"


def quote(value, limit: int = 80) -> str:
    """repr(value), shortened: for a value taken from a user's file or option."""
    return shorten(repr(value), limit)
