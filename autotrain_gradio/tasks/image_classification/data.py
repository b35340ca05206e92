"""Image-classification data: one sub-folder per class (optionally under train/ and valid/), a seeded stratified
split when there is no valid/ folder. The trainer feeds the samples through `hf_data.ImageDataset`."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from autotrain_gradio.workspace import IMAGE_EXTENSIONS

VALID_FOLDERS = ("valid", "validation", "val")

Sample = tuple[Path, int]  # (image file, label id)


@dataclass
class ClassificationData:
    """What the trainer needs from a data folder: label maps and the two sample lists."""

    labels: list[str]
    train: list[Sample]
    valid: list[Sample]

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.labels)}

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))


def _class_images(root: Path) -> dict[str, list[Path]]:
    """{class folder name: its image files, sorted}; folders without images are left out."""
    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if images:
            found[folder.name] = images
    return found


def _split(by_class: dict[str, list[Path]], fraction: float, seed: int) -> tuple[dict, dict]:
    """Stratified: each class gives round(n * fraction) images to validation, at least one when fraction > 0,
    and always keeps at least one for training."""
    rng = random.Random(seed)
    train, valid = {}, {}
    for name, images in by_class.items():
        shuffled = images[:]
        rng.shuffle(shuffled)
        n_valid = min(len(images) - 1, max(1, round(len(images) * fraction))) if fraction > 0 else 0
        valid[name], train[name] = sorted(shuffled[:n_valid]), sorted(shuffled[n_valid:])
    return train, valid


def load_folder(data_dir: str | Path, valid_split: float = 0.2, seed: int = 42) -> ClassificationData:
    """Read a class-per-folder dataset. Raises ValueError naming the folder and what to change."""
    root = Path(data_dir)
    if not root.is_dir():
        raise ValueError(f"data folder not found: {root}")
    valid_root = next((root / v for v in VALID_FOLDERS if (root / v).is_dir()), None)
    if (root / "train").is_dir():
        train_by_class = _class_images(root / "train")
        where = root / "train"
    else:
        train_by_class = _class_images(root)
        where = root
        valid_root = None  # a top-level 'valid' folder would otherwise be read as a class

    if len(train_by_class) < 2:
        found = f"found {len(train_by_class)} ({', '.join(train_by_class) or 'none'})"
        raise ValueError(f"image classification needs at least 2 class folders with images in {where}; {found}. "
                         "Put each class's images in its own sub-folder, e.g. cats/ and dogs/")

    if valid_root is not None:
        valid_by_class = _class_images(valid_root)
        unknown = sorted(set(valid_by_class) - set(train_by_class))
        if unknown:
            raise ValueError(f"{valid_root} has classes that train/ lacks: {', '.join(unknown)}")
    else:
        train_by_class, valid_by_class = _split(train_by_class, valid_split, seed)

    labels = sorted(train_by_class)
    ids = {name: i for i, name in enumerate(labels)}

    def flat(by_class: dict[str, list[Path]]) -> list[Sample]:
        return [(path, ids[name]) for name in labels for path in by_class.get(name, [])]

    return ClassificationData(labels=labels, train=flat(train_by_class), valid=flat(valid_by_class))
