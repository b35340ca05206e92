"""Limits every table reader holds to, checked before rows are read where they can be, so a hostile file is one line
naming the file, the line or row and the column, never a hang, a memory blow-up or a traceback: a header past
MAX_COLUMNS or with a name twice, text with a NUL byte, nesting past MAX_DEPTH (found by a scan, never by recursion
over the user's data), a field past MAX_FIELD_CHARS. The column-kind checks (text columns holding binary data,
objects or lists; label columns holding lists; an all-number text column, which is accepted with a warning) are
`check_cells`. Torch-free; imports nothing of ours, so formats.py can use it.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

MAX_COLUMNS = 4096  # a header past this is refused before any row is read
MAX_DEPTH = 32  # lists / objects inside each other in one JSON value or Parquet column
MAX_FIELD_CHARS = 131_072  # one cell's text (Python's csv field limit)
HEADER_MAX_BYTES = MAX_COLUMNS * 256  # a header line longer than this is refused unread
TEXT_KINDS = ("text", "chosen text", "rejected text", "prompt", "context", "question")
LABEL_KINDS = ("label", "target", "score")

_notes: ContextVar[list[str] | None] = ContextVar("table_notes", default=None)


class TableLimitError(ValueError):
    """A table past a limit; formats.py raises it as its DataError."""


def note(message: str) -> None:
    """A warning about the data that does not stop it (collected by `collected_notes`, e.g. validate's report)."""
    found = _notes.get()
    if found is not None and message not in found:
        found.append(message)


@contextmanager
def collected_notes():
    """Collect the `note`s made in this context (thread-safe: a context variable)."""
    found: list[str] = []
    token = _notes.set(found)
    try:
        yield found
    finally:
        _notes.reset(token)


def check_header(path: Path, sep: str) -> None:
    """A CSV/TSV header: read in bounded memory (one line, at most HEADER_MAX_BYTES), at most MAX_COLUMNS names,
    each once."""
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        line = fh.readline(HEADER_MAX_BYTES + 1)
    if len(line) > HEADER_MAX_BYTES:
        raise TableLimitError(f"{path}: the header line is longer than {HEADER_MAX_BYTES} characters (more than "
                              f"{MAX_COLUMNS} columns); keep at most {MAX_COLUMNS} columns")
    names = next(csv.reader(io.StringIO(line), delimiter=sep), [])
    check_names(path, [n.strip() for n in names])


def check_names(source: Any, names: list[str]) -> None:
    """Column names: at most MAX_COLUMNS, none twice."""
    if len(names) > MAX_COLUMNS:
        raise TableLimitError(f"{source}: the header has {len(names)} columns, more than the limit of {MAX_COLUMNS}; "
                              "keep the columns you train on")
    twice = [name for name, count in Counter(names).items() if count > 1]
    if twice:
        raise TableLimitError(f"{source}: column '{twice[0]}' appears {names.count(twice[0])} times in the header; "
                              "give every column its own name")


def check_text_limits(path: Path, text: str) -> None:
    """Text table files: no NUL byte (binary or UTF-16 data), JSON nested at most MAX_DEPTH."""
    if (at := text.find("\0")) >= 0:
        raise TableLimitError(f"{path}: line {text.count(chr(10), 0, at) + 1} holds a NUL byte, which text never "
                              "has; the file is binary or not UTF-8 (save it as UTF-8 CSV/JSONL)")
    if path.suffix.lower() not in (".json", ".jsonl") or text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    # JSONL: only the lines with enough brackets to be deep are scanned (counting is C-speed, the scan is not).
    pieces = enumerate(text.split("\n"), 1) if path.suffix.lower() == ".jsonl" else [(1, text)]
    for first, piece in pieces:
        if piece.count("[") + piece.count("{") > MAX_DEPTH:
            depth, line = json_depth(piece)
            if depth > MAX_DEPTH:
                raise TableLimitError(f"{path}: line {first + line - 1} nests lists/objects deeper than the limit "
                                      f"of {MAX_DEPTH}; flatten that value")


def json_depth(text: str) -> tuple[int, int]:
    """(deepest nesting of [ and { outside strings, its line), by one pass over the text: no recursion. Stops
    counting past MAX_DEPTH + 1."""
    depth = deepest = 0
    line, deepest_line, in_string, escaped = 1, 1, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest, deepest_line = depth, line
                if deepest > MAX_DEPTH:
                    break
        elif char in "]}":
            depth -= 1
        elif char == "\n":
            line += 1
    return deepest, deepest_line


def check_parquet_schema(path: Path) -> None:
    """A Parquet file's columns and nesting, from its footer only (no row is read)."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    check_names(path, list(schema.names))
    for field in schema:
        depth, stack = 0, [(field.type, 0)]
        while stack:  # the type tree, walked with a stack
            kind, level = stack.pop()
            depth = max(depth, level)
            if depth > MAX_DEPTH:
                raise TableLimitError(f"{path}: column '{field.name}' nests lists/structs more than {MAX_DEPTH} "
                                      "deep; flatten it")
            stack.extend((kind.field(i).type, level + 1) for i in range(getattr(kind, "num_fields", 0) or 0))
            if hasattr(kind, "value_type"):
                stack.append((kind.value_type, level + 1))


def check_values(source: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """Every text cell: no NUL character, at most MAX_FIELD_CHARS."""
    for number, row in enumerate(rows, 1):
        for column in columns:
            value = row.get(column)
            if isinstance(value, str) and (len(value) > MAX_FIELD_CHARS or "\0" in value):
                what = (f"is {len(value)} characters, past the limit of {MAX_FIELD_CHARS}" if len(value) >
                        MAX_FIELD_CHARS else "holds a NUL character, which text never has")
                raise TableLimitError(f"{source}: row {number} of column '{column}' {what}; fix or drop that row")


def _is_chat(value: Any) -> bool:
    """Chat messages (a list of objects), which a text column of a chat task holds: its reader checks them."""
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) for m in value)


def check_cells(source: str, key: str, column: str, values: list[Any], what: str) -> None:
    """A mapped column's cells for their kind: text (`TEXT_KINDS`) is text, or chat messages for a text column;
    a label (`LABEL_KINDS`) is one value per row. All-number text is noted (the mapping may be wrong)."""
    if what in TEXT_KINDS:
        for number, value in enumerate(values, 1):
            bad = ("binary data" if isinstance(value, bytes | bytearray) else "an object" if isinstance(value, dict)
                   else "a list" if isinstance(value, list) and not _is_chat(value) else None)
            if bad:
                raise TableLimitError(f"{source}: row {number} of column '{column}' ({key}) holds {bad}, not "
                                      f"{what}; map a column of text with {key}")
        if values and all(isinstance(v, int | float) and not isinstance(v, bool) or
                          isinstance(v, str) and _number(v) for v in values):
            note(f"{source}: column '{column}' ({key}) holds only numbers; check that {key} names the column of "
                 f"{what}")
    elif what in LABEL_KINDS:
        for number, value in enumerate(values, 1):
            if isinstance(value, list | dict | bytes | bytearray):
                kind = "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else "bytes"
                raise TableLimitError(f"{source}: row {number} of column '{column}' ({key}) holds {kind}, not one "
                                      f"{what}; give one {what} per row (several targets: target_columns)")


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
