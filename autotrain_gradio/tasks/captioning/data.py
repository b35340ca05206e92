"""Which images of a prepared dataset get a caption, and how a caption file is written. Torch-free: the app's
caption editor and the captioning job share it."""

from __future__ import annotations

import os
from pathlib import Path

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


def pending(folder: str | Path, extension: str = ".txt", overwrite: bool = False) -> list[Path]:
    """Images to caption: all of them with overwrite, else those without a non-empty caption file."""
    return [p for p in dataset_images(folder) if overwrite or not read_caption(p, extension)]


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
