"""Phase 1: validate a dataset folder against a profile, read-only.

Every problem becomes one line that names the file or value and says what to do. Nothing here writes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from autotrain_gradio.profiles import Profile
from autotrain_gradio.tasks.formats import DataError, TableData
from autotrain_gradio.workspace import IMAGE_EXTENSIONS, RunPaths, check_name, folder_bytes, free_bytes

MAX_PIXELS = 89_478_485  # PIL's own decompression-bomb threshold; larger images are refused, not just warned about
MAX_ASPECT = 8  # longest side / shortest side a diffusion bucket takes (panoramas up to 8:1)
GB = 1024**3
MANIFEST = ".autotrain-manifest.json"  # marks an input copy the app wrote


@dataclass
class ImageItem:
    path: Path
    caption: Path | None
    label: str = ""  # class folder for classification; "" for diffusion


@dataclass
class ValidationReport:
    """What phase 1 found. `errors` empty means the dataset can be prepared."""

    dataset_path: Path
    name: str
    profile: str
    task: str
    images: list[ImageItem] = field(default_factory=list)
    classes: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dataset_bytes: int = 0
    needed_bytes: int = 0
    free_bytes: int = 0
    caption_extension: str = ".txt"
    data: Any = None  # table tasks: what the task's reader returned (rows, labels, the table files)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def captioned(self) -> int:
        return sum(1 for item in self.images if item.caption)

    def summary(self) -> str:
        if self.data is not None:
            return self.data.summary()
        if self.task == "image-classification":
            classes = ", ".join(f"{k} ({v})" for k, v in sorted(self.classes.items()))
            return f"{len(self.images)} images in {len(self.classes)} classes: {classes}"
        return f"{len(self.images)} images, {self.captioned} with captions"


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def check_image(path: Path) -> str | None:
    """None when the file decodes completely as an image, else why not and what to do."""
    size = path.stat().st_size
    if size == 0:
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


def check_aspect(path: Path) -> str | None:
    """None when the image's aspect ratio fits a bucket, else why not (a 100000x1 strip would be resized to
    hundreds of megapixels to cover its bucket)."""
    with Image.open(path) as im:
        w, h = im.size
    ratio = max(w, h) / max(1, min(w, h))
    if ratio > MAX_ASPECT:
        return (f"{path} is {w}x{h} pixels, an aspect ratio of {ratio:.0f}:1, beyond the {MAX_ASPECT}:1 that "
                "buckets allow; crop it or remove it")
    return None


def _collect_diffusion(root: Path, report: ValidationReport) -> None:
    files = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    images = [p for p in files if _is_image(p)]
    if not images:
        subdirs = [p.name for p in files if p.is_dir() and any(_is_image(q) for q in p.iterdir())]
        if subdirs:
            report.errors.append(
                f"no images directly in {root}; they are in sub-folders ({', '.join(subdirs[:5])}): move them up "
                "into one folder, or, for a classifier, use --profile ImageClassification")
        return
    ext = report.caption_extension.lower()
    captions = {p.stem: p for p in files if p.suffix.lower() == ext}
    report.images = [ImageItem(p, captions.get(p.stem)) for p in images]
    missing = [item.path.name for item in report.images if item.caption is None]
    if missing:
        report.warnings.append(f"{len(missing)} of {len(images)} images have no {ext} caption (they train on the "
                               f"trigger word alone): {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    orphans = sorted(set(captions) - {p.stem for p in images})
    if orphans:
        report.warnings.append(f"{len(orphans)} caption files have no image: "
                               + ", ".join(f"{o}{ext}" for o in orphans[:5]))


def _collect_classes(root: Path, report: ValidationReport) -> None:
    classes = {p.name: sorted(q for q in p.iterdir() if _is_image(q))
               for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")}
    classes = {k: v for k, v in classes.items() if v}
    if not classes:
        loose = [p for p in root.iterdir() if _is_image(p)]
        if loose:
            report.errors.append(f"{root} has images but no class sub-folders; put each class in its own "
                                 "sub-folder (e.g. cats/, dogs/) for an image classifier")
        return
    if len(classes) < 2:
        report.errors.append(f"{root} has one class ({next(iter(classes))}); a classifier needs at least 2 "
                             "class sub-folders with images")
    report.classes = {k: len(v) for k, v in classes.items()}
    report.images = [ImageItem(p, None, label) for label, paths in classes.items() for p in paths]


def _check_existing(paths: RunPaths, force: bool, skip_copy: bool, report: ValidationReport) -> None:
    """--force replaces only what the app wrote: an input copy with our manifest, an output with our config.toml."""
    out, inp = paths.output_dir, paths.input_dir
    if out.exists() and not force:
        report.errors.append(f"{out} already exists from an earlier run; pass --force to replace it "
                             "or choose another --dataset-name")
    elif out.exists() and any(out.iterdir()) and not (out / "config.toml").exists():
        report.errors.append(f"{out} exists but was not written by autotrain (no config.toml); --force will not "
                             "delete it: move it away or choose another --dataset-name")
    if inp.exists() and not (force or skip_copy):
        report.errors.append(f"{inp} already exists; pass --skip-copy to reuse it or --force to replace it")
    elif inp.exists() and force and not skip_copy and not (inp / MANIFEST).exists():
        report.errors.append(f"{inp} exists but was not written by autotrain (no {MANIFEST}); --force will not "
                             "delete it: move it away or choose another --dataset-name")


def validate_dataset(dataset_path: str | Path, profile: Profile, name: str, paths: RunPaths,
                     min_images: int = 1, force: bool = False, skip_copy: bool = False,
                     caption_extension: str = ".txt") -> ValidationReport:
    """Phase 1: check path, images, count, captions, name, disk space and existing outputs. Read-only."""
    root = Path(dataset_path).expanduser()
    report = ValidationReport(root, name, profile.name, profile.task, caption_extension=caption_extension)
    if (problem := check_name(name)) is not None:
        report.errors.append(problem)
        return report
    if not root.exists():
        report.errors.append(f"dataset path not found: {root}; check the path (relative paths are taken from "
                             f"{Path.cwd()})")
        return report
    if not root.is_dir():
        report.errors.append(f"dataset path is a file, not a folder: {root}; pass the folder that holds the images "
                             "(or a .zip of them)")
        return report
    if not any(root.iterdir()):
        report.errors.append(f"dataset folder is empty: {root}; add images ({', '.join(IMAGE_EXTENSIONS)}) "
                             "with optional .txt captions")
        return report

    (_collect_classes if profile.task == "image-classification" else _collect_diffusion)(root, report)
    if not report.images and not report.errors:
        report.errors.append(f"no image files found in {root} (looked for {', '.join(IMAGE_EXTENSIONS)}, any case)")
    if report.errors:
        return report

    bucketed = profile.task.startswith("diffusion")
    for item in report.images:
        problem = check_image(item.path) or (check_aspect(item.path) if bucketed else None)
        if item.caption is not None:
            problem = problem or check_caption(item.caption)
        if problem is not None:
            report.errors.append(problem)
    need = max(min_images, 1)
    if len(report.images) < need:
        report.errors.append(f"found {len(report.images)} images in {root}, fewer than --min-images {need}; add "
                             "images or lower --min-images")
    elif len(report.images) < profile.min_images:
        report.warnings.append(f"profile {profile.name} works best with at least {profile.min_images} images; "
                               f"found {len(report.images)}")

    _check_existing(paths, force, skip_copy, report)
    _check_disk(folder_bytes(root), paths, profile, skip_copy, report)
    return report


def _check_disk(dataset_bytes: int, paths: RunPaths, profile: Profile, skip_copy: bool,
                report: ValidationReport) -> None:
    report.dataset_bytes = dataset_bytes
    copy_bytes = 0 if (skip_copy and paths.input_dir.exists()) else report.dataset_bytes
    report.needed_bytes = copy_bytes + int(profile.estimated_output_gb * GB)
    report.free_bytes = free_bytes(paths.root)
    if report.needed_bytes > report.free_bytes:
        report.errors.append(
            f"not enough disk space in {paths.root}: need ~{report.needed_bytes / GB:.1f} GB (dataset copy + "
            f"{profile.estimated_output_gb:g} GB for {profile.name} outputs), {report.free_bytes / GB:.1f} GB free; "
            "free some space or pass --workspace on a larger disk")


def validate_table(source: str, profile: Profile, load: Any, cfg: Any, name: str, paths: RunPaths,
                   min_rows: int = 1, force: bool = False, skip_copy: bool = False, train_split: str = "train",
                   valid_split: str | None = None) -> ValidationReport:
    """Phase 1 for table tasks: the task's own reader checks the data (columns, empty labels, classes, numbers) with
    the run's column mapping; then name, existing outputs and disk space. Read-only."""
    report = ValidationReport(Path(source).expanduser(), name, profile.name, profile.task)
    if (problem := check_name(name)) is not None:
        report.errors.append(problem)
        return report
    try:
        report.data = load(source, cfg, train_split, valid_split)
    except DataError as err:
        report.errors.append(str(err))
        return report
    report.warnings.extend(getattr(report.data, "warnings", []))  # what the reader noticed but accepts
    table: TableData = report.data.table
    rows = len(table.train) + (len(table.valid) if table.valid is not None else 0)
    if rows < min_rows:
        report.errors.append(f"{table.train.source} has {rows} rows, fewer than --min-images {min_rows}; add rows or "
                             "lower --min-images")
    elif rows < profile.min_images:
        report.warnings.append(f"profile {profile.name} works best with at least {profile.min_images} rows; "
                               f"found {rows}")
    _check_existing(paths, force, skip_copy, report)
    files = [src for src, _ in getattr(report.data, "assets", None) or []] or list(table.files.values())
    _check_disk(sum(f.stat().st_size for f in files), paths, profile, skip_copy, report)
    return report
