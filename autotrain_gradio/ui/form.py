"""The settings form, generated from the config models: one component per field, so a parameter is declared once.

Title -> label, description -> info, ge/gt/le/lt -> gr.Number minimum/maximum, Literal -> Dropdown, bool -> Checkbox,
list[str] -> a Textbox with one entry per line, list[Literal] -> CheckboxGroup. The form shows the chosen profile's
values; only the fields a user changed become overrides, so everything the pipeline computes (trigger word, sample
prompts, paths) stays computed.
"""

from __future__ import annotations

import typing
from typing import Any

import annotated_types as at
import gradio as gr
from pydantic.fields import FieldInfo

from autotrain_gradio.config import RunConfig
from autotrain_gradio.tasks import MODELS, TASKS

# Set by the pipeline for each run, never by hand.
COMPUTED = ("name", "data_dir", "output_dir", "task")
GROUP_TITLES = {"RunConfig": "Run", "CommonConfig": "Training", "AdapterConfig": "LoRA / quantization",
                "LanguageModelConfig": "Memory", "DiffusionConfig": "Diffusion", "DiffusionLoraConfig": "LoRA",
                "DiffusionFullConfig": "Full fine-tune", "TrainerConfig": "Evaluation"}


def form_fields(task: str) -> dict[str, FieldInfo]:
    """The fields of a task's config that the form shows, in declaration order. The column mapping (`*_column(s)`)
    has its own panel (ui/columns.py), filled from the table's columns."""
    return {k: f for k, f in MODELS[task].model_fields.items()
            if k not in COMPUTED and not k.endswith(("_column", "_columns"))}


def field_groups(task: str) -> list[tuple[str, list[str]]]:
    """Fields grouped by the config class that declares them (common, diffusion, task-specific), for accordions."""
    shown = form_fields(task)
    groups = []
    for cls in reversed(MODELS[task].__mro__):
        if not (isinstance(cls, type) and issubclass(cls, RunConfig)):
            continue
        own = [k for k in cls.__dict__.get("__annotations__", {}) if k in shown]
        if own:
            groups.append((GROUP_TITLES.get(cls.__name__, TASKS[task].title), own))  # a task's own: its title
    return groups


def _bounds(field: FieldInfo) -> tuple[float | None, float | None]:
    low = high = None
    for meta in field.metadata:
        if isinstance(meta, at.Ge | at.Gt):
            low = meta.ge if isinstance(meta, at.Ge) else meta.gt
        elif isinstance(meta, at.Le | at.Lt):
            high = meta.le if isinstance(meta, at.Le) else meta.lt
    return low, high


def _kind(field: FieldInfo) -> tuple[str, tuple[Any, ...]]:
    """('bool'|'int'|'float'|'str'|'choice'|'lines'|'choices', literal values) for a field's annotation."""
    ann = field.annotation
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Literal:
        return "choice", args
    if origin is list:
        inner = args[0] if args else str
        if typing.get_origin(inner) is typing.Literal:
            return "choices", typing.get_args(inner)
        return "lines", ()
    return {bool: "bool", int: "int", float: "float"}.get(ann, "str"), ()


def field_component(key: str, field: FieldInfo, value: Any = None, elem_id: str | None = None,
                    render_key: Any = None) -> gr.components.Component:
    """The input component for one config field, labelled from its title and description. `render_key` keeps a
    value the user typed across re-renders of a @gr.render form (Gradio keeps the values of keyed components)."""
    kind, choices = _kind(field)
    value = field.default if value is None else value
    # Rendered forms say interactive themselves: no static event wiring marks their components as inputs.
    common = {"label": field.title or key, "info": field.description, "elem_id": elem_id, "key": render_key,
              "interactive": True if render_key is not None else None, "min_width": 260}
    if kind == "bool":
        return gr.Checkbox(value=bool(value), **common)
    if kind == "choice":
        return gr.Dropdown(choices=list(choices), value=value, **common)
    if kind == "choices":
        return gr.CheckboxGroup(choices=list(choices), value=list(value), **common)
    if kind == "lines":
        return gr.Textbox(value=to_ui(field, value), lines=2, placeholder="one per line", **common)
    if kind in ("int", "float"):
        low, high = _bounds(field)
        return gr.Number(value=value, minimum=low, maximum=high, precision=0 if kind == "int" else None,
                         step=1 if kind == "int" else 0.0001, **common)
    return gr.Textbox(value=value, **common)


def to_ui(field: FieldInfo, value: Any) -> Any:
    """A config value as its component shows it."""
    return "\n".join(value) if _kind(field)[0] == "lines" else value


def from_ui(field: FieldInfo, value: Any) -> Any:
    """A component's value as the config takes it (lines -> list, whole floats of int fields -> int)."""
    kind = _kind(field)[0]
    if kind == "lines":
        return [line.strip() for line in (value or "").splitlines() if line.strip()]
    if kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def build_form(task: str, cfg: RunConfig | None = None, key: Any = None) -> dict[str, gr.components.Component]:
    """Render the form for a task inside the current Blocks context, one accordion per group (the first two,
    the run and the training settings, open). Returns key ->
    component. `cfg` gives the starting values (else the model defaults); `key` (inside a @gr.render) names this
    form, so a re-render with the same key keeps what the user typed."""
    fields = form_fields(task)
    components: dict[str, gr.components.Component] = {}
    for i, (title, keys) in enumerate(field_groups(task)):
        with gr.Accordion(title, open=i < 2, elem_id=f"{task}-{title.lower().replace(' ', '-')}",
                          key=None if key is None else (*key, "group", title), preserved_by_key=["open"]):
            with gr.Row():  # one wrapping row per group: fields flow three or so a line, no block per line
                for name in keys:
                    value = getattr(cfg, name) if cfg is not None else None
                    components[name] = field_component(
                        name, fields[name], value, elem_id=f"{task}-{name}",
                        render_key=None if key is None else (*key, name))
    return components


def form_values(task: str, cfg: RunConfig) -> dict[str, Any]:
    """key -> value as the form shows it, for filling the form from a profile."""
    return {k: to_ui(f, getattr(cfg, k)) for k, f in form_fields(task).items()}


def replaced_edits(task: str, values: dict[str, Any], old: RunConfig, new: RunConfig) -> list[str]:
    """'Title: typed → new value' for each value the user had changed from the old profile, which a newly chosen
    profile replaces (every field: the form is rebuilt from the new profile)."""
    fields = form_fields(task)
    out = []
    for key, raw in values.items():
        if raw is None or key not in fields or from_ui(fields[key], raw) == getattr(old, key):
            continue
        after = to_ui(fields[key], getattr(new, key)) if key in type(new).model_fields else "(not in this task)"
        out.append(f"{fields[key].title or key}: {raw} → {after}")
    return out


def overrides_from_form(task: str, values: dict[str, Any], base: RunConfig) -> dict[str, Any]:
    """The settings a user changed: every form value that differs from the profile's value. An emptied number
    field means 'keep the profile's value'. Validation is left to the config model (errors shown verbatim)."""
    fields = form_fields(task)
    out: dict[str, Any] = {}
    for key, raw in values.items():
        if raw is None:
            continue
        value = from_ui(fields[key], raw)
        if value != getattr(base, key):
            out[key] = value
    return out
