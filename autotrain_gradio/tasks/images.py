"""Torch-free image-folder formats shared by tasks, shaped like the table readers in `formats.py`.

One reader serves validate (on the user's original, read-only, every image decoded) and the trainer (on the prepared
copy), so the two can never disagree. Three shapes:

- class folders (image classification): one sub-folder per class, flat or AutoTrain's `train/` + `valid/` layout
  (the `train_split` / `valid_split` folder names; `validation/` and `val/` are found too); every class holds at
  least 5 images, AutoTrain's rule;
- captioned images (diffusion, captioning): images in one folder, each with an optional caption file beside it;
- image + metadata folders (image regression, object detection, VLM): a `metadata.jsonl` / `.csv` whose image column
  names files relative to it (AutoTrain's local layout writes `file_name`; a mapped `image_column` is taken as well).

Every problem is a `DataError` whose one line names the folder or file and says what to do. A reader returns the
samples and `assets`: each file to copy and its place in the prepared copy, which is always the canonical layout
(`<class>/`, `train/` + `valid/`, the metadata beside its images), so the trainer reads the copy with the defaults.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autotrain_gradio.tasks.formats import (
    DataError,
    Table,
    TableData,
    check_no_missing,
    read_table,
    require_column,
    rows_text,
    split_rows,
)
from autotrain_gradio.workspace import IMAGE_EXTENSIONS

MAX_PIXELS = 89_478_485  # PIL's own decompression-bomb threshold; larger images are refused, not just warned about
MAX_ASPECT = 8  # longest side / shortest side a diffusion bucket takes (panoramas up to 8:1)
MIN_PER_CLASS = 5  # AutoTrain's rule for class folders
VALID_FOLDERS = ("valid", "validation", "val")
FILE_NAME = "file_name"  # the image column AutoTrain's local metadata files use, whatever image_column says
Asset = tuple[Path, Path]  # (file to copy, its path in the prepared copy)


@dataclass
class ImageData:
    """What an image reader found: the samples of each split, the files to copy, what it noticed but accepts."""

    train: list[Any]
    valid: list[Any] = field(default_factory=list)
    assets: list[Asset] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unit = "images"

    @property
    def count(self) -> int:
        return len(self.train) + len(self.valid)

    @property
    def note(self) -> str:
        """What the copy plan adds after the count."""
        return ""


# --- one file -----------------------------------------------------------------------------------------------------

def is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def check_image(path: Path) -> str | None:
    """None when the file decodes completely as an image, else why not and what to do."""
    from PIL import Image, UnidentifiedImageError

    if path.stat().st_size == 0:
        return f"{path} is empty (0 bytes); replace it with the real image or remove it"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    return (f"{path} is {w}x{h} pixels ({w * h / 1e6:.0f} MP), over the {MAX_PIXELS / 1e6:.0f} MP "
                            "safety limit (a possible decompression bomb); downscale it or remove it")
                im.load()  # decode every pixel: catches truncated files that open() alone accepts
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"{path} is too large to decode safely (a possible decompression bomb); downscale it or remove it"
    except UnidentifiedImageError:
        return f"{path} is not an image (its content is not {path.suffix.lower()} data); replace or remove it"
    except (OSError, SyntaxError, ValueError) as err:
        return f"cannot decode {path} ({err}); re-export the image or remove it"
    return None


def check_aspect(path: Path) -> str | None:
    """None when the image's aspect ratio fits a bucket, else why not (a 100000x1 strip would be resized to
    hundreds of megapixels to cover its bucket)."""
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
    ratio = max(w, h) / max(1, min(w, h))
    if ratio > MAX_ASPECT:
        return (f"{path} is {w}x{h} pixels, an aspect ratio of {ratio:.0f}:1, beyond the {MAX_ASPECT}:1 that "
                "buckets allow; crop it or remove it")
    return None


def check_caption(path: Path) -> str | None:
    """None when the caption is UTF-8 text, else what is wrong with it and what to do."""
    data = path.read_bytes()
    if b"\0" in data:
        return f"caption {path} is binary, not text; replace it with a UTF-8 text file or remove it"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        return f"caption {path} is not UTF-8 text (byte {err.start}); save it as UTF-8"
    return None


def check_files(images: list[Path], captions: list[Path] = (), bucketed: bool = False) -> None:
    """Decode every image (and read every caption); the first problem is the DataError, with how many more."""
    problems = [p for p in (check_image(i) or (check_aspect(i) if bucketed else None) for i in images) if p]
    problems += [p for p in (check_caption(c) for c in captions) if p]
    if problems:
        more = f" ({len(problems) - 1} more files have problems)" if len(problems) > 1 else ""
        raise DataError(problems[0] + more)


def image_root(source: str | Path, what: str) -> Path:
    """The dataset folder, or one line saying why it is not one (`what` the folder should hold)."""
    root = Path(str(source)).expanduser()
    if not root.exists():
        raise DataError(f"dataset path not found: {root}; check the path (relative paths are taken from "
                        f"{Path.cwd()})")
    if not root.is_dir():
        raise DataError(f"dataset path is a file, not a folder: {root}; pass the folder that holds the images (or a "
                        ".zip of them)")
    if not any(p for p in root.iterdir() if not p.name.startswith(".")):
        raise DataError(f"dataset folder is empty: {root}; add {what}")
    return root


def _no_images(root: Path) -> DataError:
    return DataError(f"no image files found in {root} (looked for {', '.join(IMAGE_EXTENSIONS)}, any case)")


# --- class folders ------------------------------------------------------------------------------------------------

@dataclass
class ClassFolderData(ImageData):
    """Class folders read: label maps and (image, label id) samples of each split."""

    labels: list[str] = field(default_factory=list)
    valid_folder: str = ""  # the given validation folder's name ("" = a seeded split of the training images)

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.labels)}

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    def summary(self) -> str:
        counts = Counter(self.labels[y] for _, y in self.train + self.valid)
        classes = ", ".join(f"{name} ({counts[name]})" for name in self.labels)
        given = f"; {len(self.valid)} of them from {self.valid_folder}/ for validation" if self.valid_folder else ""
        return f"{self.count} images in {len(self.labels)} classes: {classes}{given}"


def _class_images(root: Path) -> dict[str, list[Path]]:
    """{class folder name: its image files at any depth, sorted}; folders without images are left out."""
    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images = sorted(p for p in folder.rglob("*") if is_image(p)
                        and not any(part.startswith(".") for part in p.relative_to(folder).parts))
        if images:
            found[folder.name] = images
    return found


def load_class_folders(source: str | Path, cfg: Any, train_split: str = "train", valid_split: str | None = None, *,
                       check: bool = True) -> ClassFolderData:
    """Read class folders: `root/<class>/` or `root/<train_split>/<class>/` with an optional `root/<valid_split>/`
    (or valid/, validation/, val/). `check` decodes every image (validate does; the trainer reads the checked copy).
    Raises DataError for fewer than 2 classes, a class with fewer than 5 images, a validation class that training
    lacks, a missing split folder or an image that does not decode."""
    root = image_root(source, "one sub-folder of images per class (e.g. cats/, dogs/)")
    train_dir = root / train_split
    if not train_dir.is_dir():
        if train_split != "train":
            raise DataError(f"{root} has no '{train_split}' folder (train_split); its folders are "
                            f"{', '.join(sorted(p.name for p in root.iterdir() if p.is_dir())) or 'none'}")
        train_dir = root
    if valid_split:
        valid_dir: Path | None = root / valid_split
        if not valid_dir.is_dir():
            raise DataError(f"{root} has no '{valid_split}' folder (valid_split); leave valid_split empty for a "
                            "seeded split of the training images")
    else:
        valid_dir = next((root / v for v in VALID_FOLDERS if (root / v).is_dir()), None) if train_dir != root else None
    by_class = _class_images(train_dir)
    if not by_class:
        if any(is_image(p) for p in train_dir.iterdir()):
            raise DataError(f"{train_dir} has images but no class sub-folders; put each class in its own sub-folder "
                            "(e.g. cats/, dogs/) for an image classifier")
        raise _no_images(train_dir)
    if len(by_class) < 2:
        raise DataError(f"{train_dir} has one class ({next(iter(by_class))}); a classifier needs at least 2 class "
                        "sub-folders with images, e.g. cats/ and dogs/")
    if small := {k: len(v) for k, v in by_class.items() if len(v) < MIN_PER_CLASS}:
        listed = ", ".join(f"{k}/ ({n})" for k, n in small.items())
        raise DataError(f"{train_dir}: class folder{'s' if len(small) > 1 else ''} {listed} "
                        f"hold{'' if len(small) > 1 else 's'} fewer than "
                        f"{MIN_PER_CLASS} images, the least a class needs (AutoTrain's rule); add images or remove "
                        "the class")
    valid_by_class: dict[str, list[Path]] = _class_images(valid_dir) if valid_dir is not None else {}
    if unknown := sorted(set(valid_by_class) - set(by_class)):
        raise DataError(f"{valid_dir} has classes that {train_dir.name}/ lacks: {', '.join(unknown)}; add them "
                        "to the training folders or remove them")
    if check:
        check_files([p for paths in (*by_class.values(), *valid_by_class.values()) for p in paths])

    prefix = Path("train") if train_dir != root else Path()
    assets = [(p, prefix / p.relative_to(train_dir)) for paths in by_class.values() for p in paths]
    assets += [(p, Path("valid") / p.relative_to(valid_dir)) for paths in valid_by_class.values() for p in paths]
    labels = sorted(by_class)

    def flat(split: dict[str, list[Path]]) -> list[tuple[Path, int]]:
        return [(path, i) for i, name in enumerate(labels) for path in split.get(name, [])]

    train, valid = flat(by_class), flat(valid_by_class)
    if valid_dir is None:  # stratified and seeded: every class gives round(n * valid_split) images, keeps one
        train, valid = split_rows(train, cfg.valid_split, cfg.seed, stratify=lambda sample: sample[1])
    return ClassFolderData(train, valid, assets, labels=labels,
                           valid_folder=valid_dir.name if valid_dir is not None else "")


# --- captioned images ---------------------------------------------------------------------------------------------

@dataclass
class CaptionedData(ImageData):
    """(image, caption file or None) pairs of one folder; the trainer adds the trigger word."""

    @property
    def captioned(self) -> int:
        return sum(1 for _, c in self.train if c)

    @property
    def note(self) -> str:
        return f" ({self.captioned} captions)"

    def summary(self) -> str:
        return f"{len(self.train)} images, {self.captioned} with captions"


def load_captioned(source: str | Path, cfg: Any, train_split: str = "train", valid_split: str | None = None, *,
                   check: bool = True, bucketed: bool = False) -> CaptionedData:
    """Images directly in one folder, each with an optional caption file `<stem><cfg.caption_extension>` (any case).
    Missing captions and captions without an image are warnings; an image that does not decode, a caption that is
    not UTF-8, or (bucketed) an aspect ratio beyond 8:1 is a DataError. The prepared copy names every caption
    exactly as the trainer looks for it (a.TXT -> a.txt)."""
    root = image_root(source, f"images ({', '.join(IMAGE_EXTENSIONS)}) with optional .txt captions")
    ext = cfg.caption_extension.lower()
    files = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    images = [p for p in files if is_image(p)]
    if not images:
        subdirs = [p.name for p in files if p.is_dir() and any(is_image(q) for q in p.iterdir())]
        if subdirs:
            raise DataError(f"no images directly in {root}; they are in sub-folders ({', '.join(subdirs[:5])}): "
                            "move them up into one folder, or, for a classifier, use --profile ImageClassification")
        raise _no_images(root)
    captions = {p.stem: p for p in files if p.suffix.lower() == ext and p.is_file()}
    pairs = [(p, captions.get(p.stem)) for p in images]
    if check:
        check_files(images, [c for _, c in pairs if c], bucketed)
    notes = []
    if missing := [p.name for p, c in pairs if c is None]:
        notes.append(f"{len(missing)} of {len(images)} images have no {ext} caption (they train on the trigger word "
                     f"alone): {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if orphans := sorted(set(captions) - {p.stem for p in images}):
        notes.append(f"{len(orphans)} caption files have no image: " + ", ".join(f"{o}{ext}" for o in orphans[:5]))
    assets = [(p, Path(p.name)) for p in images]
    assets += [(c, Path(p.stem + cfg.caption_extension)) for p, c in pairs if c is not None]
    return CaptionedData(pairs, [], assets, notes)


def load_bucketed(source: str | Path, cfg: Any, train_split: str = "train", valid_split: str | None = None, *,
                  check: bool = True) -> CaptionedData:
    """Captioned images for a diffusion run: as `load_captioned`, and every aspect ratio fits a bucket."""
    return load_captioned(source, cfg, train_split, valid_split, check=check, bucketed=True)


# --- image + metadata folders -------------------------------------------------------------------------------------

def image_column(table: Table, column: str) -> str:
    """The mapped image column, or `file_name` when the metadata has that instead (AutoTrain's local layout writes
    `file_name` whatever its configs map `image_column` to)."""
    return FILE_NAME if column not in table.columns and FILE_NAME in table.columns else column


def image_files(table: Table, metadata: Path, key: str, column: str) -> list[Path]:
    """An image column of file names relative to the metadata file's folder: every file inside that folder, present
    and an image, else one line naming the rows."""
    column = image_column(table, column)
    require_column(table, key, column)
    check_no_missing(table, key, column, "file name")
    folder = metadata.parent.resolve()
    paths = [metadata.parent / str(row[column]) for row in table.rows]
    outside = [i for i, p in enumerate(paths, 1) if not p.resolve().is_relative_to(folder)]
    if outside:
        raise DataError(f"{metadata}: '{column}' names files outside {metadata.parent} at {rows_text(outside)} "
                        f"(e.g. {table.rows[outside[0] - 1][column]}); keep the images beside the metadata file")
    missing = [i for i, p in enumerate(paths, 1) if not p.is_file()]
    if missing:
        raise DataError(f"{metadata}: {len(missing)} image file{'s' if len(missing) > 1 else ''} in "
                        f"'{column}' not found at {rows_text(missing)} (e.g. {paths[missing[0] - 1]}); "
                        "file names are relative to the metadata file's folder")
    odd = [i for i, p in enumerate(paths, 1) if p.suffix.lower() not in IMAGE_EXTENSIONS]
    if odd:
        raise DataError(f"{metadata}: '{column}' names files that are not images at {rows_text(odd)} "
                        f"(e.g. {paths[odd[0] - 1].name}); use {', '.join(IMAGE_EXTENSIONS)}")
    return paths


def read_metadata(source: str | Path, what: str, train_split: str = "train",
                  valid_split: str | None = None) -> tuple[Path, TableData]:
    """The folder and its metadata tables: `metadata.jsonl` / `.csv` at the top, or one in each of the
    `<train_split>/` and `<valid_split>/` (or valid/, validation/, val/) sub-folders. `what` names the columns."""
    root = Path(str(source)).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: {what}; give that folder")
    split_dir = root / train_split
    if train_split != "train" and split_dir.is_dir():
        data = read_table(split_dir)
        found = root / valid_split if valid_split else next((root / v for v in VALID_FOLDERS
                                                             if (root / v).is_dir()), None)
        if found is not None and found.is_dir():
            valid = read_table(found)
            data.valid, data.files["valid"] = valid.train, valid.files["train"]
        return root, data
    return root, read_table(root, train_split, valid_split)


def metadata_assets(root: Path, data: TableData, images: list[Path]) -> list[Asset]:
    """The metadata files and their images at their place in the prepared copy: a split's sub-folder becomes
    train/ or valid/ (names inside stay relative to the metadata file); top-level files stay where they are."""
    places = {m.parent.resolve(): Path() if m.parent == root else Path(split) for split, m in data.files.items()}
    deepest = sorted(places, key=lambda f: len(f.parts), reverse=True)

    def place(path: Path) -> Path:
        path = path.resolve()
        folder = next(f for f in deepest if path.is_relative_to(f))
        return places[folder] / path.relative_to(folder)

    return [(f, place(f)) for f in data.files.values()] + [(p, place(p)) for p in images]
