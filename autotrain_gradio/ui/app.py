"""The Gradio app: composes the Train, Jobs and Profiles tabs over one workspace.

It never trains in-process and imports no torch: Start queues a job through jobs/, whose worker launches the
trainer as its own process, and the Jobs tab reads the store and events.jsonl. So the app can be restarted at
any time; the queue and the running trainers carry on.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: the app never phones home

import gradio as gr  # noqa: E402

from autotrain_gradio.ui import jobs_tab, profiles_tab, train_tab  # noqa: E402
from autotrain_gradio.workspace import workspace_root  # noqa: E402

TITLE = "AutoTrain (Gradio)"


def build_app(workspace: str | Path | None = None) -> gr.Blocks:
    """The Blocks app for a workspace (default: AUTOTRAIN_WORKSPACE, else the current folder)."""
    root = workspace_root(workspace)
    root.mkdir(parents=True, exist_ok=True)
    # Samples and model files are served from the workspace as they are, not copied into Gradio's cache.
    gr.set_static_paths([root / "output"])
    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        gr.Markdown(f"## {TITLE}\nTrain a Flux / SDXL / SD1.5 LoRA or an image classifier from a folder of "
                    f"images. Workspace: `{root}`")
        with gr.Tabs():
            with gr.Tab("Train", id="train"):
                train = train_tab.build(root, app)
            with gr.Tab("Jobs", id="jobs") as jobs_page:
                jobs = jobs_tab.build(root, app)
            with gr.Tab("Profiles", id="profiles"):
                profiles_tab.build(root, app)
        # A new job shows up in the Jobs tab at once, and its polling starts, without a manual refresh.
        train.start_event.then(jobs.refresh, jobs.refresh_inputs, jobs.refresh_outputs)
        jobs_page.select(jobs.refresh, jobs.refresh_inputs, jobs.refresh_outputs)
    return app


def launch(workspace: str | Path | None = None, share: bool = False, port: int | None = None,
           server_name: str | None = None, prevent_thread_lock: bool = False) -> gr.Blocks:
    """Build the app and serve it (blocking unless prevent_thread_lock). Returns the Blocks."""
    root = workspace_root(workspace)
    app = build_app(root)
    app.queue(default_concurrency_limit=4)
    app.launch(share=share, server_port=port, server_name=server_name, show_error=True,
               allowed_paths=[str(root / "output"), str(root / "uploads")], prevent_thread_lock=prevent_thread_lock,
               footer_links=["gradio", "settings"])
    return app
