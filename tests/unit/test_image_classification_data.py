"""The image-classification data folder rules: class folders, train/valid layout, the stratified seeded split,
the error texts, and decoding through the model's image processor."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from autotrain_gradio.tasks.hf_data import ImageDataset as ImageFolderDataset
from autotrain_gradio.tasks.image_classification.data import load_folder


def _images(folder: Path, n: int, colour=(200, 10, 10)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (40, 24), colour).save(folder / f"{i}.png")


def test_class_folders_give_sorted_labels_and_a_stratified_seeded_split(tmp_path):
    _images(tmp_path / "dogs", 10)
    _images(tmp_path / "cats", 5)
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    (tmp_path / "empty").mkdir()  # a folder without images is not a class

    data = load_folder(tmp_path, valid_split=0.2, seed=1)
    assert data.labels == ["cats", "dogs"]
    assert data.label2id == {"cats": 0, "dogs": 1} and data.id2label == {0: "cats", 1: "dogs"}
    valid_per_class = {label: sum(1 for _, y in data.valid if y == label) for label in (0, 1)}
    assert valid_per_class == {0: 1, 1: 2}  # round(5 * 0.2), round(10 * 0.2)
    assert len(data.train) == 12 and not {p for p, _ in data.train} & {p for p, _ in data.valid}

    again, other_seed = load_folder(tmp_path, 0.2, seed=1), load_folder(tmp_path, 0.2, seed=2)
    assert again.valid == data.valid
    assert other_seed.valid != data.valid


def test_split_keeps_a_training_image_per_class_and_zero_means_no_validation(tmp_path):
    _images(tmp_path / "a", 1)
    _images(tmp_path / "b", 2)
    data = load_folder(tmp_path, valid_split=0.5, seed=0)
    assert sorted(y for _, y in data.train) == [0, 1]  # 'a' keeps its only image
    assert [y for _, y in data.valid] == [1]
    assert load_folder(tmp_path, valid_split=0.0).valid == []


def test_train_and_valid_folders_are_used_as_given(tmp_path):
    _images(tmp_path / "train" / "x", 3)
    _images(tmp_path / "train" / "y", 3)
    _images(tmp_path / "valid" / "y", 2)
    data = load_folder(tmp_path, valid_split=0.5)
    assert data.labels == ["x", "y"] and len(data.train) == 6
    assert [y for _, y in data.valid] == [1, 1]

    _images(tmp_path / "valid" / "z", 1)
    with pytest.raises(ValueError, match=r"valid has classes that train/ lacks: z"):
        load_folder(tmp_path)


def test_bad_folders_say_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="data folder not found"):
        load_folder(tmp_path / "missing")
    _images(tmp_path / "only", 2)
    with pytest.raises(ValueError) as err:
        load_folder(tmp_path)
    assert str(err.value) == (f"image classification needs at least 2 class folders with images in {tmp_path}; "
                              "found 1 (only). Put each class's images in its own sub-folder, e.g. cats/ and dogs/")


def test_dataset_decodes_and_resizes_with_the_model_processor(tmp_path, tiny_cache):
    from transformers import AutoImageProcessor

    from autotrain_gradio.tiny import resolve_model

    _images(tmp_path / "a", 1)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "broken.png").write_bytes(b"not a png")
    processor = AutoImageProcessor.from_pretrained(resolve_model("tiny:vit"))
    data = load_folder(tmp_path, valid_split=0.0)
    dataset = ImageFolderDataset(data.train, processor)
    item = dataset[0]
    assert item["pixel_values"].shape == (3, 32, 32) and item["labels"] == 0
    # Solid red after the processor's 0.5/0.5 normalisation: channel 0 is high, the others low.
    assert item["pixel_values"][0].mean() > 0.5 > item["pixel_values"][2].mean()
    with pytest.raises(ValueError, match="cannot decode image .*broken.png"):
        dataset[1]


def test_metrics_are_accuracy_and_macro_f1_precision_recall():
    import numpy as np
    from transformers import EvalPrediction

    from autotrain_gradio.tasks.metrics import classification_metrics as compute_metrics

    labels = np.array([0, 0, 1, 1])
    logits = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # predicts 0, 0, 0, 1
    metrics = compute_metrics(EvalPrediction(predictions=logits, label_ids=labels))
    # class 0: p=2/3 r=1 f1=0.8; class 1: p=1 r=1/2 f1=2/3
    assert metrics == pytest.approx({"accuracy": 0.75, "f1_macro": (0.8 + 2 / 3) / 2,
                                     "precision_macro": (2 / 3 + 1) / 2, "recall_macro": (1 + 1 / 2) / 2})
