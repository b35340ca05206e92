"""Image-regression data, as AutoTrain reads it: a folder of images with a `metadata.jsonl` or `metadata.csv`
whose rows give a `file_name` (relative to the metadata file) and a numeric target; optionally `train/` and
`valid/` sub-folders, each with its own metadata. The same `load` validates the user's folder (read-only) and
feeds the trainer from the prepared copy, which keeps the same relative layout (`assets`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean

from autotrain_gradio.tasks.formats import TableData, check_no_missing, check_numeric, require_column, split_rows
from autotrain_gradio.tasks.image_regression.config import ImageRegressionConfig
from autotrain_gradio.tasks.images import image_files, metadata_assets, read_metadata

Sample = tuple[Path, float]  # (image file, target)


@dataclass
class ImageRegressionData:
    table: TableData
    train: list[Sample]
    valid: list[Sample]
    assets: list[tuple[Path, Path]] = field(default_factory=list)  # (file, path relative to the root) to copy

    def summary(self) -> str:
        targets = [y for _, y in self.train]
        return (f"{len(self.train)} training / {len(self.valid)} validation images, target from {min(targets):g} "
                f"to {max(targets):g} (mean {fmean(targets):.4g})")


def _samples(table, metadata: Path, cfg: ImageRegressionConfig) -> list[Sample]:
    paths = image_files(table, metadata, "image_column", cfg.image_column)
    require_column(table, "target_column", cfg.target_column)
    check_no_missing(table, "target_column", cfg.target_column, "target")
    targets = check_numeric(table, "target_column", cfg.target_column)
    return list(zip(paths, targets, strict=True))


def load(source: str | Path, cfg: ImageRegressionConfig, train_split: str = "train",
         valid_split: str | None = None) -> ImageRegressionData:
    """Read and check the folder; raises DataError (one line) for a missing metadata file or column, an empty or
    non-numeric target, or an image file that is not there."""
    root, data = read_metadata(source, f"image regression reads a folder of images with a metadata.jsonl or "
                               f"metadata.csv ('{cfg.image_column}' and '{cfg.target_column}' columns)",
                               train_split, valid_split)
    train = _samples(data.train, data.files["train"], cfg)
    valid = _samples(data.valid, data.files["valid"], cfg) if data.valid is not None else None
    assets = metadata_assets(root, data, [p for p, _ in train + (valid or [])])
    if valid is None:
        train, valid = split_rows(train, cfg.valid_split, cfg.seed)
    return ImageRegressionData(data, train, valid, assets)
