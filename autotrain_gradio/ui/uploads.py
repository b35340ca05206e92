"""Uploaded datasets: saved under <workspace>/uploads/<user>/<name>/ (a folder the app never serves), keeping only
images, captions and table files. Anything else is refused with the names of the files, a zip is checked before a
byte of it is written (size, file count, compression ratio), and a refused or failed upload leaves nothing behind.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from autotrain_gradio.auth import User
from autotrain_gradio.ui.actions import ActionError, AppContext
from autotrain_gradio.workspace import IMAGE_EXTENSIONS, ZIP_MAX_BYTES, check_name, extract_zip, suggest_name

CAPTION_SUFFIXES = (".txt", ".caption")
TABLE_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".parquet", ".arrow")
KEPT_SUFFIXES = (*IMAGE_EXTENSIONS, *CAPTION_SUFFIXES, *TABLE_SUFFIXES)
ACCEPTED = ["image", *CAPTION_SUFFIXES, *TABLE_SUFFIXES, ".zip"]  # what the upload box offers


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
                limit = ctx.access.max_disk_bytes if ctx.access.shared else ZIP_MAX_BYTES
                extract_zip(file, dest, allowed_suffixes=KEPT_SUFFIXES, max_bytes=limit)
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
