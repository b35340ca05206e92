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

import json
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
    """ASGI middleware on Gradio's upload route: a request may carry at most `max_bytes` in all (413 past it, counted
    as the body arrives, so a request without Content-Length is bounded too; Gradio's `max_file_size` bounds each
    file, this the up to 1000 files one request may hold), and only files whose suffix the app takes (`suffixes`):
    any other is deleted from the cache at once and the request answered 415."""

    def __init__(self, app: Any, max_bytes: int, blocks: gr.Blocks | None = None,
                 suffixes: tuple[str, ...] = ()):
        self.app, self.max_bytes, self.blocks, self.suffixes = app, max_bytes, blocks, suffixes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].rstrip("/").endswith("/upload"):
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await _plain(send, 413, _too_large(self.max_bytes))
        seen, refused, held = 0, False, []

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        async def answer(message: dict) -> None:
            nonlocal refused
            if refused:
                return None
            if seen > self.max_bytes:  # the app answers its own error: ours goes instead
                refused = True
                return await _plain(send, 413, _too_large(self.max_bytes))
            if message["type"] == "http.response.start" and message.get("status") == 200 and self.suffixes:
                held.append(message)  # the paths come in the body: held until they are checked
                return None
            if held and message["type"] == "http.response.body":
                held.append(message)
                if message.get("more_body"):
                    return None
                body = b"".join(m.get("body", b"") for m in held[1:])
                if odd := self._drop_odd(body):
                    refused = True
                    return await _plain(send, 415, f"this app takes no files like {', '.join(odd[:3])}; upload "
                                                   "images, captions, tables (CSV/JSONL/Parquet) or zips of them")
                for part in held:
                    await send(part)
                held.clear()
                return None
            return await send(message)

        try:
            await self.app(scope, counted, answer)
        except _TooLarge:
            if not refused:
                await _plain(send, 413, _too_large(self.max_bytes))

    def _drop_odd(self, body: bytes) -> list[str]:
        """The uploaded files (the route's JSON list of paths) of a kind the app does not take: deleted, forgotten."""
        try:
            paths = [p for p in json.loads(body) if isinstance(p, str)]
        except (ValueError, TypeError):
            return []
        odd = [p for p in paths if Path(p).suffix.lower() not in self.suffixes]
        for path in odd:
            Path(path).unlink(missing_ok=True)
            if self.blocks is not None:
                self.blocks.upload_file_set.discard(path)
        return [Path(p).name for p in odd]


class _TooLarge(Exception):
    pass


def _too_large(limit: int) -> str:
    return f"an upload may hold at most {limit / 1024**2:.0f} MB in all; upload fewer or smaller files"


async def _plain(send: Any, status: int, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
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
