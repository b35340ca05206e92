"""Serving the app: one FastAPI server with AutoTrain's REST routes and the Gradio app mounted at / (uvicorn), or
Gradio's own launch with a share link (Colab), which gets the same REST routes.

What it serves: Gradio's assets and its upload cache, nothing of the workspace. The workspace is a blocked path,
so no URL reaches an upload, a dataset or a run folder; a download is staged per request (ui/actions.stage).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: the app never phones home

import gradio as gr  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from autotrain_gradio.auth import Access  # noqa: E402
from autotrain_gradio.jobs.scheduler import WARM_WORKER_S, ensure_worker, stop_idle_worker  # noqa: E402
from autotrain_gradio.ui.actions import AppContext, remove_stale_uploads  # noqa: E402
from autotrain_gradio.ui.api import add_rest_routes  # noqa: E402
from autotrain_gradio.ui.app import build_app  # noqa: E402
from autotrain_gradio.ui.guard import BoundedUploads, guard_inputs, sweep_cache  # noqa: E402
from autotrain_gradio.ui.theme import CSS, build_theme  # noqa: E402
from autotrain_gradio.ui.uploads import UPLOAD_SUFFIXES  # noqa: E402
from autotrain_gradio.workspace import workspace_root  # noqa: E402

UPLOAD_SWEEP_S = 3600.0
CACHE_MAX_AGE_S = 6 * 3600.0  # an upload the app has not copied into a user's folder by then is dropped


@dataclass
class Served:
    """A running app: its Blocks, context, local URL, and how to stop it."""

    blocks: gr.Blocks
    ctx: AppContext
    url: str
    _server: Any = None
    _stop: threading.Event | None = None
    _worker: int | None = None  # the warm worker this app started

    def close(self) -> None:
        if self._worker is not None:
            stop_idle_worker(self.ctx.root, self._worker)  # one with jobs to run carries on without the app
        if self._stop is not None:
            self._stop.set()
        if self._server is not None:
            self._server.close()
        else:
            self.blocks.close()


def _sweep_uploads(ctx: AppContext, blocks: gr.Blocks, stop: threading.Event) -> None:
    while not stop.wait(UPLOAD_SWEEP_S):
        remove_stale_uploads(ctx)
        sweep_cache(blocks, CACHE_MAX_AGE_S)


def serve(workspace: str | Path | None = None, *, access: Access | None = None, share: bool = False,
          port: int | None = None, server_name: str | None = None, block: bool = True, **settings: Any) -> Served:
    """Build the app over a workspace with the given sharing rules (default: from `settings` and the environment,
    see Access.from_settings) and serve it; blocks until stopped unless block=False."""
    root = workspace_root(workspace)
    root.mkdir(parents=True, exist_ok=True)
    ctx = AppContext(root, access or Access.from_settings(root, **settings))
    worker = ensure_worker(root, idle_grace=WARM_WORKER_S)  # warm before the first Start: a job launches at once
    remove_stale_uploads(ctx)
    # The queue's default concurrency, read when Blocks makes its queue: a second `blocks.queue(...)` would rebuild
    # the whole FastAPI app (about 5% of the app's start).
    os.environ.setdefault("GRADIO_DEFAULT_CONCURRENCY_LIMIT", "4")
    blocks = build_app(root, ctx=ctx)
    guard_inputs(blocks)  # every input file checked by us: mount_gradio_app skips Gradio's own check
    auth = list(ctx.access.logins.items()) if ctx.access.mode == "login" else None
    options = {"auth": auth, "blocked_paths": [str(root)], "allowed_paths": [], "show_error": True,
               "max_file_size": ctx.access.max_upload_bytes,
               "footer_links": ["api", "gradio", "settings"], "theme": build_theme(), "css": CSS,
               "auth_message": "Sign in with the login the app's owner gave you." if auth else None}
    stop = threading.Event()
    threading.Thread(target=_sweep_uploads, args=(ctx, blocks, stop), daemon=True, name="upload-sweep").start()
    host = server_name or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    port = port or int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    if share:  # Gradio's own server is the one that can open a share tunnel
        from starlette.middleware import Middleware

        bounded = Middleware(BoundedUploads, max_bytes=ctx.access.max_upload_bytes, blocks=blocks,
                             suffixes=UPLOAD_SUFFIXES)
        blocks.launch(share=True, server_name=host, server_port=port, prevent_thread_lock=True,
                      app_kwargs={"middleware": [bounded]}, **options)
        add_rest_routes(blocks.server_app, ctx)
        served = Served(blocks, ctx, blocks.local_url, None, stop, worker)
    else:
        from gradio.http_server import Server
        from uvicorn import Config

        app = FastAPI(title="AutoTrain (Gradio)", docs_url=None, redoc_url=None, openapi_url=None)
        add_rest_routes(app, ctx)
        app.add_middleware(BoundedUploads, max_bytes=ctx.access.max_upload_bytes, blocks=blocks,
                           suffixes=UPLOAD_SUFFIXES)
        app = gr.mount_gradio_app(app, blocks, path="/", server_name=host, server_port=port, **options)
        server = Server(Config(app, host=host, port=port, log_level="warning", ws="none"))
        server.run_in_thread()
        served = Served(blocks, ctx, f"http://{host}:{port}/", server, stop, worker)
        print(f"* AutoTrain app on {served.url} ({ctx.access.mode} mode)", flush=True)
    if block:
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            served.close()
    return served


def launch(workspace: str | Path | None = None, share: bool = False, port: int | None = None,
           server_name: str | None = None, prevent_thread_lock: bool = False, **settings: Any):
    """Build the app and serve it (blocking unless prevent_thread_lock); `settings` are the sharing options of
    Access.from_settings (space, auth, allowed_paths, api_token, allowed_users). Returns the running app."""
    return serve(workspace, share=share, port=port, server_name=server_name, block=not prevent_thread_lock,
                 **settings)
