"""Plugin discovery: files in the plugin folders, installed entry points, and one-off `--plugin FILE`s.

Plugin folders have no `__init__.py` (a package named `tokenizers` at the repo root would shadow Hugging
Face's): each file is loaded by path under a unique module name, `bench_plugins.<kind>.<stem>`, and
registers its classes with a decorator. Plugin files import torch lazily, so listing stays fast.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import sys
import traceback
from importlib import metadata
from pathlib import Path

from bench.errors import BenchError, PluginError, did_you_mean, shorten
from bench.paths import project_root

KINDS = ("tokenizers", "recommenders")
_registered: dict[str, dict[str, type]] = {kind: {} for kind in KINDS}
_sources: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
_loaded_files: set[Path] = set()
_discovered: set[str] = set()


def unregister(kind: str, name: str) -> None:
    """Forget a plugin (tests that register a throwaway one clean up with this)."""
    _registered[kind].pop(name, None)
    _sources[kind].pop(name, None)


def describe(kind: str) -> list[tuple[str, str, str]]:
    """(name, first docstring line, source) for every registered plugin of a kind: what `ls` prints."""
    rows = []
    for name, cls in available(kind).items():
        doc = (cls.__doc__ or sys.modules[cls.__module__].__doc__ or "").strip().splitlines()
        rows.append((name, doc[0] if doc else "", source_of(kind, name)))
    return rows


def register(kind: str, name: str, cls: type) -> type:
    """Record `cls` under `name`; the same name from two different places is an error."""
    source = sys.modules.get(cls.__module__)
    where = getattr(source, "__file__", None) or cls.__module__
    previous = _sources[kind].get(name)
    if previous is not None and previous != where:
        raise PluginError(f"two {kind} plugins are named '{name}': {previous} and {where}; rename one")
    cls.name = name
    _registered[kind][name] = cls
    _sources[kind][name] = where
    return cls


def loaded_plugin_files() -> list[Path]:
    """The one-off plugin files loaded so far (worker processes load them again)."""
    return sorted(_loaded_files)


def load_plugin_file(path: str | Path, kind: str | None = None) -> None:
    """Import one plugin file by path (its decorators register what it defines)."""
    path = Path(path).resolve()
    if path in _loaded_files:
        return
    if not path.is_file():
        raise PluginError(f"plugin file not found: {path}")
    group = kind or path.parent.name
    module_name = f"bench_plugins.{group}.{path.stem}"
    if module_name in sys.modules:  # same stem in another folder (a --plugin file): keep both
        module_name = f"bench_plugins.{group}.{path.stem}_{abs(hash(str(path))):x}"
    # the source loader reads any file name as Python (a `.txt` or `.yaml` given by mistake fails as Python)
    spec = importlib.util.spec_from_loader(module_name, importlib.machinery.SourceFileLoader(module_name, str(path)))
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(path)
    sys.modules[module_name] = module
    try:
        with plugin_failures("plugin file", str(path), "import"):
            spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    _loaded_files.add(path)


@contextlib.contextmanager
def plugin_failures(what: str, name: str, stage: str):
    """A plugin's own exception, or its sys.exit(), becomes one PluginError that names the plugin, the stage
    and the line it came from: a user's plugin bug is still one `error:` line, and never a silent exit 0.
    SID_BENCH_DEBUG=1 prints the whole traceback as well."""
    try:
        yield
    except (BenchError, KeyboardInterrupt):
        raise
    except (Exception, SystemExit) as err:
        if getattr(err, "from_caller", False):  # raised by the caller's own callback (a sweep pruning a trial)
            raise
        frames = [f for f in traceback.extract_tb(err.__traceback__) if not f.filename.startswith("<")]
        at = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames and not isinstance(err, SyntaxError) else ""
        kind = "exited (sys.exit)" if isinstance(err, SystemExit) else type(err).__name__
        detail = shorten(str(err).strip().splitlines()[0]) if str(err).strip() else ""
        raise PluginError(f"{what} '{name}' failed in {stage}: {kind}{': ' + detail if detail else ''}{at}") from err


def discover(kind: str) -> None:
    """Load every plugin of a kind once: repo folder files, then installed entry points."""
    if kind not in KINDS:
        raise PluginError(f"unknown plugin kind '{kind}'{did_you_mean(kind, KINDS)}")
    if kind in _discovered:
        return
    folder = project_root() / kind
    for path in sorted(folder.glob("*.py")) if folder.is_dir() else []:
        if not path.name.startswith("_"):
            load_plugin_file(path, kind)
    for entry in metadata.entry_points(group=f"bench.{kind}"):
        try:
            entry.load()
        except Exception as err:
            raise PluginError(f"cannot load installed plugin '{entry.name}' ({entry.value}): {err}") from err
    _discovered.add(kind)


def available(kind: str) -> dict[str, type]:
    discover(kind)
    return dict(sorted(_registered[kind].items()))


def get(kind: str, name: str) -> type:
    plugins = available(kind)
    if name not in plugins:
        singular = kind[:-1]
        raise PluginError(f"unknown {singular} '{name}'{did_you_mean(name, plugins)}; "
                          f"`python -m bench ls {kind}` lists them")
    return plugins[name]


def source_of(kind: str, name: str) -> str:
    """Where a plugin was defined: a path relative to the checkout when inside it, else as loaded."""
    discover(kind)
    where = _sources[kind][name]
    try:
        return Path(where).resolve().relative_to(project_root().resolve()).as_posix()
    except ValueError:
        return where


def caller_callback(callback):
    """A callback the runner hands a plugin (`on_eval`): what it raises belongs to the caller (optuna's
    TrialPruned) and passes through `plugin_failures` as it is."""
    if callback is None:
        return None

    def call(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except BaseException as err:
            err.from_caller = True
            raise
    return call
