"""AutoTrain Advanced's YAML config -> our `RunRequest`.

AutoTrain's schema: `task`, `base_model`, `project_name`, `log`, `backend`, `data: {path, train_split, valid_split,
chat_template, column_mapping}`, `params: {...}` (its parameter names: our fields' aliases) and `hub: {username,
token, push_to_hub}`. `${VAR}` in any text is the environment variable VAR, as AutoTrain reads its hub keys. Every
key is either mapped or named in one line (never dropped silently). The token never enters the request: it is
returned apart, for the submitting process's environment (the job's secrets).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autotrain_gradio.compat.tasks import DEFAULTS, profile_for, resolve_task
from autotrain_gradio.config import AUTOTRAIN_VALUES, ConfigError, autotrain_names
from autotrain_gradio.pipeline.request import RunRequest, make_request
from autotrain_gradio.tasks import MODELS, get_task

TOP_KEYS = {"task", "base_model", "project_name", "log", "backend", "data", "params", "hub"}
DATA_KEYS = {"path", "train_split", "valid_split", "chat_template", "column_mapping"}
HUB_KEYS = {"username", "token", "push_to_hub"}
LOCAL_BACKENDS = ("local", "local-cli", "local-ui")
_ENV = re.compile(r"\$\{(\w+)\}")


@dataclass
class AutoTrainRun:
    """What an AutoTrain config asks for: the request, the Hub token (for the environment only), and notes on how
    AutoTrain's choices were read (e.g. its Spaces backend as a Hugging Face Job)."""

    request: RunRequest
    token: str | None = None
    notes: list[str] = field(default_factory=list)


def is_yaml(path: str | Path) -> bool:
    return Path(str(path)).suffix.lower() in (".yml", ".yaml")


def substitute(value: Any, env: dict[str, str]) -> Any:
    """`${VAR}` -> env[VAR] in every text; a text that is only `${VAR}` of an unset variable becomes None."""
    if isinstance(value, str):
        whole = _ENV.fullmatch(value.strip())
        if whole:
            return env.get(whole.group(1))
        return _ENV.sub(lambda m: env.get(m.group(1), ""), value)
    if isinstance(value, dict):
        return {k: substitute(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, env) for v in value]
    return value


def read_yaml(path: str | Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The YAML file as a dict with `${VAR}` substituted; one line for a missing file or bad YAML."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: file not found") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"--config {path}: not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigError(f"--config {path}: cannot read it as YAML{line}: {getattr(err, 'problem', err)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected AutoTrain's mapping (task, base_model, data, params, ...), "
                          f"got {type(data).__name__}")
    return substitute(data, dict(os.environ) if env is None else env)


def _only(section: str, value: Any, known: set[str], path: Path) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"--config {path}: '{section}' must be a mapping, got {type(value).__name__}")
    for key in value:
        if key not in known:
            raise ConfigError(f"--config {path}: key '{section + '.' if section else ''}{key}' is not implemented "
                              f"here; remove it (known: {', '.join(sorted(known))})")
    return value


def backend_options(backend: str | None, notes: list[str]) -> dict[str, Any]:
    """AutoTrain's backend / hardware name -> our backend options: local ones run here, `spaces-<flavor>` runs as a
    Hugging Face Job on that flavor; anything else is refused in one line."""
    if not backend or backend in LOCAL_BACKENDS:
        return {}
    if backend.startswith("spaces-"):
        flavor = backend.removeprefix("spaces-")
        notes.append(f"backend {backend}: runs as a Hugging Face Job on {flavor} (hf-jobs); use backend: local to "
                     "train here")
        return {"backend": "hf-jobs", "hf_flavor": flavor}
    raise ConfigError(f"backend {backend}: AutoTrain's {backend.split('-')[0]} backend does not exist here; use "
                      "local, spaces-<flavor> (a Hugging Face Job on that hardware) or --backend ray")


def _settings(task: str, params: dict[str, Any]) -> dict[str, Any]:
    """AutoTrain's params as settings: `null` is AutoTrain's default (dropped) unless it means a value of ours
    (quantization: null -> none); tabular's `task` is our tabular_task."""
    names = autotrain_names(MODELS[task])
    out = {}
    for key, value in params.items():
        if task == "tabular" and key == "task":
            key = "tabular_task"
        if value is None:
            table = AUTOTRAIN_VALUES.get(names.get(key, key), {})
            if None not in table:
                continue
            value = table[None]
        out[key] = value
    return out


def from_autotrain(data: dict[str, Any], path: str | Path = "config.yml", **flags: Any) -> AutoTrainRun:
    """AutoTrain's parsed config -> AutoTrainRun; `flags` (RunRequest options, None = not given) win over it."""
    path = Path(path)
    _only("", data, TOP_KEYS, path)
    if not data.get("task"):
        raise ConfigError(f"--config {path}: 'task' is required (e.g. llm-sft, text_classification, st:pair)")
    task, preset = resolve_task(data["task"])
    source = _only("data", data.get("data"), DATA_KEYS, path)
    hub = _only("hub", data.get("hub"), HUB_KEYS, path)
    params = _only("params", data.get("params"), set(MODELS[task].model_fields) | set(autotrain_names(
        MODELS[task])) | {"username", "token", "unsloth", "disable_gradient_checkpointing", "task", "data_path",
                          "project_name", "train_split", "valid_split"}, path)
    notes: list[str] = []
    settings: dict[str, Any] = {**DEFAULTS.get(task, {}), **preset}
    if data.get("base_model"):
        settings["base_model"] = data["base_model"]
    if "log" in data:
        settings["log"] = data["log"] or "none"
    if "chat_template" in source:
        settings["chat_template"] = source["chat_template"]
    settings.update(_settings(task, params))
    if hub.get("username"):
        settings["username"] = hub["username"]
    if "push_to_hub" in hub:
        settings["push_to_hub"] = bool(hub["push_to_hub"])
    token = settings.pop("token", None) or hub.get("token") or None
    mapping = source.get("column_mapping") or {}
    if mapping and not get_task(task).column_keys:  # class folders: the folder names are the labels
        notes.append(f"column_mapping {', '.join(f'{k}={v}' for k, v in mapping.items())}: {task} reads class "
                     "folders (train_split/<label>/...), whose names are the labels; the mapping is not used")
        mapping = {}
    options: dict[str, Any] = {
        "profile": profile_for(task, {k: settings[k] for k in ("trainer", "tabular_task") if k in settings},
                               flags.get("workspace") or None),
        "dataset_path": str(source["path"]) if source.get("path") is not None else None,
        "dataset_name": data.get("project_name"),
        "train_split": source.get("train_split") or None,
        "valid_split": source.get("valid_split") or None,
        "column_mapping": mapping,
        "config": _settings(task, settings),
        **backend_options(data.get("backend"), notes),
    }
    options.update({k: v for k, v in flags.items() if v is not None})
    return AutoTrainRun(make_request(**options), token=token, notes=notes)


def request_from_yaml(path: str | Path, **flags: Any) -> AutoTrainRun:
    """`--config FILE.yml`: AutoTrain's YAML with `flags` over it."""
    return from_autotrain(read_yaml(path), path, **flags)
