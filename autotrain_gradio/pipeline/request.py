"""`RunRequest`: the pipeline's request options, declared once.

The CLI flags of `autotrain pipeline run|batch|prepare` are generated from these fields, a `--config request.toml`
file is validated by the same model (training settings under `[config]`, column mapping under `[column_mapping]`),
the app builds one from its form, and `run_pipeline(request)` takes one. Cross-field rules are model validators, so
`--dry-run` and the app's Validate catch them before anything is written. Imports nothing heavy.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from autotrain_gradio.config import ConfigError, read_toml
from autotrain_gradio.tasks import parse_override
from autotrain_gradio.tasks.formats import DataError, parse_column_mapping

MODES = ("run", "prepare")


def _opt(default: Any, help_text: str, *, flag: bool = True, batch: bool | None = None, **extra: Any) -> Any:
    """A request field. `flag`: the CLI offers it as --name; `batch`: True = batch only, False = single only."""
    return Field(default, description=help_text, json_schema_extra={"flag": flag, "batch": batch}, **extra)


class RunRequest(BaseModel):
    """One pipeline request: what to train on, with which profile, and how to run it."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    dataset_path: str = _opt("", "images folder / .zip, a table file (CSV, TSV, JSON, JSONL, Parquet), a folder "
                             "with train/valid files, a save_to_disk folder, or a Hub dataset id", batch=False)
    datasets_dir: str = _opt("", "folder with one sub-folder (or table file) per dataset", batch=True)
    dataset_paths: list[str] = _opt([], 'datasets, comma-separated: "a,b,c"', batch=True)
    profile: str = _opt("", "training profile (see `autotrain profiles`)")
    dataset_name: str = _opt("", "name for input/<name> and output/<name> (default: from the dataset path)",
                             batch=False)
    min_images: int = _opt(1, "refuse datasets with fewer images (or table rows)", ge=1)
    gpu_ids: str = _opt("", 'GPUs to use, e.g. "0,1" (default: free GPUs)')
    max_concurrent: int = _opt(1, "jobs of this queue running at once", ge=1, le=64)
    column_mapping: dict[str, Any] = _opt({}, "table columns, AutoTrain's keys: "
                                          "text_column=review,target_column=label (a list: target_columns=a|b)")
    train_split: str = _opt("train", "split to train on (Hub / save_to_disk datasets)")
    valid_split: str = _opt("", "split to validate on (Hub / save_to_disk datasets; default: a seeded hold-out)")
    monitor: bool = _opt(False, "follow training progress live")
    skip_copy: bool = _opt(False, "reuse input/<name> if it exists")
    force: bool = _opt(False, "replace what an earlier run wrote")
    dry_run: bool = _opt(False, "validate and print the plan; write nothing")
    immediate: bool = _opt(False, "train in the foreground, no queue")
    mode: Literal["run", "prepare"] = _opt("run", "run all phases, or stop after configure", flag=False)
    workspace: str = _opt("", "workspace folder (default $AUTOTRAIN_WORKSPACE or .)", flag=False)
    overrides: dict[str, Any] = _opt({}, "training settings over the profile (--set key=value)", flag=False)
    config: dict[str, Any] = _opt({}, "training settings from a --config file's [config] table", flag=False)

    @field_validator("dataset_paths", mode="before")
    @classmethod
    def _split_paths(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("gpu_ids", mode="before")
    @classmethod
    def _gpu_text(cls, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, list | tuple):
            return ",".join(str(v) for v in value)
        return str(value) if isinstance(value, int) else value

    @field_validator("column_mapping", mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        try:
            return parse_column_mapping(value)
        except DataError as err:
            raise ValueError(str(err)) from None

    @field_validator("overrides", mode="before")
    @classmethod
    def _sets(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return dict(parse_override(item) for item in value)
        return value or {}

    @model_validator(mode="after")
    def _rules(self) -> RunRequest:
        if self.dry_run and self.immediate:
            raise ValueError("dry_run and immediate together: a dry run writes nothing and trains nothing; drop one")
        if self.skip_copy and self.force and not self.dataset_path and not (self.datasets_dir or self.dataset_paths):
            raise ValueError("skip_copy and force need a dataset")
        if self.valid_split and self.valid_split == self.train_split:
            raise ValueError(f"valid_split and train_split are both '{self.train_split}': validating on the "
                             "training rows measures nothing; pick another split or leave valid_split empty")
        return self

    @property
    def layers(self) -> tuple[dict[str, Any], ...]:
        """Config layers over the profile: the --config file's [config], the column mapping, then --set."""
        return (self.config, self.column_mapping, self.overrides)


REQUEST_FILE_KEYS = set(RunRequest.model_fields) - {"workspace", "overrides"}


def explain(err: ValidationError) -> str:
    """A pydantic error as one line per problem, naming the option."""
    parts = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{key}: {msg}" if key else msg)
    return "; ".join(parts)


def make_request(**options: Any) -> RunRequest:
    """A RunRequest from keyword options (None means 'not given'); raises ConfigError with one line."""
    try:
        return RunRequest(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as err:
        raise ConfigError(explain(err)) from None


def request_from_file(path: str, **flags: Any) -> RunRequest:
    """A --config request file, with CLI flags (not None) over its values."""
    data = read_toml(path, "--config", REQUEST_FILE_KEYS)
    data.update({k: v for k, v in flags.items() if v is not None})
    return make_request(**data)
