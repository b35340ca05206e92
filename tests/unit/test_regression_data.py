"""The regression tasks' torch-free readers: what validate and the trainer both read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from autotrain_gradio.tasks.formats import DataError
from autotrain_gradio.tasks.image_regression.config import ImageRegressionConfig
from autotrain_gradio.tasks.image_regression.data import load as load_images
from autotrain_gradio.tasks.text_regression.config import TextRegressionConfig
from autotrain_gradio.tasks.text_regression.data import load as load_texts


def test_text_regression_holds_out_a_seeded_fifth_and_reads_numbers(tmp_path):
    rows = "\n".join(f"text {i},{i / 2}" for i in range(20))
    (tmp_path / "t.csv").write_text(f"review,stars\n{rows}\n")
    cfg = TextRegressionConfig(text_column="review", target_column="stars")
    data = load_texts(tmp_path / "t.csv", cfg)
    assert len(data.train) == 16 and len(data.valid) == 4
    assert sorted(data.train + data.valid) == sorted((f"text {i}", i / 2) for i in range(20))
    assert load_texts(tmp_path / "t.csv", cfg).valid == data.valid  # seeded
    targets = [y for _, y in data.train]
    assert data.summary() == (f"16 training / 4 validation rows, target from {min(targets):g} to {max(targets):g} "
                              f"(mean {sum(targets) / 16:.4g})")


def test_text_regression_refuses_a_non_numeric_target_naming_the_rows(tmp_path):
    (tmp_path / "t.csv").write_text("text,target\na,1\nb,high\nc,2\nd,low\n")
    with pytest.raises(DataError) as err:
        load_texts(tmp_path / "t.csv", TextRegressionConfig())
    assert str(err.value).startswith(f"{tmp_path / 't.csv'}: column 'target' (target_column) must be numeric for "
                                     "regression; 2 non-numeric values at rows 2, 4 (e.g. 'high')")


def _images(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    lines = []
    for i in range(n):
        Image.new("RGB", (8, 8), (i, i, i)).save(folder / f"{i}.png")
        lines.append(json.dumps({"file_name": f"{i}.png", "target": float(i)}))
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n")


def test_image_regression_reads_train_and_valid_folders_and_lists_what_to_copy(tmp_path):
    _images(tmp_path / "train", 5)
    _images(tmp_path / "valid", 2)
    data = load_images(tmp_path, ImageRegressionConfig())
    assert data.train == [(tmp_path / "train" / f"{i}.png", float(i)) for i in range(5)]
    assert data.valid == [(tmp_path / "valid" / f"{i}.png", float(i)) for i in range(2)]
    assert sorted(str(rel) for _, rel in data.assets) == sorted(
        ["train/metadata.jsonl", "valid/metadata.jsonl"] + [f"train/{i}.png" for i in range(5)]
        + [f"valid/{i}.png" for i in range(2)])


def test_image_regression_needs_a_folder(tmp_path):
    (tmp_path / "m.csv").write_text("file_name,target\na.png,1\n")
    with pytest.raises(DataError, match="image regression reads a folder of images with a metadata.jsonl"):
        load_images(tmp_path / "m.csv", ImageRegressionConfig())


def test_autotrain_local_layout_named_splits_and_the_mapped_image_column(tmp_path):
    """AutoTrain's local image configs map image_column: image while its metadata files say file_name; the split
    folders may have any name (train_split / valid_split). The prepared copy is train/ + valid/ either way."""
    _images(tmp_path / "training", 5)
    _images(tmp_path / "holdout", 2)
    cfg = ImageRegressionConfig(image_column="image")
    data = load_images(tmp_path, cfg, "training", "holdout")
    assert data.train[0] == (tmp_path / "training" / "0.png", 0.0) and len(data.valid) == 2
    assert sorted(str(rel) for _, rel in data.assets)[:3] == ["train/0.png", "train/1.png", "train/2.png"]
    assert {rel.parts[0] for _, rel in data.assets} == {"train", "valid"}
    (tmp_path / "training" / "metadata.jsonl").write_text('{"file_name": "../holdout/0.png", "target": 1}\n')
    with pytest.raises(DataError, match=r"names files outside .*training at row 1 \(e.g. ../holdout/0.png\)"):
        load_images(tmp_path, cfg, "training")
