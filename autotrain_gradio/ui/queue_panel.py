"""Queue settings in the app, for its owner: how many jobs run at once (per backend, the job store's own setting the
worker reads) and where the app's new jobs run (`local`, `ray` or `hf-jobs`, checked before it is kept).

The owner is whoever runs the app: everyone in an open local app, the first `--auth` login, the Space's author.
Anyone else sees the settings read-only and is refused on Save.
"""

from __future__ import annotations

import gradio as gr

from autotrain_gradio import jobs
from autotrain_gradio.auth import User
from autotrain_gradio.ui.actions import ActionError, AppContext


def is_owner(ctx: AppContext, user: User | None) -> bool:
    """True for the person who runs this app."""
    mode = ctx.access.mode
    if mode == "local":
        return True
    if user is None:
        return False
    owner = next(iter(ctx.access.logins), "") if mode == "login" else ctx.access.space_owner
    return bool(owner) and user.name == owner


def current(ctx: AppContext) -> tuple[str, int]:
    """(backend, its max concurrent jobs)."""
    store = jobs.JobStore(ctx.root)
    try:
        return ctx.backend, store.max_concurrent(ctx.backend)
    finally:
        store.close()


def save_settings(ctx: AppContext, user: User | None, backend: str, max_concurrent: int) -> str:
    """Set the backend for new jobs and its concurrency; the answer, or an ActionError."""
    if not is_owner(ctx, user):
        raise ActionError("only the owner of this app changes its queue settings", 403)
    try:
        jobs.backend_options(backend)  # a backend that cannot be reached from here is refused now, not at Start
    except jobs.JobError as err:
        raise ActionError(str(err)) from None
    store = jobs.JobStore(ctx.root)
    try:
        store.set_max_concurrent(backend, int(max_concurrent))
    except ValueError as err:
        raise ActionError(str(err)) from None
    finally:
        store.close()
    ctx.backend = backend
    return f"✅ New jobs run on {backend}, at most {int(max_concurrent)} at once."


def build(ctx: AppContext, app: gr.Blocks) -> None:
    """Render the panel (an accordion) in the current Blocks context."""
    with gr.Accordion("Queue settings (owner)", open=False, elem_id="queue-settings"):
        with gr.Row():
            backend = gr.Dropdown(list(jobs.BACKENDS), value="local", label="Backend for new jobs",
                                  elem_id="queue-backend")
            limit = gr.Number(value=1, minimum=1, maximum=64, precision=0, label="Max concurrent jobs",
                              elem_id="queue-max")
            save = gr.Button("Save queue settings", elem_id="queue-save", scale=0, min_width=180)
        note = gr.Markdown("", elem_id="queue-note")

    def load(request: gr.Request) -> dict:
        name, value = current(ctx)
        owner = is_owner(ctx, ctx.access.user_of(request))
        return {backend: gr.Dropdown(value=name, interactive=owner), limit: gr.Number(value=value, interactive=owner),
                save: gr.Button(interactive=owner), note: "" if owner else "Only the owner of this app changes these."}

    def on_save(name: str, value: float, request: gr.Request) -> dict:
        try:
            return {note: save_settings(ctx, ctx.access.user_of(request), name, int(value or 1))}
        except ActionError as err:
            return {note: f"❌ {err}"}

    app.load(load, None, [backend, limit, save, note], api_visibility="private")
    save.click(on_save, [backend, limit], [note], api_visibility="private")
