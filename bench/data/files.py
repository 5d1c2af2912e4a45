"""Reading and validating dataset files: every problem names the file, the line and what is wrong.

Interactions: TSV or CSV (optionally gzipped) with a header holding `user_id`, `item_id` and an order
column (`seq_idx`, `timestamp`, or both; other columns are ignored). Items: JSON lines with `item_id` plus
any of `title`, `brand`, `categories`, `price`, `description`.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import DatasetError, did_you_mean, quote

MAX_PROBLEMS = 20  # problems listed per error; the rest are counted
REQUIRED_COLUMNS = ("user_id", "item_id")
ORDER_COLUMNS = ("seq_idx", "timestamp")
INTERACTION_NAMES = ("interactions.tsv", "interactions.tsv.gz", "interactions.csv", "interactions.csv.gz")
ITEM_NAMES = ("items.jsonl", "items.jsonl.gz")
MAX_SEQ_IDX = 2 ** 31  # a position in one user's sequence


@dataclass(frozen=True)
class ItemMeta:
    """Item metadata with HTML entities decoded; None where the file has no value."""

    title: str | None = None
    brand: str | None = None
    categories: tuple[tuple[str, ...], ...] = ()
    price: float | None = None
    description: str | None = None


@dataclass(frozen=True)
class InteractionsFile:
    """Raw interaction rows as read, in file order; `lines` are 1-based line numbers for messages."""

    path: Path
    users: np.ndarray  # object (str)
    items: np.ndarray  # object (str)
    seq_idx: np.ndarray | None  # int64
    timestamps: np.ndarray | None  # int64 unix seconds
    lines: np.ndarray  # int64


class _Problems:
    """Collects problems up to MAX_PROBLEMS, counts the rest, raises them all at once."""

    def __init__(self):
        self.items: list[str] = []
        self.extra = 0

    def add(self, message: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(message)
        else:
            self.extra += 1

    def add_each(self, lines, values, template: str) -> None:
        """One problem per (line, value), formatted with {line} and {value}; only the first few are kept."""
        for line, value in zip(lines, values):
            self.add(template.format(line=line, value=value))

    def raise_if_any(self) -> None:
        if self.items:
            raise DatasetError(self.items, self.extra)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def max_file_bytes() -> int:
    """The most bytes a dataset file may hold (after gunzip): 1 GiB, or SID_BENCH_MAX_FILE_MB. Beauty's
    interactions are 7 MB; the bound turns a gzip bomb or a sparse file into an error before memory runs out."""
    return int(float(os.environ.get("SID_BENCH_MAX_FILE_MB", 1024)) * 2 ** 20)


def _too_big(path: Path, what: str, limit: int) -> DatasetError:
    return DatasetError(f"{path}: {what} more than {limit / 2 ** 20:,.0f} MB, the limit for a dataset file "
                        "(set SID_BENCH_MAX_FILE_MB to allow more)")


def _gunzip(path: Path, raw: bytes, limit: int) -> bytes:
    """Every gzip member of `raw` (as `cat a.gz b.gz` makes), inflated in a stream that stops at `limit`."""
    parts, size = [], 0
    while raw:
        inflater = zlib.decompressobj(wbits=31)
        part = inflater.decompress(raw, limit + 1 - size)
        size += len(part)
        if size > limit:
            raise _too_big(path, "inflates to", limit)
        if not inflater.eof:
            raise DatasetError(f"{path}: not a valid gzip file (the file is cut short)")
        parts.append(part)
        raw = inflater.unused_data
    return b"".join(parts)


def read_text(path: Path) -> str:
    """The file's text (gunzipped when it ends in .gz), or a DatasetError naming file and line. Reads at
    most max_file_bytes(), compressed or not."""
    limit = max_file_bytes()
    try:
        if not path.is_file():
            raise DatasetError(f"{path}: not a regular file")
        if path.stat().st_size > limit:
            raise _too_big(path, "holds", limit)
        raw = path.read_bytes()
    except OSError as err:
        raise DatasetError(f"{path}: cannot read the file ({err.strerror})") from None
    if path.suffix == ".gz":
        try:
            raw = _gunzip(path, raw, limit)
        except (OSError, EOFError, zlib.error) as err:
            raise DatasetError(f"{path}: not a valid gzip file ({err})") from None
    if not raw.strip():
        raise DatasetError(f"{path}: the file is empty")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise DatasetError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{raw[err.start]:02x} at column {column}); "
            "save the file as UTF-8") from None


def find_file(folder: Path, names: tuple[str, ...], what: str, required: bool) -> Path | None:
    for name in names:  # a folder, a pipe or a dangling link named like a data file is never skipped silently
        if ((folder / name).exists() or (folder / name).is_symlink()) and not (folder / name).is_file():
            raise DatasetError(f"{folder / name}: not a regular file; the {what} file must be one")
    found = [folder / name for name in names if (folder / name).is_file()]
    if len(found) > 1:
        raise DatasetError(f"{folder}: several {what} files ({', '.join(p.name for p in found)}); keep one")
    if not found and required:
        raise DatasetError(f"{folder}: no {what} file (expected one of {', '.join(names)})")
    return found[0] if found else None


def read_interactions(path: Path) -> InteractionsFile:
    """Parse and validate an interactions file (vectorised: millions of rows stay fast)."""
    text = read_text(path)
    first_line = text.split("\n", 1)[0].rstrip("\r")
    sep = "\t" if ("\t" in first_line or ".tsv" in path.name) else ","
    # the csv module reads the header as it reads the rows: a CSV header may quote its names ("user_id")
    quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    header = [h.strip().lower() for h in next(csv.reader([first_line], delimiter=sep, quoting=quoting), [])]
    problems = _Problems()
    for column in REQUIRED_COLUMNS:
        if column not in header:
            problems.add(f"{path}:1: missing column '{column}'{did_you_mean(column, header[:50])}; "
                         f"the header is: {quote(first_line.strip())}")
    if not any(c in header for c in ORDER_COLUMNS):
        problems.add(f"{path}:1: no order column: add 'timestamp' (unix seconds or ISO 8601) or "
                     f"'seq_idx' (0-based position in the user's sequence)")
    if len(set(header)) != len(header):
        problems.add(f"{path}:1: repeated column names in the header {quote(first_line.strip())}")
    problems.raise_if_any()

    frame, lines, users, items = interaction_rows(path, text, sep, header, problems)
    seq_idx = timestamps = None
    if "seq_idx" in header:
        raw = frame["seq_idx"].str.strip()
        parsed = pd.to_numeric(raw, errors="coerce")
        # inf, 1e19 or anything past 2^31 would wrap around in the int64 cast and silently reorder a sequence
        bad = parsed.isna() | ~((parsed >= 0) & (parsed < MAX_SEQ_IDX)) | (parsed != parsed.round())
        problems.add_each(lines[bad.to_numpy()], raw[bad].map(quote),
                          f"{path}:{{line}}: seq_idx {{value}} is not a non-negative integer below 2^31")
        seq_idx = parsed.where(~bad, -1).to_numpy(dtype=np.int64)
    if "timestamp" in header:
        timestamps = _parse_timestamps(path, frame["timestamp"].str.strip(), lines, problems)

    if seq_idx is not None:
        _check_duplicates(path, users, seq_idx, lines, problems, "seq_idx {1} for user {0!r}")
    problems.raise_if_any()
    return InteractionsFile(path, users, items, seq_idx, timestamps, lines)


def interaction_rows(path: Path, text: str, sep: str, header: list[str], problems: _Problems):
    """(frame, lines, users, items) of an interactions file whose header is checked: every row read, empty ids
    and repeated (user, item) pairs reported (ours and RecBole's atomic files alike)."""
    frame, lines = _read_rows(path, text, sep, header, problems)
    if frame.empty and not problems.items:
        raise DatasetError(f"{path}: the file has a header but no interactions")
    users = frame["user_id"].str.strip().to_numpy(dtype=object)
    items = frame["item_id"].str.strip().to_numpy(dtype=object)
    for column, values in (("user_id", users), ("item_id", items)):
        empty = values == ""
        problems.add_each(lines[empty], values[empty], f"{path}:{{line}}: empty {column}")
    _check_duplicates(path, users, items, lines, problems, "interaction (user {0!r}, item {1!r})")
    return frame, lines, users, items


def _widths_regular(text: str, sep: str, n_fields: int) -> bool:
    """True when every line has exactly n_fields fields (counted with numpy; quoted CSV is not counted)."""
    if sep == "," and '"' in text:
        return False  # quoted fields may hold commas: only the csv module counts them right
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    line_ends = np.flatnonzero(data == 10)
    if len(data) and data[-1] != 10:
        line_ends = np.append(line_ends, len(data))
    per_line = np.diff(np.searchsorted(np.flatnonzero(data == ord(sep)), line_ends), prepend=0)
    return bool((per_line == n_fields - 1).all())


def _read_rows(path: Path, text: str, sep: str, header: list[str], problems: _Problems):
    """All fields as strings plus each row's 1-based line number; rows of the wrong width become problems.

    Regular files take pandas' C parser (fast); anything irregular (a wrong field count, blank lines,
    quoted CSV) takes the csv-module path, which knows the exact line of every row.
    """
    quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    if _widths_regular(text, sep, len(header)):
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, na_filter=False, quoting=quoting,
                            engine="c", index_col=False)
        frame.columns = header
        return frame, np.arange(len(frame), dtype=np.int64) + 2
    reader = csv.reader(io.StringIO(text), delimiter=sep, quoting=quoting)
    next(reader)
    rows, lines = [], []
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text)))  # a long quoted field (a review text) is data, as it is in TSV
    try:
        for row in reader:
            if not any(field.strip() for field in row):
                continue  # blank lines are allowed
            if len(row) != len(header):
                problems.add(f"{path}:{reader.line_num}: {len(row)} field(s), the header has {len(header)} "
                             f"({'tab' if sep == chr(9) else 'comma'}-separated)")
                continue
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as err:  # e.g. a quote left open at the end of the file
        problems.add(f"{path}:{reader.line_num}: {err}")
    finally:
        csv.field_size_limit(limit)
    return pd.DataFrame(rows, columns=header, dtype=str), np.asarray(lines, dtype=np.int64)


