"""Uploaded datasets: saved under <workspace>/uploads/<user>/<name>/ (a folder the app never serves), keeping only
images, captions and table files. Anything else is refused with the names of the files, a zip is checked before a
byte of it is written (size, file count, compression ratio), and a refused or failed upload leaves nothing behind.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from autotrain_gradio.auth import User
from autotrain_gradio.ui.actions import ActionError, AppContext, held_bytes
from autotrain_gradio.workspace import (
    IMAGE_EXTENSIONS,
    ZIP_MAX_BYTES,
    check_name,
    extract_zip,
    folder_bytes,
    suggest_name,
)

CAPTION_SUFFIXES = (".txt", ".caption")
TABLE_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".parquet", ".arrow")
KEPT_SUFFIXES = (*IMAGE_EXTENSIONS, *CAPTION_SUFFIXES, *TABLE_SUFFIXES)
ACCEPTED = ["image", *CAPTION_SUFFIXES, *TABLE_SUFFIXES, ".zip"]  # what the upload box offers
# What Gradio's raw upload route keeps (ui/guard.BoundedUploads): the dataset box's kinds and Try it's input images.
UPLOAD_SUFFIXES = (*KEPT_SUFFIXES, ".zip", ".gif", ".tif", ".tiff")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def save_upload(ctx: AppContext, user: User | None, files: list[str], name: str = "") -> Path:
    """Copy uploaded files (and the contents of zips) into a new folder of the caller's uploads and return the
    dataset folder: a zip's single top-level folder when it has one, so class sub-folders keep working."""
    user = ctx.signed_in(user)
    if (why := ctx.access.may_train(user)) is not None:
        raise ActionError(why, 403)
    if not files:
        raise ActionError("nothing uploaded; add images (with .txt captions), a table, or a .zip of them")
    paths = [Path(f) for f in files]
    odd = [p.name for p in paths if p.suffix.lower() not in (*KEPT_SUFFIXES, ".zip")]
    if odd:
        raise ActionError(f"these files are not images, captions, tables or zips: {', '.join(odd[:5])}"
                          f"{f' and {len(odd) - 5} more' if len(odd) > 5 else ''}; remove them and upload again")
    total = sum(_size(p) for p in paths)
    if total > ctx.access.max_upload_bytes:
        raise ActionError(f"this upload is {total / 1024**2:.0f} MB; the limit is "
                          f"{ctx.access.max_upload_bytes / 1024**2:.0f} MB per upload")
    budget = _budget(ctx, user, paths)
    base = name if name and check_name(name) is None else suggest_name(paths[0].stem if len(paths) == 1 else "upload")
    home = ctx.uploads(user)
    dest, n = home / base, 1
    while dest.exists():  # never mix two uploads: each gets its own folder
        n += 1
        dest = home / f"{base}-{n}"
    dest.mkdir(parents=True)
    try:
        for file in paths:
            if file.suffix.lower() == ".zip":
                extract_zip(file, dest, allowed_suffixes=KEPT_SUFFIXES, max_bytes=budget)
            else:
                shutil.copy2(file, dest / file.name)
    except ValueError as err:
        shutil.rmtree(dest, ignore_errors=True)
        raise ActionError(str(err)) from None
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    entries = [p for p in dest.iterdir() if not p.name.startswith(".")]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest


def _unpacked(path: Path) -> int:
    """What a file adds to the disk: a zip's declared unpacked size (extract_zip holds it to that), else its size."""
    if path.suffix.lower() != ".zip":
        return _size(path)
    try:
        with zipfile.ZipFile(path) as zf:
            return sum(m.file_size for m in zf.infolist())
    except (zipfile.BadZipFile, OSError):
        return _size(path)  # extract_zip says what is wrong with it


def _budget(ctx: AppContext, user: User, paths: list[Path]) -> int:
    """The bytes this upload may unpack to: in a shared app what the user's limit leaves over everything they hold
    (uploads, prepared copies and runs), refused at once when the upload would pass it."""
    if not ctx.access.shared:
        return ZIP_MAX_BYTES
    held, limit = held_bytes(ctx, user), ctx.access.max_disk_bytes
    adds = sum(_unpacked(p) for p in paths)
    if held + adds > limit:
        raise ActionError(f"this upload unpacks to {adds / 1024**2:.1f} MB and you hold {held / 1024**2:.1f} MB "
                          f"(uploads, prepared copies and runs) of the {limit / 1024**2:.0f} MB allowed; delete an "
                          "upload (Delete upload) or a job first")
    return limit - held


def list_uploads(ctx: AppContext, user: User | None) -> list[str]:
    """The caller's uploads, by name (the folders `upload_dataset` made), oldest first."""
    home = ctx.uploads(ctx.signed_in(user))
    found = [f for f in home.iterdir() if f.is_dir()] if home.is_dir() else []
    return [f.name for f in sorted(found, key=lambda f: f.stat().st_mtime)]


def delete_upload(ctx: AppContext, user: User | None, name: str) -> dict:
    """Remove one of the caller's uploads, named by its name or by the dataset path `upload_dataset` returned (a
    run started from it has its own copy under input/). Anything else is 'no upload of that name'."""
    user = ctx.signed_in(user)
    home = ctx.uploads(user).resolve()
    given = (name or "").strip()
    path = Path(given)
    top = (home / given) if given and not path.is_absolute() else path
    try:
        top = top.resolve()
        folder = home / top.relative_to(home).parts[0]
    except (ValueError, IndexError, OSError, RuntimeError):
        folder = None
    if folder is None or not given or not folder.is_dir() or folder.name not in list_uploads(ctx, user):
        raise ActionError(f"no upload named {given[:80]!r} among yours; your uploads: "
                          f"{', '.join(list_uploads(ctx, user)) or 'none'}", 404)
    freed = folder_bytes(folder)
    shutil.rmtree(folder)
    return {"deleted": folder.name, "freed_mb": round(freed / 1024**2, 2),
            "message": f"Upload {folder.name} deleted ({freed / 1024**2:.1f} MB freed)."}
