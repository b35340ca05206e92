"""The class-folder reader (tasks/images.py) that validate and the image-classification trainer share: class folders
flat or AutoTrain's train/ + valid/ layout (and train_split / valid_split folder names), the stratified seeded split,
AutoTrain's 5-images-per-class rule, the error texts, and decoding through the model's image processor."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from autotrain_gradio.tasks.formats import DataError
from autotrain_gradio.tasks.hf_data import ImageDataset as ImageFolderDataset
from autotrain_gradio.tasks.image_classification.config import ImageClassificationConfig
from autotrain_gradio.tasks.images import load_class_folders


def load_folder(root: Path, valid_split: float = 0.2, seed: int = 42, **splits):
    return load_class_folders(root, ImageClassificationConfig(valid_split=valid_split, seed=seed), *splits.values())


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


def test_zero_means_no_validation_and_a_class_needs_5_images(tmp_path):
    _images(tmp_path / "a", 5)
    _images(tmp_path / "b", 6)
    assert load_folder(tmp_path, valid_split=0.0).valid == []
    _images(tmp_path / "c", 4)
    with pytest.raises(DataError) as err:
        load_folder(tmp_path)
    assert str(err.value) == (f"{tmp_path}: class folder c/ (4) holds fewer than 5 images, the least a class needs "
                              "(AutoTrain's rule); add images or remove the class")


def test_train_and_valid_folders_are_used_as_given(tmp_path):
    _images(tmp_path / "train" / "x", 5)
    _images(tmp_path / "train" / "y", 5)
    _images(tmp_path / "valid" / "y", 2)
    data = load_folder(tmp_path, valid_split=0.5)
    assert data.labels == ["x", "y"] and len(data.train) == 10
    assert [y for _, y in data.valid] == [1, 1]
    assert data.summary() == "12 images in 2 classes: x (5), y (7); 2 of them from valid/ for validation"
    # the prepared copy is the canonical layout whatever the folders were called
    assert sorted(str(rel) for _, rel in data.assets)[:1] == ["train/x/0.png"]
    assert {rel.parts[0] for _, rel in data.assets} == {"train", "valid"}

    _images(tmp_path / "valid" / "z", 1)
    with pytest.raises(DataError, match=r"valid has classes that train/ lacks: z"):
        load_folder(tmp_path)
    (tmp_path / "train").rename(tmp_path / "training")
    (tmp_path / "valid").rename(tmp_path / "holdout")
    with pytest.raises(DataError, match=r"has no 'nope' folder \(valid_split\)"):
        load_folder(tmp_path, train="training", valid="nope")
    shutil.rmtree(tmp_path / "holdout" / "z")
    named = load_folder(tmp_path, train="training", valid="holdout")
    assert named.valid_folder == "holdout" and len(named.valid) == 2


def test_bad_folders_say_what_to_do(tmp_path):
    with pytest.raises(DataError, match="dataset path not found"):
        load_folder(tmp_path / "missing")
    _images(tmp_path / "only", 5)
    with pytest.raises(DataError) as err:
        load_folder(tmp_path)
    assert str(err.value) == (f"{tmp_path} has one class (only); a classifier needs at least 2 class sub-folders "
                              "with images, e.g. cats/ and dogs/")


def test_dataset_decodes_and_resizes_with_the_model_processor(tmp_path, tiny_cache):
    from transformers import AutoImageProcessor

    from autotrain_gradio.tasks.tiny import resolve_model

    _images(tmp_path / "a", 5)
    _images(tmp_path / "b", 4)
    (tmp_path / "b" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png is not an image"):
        load_folder(tmp_path)  # validate decodes every image
    processor = AutoImageProcessor.from_pretrained(resolve_model("tiny:vit"))
    data = load_class_folders(tmp_path, ImageClassificationConfig(valid_split=0.0), check=False)
    dataset = ImageFolderDataset(data.train, processor)
    item = dataset[0]
    assert item["pixel_values"].shape == (3, 32, 32) and item["labels"] == 0
    # Solid red after the processor's 0.5/0.5 normalisation: channel 0 is high, the others low.
    assert item["pixel_values"][0].mean() > 0.5 > item["pixel_values"][2].mean()
    with pytest.raises(ValueError, match="cannot decode image .*broken.png"):
        dataset[9]


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