def _parse_timestamps(path: Path, raw: pd.Series, lines: np.ndarray, problems: _Problems) -> np.ndarray:
    """Unix seconds (integer or float) or ISO 8601 dates, converted to int64 unix seconds."""
    numeric = pd.to_numeric(raw, errors="coerce")
    seconds = numeric.to_numpy(dtype=np.float64, copy=True)
    text_rows = numeric.isna().to_numpy()
    if text_rows.any():
        dates = pd.to_datetime(raw[text_rows], errors="coerce", utc=True, format="ISO8601")
        ok = dates.notna().to_numpy()
        converted = np.full(len(dates), np.nan)
        converted[ok] = (dates[ok] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
        seconds[text_rows] = converted
        bad_lines = lines[text_rows][~ok]
        bad_values = raw[text_rows][~ok]
        problems.add_each(bad_lines, bad_values.map(quote),
                          f"{path}:{{line}}: unparsable timestamp {{value}} "
                          "(expected unix seconds or an ISO 8601 date such as 2014-07-23)")
    # inf or past int64 would wrap around in the cast below and silently reorder a user's events
    out_of_range = ~numeric.isna().to_numpy() & ~(np.abs(seconds) < 2.0 ** 63)
    problems.add_each(lines[out_of_range], raw[out_of_range].map(quote),
                      f"{path}:{{line}}: timestamp {{value}} is not a finite number of seconds within int64")
    return np.nan_to_num(seconds, nan=0, posinf=0, neginf=0).astype(np.int64)


def _check_duplicates(path, keys_a, keys_b, lines, problems: _Problems, what: str) -> None:
    frame = pd.DataFrame({"a": keys_a, "b": keys_b, "line": lines})
    dup = frame.duplicated(["a", "b"], keep=False).to_numpy()
    if not dup.any():
        return
    first_line = frame[dup].groupby(["a", "b"], sort=False)["line"].transform("min").to_numpy()
    for (a, b, line), first in zip(frame[dup].itertuples(index=False), first_line):
        if line != first:
            problems.add(f"{path}:{line}: duplicate {what.format(a, b)}, first on line {first}")


def _decode(value: str) -> str:
    """HTML entities decoded (twice, for Amazon's double-escaped '&amp;amp;'), whitespace collapsed."""
    for _ in range(2):
        decoded = html.unescape(value)
        if decoded == value:
            break
        value = decoded
    return " ".join(value.split())


def _text_field(record: dict, key: str, where: str, problems: _Problems) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.add(f"{where}: '{key}' must be a string or null, not {type(value).__name__}")
        return None
    return _decode(value) or None


def _categories(record: dict, where: str, problems: _Problems) -> tuple[tuple[str, ...], ...]:
    value = record.get("categories")
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = [value]  # a single path
    if not (isinstance(value, list) and all(isinstance(p, list) and all(isinstance(c, str) for c in p)
                                            for p in value)):
        problems.add(f"{where}: 'categories' must be a list of category paths (lists of strings)")
        return ()
    return tuple(tuple(_decode(c) for c in path) for path in value if path)


def read_items(path: Path) -> dict[str, tuple[ItemMeta, int]]:
    """Parse and validate an items file: item id -> (metadata, line number)."""
    text = read_text(path)
    problems = _Problems()
    items: dict[str, tuple[ItemMeta, int]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            problems.add(f"{where}: invalid JSON ({err.msg} at column {err.colno})")
            continue
        except RecursionError:
            problems.add(f"{where}: JSON nested too deeply to read")
            continue
        if not isinstance(record, dict):
            problems.add(f"{where}: expected a JSON object, found {type(record).__name__}")
            continue
        item_id = record.get("item_id")
        if isinstance(item_id, int) and not isinstance(item_id, bool):
            item_id = str(item_id)
        if not isinstance(item_id, str) or not item_id.strip():
            problems.add(f"{where}: missing or empty 'item_id'")
            continue
        item_id = item_id.strip()
        if item_id in items:
            problems.add(f"{where}: duplicate item_id {quote(item_id)}, first on line {items[item_id][1]}")
            continue
        price = record.get("price")
        if price is not None and (isinstance(price, bool) or not isinstance(price, (int, float))
                                  or not np.isfinite(price)):
            problems.add(f"{where}: 'price' must be a finite number or null, not {quote(price)}")
            price = None
        meta = ItemMeta(
            title=_text_field(record, "title", where, problems),
            brand=_text_field(record, "brand", where, problems),
            categories=_categories(record, where, problems),
            price=None if price is None else float(price),
            description=_text_field(record, "description", where, problems),
        )
        items[item_id] = (meta, number)
    problems.raise_if_any()
    if not items:
        raise DatasetError(f"{path}: no items in the file")
    return items
