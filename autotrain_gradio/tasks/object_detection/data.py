"""Object-detection data, as AutoTrain reads it: a folder of images with a `metadata.jsonl` (or .csv) whose rows give
a `file_name` (relative to the metadata file) and `objects: {"bbox": [[x, y, w, h], ...], "category": [...]}` (COCO
boxes in pixels); optionally `train/` and `valid/` sub-folders with their own metadata. The same `load` validates
the user's folder (read-only) and feeds the trainer from the prepared copy, which keeps the layout (`assets`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from autotrain_gradio.tasks.formats import DataError, Table, TableData, require_column, split_rows, structured_column
from autotrain_gradio.tasks.images import image_files, metadata_assets, read_metadata
from autotrain_gradio.tasks.object_detection.config import ObjectDetectionConfig

EXAMPLE = '{"bbox": [[10, 20, 50, 40]], "category": ["car"]}'
EPS = 0.5  # half a pixel of slack for boxes exported as floats


@dataclass
class Detection:
    path: Path
    width: int
    height: int
    boxes: list[list[float]]  # COCO [x, y, w, h] in pixels
    categories: list[int]  # label ids


@dataclass
class ObjectDetectionData:
    table: TableData
    labels: list[str]
    train: list[Detection]
    valid: list[Detection]
    assets: list[tuple[Path, Path]] = field(default_factory=list)  # (file, path relative to the root) to copy

    def summary(self) -> str:
        counts = Counter(self.labels[c] for d in self.train + self.valid for c in d.categories)
        classes = ", ".join(f"{name} ({counts[name]})" for name in self.labels)
        return f"{len(self.train)} training / {len(self.valid)} validation images, {len(self.labels)} categories: " \
               f"{classes}"


def _rows(table: Table, metadata: Path, cfg: ObjectDetectionConfig) -> list[tuple[Path, int, int, list, list]]:
    """(image, width, height, boxes, category names) per row, every box checked against its image."""
    from PIL import Image, UnidentifiedImageError

    paths = image_files(table, metadata, "image_column", cfg.image_column)
    require_column(table, "objects_column", cfg.objects_column)
    objects = structured_column(table, "objects_column", cfg.objects_column, dict, EXAMPLE)
    out = []
    for i, (path, obj) in enumerate(zip(paths, objects, strict=True), 1):
        where = f"{metadata}: row {i}"
        try:
            with Image.open(path) as img:
                width, height = img.size
        except (UnidentifiedImageError, OSError) as err:
            raise DataError(f"{where}: cannot read image {path} ({err}); replace it or drop the row") from None
        boxes, names = obj.get("bbox"), obj.get("category")
        if not isinstance(boxes, list) or not isinstance(names, list) or len(boxes) != len(names):
            raise DataError(f"{where}: '{cfg.objects_column}' needs a list 'bbox' and a list 'category' of the same "
                            f"length (got {obj!r}); write e.g. {EXAMPLE}")
        for n, box in enumerate(boxes, 1):
            if not isinstance(box, list) or len(box) != 4 or not all(isinstance(v, int | float) for v in box):
                raise DataError(f"{where}: box {n} is {box!r}, not 4 numbers; boxes are COCO [x, y, width, height]")
            x, y, w, h = box
            if w <= 0 or h <= 0:
                raise DataError(f"{where}: box {n} {box} has a negative or zero size (width {w}, height {h}); boxes "
                                "are COCO [x, y, width, height] with width and height above 0")
            if x < -EPS or y < -EPS or x + w > width + EPS or y + h > height + EPS:
                raise DataError(f"{where}: box {n} {box} lies outside the {width}x{height} image {path.name}; boxes "
                                "are COCO [x, y, width, height] in pixels of that image")
        if any(c is None or isinstance(c, list | dict) for c in names):
            raise DataError(f"{where}: a category in {names!r} is empty or not a label; use a name or an integer")
        out.append((path, width, height, [[float(v) for v in b] for b in boxes], [str(c).strip() for c in names]))
    return out


def load(source: str | Path, cfg: ObjectDetectionConfig, train_split: str = "train",
         valid_split: str | None = None) -> ObjectDetectionData:
    """Read and check the folder; raises DataError (one line) for a missing metadata column or image file, a box
    with a negative size or outside its image, or a validation category the training rows never show."""
    root, data = read_metadata(source, f"object detection reads a folder of images with a metadata.jsonl "
                               f"('{cfg.image_column}' and '{cfg.objects_column}' columns)", train_split, valid_split)
    train_rows = _rows(data.train, data.files["train"], cfg)
    valid_rows = _rows(data.valid, data.files["valid"], cfg) if data.valid is not None else None
    names = {c for *_, cats in train_rows for c in cats}
    labels = sorted(names, key=int) if all(n.lstrip("-").isdigit() for n in names) else sorted(names)
    if not labels:
        raise DataError(f"{data.files['train']}: no image has a box; add objects to '{cfg.objects_column}'")
    for i, (*_, cats) in enumerate(valid_rows or [], 1):
        if unknown := sorted(set(cats) - names):
            raise DataError(f"{data.files['valid']}: row {i}: category {unknown[0]!r} never occurs in the training "
                            f"rows (they have {', '.join(labels)}); add training images with it or fix the name")
    ids = {name: k for k, name in enumerate(labels)}

    def detections(rows) -> list[Detection]:
        return [Detection(p, w, h, boxes, [ids[c] for c in cats]) for p, w, h, boxes, cats in rows]

    assets = metadata_assets(root, data, [p for p, *_ in train_rows + (valid_rows or [])])
    if valid_rows is not None:
        train, valid = detections(train_rows), detections(valid_rows)
    else:
        train, valid = split_rows(detections(train_rows), cfg.valid_split, cfg.seed)
    return ObjectDetectionData(data, labels, train, valid, assets)
