"""The Train tab's table panel: a table dataset's first rows, and one dropdown per column-mapping key of the chosen
task (its config fields ending in `_column` / `_columns`, AutoTrain's key names), filled from the table's columns.

The mapping is handed to the pipeline as the RunRequest's `column_mapping`, the same as `--column-mapping` on the
command line; the settings form leaves these fields out, so each is declared and shown once. Reading uses the
tasks' own torch-free table reader, after the same path rules as Validate (a visitor previews only what they may
train on); Hub datasets are not fetched for a preview.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from autotrain_gradio.auth import User
from autotrain_gradio.config import RunConfig
from autotrain_gradio.tasks import TASKS
from autotrain_gradio.tasks.formats import DataError, is_table_source, read_table
from autotrain_gradio.ui.actions import AppContext

PREVIEW_ROWS = 5


def column_keys(task: str) -> list[str]:
    """The column-mapping keys a task takes."""
    return TASKS[task].column_keys


def preview(ctx: AppContext, user: User | None, path: str) -> tuple[pd.DataFrame | None, list[str], str]:
    """(first rows, columns, message) of a local table dataset; (None, [], '') for anything that is not one."""
    path = (path or "").strip()
    if not path or user is None or ctx.path_error(user, path) is not None:
        return None, [], ""
    local = Path(path).expanduser()
    if not local.exists() or not is_table_source(local):
        return None, [], ""
    try:
        table = read_table(local).train
    except DataError as err:
        return None, [], f"❌ {err}"
    rows = pd.DataFrame(table.rows[:PREVIEW_ROWS], columns=table.columns).astype(str)
    return rows, list(table.columns), f"{len(table)} rows, columns: {', '.join(table.columns)}"


@dataclass
class ColumnPanel:
    """What the Train tab wires: the preview, and per task a group of mapping dropdowns."""

    box: gr.Group
    rows: gr.Dataframe
    note: gr.Markdown
    groups: dict[str, gr.Group]
    dropdowns: dict[str, dict[str, gr.Dropdown]]

    def mapping(self, task: str, data: dict) -> dict[str, Any]:
        """The chosen task's mapping from the dropdowns' values (empty ones left to the profile)."""
        out = {}
        for key, dropdown in self.dropdowns.get(task, {}).items():
            value = data[dropdown]
            if value:
                out[key] = list(value) if key.endswith("_columns") else value
        return out

    def for_profile(self, task: str, cfg: RunConfig) -> dict:
        """Updates when a profile is chosen: its task's group shown, with the profile's column names."""
        updates: dict = {group: gr.Group(visible=t == task) for t, group in self.groups.items()}
        updates[self.box] = gr.Accordion(visible=bool(column_keys(task)))
        updates.update({dd: getattr(cfg, key) for key, dd in self.dropdowns.get(task, {}).items()})
        return updates

    @property
    def components(self) -> list:
        """Every component the panel's updates touch."""
        return [self.box, *self.groups.values(), *self.all_dropdowns]

    @property
    def all_dropdowns(self) -> list[gr.Dropdown]:
        return [dd for group in self.dropdowns.values() for dd in group.values()]

    def for_table(self, columns: list[str]) -> dict:
        """Updates when a table was read: every dropdown offers its columns, keeping a value that is one."""
        return {dd: gr.Dropdown(choices=columns) for group in self.dropdowns.values() for dd in group.values()}


def build(chosen_task: str, cfg: RunConfig | None) -> ColumnPanel:
    """Render the panel in the current Blocks context (hidden until a task with a column mapping is chosen)."""
    groups: dict[str, gr.Group] = {}
    dropdowns: dict[str, dict[str, gr.Dropdown]] = {}
    with gr.Accordion("Table: first rows and column mapping", open=True, elem_id="columns",
                      visible=bool(column_keys(chosen_task))) as box:
        note = gr.Markdown("", elem_id="table-note")
        rows = gr.Dataframe(pd.DataFrame(), interactive=False, label="First rows", elem_id="table-preview",
                            max_height=220)
        for task in TASKS:
            keys = column_keys(task)
            if not keys:
                continue
            fields = TASKS[task].config.model_fields
            with gr.Group(visible=task == chosen_task) as groups[task], gr.Row():
                dropdowns[task] = {}
                for key in keys:
                    value = getattr(cfg, key) if cfg is not None and task == chosen_task else fields[key].default
                    dropdowns[task][key] = gr.Dropdown(
                        choices=[], value=value, label=fields[key].title or key, info=key, allow_custom_value=True,
                        multiselect=key.endswith("_columns"), elem_id=f"{task}-{key}")
    return ColumnPanel(box, rows, note, groups, dropdowns)
