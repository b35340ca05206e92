"""Which images of a prepared dataset get a caption, and how a caption file is written. Torch-free: the app's
caption editor and the captioning job share it."""

from __future__ import annotations

import os
from pathlib import Path

from autotrain_gradio.tasks.captioning.config import CaptioningConfig
from autotrain_gradio.tasks.images import load_captioned
from autotrain_gradio.workspace import IMAGE_EXTENSIONS


def dataset_images(folder: str | Path) -> list[Path]:
    """The images of a prepared dataset (any depth, any case of extension), sorted."""
    root = Path(folder)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def caption_path(image: Path, extension: str = ".txt") -> Path:
    return image.with_suffix(extension)


def read_caption(image: Path, extension: str = ".txt") -> str:
    """The image's caption, "" when it has none."""
    path = caption_path(image, extension)
    return path.read_text(encoding="utf-8").strip() if path.exists() else ""


def pending(cfg: CaptioningConfig) -> list[Path]:
    """Images of cfg.data_dir to caption, read by the reader validate used: all of them with overwrite, else those
    without a non-empty caption file."""
    pairs = load_captioned(cfg.data_dir, cfg, check=False).train
    return [p for p, _ in pairs if cfg.overwrite or not read_caption(p, cfg.caption_extension)]


def with_prefix(caption: str, prefix: str) -> str:
    """'prefix, caption' (no doubled prefix, no empty parts)."""
    caption, prefix = caption.strip(), prefix.strip()
    if not prefix or caption == prefix or caption.startswith(prefix + ","):
        return caption or prefix
    return f"{prefix}, {caption}" if caption else prefix


def write_caption(image: Path, text: str, extension: str = ".txt") -> Path:
    """Write the caption next to the image atomically (a crash never leaves half a caption)."""
    path = caption_path(image, extension)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text.strip() + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
