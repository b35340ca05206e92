"""Space mode asks a visitor to sign in before anything else: until they have, the page shows what this Space is and
the "Sign in with Hugging Face" button, and the tabs stay hidden (nothing to upload into, nothing to refuse). The
rules themselves stay in auth.py and every handler: hiding the tabs is the courtesy, not the guard."""

from __future__ import annotations

import gradio as gr

from autotrain_gradio.ui.actions import AppContext

GATE_TEXT = ("### Sign in to start\nThis Space trains models on data you upload: LoRAs from photos, classifiers, LLMs "
             "and more from tables. Sign in with your Hugging Face account first: your uploads, runs and jobs are "
             "yours only, and a run pushes to your own account.")


def gate(ctx: AppContext) -> gr.Column | None:
    """In Space mode, the sign-in panel (shown until the visitor signs in); None in the other modes."""
    if ctx.access.mode != "space":
        return None
    with gr.Column(elem_id="signin-gate") as panel:
        gr.Markdown(GATE_TEXT)
        gr.LoginButton(elem_id="signin-gate-login", scale=0, min_width=260)
    return panel


def follow(app: gr.Blocks, ctx: AppContext, panel: gr.Column | None, tabs: gr.Tabs) -> None:
    """On each page load: a signed-in visitor gets the tabs, anyone else the sign-in panel."""
    if panel is None:
        return

    def show(request: gr.Request) -> tuple[gr.Column, gr.Tabs]:
        signed_in = ctx.access.user_of(request) is not None
        return gr.Column(visible=not signed_in), gr.Tabs(visible=signed_in)

    app.load(show, None, [panel, tabs], api_visibility="private")
