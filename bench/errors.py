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
