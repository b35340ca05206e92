"""The Profiles tab: every profile found (shipped, user folder, workspace) with its description and its TOML.

A TOML dropped into a profile folder appears after "Refresh", here and in the Train tab's dropdown.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from autotrain_gradio.profiles import ProfileError, get_profile, list_profiles


def profiles_frame(root: Path) -> pd.DataFrame:
    """name, task, min images, base model, description, file: one row per profile."""
    rows = [[p.name, p.task, p.min_images, p.config.get("base_model", ""), p.description, str(p.path)]
            for p in sorted(list_profiles(root).values(), key=lambda p: p.name)]
    return pd.DataFrame(rows, columns=["name", "task", "min images", "base model", "description", "file"])


def profile_detail(root: Path, name: str | None) -> tuple[str, str]:
    """(markdown header, TOML text) of one profile."""
    if not name:
        return "Select a profile.", ""
    try:
        prof = get_profile(name, root)
    except ProfileError as err:
        return f"❌ {err}", ""
    header = f"### {prof.name} ({prof.task})\n\n{prof.description}\n\n`{prof.path}`"
    return header, prof.path.read_text(encoding="utf-8")


def build(root: Path, app: gr.Blocks) -> None:
    """Render the Profiles tab's contents in the current Blocks context."""
    frame = profiles_frame(root)
    names = list(frame["name"])
    with gr.Row():
        choice = gr.Dropdown(choices=names, value=names[0] if names else None, label="Profile",
                             elem_id="profiles-choice", scale=4)
        refresh = gr.Button("↻ Refresh", scale=1, elem_id="profiles-tab-refresh")
    table = gr.Dataframe(frame, interactive=False, label="Profiles", wrap=True, elem_id="profiles-table")
    header, text = profile_detail(root, names[0] if names else None)
    detail = gr.Markdown(header, elem_id="profile-detail")
    toml = gr.Code(text, language=None, label="TOML", interactive=False, elem_id="profile-toml")

    def on_refresh(current: str | None):
        frame = profiles_frame(root)
        names = list(frame["name"])
        return frame, gr.Dropdown(choices=names, value=current if current in names else (names or [None])[0])

    choice.change(lambda n: profile_detail(root, n), choice, [detail, toml], api_visibility="private")
    refresh.click(on_refresh, choice, [table, choice], api_visibility="private")
    app.load(on_refresh, choice, [table, choice], api_visibility="private")
