"""Torch-free dataset formats shared by tasks: table files with AutoTrain's column mapping.

One reader serves validate (on the user's original, read-only) and the trainer (on the prepared copy), so the two can
never disagree. A table source is a CSV / TSV / JSON / JSONL / Parquet file, a folder of such files with `train` and
`valid` splits (`train.csv`, `valid.jsonl`, `train/part-0.parquet`, ...), a folder written by `datasets.save_to_disk`,
or a Hub dataset id (`user/name`, read with `datasets.load_dataset` and the split names given). Every problem is a
`DataError` whose one line names the file, the column or the row and says what to do.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autotrain_gradio.tasks.table_guard import (
    MAX_COLUMNS,
    MAX_FIELD_CHARS,
    TableLimitError,
    check_cells,
    check_header,
    check_names,
    check_parquet_schema,
    check_text_limits,
    check_values,
)
from autotrain_gradio.workspace import is_hub_id

TABLE_EXTENSIONS = (".csv", ".tsv", ".json", ".jsonl", ".parquet")
VALID_NAMES = ("valid", "validation", "val", "test", "eval")
MAX_ROWS_SHOWN = 5


class DataError(ValueError):
    """Bad input data; the message is one line that names the file, column or row and what to do."""


@dataclass
class Table:
    """Rows of one split, as plain dicts, and where they came from."""

    source: str  # a file, a folder or a Hub id: what error messages name
    columns: list[str]
    rows: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list[Any]:
        return [row.get(name) for row in self.rows]

    def to_dict(self) -> dict[str, list[Any]]:
        """Column-oriented, for `datasets.Dataset.from_dict`."""
        return {name: self.column(name) for name in self.columns}


@dataclass
class TableData:
    """A table source read into a train split and an optional given valid split, plus the files it read."""

    train: Table
    valid: Table | None = None
    files: dict[str, Path] = field(default_factory=dict)  # split name -> local file (empty for the Hub)

    @property
    def columns(self) -> list[str]:
        return self.train.columns


# --- reading ------------------------------------------------------------------------------------------------------

def is_table_source(path: str | Path) -> bool:
    """A table file, a folder of table files / a save_to_disk folder, or something that looks like a Hub id."""
    p = Path(str(path)).expanduser()
    if p.is_file():
        return p.suffix.lower() in TABLE_EXTENSIONS
    if p.is_dir():
        return bool(_split_files(p)) or (p / "dataset_dict.json").exists() or (p / "dataset_info.json").exists()
    return is_hub_id(path)


def split_name(split: str | None) -> str | None:
    """AutoTrain's `config:split` (a Hub dataset's configuration and split) -> the split."""
    return split.rpartition(":")[2] if split else split


def _split_files(folder: Path, train_split: str = "train", valid_split: str | None = None) -> dict[str, Path]:
    """{'train': file, 'valid': file} for `train.csv` / `valid.jsonl` style files, or `train/` `valid/` folders with
    one table file each. Named splits (AutoTrain's train_split / valid_split) are file or folder names."""
    train_name = (split_name(train_split) or "train").lower()
    valid_names = (split_name(valid_split).lower(),) if valid_split else VALID_NAMES
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        stem = entry.stem.lower() if entry.is_file() else entry.name.lower()
        split = "train" if stem == train_name else "valid" if stem in valid_names else None
        if split is None or split in found:
            continue
        if entry.is_file() and entry.suffix.lower() in TABLE_EXTENSIONS:
            found[split] = entry
        elif entry.is_dir():
            files = sorted(f for f in entry.iterdir() if f.suffix.lower() in TABLE_EXTENSIONS)
            if files:
                found[split] = files[0]
    return found


def _clean(value: Any) -> Any:
    """pandas' NaN / NaT / numpy scalars as plain Python: None for missing, int/float/str/list otherwise."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return _clean(value.tolist()) if not isinstance(value, list | tuple) else value
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _frame_rows(frame: Any) -> tuple[list[str], list[dict[str, Any]]]:
    columns = [str(c) for c in frame.columns]
    records = frame.to_dict(orient="records")
    return columns, [{str(k): _clean(v) for k, v in rec.items()} for rec in records]


def _limited(source: str, check: Callable[..., None], *args: Any) -> None:
    """Run one of table_guard's checks; its refusal is this module's DataError."""
    try:
        check(*args)
    except TableLimitError as err:
        raise DataError(str(err)) from None


def read_file(path: Path) -> Table:
    """One table file. Refuses ragged CSV rows, non-UTF-8 text, broken JSON lines and empty files, naming the line."""
    import pandas as pd

    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes); export the data again with a header row and at least one row")
    try:
        if suffix in (".csv", ".tsv"):
            _check_text(path)
            _limited(str(path), check_header, path, "\t" if suffix == ".tsv" else ",")
            frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", encoding="utf-8", dtype=object,
                                keep_default_na=True, on_bad_lines="error", engine="python")
            frame = frame.where(frame.notna(), None)
        elif suffix == ".jsonl":
            _check_text(path)
            rows = _jsonl_rows(path)
            frame = pd.DataFrame.from_records(rows)
        elif suffix == ".json":
            _check_text(path)
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:  # JSON Lines named .json, as AutoTrain and pandas' lines=True write them
                data = _jsonl_rows(path)
            if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
                data = next(iter(data.values()))  # {"data": [...]} as many exports write it
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise DataError(f"{path}: expected a JSON list of objects (one per row), or use .jsonl with one "
                                "object per line")
            _check_keys(path, data)
            frame = pd.DataFrame.from_records(data)
        else:
            _limited(str(path), check_parquet_schema, path)
            frame = pd.read_parquet(path)
    except DataError:
        raise
    except pd.errors.ParserError as err:
        if "field larger than field limit" in str(err):
            raise DataError(f"{path}: a field is longer than {MAX_FIELD_CHARS} characters, past the limit; shorten "
                            "it or check the quoting (an unclosed quote swallows the lines after it)") from None
        raise DataError(f"{path}: rows do not match the header ({_short(err)}); fix the quoting or the number of "
                        "fields on that line") from None
    except (ValueError, OSError) as err:
        raise DataError(f"{path}: cannot read it as {suffix[1:].upper()} ({_short(err)})") from None
    columns, rows = _frame_rows(frame)
    if not rows:
        raise DataError(f"{path} has a header but no rows; add data rows")
    _limited(str(path), check_values, str(path), columns, rows)
    return Table(str(path), columns, rows)


def _short(err: BaseException) -> str:
    return " ".join(str(err).split())[:200]


def _check_text(path: Path) -> None:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line} is not UTF-8 text (byte {raw[err.start]:#04x}); save the file as "
                        "UTF-8 (e.g. in a spreadsheet: 'CSV UTF-8')") from None
    _limited(str(path), check_text_limits, path, text)


def _jsonl_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: line {number} is not valid JSON ({err.msg}); fix or remove that line") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}: line {number} is a JSON {type(row).__name__}, not an object; write one "
                            '{"column": value, ...} object per line')
        rows.append(row)
    _check_keys(path, rows)
    return rows


def _check_keys(path: Path, rows: list[dict[str, Any]]) -> None:
    """JSON rows: the columns they name together stay within the column limit (before a frame is built)."""
    names: set[str] = set()
    for number, row in enumerate(rows, 1):
        names.update(row)
        if len(names) > MAX_COLUMNS:
            raise DataError(f"{path}: row {number} brings the keys (columns) past the limit of {MAX_COLUMNS}; keep "
                            "the columns you train on")


def _from_datasets(ds: Any, source: str) -> Table:
    columns = list(ds.column_names)
    _limited(source, check_names, source, columns)
    rows = [{k: _clean(v) for k, v in row.items()} for row in ds]
    if not rows:
        raise DataError(f"{source} has no rows")
    _limited(source, check_values, source, columns, rows)
    return Table(source, columns, rows)


def _read_hub_or_disk(source: str, train_split: str, valid_split: str | None) -> TableData:
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a core dependency
        raise DataError("reading a Hub dataset needs the datasets package: pip install datasets") from None
    path = Path(source).expanduser()
    # AutoTrain's `config:split` names a Hub dataset's configuration (sentence-transformers/all-nli's pair:train).
    config = train_split.rpartition(":")[0] or None
    train_split, valid_split = split_name(train_split) or "train", split_name(valid_split)
    try:
        loaded = datasets.load_from_disk(str(path)) if path.is_dir() else datasets.load_dataset(source, config)
    except Exception as err:  # noqa: BLE001 - any loader failure becomes one line naming the source
        raise DataError(f"cannot load dataset {source} ({type(err).__name__}: {_short(err)}); check the path or "
                        "Hub id (and HF_TOKEN for a private dataset)") from None
    if isinstance(loaded, datasets.Dataset):
        return TableData(_from_datasets(loaded, source))
    splits = list(loaded.keys())
    if train_split not in loaded:
        raise DataError(f"{source} has no split '{train_split}' (it has {', '.join(splits)}); pass --train-split")
    valid = None
    if valid_split:
        if valid_split not in loaded:
            raise DataError(f"{source} has no split '{valid_split}' (it has {', '.join(splits)}); pass "
                            "--valid-split or leave it empty")
        valid = _from_datasets(loaded[valid_split], f"{source}[{valid_split}]")
    return TableData(_from_datasets(loaded[train_split], f"{source}[{train_split}]"), valid)


def read_table(source: str | Path, train_split: str = "train", valid_split: str | None = None) -> TableData:
    """Read a table source (see the module doc). A folder's `valid` file is used when present."""
    path = Path(str(source)).expanduser()
    if path.is_file():
        if path.suffix.lower() not in TABLE_EXTENSIONS:
            raise DataError(f"{path} is not a table file; use one of {', '.join(TABLE_EXTENSIONS)}")
        return TableData(read_file(path), None, {"train": path})
    if path.is_dir():
        if (path / "dataset_dict.json").exists() or (path / "dataset_info.json").exists():
            return _read_hub_or_disk(str(path), train_split, valid_split)
        files = _split_files(path, train_split, valid_split)
        if "train" not in files:
            tables = sorted(f.name for f in path.iterdir()  # not hidden ones: the prepared copy's manifest
                            if f.suffix.lower() in TABLE_EXTENSIONS and not f.name.startswith("."))
            if len(tables) == 1:
                files = {"train": path / tables[0]}
            else:
                found = ", ".join(tables[:5]) or "no table files"
                raise DataError(f"{path}: no train file; name it train.csv (or .tsv/.json/.jsonl/.parquet), with an "
                                f"optional valid.csv beside it (found {found})")
        train = read_file(files["train"])
        valid = read_file(files["valid"]) if "valid" in files else None
        if valid is not None and (missing := [c for c in train.columns if c not in valid.columns]):
            raise DataError(f"{files['valid']} lacks columns that {files['train'].name} has: {', '.join(missing)}")
        return TableData(train, valid, files)
    if is_hub_id(source):
        return _read_hub_or_disk(str(source), train_split, valid_split)
    raise DataError(f"dataset path not found: {path}; give a table file, a folder with train.csv, or a Hub id")


def write_table(data: TableData, dest: Path) -> dict[str, Path]:
    """The prepared copy: local files are copied byte for byte (train.<ext>, valid.<ext>); Hub and save_to_disk
    sources are written as train.parquet / valid.parquet. Returns split -> written file."""
    dest.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, table in (("train", data.train), ("valid", data.valid)):
        if table is None:
            continue
        if split in data.files:
            src = data.files[split]
            target = dest / f"{split}{src.suffix.lower()}"
            shutil.copy2(src, target)
        else:
            import pandas as pd

            target = dest / f"{split}.parquet"
            pd.DataFrame.from_records(table.rows, columns=table.columns).to_parquet(target)
        written[split] = target
    return written


# --- column mapping and checks ----------------------------------------------------------------------------------

def rows_text(numbers: list[int]) -> str:
    """'rows 3, 7, 9 ...' (1-based data rows, as a spreadsheet numbers them after the header)."""
    shown = ", ".join(str(n) for n in numbers[:MAX_ROWS_SHOWN])
    return f"row{'s' if len(numbers) > 1 else ''} {shown}{' ...' if len(numbers) > MAX_ROWS_SHOWN else ''}"


def require_column(table: Table, key: str, column: str) -> None:
    """The mapped column exists, else one line with the columns the file has and how to map."""
    if column not in table.columns:
        close = [c for c in table.columns if c.lower() == column.lower()]
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise DataError(f"{table.source}: no column '{column}' for {key}{hint}; its columns are "
                        f"{', '.join(table.columns)}. Map it with --column-mapping {key}=<column>")


def check_no_missing(table: Table, key: str, column: str, what: str = "value") -> None:
    """Null or empty cells in a required column: counted, with the first row numbers."""
    bad = [i for i, v in enumerate(table.column(column), 1) if v is None or (isinstance(v, str) and not v.strip())]
    if bad:
        raise DataError(f"{table.source}: {len(bad)} empty or null {what}{'s' if len(bad) > 1 else ''} in column "
                        f"'{column}' ({key}) at {rows_text(bad)}; fill them in or drop those rows")
    # The column's kind: text is text (not bytes, objects or lists), a label one value per row.
    _limited(table.source, check_cells, table.source, key, column, table.column(column), what)


def check_numeric(table: Table, key: str, column: str) -> list[float]:
    """A regression target: every cell a number."""
    values = []
    bad = []
    for i, v in enumerate(table.column(column), 1):
        try:
            number = float(v)
            if math.isnan(number) or math.isinf(number):
                raise ValueError
            values.append(number)
        except (TypeError, ValueError):
            bad.append(i)
    if bad:
        first = table.rows[bad[0] - 1].get(column)
        raise DataError(f"{table.source}: column '{column}' ({key}) must be numeric for regression; "
                        f"{len(bad)} non-numeric value{'s' if len(bad) > 1 else ''} at {rows_text(bad)} (e.g. "
                        f"{first!r}); fix them, or use a classification profile for labels")
    return values


def _decode(value: Any) -> Any:
    """A CSV / TSV cell's text as the list or dict it writes: JSON, or Python's repr as pandas writes it."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except (json.JSONDecodeError, RecursionError):
        import ast

        try:
            return ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return value


def structured_column(table: Table, key: str, column: str, kind: type, example: str) -> list[Any]:
    """A column whose cells hold lists (or dicts): JSON, JSONL, Parquet and Hub datasets give them as they are, CSV
    and TSV cells as their text (`["a", "b"]` or `['a', 'b']`). Every cell decoded; the first that is not a `kind`
    is one line naming its row, e.g. `example` of what to write."""
    values = [_decode(v) for v in table.column(column)]
    for i, value in enumerate(values, 1):
        if not isinstance(value, kind):
            what = "a list" if kind is list else "an object"
            raise DataError(f"{table.source}: row {i} of column '{column}' ({key}) is not {what} (got "
                            f"{_short_value(table.rows[i - 1].get(column))}); write each row as {what}, e.g. "
                            f"{example}")
    return values


def _short_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_min_rows(table: Table, minimum: int) -> None:
    if len(table) < minimum:
        raise DataError(f"{table.source} has {len(table)} rows, fewer than the minimum {minimum}; add rows or lower "
                        "--min-images")


def split_rows(rows: list[Any], fraction: float, seed: int,
               stratify: Callable[[Any], Any] | None = None) -> tuple[list[Any], list[Any]]:
    """A seeded split (AutoTrain: 20% validation, seed 42). With `stratify`, each group (e.g. each label) gives
    round(n * fraction) rows, at least one when it has two or more, and keeps at least one for training."""
    import random

    rng = random.Random(seed)
    groups: dict[Any, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(stratify(row) if stratify else None, []).append(i)
    valid_idx: set[int] = set()
    for key in sorted(groups, key=str):
        members = groups[key][:]
        rng.shuffle(members)
        if fraction > 0 and len(members) > 1:
            valid_idx.update(members[:min(len(members) - 1, max(1, round(len(members) * fraction)))])
    return ([r for i, r in enumerate(rows) if i not in valid_idx], [r for i, r in enumerate(rows) if i in valid_idx])


def parse_column_mapping(text: str | dict[str, Any] | None) -> dict[str, Any]:
    """`text_column=review,target_column=stars` (CLI) or a dict (API, [column_mapping] in a --config file).
    `target_columns=a|b` gives a list."""
    if not text:
        return {}
    if isinstance(text, dict):
        return {str(k): v for k, v in text.items()}
    out: dict[str, Any] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise DataError(f"--column-mapping expects key=column pairs separated by commas, got {item.strip()!r} "
                            "(e.g. text_column=review,target_column=label)")
        key, value = (s.strip() for s in item.split("=", 1))
        out[key] = value.split("|") if key.endswith("_columns") else value
    return out
