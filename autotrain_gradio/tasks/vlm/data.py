"""VLM data, as AutoTrain's image tasks read it: a folder of images with a `metadata.jsonl` or `metadata.csv` whose
rows give the image file (relative to the metadata file), the prompt (vqa) and the answer or caption; optionally
`train/` and `valid/` sub-folders. The same `load` validates (read-only) and feeds the trainer. No torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from autotrain_gradio.gpus import quantization_error
from autotrain_gradio.tasks.formats import DataError, Table, TableData, check_no_missing, require_column, split_rows
from autotrain_gradio.tasks.images import image_files, metadata_assets, read_metadata
from autotrain_gradio.tasks.vlm.config import VLMConfig

Sample = tuple[Path, str, str]  # (image file, prompt, answer)


@dataclass
class VLMData:
    table: TableData
    train: list[Sample]
    valid: list[Sample]
    assets: list[tuple[Path, Path]] = field(default_factory=list)  # (file, path relative to the root) to copy

    def summary(self) -> str:
        return f"{len(self.train)} training / {len(self.valid)} validation image-text examples"


def _samples(table: Table, metadata: Path, cfg: VLMConfig) -> list[Sample]:
    paths = image_files(table, metadata, "image_column", cfg.image_column)
    require_column(table, "text_column", cfg.text_column)
    check_no_missing(table, "text_column", cfg.text_column, "answer" if cfg.trainer == "vqa" else "caption")
    if cfg.trainer == "vqa":
        require_column(table, "prompt_text_column", cfg.prompt_text_column)
        check_no_missing(table, "prompt_text_column", cfg.prompt_text_column, "prompt")
    prompts = [str(r[cfg.prompt_text_column]) if cfg.trainer == "vqa" else cfg.caption_prompt for r in table.rows]
    return list(zip(paths, prompts, [str(r[cfg.text_column]) for r in table.rows], strict=True))


def load(source: str | Path, cfg: VLMConfig, train_split: str = "train", valid_split: str | None = None) -> VLMData:
    """Read and check the folder; raises DataError (one line) for a missing metadata file or column, an empty prompt
    or answer, an image file that is not there, or int4 / int8 quantization on a machine without CUDA."""
    if problem := quantization_error(cfg.quantization):
        raise DataError(problem)
    prompt = f", {cfg.prompt_text_column!r}" if cfg.trainer == "vqa" else ""
    root, data = read_metadata(source, f"vlm reads a folder of images with a metadata.jsonl or metadata.csv "
                               f"('{cfg.image_column}', '{cfg.text_column}'{prompt} columns)", train_split, valid_split)
    train = _samples(data.train, data.files["train"], cfg)
    valid = _samples(data.valid, data.files["valid"], cfg) if data.valid is not None else None
    assets = metadata_assets(root, data, [p for p, _, _ in train + (valid or [])])
    if valid is None:
        train, valid = split_rows(train, cfg.valid_split, cfg.seed)
    return VLMData(data, train, valid, assets)
