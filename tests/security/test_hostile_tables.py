"""Hostile tables, through the CLI and through the app's upload: each is one line naming the file, the line or row
and the column, exit 2, and nothing is written (the workspace stays byte-identical, no upload is prepared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from autotrain_gradio.tasks.table_guard import MAX_COLUMNS, MAX_DEPTH, MAX_FIELD_CHARS
from tests.security.conftest import call, upload
from tests.unit.test_pipeline_bad_input import run_cli

GOOD = [{"text": "a fine film", "target": "pos"}, {"text": "a dull film", "target": "neg"}]


def _jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _parquet(path: Path, table: pa.Table) -> Path:
    pq.write_table(table, path)
    return path


def _deep(depth: int) -> str:
    return '{"text": ' + "[" * depth + "1" + "]" * depth + ', "target": "pos"}\n'


def hostile(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, the exact line the CLI and the app answer, with {path} for the file as each one sees it)."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = {}
    nul = folder / "zero.csv"
    nul.write_bytes(b"text,target\na fine film,pos\nbad\x00text,neg\n")
    cases["nul"] = (nul, "{path}: line 3 holds a NUL byte, which text never has; the file is binary or not UTF-8 "
                         "(save it as UTF-8 CSV/JSONL)")
    text = pa.array(["a fine film", "bad\x00"])
    cases["nul-parquet"] = (_parquet(folder / "zerop.parquet", pa.table({"text": text, "target": ["pos", "neg"]})),
                            "{path}: row 2 of column 'text' holds a NUL character, which text never has; fix or drop "
                            "that row")
    for kind, values, what in (("binary", pa.array([b"\x89PNG", b"\x00\x01"]), "binary data"),
                               ("struct", pa.array([{"a": 1}, {"a": 2}]), "an object"),
                               ("list", pa.array([["a", "b"], ["c"]]), "a list")):
        cases[kind] = (_parquet(folder / f"{kind}.parquet", pa.table({"text": values, "target": ["pos", "neg"]})),
                       f"{{path}}: row 1 of column 'text' (text_column) holds {what}, not text; map a column of text "
                       "with text_column")
    dup = folder / "dup.csv"
    dup.write_text("text,target,text\na fine film,pos,x\na dull film,neg,y\n")
    cases["duplicate-header"] = (dup, "{path}: column 'text' appears 2 times in the header; give every column its own "
                                      "name")
    wide = folder / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n" + ",".join("1" * 1_000_000) + "\n")
    cases["million-columns"] = (wide, f"{{path}}: the header line is longer than {MAX_COLUMNS * 256} characters (more "
                                      f"than {MAX_COLUMNS} columns); keep at most {MAX_COLUMNS} columns")
    many = {f"c{i}": [1] for i in range(MAX_COLUMNS + 1)}
    cases["columns-parquet"] = (_parquet(folder / "many.parquet", pa.table(many)),
                                f"{{path}}: the header has {MAX_COLUMNS + 1} columns, more than the limit of "
                                f"{MAX_COLUMNS}; keep the columns you train on")
    for depth in (500, 100_000):
        deep = folder / f"deep{depth}.jsonl"
        deep.write_text(json.dumps(GOOD[0]) + "\n" + _deep(depth))
        cases[f"nested-{depth}"] = (deep, f"{{path}}: line 2 nests lists/objects deeper than the limit of {MAX_DEPTH}; "
                                          "flatten that value")
    cases["list-target"] = (_jsonl(folder / "listtarget.jsonl", [GOOD[0], {"text": "x", "target": ["pos", "neg"]}]),
                            "{path}: row 2 of column 'target' (target_column) holds a list, not one label; give one "
                            "label per row (several targets: target_columns)")
    big = "y" * (MAX_FIELD_CHARS + 1)
    cases["huge-field"] = (_jsonl(folder / "big.jsonl", [GOOD[0], {"text": big, "target": "neg"}]),
                           f"{{path}}: row 2 of column 'text' is {MAX_FIELD_CHARS + 1} characters, past the limit of "
                           f"{MAX_FIELD_CHARS}; fix or drop that row")
    bigcsv = folder / "big.csv"
    bigcsv.write_text(f"text,target\na fine film,pos\n{big},neg\n")
    cases["huge-field-csv"] = (bigcsv, f"{{path}}: a field is longer than {MAX_FIELD_CHARS} characters, past the "
                                       "limit; shorten it or check the quoting (an unclosed quote swallows the lines "
                                       "after it)")
    return cases


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    return hostile(tmp_path_factory.mktemp("hostile"))


def test_hostile_tables_through_the_cli(tables, tmp_path, capsys):
    ws = tmp_path / "ws"
    ws.mkdir()
    for name, (path, line) in tables.items():
        code, text = run_cli(ws, capsys, "pipeline", "prepare", "--dataset-path", str(path), "--profile",
                             "TinyTextClassification")  # run_cli asserts the workspace is byte-identical after
        assert (code, text.strip().splitlines()) == (2, ["❌ " + line.format(path=path)]), (name, text)


def test_an_all_number_text_column_is_a_warning(tmp_path, capsys):
    numbers = _parquet(tmp_path / "ints.parquet", pa.table({"text": [1, 2, 3, 4], "target": ["a", "b", "a", "b"]}))
    code = run_cli(tmp_path / "ws", capsys, "pipeline", "prepare", "--dataset-path", str(numbers), "--profile",
                   "TinyTextClassification", "--dry-run")[1]
    assert f"{numbers}: column 'text' (text_column) holds only numbers; check that text_column names the column of " \
           "text" in code


def test_a_million_column_header_in_a_fresh_cli_within_a_minute(tables, tmp_path):
    path, line = tables["million-columns"]
    proc = subprocess.run([sys.executable, "-m", "autotrain_gradio.cli", "pipeline", "prepare", "--workspace",
                           str(tmp_path), "--dataset-path", str(path), "--profile", "TinyTextClassification"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and line.format(path=path) in proc.stdout + proc.stderr


def test_hostile_tables_through_the_app_upload(app, tables):
    carol = app.session("bob")
    for name, (path, line) in tables.items():
        if name == "million-columns":
            continue  # 8 MB: past this test server's 4 MB upload limit (the CLI tests read it)
        kind, out = call(carol, "upload_dataset", [upload(carol, path)], f"hostile-{name}")
        assert kind == "complete", out
        dataset = out[0]
        kind, (result,) = call(carol, "validate", dataset, "TinyTextClassification", "", {})
        uploaded = Path(dataset) / path.name if Path(dataset).is_dir() else Path(dataset)
        assert result["errors"] == [line.format(path=uploaded)], (name, result["errors"])
        assert not (app.root / "input").exists() or not any("hostile" in p.name for p in (app.root / "input").iterdir())
        call(carol, "delete_upload", dataset)
