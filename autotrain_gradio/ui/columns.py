"""The Train tab's table panel: a table dataset's first rows, and one dropdown per column-mapping key of the chosen
task (its config fields ending in `_column` / `_columns`, AutoTrain's key names), filled from the table's columns.

The mapping is handed to the pipeline as the RunRequest's `column_mapping`, the same as `--column-mapping` on the
command line; the settings form leaves these fields out, so each is declared and shown once. Reading uses the
tasks' own torch-free table reader, after the same path rules as Validate (a visitor previews only what they may
train on); Hub datasets are not fetched for a preview.
"""

from __future__ import annotations

import difflib
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
from autotrain_gradio.ui.uploads import TABLE_SUFFIXES

PREVIEW_ROWS = 5


def column_keys(task: str) -> list[str]:
    """The column-mapping keys a task takes."""
    return TASKS[task].column_keys


# What people call AutoTrain's mapping keys' columns, best first: the guess tries these, then the closest name.
SYNONYMS = {
    "text_column": ["text", "review", "sentence", "content", "comment", "body", "document", "prompt", "input"],
    "target_column": ["target", "label", "labels", "sentiment", "class", "category", "stars", "rating", "score", "y"],
    "tokens_column": ["tokens", "words"], "tags_column": ["tags", "ner_tags", "labels"],
    "question_column": ["question", "query"], "answer_column": ["answer", "answers"],
    "prompt_text_column": ["prompt", "instruction"], "rejected_text_column": ["rejected"],
    "image_column": ["image", "image_path", "file_name", "path", "img"], "objects_column": ["objects"],
    "id_column": ["id"], "sentence1_column": ["sentence1", "anchor"], "sentence2_column": ["sentence2", "positive"],
    "sentence3_column": ["sentence3", "negative"],
}


def table_file(path: Path) -> Path | None:
    """The table to read at `path`: a table file, a folder's train file, or a folder's only table file."""
    if is_table_source(path):
        return path
    if path.is_dir():
        tables = [p for p in path.iterdir() if p.suffix.lower() in TABLE_SUFFIXES and not p.name.startswith(".")]
        return tables[0] if len(tables) == 1 else None
    return None


def preview(ctx: AppContext, user: User | None, path: str) -> tuple[pd.DataFrame | None, list[str], str]:
    """(first rows, columns, message) of a local table dataset (a table file of any name, or a folder holding one);
    (None, [], '') for anything that is not one."""
    path = (path or "").strip()
    if not path or user is None or ctx.path_error(user, path) is not None:
        return None, [], ""
    local = Path(path).expanduser()
    source = table_file(local) if local.exists() else None
    if source is None:
        return None, [], ""
    try:
        table = read_table(source).train
    except DataError as err:
        return None, [], f"❌ {err}"
    rows = pd.DataFrame(table.rows[:PREVIEW_ROWS], columns=table.columns).astype(str)
    return rows, list(table.columns), f"{len(table)} rows, columns: {', '.join(table.columns)}"


def guess_column(key: str, default: Any, columns: list[str], taken: set[str]) -> tuple[Any, bool]:
    """(column, guessed) for one mapping key: the profile's column when the table has it, else a column named like
    AutoTrain's key (SYNONYMS, then the closest name), else the profile's value unchanged."""
    if not columns:
        return default, False
    wanted = default if isinstance(default, list) else [default]
    if all(w in columns for w in wanted if w):
        return default, False
    if key.endswith("_columns"):
        return default, False
    free = [c for c in columns if c not in taken]
    lower = {c.lower(): c for c in free}
    for name in [str(default or "").lower(), *SYNONYMS.get(key, [])]:
        if name in lower:
            return lower[name], True
    stem = key.removesuffix("_column")
    close = difflib.get_close_matches(stem, list(lower), n=1, cutoff=0.6)
    return (lower[close[0]], True) if close else (default, False)


@dataclass
class ColumnPanel:
    """The static part: the table's first rows and a note (the dropdowns are rendered with the form)."""

    box: gr.Accordion
    rows: gr.Dataframe
    note: gr.Markdown


def build(chosen_task: str) -> ColumnPanel:
    """Render the preview in the current Blocks context (hidden unless the task takes a table)."""
    with gr.Accordion("Table: first rows and column mapping", open=True, elem_id="columns",
                      visible=bool(column_keys(chosen_task))) as box:
        note = gr.Markdown("", elem_id="table-note")
        rows = gr.Dataframe(pd.DataFrame(), interactive=False, label="First rows", elem_id="table-preview",
                            max_height=220)
    return ColumnPanel(box, rows, note)


def mapping_choices(task: str, cfg: RunConfig, columns: list[str]) -> dict[str, tuple[Any, str]]:
    """key -> (preselected column, info line) for each mapping key of `task`: the profile's column, or a guess by
    name that says it guessed."""
    taken: set[str] = set()
    out = {}
    for name in column_keys(task):
        value, guessed = guess_column(name, getattr(cfg, name), columns, taken)
        taken.update(value if isinstance(value, list) else [value])
        out[name] = (value, f"{name}: guessed “{value}” from the column names; check it" if guessed else name)
    return out


def build_dropdowns(task: str, cfg: RunConfig, columns: list[str], key: tuple) -> dict[str, gr.Dropdown]:
    """One dropdown per mapping key of `task` (inside a @gr.render), offering the table's columns and preselecting
    the profile's column or a guess by name, with a note saying it guessed."""
    choices = mapping_choices(task, cfg, columns)
    if not choices:
        return {}
    fields = TASKS[task].config.model_fields
    dropdowns: dict[str, gr.Dropdown] = {}
    with gr.Row():
        for name, (value, info) in choices.items():
            dropdowns[name] = gr.Dropdown(
                choices=columns, value=value, label=fields[name].title or name, info=info, allow_custom_value=True,
                interactive=True, multiselect=name.endswith("_columns"), elem_id=f"{task}-{name}",
                key=(*key, name), preserved_by_key=None)
    return dropdowns


def mapping(dropdowns: dict[str, gr.Dropdown], data: dict) -> dict[str, Any]:
    """The chosen task's mapping from its dropdowns' values (empty ones left to the profile)."""
    out = {}
    for key, dropdown in dropdowns.items():
        value = data[dropdown]
        if value:
            out[key] = list(value) if key.endswith("_columns") else value
    return out
