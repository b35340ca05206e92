"""What reaches a handler from outside, checked by this app whatever the serving mode.

Gradio checks that an input file was uploaded only once `launch()` has run (`processing_utils._check_allowed` returns
early otherwise), and `gr.mount_gradio_app`, the way this app is served, never sets that flag; a payload without
FileData's meta marker is not checked even then. So every input of every event is walked here, before Gradio copies
anything: each `{"path": ...}` object in it must name a file this app's Blocks put in its upload cache (the upload
route's files and the files Gradio itself cached); anything else, a server path or a URL, is refused with one
sentence. The raw upload route is bounded per request, and the cache is swept of old files (Gradio's own
`delete_files_created_by_app`, plus the downloads ui/actions.stage hands out).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import gradio as gr

REFUSED = ("a file input must be one uploaded to this app (POST it to /gradio_api/upload and send the path that "
           "returns); this one was not, and nothing was read")
MAX_DEPTH = 64  # an input nested deeper than this is no component's value


def _file_paths(value: Any) -> list[str]:
    """Every `path` of a file object in a JSON input, walked without recursion (inputs come from anyone)."""
    found, stack = [], [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise gr.Error("an input is nested too deeply to be any component's value; nothing was read")
        if isinstance(item, dict):
            if "path" in item:
                found.append(item["path"])
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)
    return found


def app_files(blocks: gr.Blocks) -> set[str]:
    """The files this Blocks put in Gradio's cache: uploads through its route and what it cached itself."""
    return {os.path.abspath(str(f)) for files in blocks.temp_file_sets for f in list(files)}


def check_input_files(blocks: gr.Blocks, inputs: list[Any]) -> None:
    """Refuse (gr.Error) any file object in `inputs` whose path is not one of `app_files(blocks)`."""
    paths = [p for value in inputs for p in _file_paths(value)]
    if not paths:
        return
    known = app_files(blocks)
    if any(not isinstance(p, str) or os.path.abspath(p) not in known for p in paths):
        raise gr.Error(REFUSED)


def guard_inputs(blocks: gr.Blocks) -> None:
    """Run `check_input_files` on every event's inputs before Gradio validates, caches or preprocesses them."""
    validate = blocks.validate_inputs

    def checked(block_fn: Any, inputs: list[Any]) -> None:
        check_input_files(blocks, inputs)
        validate(block_fn, inputs)

    blocks.validate_inputs = checked


class BoundedUploads:
    """ASGI middleware: a request to Gradio's upload route may carry at most `max_bytes` in all (413 past it, counted
    as the body arrives, so a request without Content-Length is bounded too). Gradio's `max_file_size` bounds each
    file; this bounds the up to 1000 files one request may hold."""

    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].rstrip("/").endswith("/upload"):
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await _too_large(send, self.max_bytes)
        seen, refused = 0, False

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        async def answer(message: dict) -> None:
            nonlocal refused
            if not refused and seen <= self.max_bytes:
                return await send(message)
            if not refused:  # the app answers its own error: ours goes instead
                refused = True
                await _too_large(send, self.max_bytes)

        try:
            await self.app(scope, counted, answer)
        except _TooLarge:
            if not refused:
                await _too_large(send, self.max_bytes)


class _TooLarge(Exception):
    pass


async def _too_large(send: Any, limit: int) -> None:
    body = f"an upload may hold at most {limit / 1024**2:.0f} MB in all; upload fewer or smaller files".encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def sweep_cache(blocks: gr.Blocks, max_age_s: float) -> None:
    """Remove this app's cached files older than `max_age_s` (Gradio's own sweep) and staged downloads as old."""
    from gradio.route_utils import delete_files_created_by_app
    from gradio.utils import get_upload_folder

    delete_files_created_by_app(blocks, int(max_age_s))
    staged = Path(get_upload_folder()) / "autotrain"
    cutoff = time.time() - max_age_s
    for folder in staged.iterdir() if staged.is_dir() else []:
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
