"""Table data as AutoTrain reads it: every file kind, split layouts, column mapping, and the exact one-line refusal
for each bad input (exit 2, nothing written). Also RunRequest: CLI flags, --config request files and the Python API
build the same request."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from autotrain_gradio.pipeline import EXIT_BAD_INPUT, EXIT_OK, run_pipeline
from autotrain_gradio.pipeline.request import RunRequest, make_request, request_from_file
from autotrain_gradio.tasks import TASKS
from autotrain_gradio.tasks.formats import DataError, read_table, split_rows

ROWS = [{"review": f"{w} film number {i}", "label": "pos" if w == "great" else "neg"}
        for i, w in enumerate(["great", "awful"] * 6)]


BERT = "tiny:bert"  # the profile's Hub model is not reachable offline: the plan would refuse it

def _write(path: Path, rows: list[dict], kind: str | None = None) -> Path:
    kind = kind or path.suffix[1:]
    frame = pd.DataFrame(rows)
    if kind == "csv":
        frame.to_csv(path, index=False)
    elif kind == "tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif kind == "json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    else:
        frame.to_parquet(path)
    return path


def _raw(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for p in sorted(root.rglob("*")) if root.exists() else []:
        digest.update(str(p.relative_to(root)).encode())
        if p.is_file():
            digest.update(p.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize("kind", ["csv", "tsv", "json", "jsonl", "parquet"])
def test_every_table_kind_reads_the_same_rows(tmp_path, kind):
    data = read_table(_write(tmp_path / f"train.{kind}", ROWS))
    assert data.columns == ["review", "label"]
    assert [r["review"] for r in data.train.rows] == [r["review"] for r in ROWS]
    assert data.valid is None and data.files["train"].name == f"train.{kind}"


def test_folder_with_train_and_valid_files_and_save_to_disk_folder(tmp_path):
    folder = tmp_path / "split"
    folder.mkdir()
    _write(folder / "train.csv", ROWS)
    _write(folder / "valid.jsonl", ROWS[:4])
    data = read_table(folder)
    assert len(data.train) == 12 and len(data.valid) == 4

    import datasets

    disk = tmp_path / "disk"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS),
                          "test": datasets.Dataset.from_list(ROWS[:2])}).save_to_disk(str(disk))
    data = read_table(disk, "train", "test")
    assert len(data.train) == 12 and len(data.valid) == 2 and data.files == {}
    with pytest.raises(DataError, match=r"has no split 'validation' \(it has train, test\); pass --valid-split"):
        read_table(disk, "train", "validation")


def test_stratified_split_is_seeded_and_keeps_every_class():
    rows = [(i, i % 3) for i in range(30)]
    train, valid = split_rows(rows, 0.2, 42, stratify=lambda r: r[1])
    assert split_rows(rows, 0.2, 42, stratify=lambda r: r[1]) == (train, valid)
    assert sorted({y for _, y in valid}) == [0, 1, 2] and len(valid) == 6 and len(train) == 24


BAD = {
    "missing column": (lambda d: _write(d / "r.csv", [{"text": "a", "label": "x"}] * 4),
                       "r.csv: no column 'review' for text_column; its columns are text, label. Map it with "
                       "--column-mapping text_column=<column>"),
    "empty file": (lambda d: _raw(d / "r.csv", b""),
                   "r.csv is empty (0 bytes); export the data again with a header row and at least one row"),
    "header only": (lambda d: _raw(d / "r.csv", "review,label\n"),
                    "r.csv has a header but no rows; add data rows"),
    "null labels": (lambda d: _write(d / "r.csv", ROWS[:3] + [{"review": "x", "label": None}] + ROWS[3:6]
                                     + [{"review": "y", "label": ""}]),
                    "r.csv: 2 empty or null labels in column 'label' (target_column) at rows 4, 8; fill them in "
                    "or drop those rows"),
    "single class": (lambda d: _write(d / "r.csv", [{"review": f"t{i}", "label": "pos"} for i in range(5)]),
                     "r.csv: column 'label' has a single class ('pos'); a classifier needs at least 2 classes"),
    "not utf-8": (lambda d: _raw(d / "r.csv", "review,label\ncaf\xe9,pos\nok,neg\n".encode("latin-1")),
                  "r.csv: line 2 is not UTF-8 text (byte 0xe9); save the file as UTF-8"),
    "ragged csv": (lambda d: _raw(d / "r.csv", "review,label\na,pos\nb,neg,extra\n"),
                   "r.csv: rows do not match the header"),
    "broken jsonl": (lambda d: _raw(d / "r.jsonl", '{"review": "a", "label": "pos"}\n{"review": \n'),
                     "r.jsonl: line 2 is not valid JSON"),
    "too few rows": (lambda d: _write(d / "r.csv", ROWS[:4]),
                     "has 4 rows, fewer than --min-images 10; add rows or lower --min-images"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_tables_are_refused_with_one_line_and_nothing_written(tmp_path, case):
    make, expected = BAD[case]
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    source = make(data_dir)
    ws = tmp_path / "ws"
    before = _tree_hash(tmp_path)
    result = run_pipeline(source, "TextClassification", workspace=ws, quiet=True, min_images=10, base_model=BERT,
                          column_mapping={"text_column": "review", "target_column": "label"})
    assert result.exit_code == EXIT_BAD_INPUT
    assert len(result.errors) == 1 and expected in result.errors[0], result.errors
    assert "\n" not in result.errors[0]
    assert _tree_hash(tmp_path) == before and not ws.exists()


def test_unknown_mapping_key_and_regression_style_keys_are_refused(tmp_path):
    source = _write(tmp_path / "r.csv", ROWS)
    result = run_pipeline(source, "TextClassification", workspace=tmp_path / "ws", quiet=True,
                          column_mapping={"text_column": "review", "tokens_column": "label"})
    assert result.exit_code == EXIT_BAD_INPUT
    assert result.errors == ["column mapping key 'tokens_column' is not one text-classification takes; it takes "
                             "text_column, target_column"]


def test_prepare_copies_the_table_and_never_touches_the_original(tmp_path):
    source = _write(tmp_path / "reviews.jsonl", ROWS)
    original = source.read_bytes()
    ws = tmp_path / "ws"
    result = run_pipeline(source, "TextClassification", workspace=ws, quiet=True, mode="prepare", base_model=BERT,
                          column_mapping="text_column=review,target_column=label")
    assert result.exit_code == EXIT_OK, result.errors
    assert result.name == "reviews"
    copy = ws / "input" / "reviews" / "train.jsonl"
    assert copy.read_bytes() == original and source.read_bytes() == original
    cfg = result.config
    assert (cfg.text_column, cfg.target_column, cfg.data_dir) == ("review", "label", str(ws / "input" / "reviews"))
    # The trainer reads the copy with the same reader: same rows, same split.
    load = TASKS["text-classification"].load_data()
    again = load(cfg.data_dir, cfg)
    assert again.labels == ["neg", "pos"] and len(again.train) + len(again.valid) == 12


def test_request_from_flags_file_and_api_are_one_model(tmp_path):
    request = tmp_path / "request.toml"
    request.write_text('profile = "TextClassification"\ndataset_path = "r.csv"\nmax_concurrent = 3\n'
                       '[column_mapping]\ntext_column = "review"\n[config]\nepochs = 2\n', encoding="utf-8")
    from_file = request_from_file(str(request), dry_run=True)
    assert from_file.max_concurrent == 3 and from_file.column_mapping == {"text_column": "review"}
    assert from_file.config == {"epochs": 2} and from_file.dry_run
    api = make_request(profile="TextClassification", dataset_path="r.csv", max_concurrent=3, dry_run=True,
                       column_mapping="text_column=review", config={"epochs": 2})
    assert api == from_file
    with pytest.raises(Exception, match="validating on the training rows measures nothing"):
        RunRequest(dataset_path="x", profile="p", train_split="train", valid_split="train")


def test_cli_flags_come_from_the_request_model(tmp_path):
    source = _write(tmp_path / "r.csv", ROWS)
    out = subprocess.run([sys.executable, "-m", "autotrain_gradio.cli", "pipeline", "run", "--help"],
                         capture_output=True, text=True, timeout=60)
    for key, info in RunRequest.model_fields.items():
        if (info.json_schema_extra or {}).get("flag") and (info.json_schema_extra or {}).get("batch") is not True:
            assert "--" + key.replace("_", "-") in out.stdout
    out = subprocess.run([sys.executable, "-m", "autotrain_gradio.cli", "--workspace", str(tmp_path / "ws"),
                          "pipeline", "run", "--dataset-path", str(source), "--profile", "TextClassification",
                          "--column-mapping", "text_column=review,target_column=label", "--dry-run",
                          "--set", f"base_model={BERT}"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 'text_column = "review"' in out.stdout and "6 classes" not in out.stdout
    assert not (tmp_path / "ws").exists()
