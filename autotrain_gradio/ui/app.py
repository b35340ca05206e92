"""The Gradio app: composes the Train, Jobs and Profiles tabs and the named API endpoints over one workspace.

It never trains in-process and imports no torch: Start queues a job through jobs/, whose worker launches the
trainer as its own process, and the Jobs tab reads the store and events.jsonl. So the app can be restarted at
any time; the queue and the running trainers carry on. Who may see and do what is auth.Access (ui/actions.py
applies it); serving is ui/server.py.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: the app never phones home

import gradio as gr  # noqa: E402

from autotrain_gradio.auth import Access  # noqa: E402
from autotrain_gradio.ui import (  # noqa: E402
    api,
    captions_tab,
    chat_tab,
    jobs_tab,
    profiles_tab,
    publish_tab,
    queue_panel,
    signin,
    train_tab,
    try_tab,
)
from autotrain_gradio.ui.actions import AppContext  # noqa: E402
from autotrain_gradio.workspace import workspace_root  # noqa: E402

TITLE = "AutoTrain (Gradio)"
MODE_NOTES = {
    "local": "Workspace: `{root}`",
    "login": "Signed-in mode: you see and control your own uploads and jobs only.",
    "space": "Sign in with your Hugging Face account; you see and control your own uploads and jobs only.",
}


def build_app(workspace: str | Path | None = None, ctx: AppContext | None = None) -> gr.Blocks:
    """The Blocks app for a workspace (default: AUTOTRAIN_WORKSPACE, else the current folder) and its sharing
    rules (default: an open local app)."""
    root = workspace_root(workspace if ctx is None else ctx.root)
    root.mkdir(parents=True, exist_ok=True)
    ctx = ctx or AppContext(root, Access.from_settings(root, space=False))
    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        api.register(ctx)  # first, so the named endpoints get their names before any button handler
        with gr.Row():
            gr.Markdown(f"## {TITLE}\nTrain a diffusion LoRA, a classifier, an LLM and more from images or tables. "
                        f"{MODE_NOTES[ctx.access.mode].format(root=root)}")
            if ctx.access.mode == "space":
                gr.LoginButton(scale=0, min_width=220, elem_id="login")
        gate = signin.gate(ctx)  # Space mode: a visitor signs in before anything else
        started_job = gr.State(None)  # the id of the job this visitor last started, from any tab
        timer = gr.Timer(jobs_tab.POLL_S, active=False)  # the Jobs tab's poll, mounted whichever tab is open
        with gr.Tabs(visible=gate is None) as tabs:
            with gr.Tab("Train", id="train"):
                train_tab.build(ctx, app, started_job)
            with gr.Tab("Captions", id="captions"):
                captions_tab.build(ctx, app, started_job)
            with gr.Tab("Jobs", id="jobs") as jobs_page:
                jobs = jobs_tab.build(ctx, app, timer)
                queue_panel.build(ctx, app)
            with gr.Tab("Profiles", id="profiles"):
                profiles_tab.build(ctx, app)
            with gr.Tab("Chat", id="chat"):
                chat_runs, chat_run = chat_tab.build(ctx, app)
            with gr.Tab("Try it", id="try"):
                try_runs, try_run = try_tab.build(ctx, app)
            with gr.Tab("Publish", id="publish"):
                publish_runs, publish_run = publish_tab.build(ctx, app)
        # The job just started (from any tab) is the one the Jobs tab follows, at once, with its polling on.
        started_job.change(jobs.follow, [started_job, jobs.watch], jobs.refresh_outputs, api_visibility="private")
        # A job that ended may be one to chat with or try: their run lists follow without a Refresh click.
        jobs.ended.change(chat_runs, chat_run, chat_run, api_visibility="private")
        jobs.ended.change(try_runs, try_run, try_run, api_visibility="private")
        jobs.ended.change(publish_runs, publish_run, publish_run, api_visibility="private")
        jobs_page.select(jobs.refresh, jobs.refresh_inputs, jobs.refresh_outputs, api_visibility="private")
        signin.follow(app, ctx, gate, tabs)
    return app

