"""The Profiles tab: every profile the caller may use (shipped, user folder, workspace, and in a shared app their own
saved ones) with its description and its TOML.

A TOML dropped into a profile folder appears after "Refresh", here and in the Train tab's dropdown. In a shared app
no server path is shown: a profile's place is "shipped", "this app" or "yours".
"""

from __future__ import annotations

import gradio as gr
import pandas as pd

from autotrain_gradio.auth import User
from autotrain_gradio.profiles import SHIPPED_DIR, Profile, ProfileError
from autotrain_gradio.tasks import missing_install
from autotrain_gradio.ui.actions import AppContext


def _where(ctx: AppContext, user: User | None, prof: Profile) -> str:
    """Where a profile lives: its file in the open local app; a word in a shared one."""
    if not ctx.access.shared:
        return str(prof.path)
    if prof.path.parent == ctx.own_profiles_dir(user):
        return "yours"
    return "shipped" if SHIPPED_DIR in prof.path.parents else "this app"


def profiles_frame(ctx: AppContext, user: User | None) -> pd.DataFrame:
    """name, task, min images, base model, description, file, installed (yes, or the pip command that adds the
    task's libraries): one row per profile."""
    rows = [[p.name, p.task, p.min_images, p.config.get("base_model", ""), p.description, _where(ctx, user, p),
             missing_install(p.task) or "yes"]
            for p in sorted(ctx.profiles(user).values(), key=lambda p: p.name)]
    return pd.DataFrame(rows, columns=["name", "task", "min images", "base model", "description", "file",
                                       "installed"])


def profile_detail(ctx: AppContext, user: User | None, name: str | None) -> tuple[str, str]:
    """(markdown header, TOML text) of one profile."""
    if not name:
        return "Select a profile.", ""
    try:
        prof = ctx.profile(user, name)
    except ProfileError as err:
        return f"❌ {err}", ""
    header = f"### {prof.name} ({prof.task})\n\n{prof.description}\n\n`{_where(ctx, user, prof)}`"
    return header, prof.path.read_text(encoding="utf-8")


def build(ctx: AppContext, app: gr.Blocks) -> None:
    """Render the Profiles tab's contents in the current Blocks context."""
    first = None if ctx.access.shared else User("")  # a shared app's page starts with the shared profiles only
    frame = profiles_frame(ctx, first)
    names = list(frame["name"])
    with gr.Row():
        choice = gr.Dropdown(choices=names, value=names[0] if names else None, label="Profile",
                             elem_id="profiles-choice", scale=4)
        refresh = gr.Button("↻ Refresh", scale=1, elem_id="profiles-tab-refresh")
    table = gr.Dataframe(frame, interactive=False, label="Profiles", wrap=True, elem_id="profiles-table")
    header, text = profile_detail(ctx, first, names[0] if names else None)
    detail = gr.Markdown(header, elem_id="profile-detail")
    toml = gr.Code(text, language=None, label="TOML", interactive=False, elem_id="profile-toml")

    def on_refresh(current: str | None, request: gr.Request):
        user = ctx.access.user_of(request)
        frame = profiles_frame(ctx, user)
        names = list(frame["name"])
        return frame, gr.Dropdown(choices=names, value=current if current in names else (names or [None])[0])

    def on_choice(name: str | None, request: gr.Request):
        return profile_detail(ctx, ctx.access.user_of(request), name)

    choice.change(on_choice, choice, [detail, toml], api_visibility="private")
    refresh.click(on_refresh, choice, [table, choice], api_visibility="private")
    app.load(on_refresh, choice, [table, choice], api_visibility="private")
