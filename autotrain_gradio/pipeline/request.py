"""`RunRequest`: the pipeline's request options, declared once.

The CLI flags of `autotrain pipeline run|batch|prepare` are generated from these fields, a `--config request.toml`
file is validated by the same model (training settings under `[config]`, column mapping under `[column_mapping]`),
the app builds one from its form, and `run_pipeline(request)` takes one. Cross-field rules are model validators, so
`--dry-run` and the app's Validate catch them before anything is written. Imports nothing heavy.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from autotrain_gradio.config import ConfigError, read_toml
from autotrain_gradio.tasks import parse_override
from autotrain_gradio.tasks.formats import DataError, parse_column_mapping

MODES = ("run", "prepare")
M = TypeVar("M", bound=BaseModel)
# AutoTrain parameter -> the request option it is (a valid_split that is a number stays the hold-out fraction)
LIFTED = {"project_name": "dataset_name", "data_path": "dataset_path", "train_split": "train_split",
          "valid_split": "valid_split", "num_nodes": "num_nodes"}


def _opt(default: Any, help_text: str, *, flag: bool = True, batch: bool | None = None, **extra: Any) -> Any:
    """A request field. `flag`: the CLI offers it as --name; `batch`: True = batch only, False = single only."""
    return Field(default, description=help_text, json_schema_extra={"flag": flag, "batch": batch}, **extra)


class QueueOptions(BaseModel):
    """How a configured run is trained: where, on which GPUs, how many at once, in the foreground or queued. Shared
    by `RunRequest` (`pipeline run`) and `StartRequest` (`train start`), so both take the same flags and rules."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_by_name=True, validate_by_alias=True)

    gpu_ids: str = _opt("", 'GPUs to use, e.g. "0,1" (default: free GPUs)')
    max_concurrent: int | None = _opt(None, "jobs of this backend's queue running at once; a setting of the queue "
                                      "that stays until changed (default: as it is, 1 at first)", ge=1, le=64)
    backend: Literal["local", "ray", "hf-jobs"] = _opt(
        "local", "where the job runs: local (processes here), ray (a Ray cluster, Job Submission API), hf-jobs "
        "(Hugging Face Jobs)")
    ray_address: str = _opt("", "the Ray cluster's dashboard address, e.g. http://HOST:8265 (default: RAY_ADDRESS)")
    num_nodes: int = _opt(1, "Ray Train workers for one job (backend ray): a TorchTrainer runs the trainer on N "
                          "workers, one rank each (a GPU each when the job asks for GPUs)", ge=1, le=1024)
    hf_flavor: str = _opt("", "Hugging Face Jobs hardware, e.g. a10g-small, l4x1, a100-large (default a10g-small)")
    immediate: bool = _opt(False, "train in the foreground, no queue")
    monitor: bool = _opt(False, "follow training progress live")

    @field_validator("gpu_ids", mode="before")
    @classmethod
    def _gpu_text(cls, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, list | tuple):
            return ",".join(str(v) for v in value)
        return str(value) if isinstance(value, int) else value

    @model_validator(mode="after")
    def _queue_rules(self) -> QueueOptions:
        if self.immediate and self.backend != "local":
            raise ValueError(f"immediate runs the trainer here in the foreground; with backend {self.backend} drop "
                             "--immediate (or use --backend local)")
        if self.ray_address and self.backend != "ray":
            raise ValueError(f"ray_address is for backend ray, but backend is {self.backend}; add --backend ray")
        if self.num_nodes > 1 and self.backend != "ray":
            raise ValueError(f"num_nodes={self.num_nodes} runs one job over Ray Train workers, but backend is "
                             f"{self.backend}; add --backend ray (or num_processes=N for one machine)")
        if self.num_nodes > 1 and "," in self.gpu_ids:
            raise ValueError(f"num_nodes={self.num_nodes} runs one rank per Ray Train worker, a GPU each with "
                             f"--gpu-ids 0, but --gpu-ids is {self.gpu_ids}; for more GPUs raise num_nodes")
        if self.hf_flavor and self.backend != "hf-jobs":
            raise ValueError(f"hf_flavor is for backend hf-jobs, but backend is {self.backend}; add --backend hf-jobs")
        return self

    @property
    def backend_options(self) -> dict[str, Any]:
        """What the job store keeps for the backend (addresses, hardware; never secrets)."""
        return {"ray_address": self.ray_address or None, "flavor": self.hf_flavor or None,
                "num_nodes": self.num_nodes if self.num_nodes > 1 else None}


class StartRequest(QueueOptions):
    """`autotrain train start`: queue (or run in the foreground) a config.toml that `pipeline prepare` wrote."""

    config: str = _opt(..., "output/<name>/config.toml (as written by `pipeline prepare`)")
    profile: str = _opt("", "profile name to show in `train list`")


class RunRequest(QueueOptions):
    """One pipeline request: what to train on, with which profile, and how to run it."""

    dataset_path: str = _opt("", "images folder / .zip, a table file (CSV, TSV, JSON, JSONL, Parquet), a folder "
                             "with train/valid files, a save_to_disk folder, or a Hub dataset id", batch=False,
                             validation_alias=AliasChoices("data_path"))
    datasets_dir: str = _opt("", "folder with one sub-folder (or table file) per dataset", batch=True)
    dataset_paths: list[str] = _opt([], 'datasets, comma-separated: "a,b,c"', batch=True)
    profile: str = _opt("", "training profile (see `autotrain profiles`)")
    dataset_name: str = _opt("", "name for input/<name> and output/<name> (default: from the dataset path)",
                             batch=False, validation_alias=AliasChoices("project_name"))
    min_images: int = _opt(1, "refuse datasets with fewer images (or table rows); 0: no minimum", ge=0)
    column_mapping: dict[str, Any] = _opt({}, "table columns, AutoTrain's keys: "
                                          "text_column=review,target_column=label (a list: target_columns=a|b)")
    train_split: str = _opt("train", "split to train on (Hub / save_to_disk datasets)")
    valid_split: str = _opt("", "split to validate on (Hub / save_to_disk datasets; default: a seeded hold-out)")
    skip_copy: bool = _opt(False, "reuse input/<name> if it exists")
    force: bool = _opt(False, "replace what an earlier run wrote")
    dry_run: bool = _opt(False, "validate and print the plan; write nothing")
    in_process: bool = _opt(False, "train in this process, no subprocess (a notebook gets the trained model back "
                            "in the result; a ZeroGPU Space trains inside its GPU grants)")
    grant_seconds: int = _opt(0, "ZeroGPU: seconds per GPU grant (0: the platform's cap); a longer run checkpoints "
                              "and resumes in the next grant", ge=0, le=3600)
    mode: Literal["run", "prepare"] = _opt("run", "run all phases, or stop after configure", flag=False)
    workspace: str = _opt("", "workspace folder (default $AUTOTRAIN_WORKSPACE or .)", flag=False)
    owner: str = _opt("", "who submits the job (a shared app's signed-in user); '' = the local user", flag=False)
    hf_token: SecretStr | None = _opt(None, "the Hugging Face token the job gets and the base model is checked with "
                                      "(a shared app's user's own; '' = none); None = this machine's HF_TOKEN, as "
                                      "the CLI passes it. Never written to a file or a log", flag=False)
    overrides: dict[str, Any] = _opt({}, "training settings over the profile (--set key=value)", flag=False)
    config: dict[str, Any] = _opt({}, "training settings from a --config file's [config] table", flag=False)

    @model_validator(mode="before")
    @classmethod
    def _autotrain_names(cls, data: Any) -> Any:
        """AutoTrain's request-level names given among the training settings (`--set project_name=x`, a REST
        call's params) become the request options they are; an option given as such wins."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for layer in ("config", "overrides"):
            settings = data.get(layer)
            if isinstance(settings, list | tuple):
                settings = dict(parse_override(item) for item in settings)
            if not isinstance(settings, dict):
                continue
            settings = dict(settings)
            for key, option in LIFTED.items():
                if key in settings and not (key == "valid_split" and isinstance(settings[key], int | float)):
                    value = settings.pop(key)
                    if value is not None and not data.get(option):
                        data[option] = value
            data[layer] = settings
        return data

    @field_validator("dataset_paths", mode="before")
    @classmethod
    def _split_paths(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

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
        if self.dry_run and self.in_process:
            raise ValueError("dry_run and in_process together: a dry run writes nothing and trains nothing; drop one")
        if self.skip_copy and self.force and not self.dataset_path and not (self.datasets_dir or self.dataset_paths):
            raise ValueError("skip_copy and force need a dataset")
        if self.in_process and self.backend != "local":
            raise ValueError(f"in_process trains in this very process; with backend {self.backend} drop --in-process "
                             "(or use --backend local)")
        if self.valid_split and self.valid_split == self.train_split:
            raise ValueError(f"valid_split and train_split are both '{self.train_split}': validating on the "
                             "training rows measures nothing; pick another split or leave valid_split empty")
        return self

    @property
    def job_secrets(self) -> dict[str, str] | None:
        """What the job's process gets: the request's token (none when it is ''), or None: this machine's own, as
        `jobs.submit` takes them by default."""
        if self.hf_token is None:
            return None
        token = self.hf_token.get_secret_value()
        return {"HF_TOKEN": token} if token else {}

    @property
    def check_token(self) -> str | None:
        """The token the base model is checked with: the one the job will have."""
        if self.hf_token is None:
            from autotrain_gradio.jobs.secrets import own_secrets

            return own_secrets().get("HF_TOKEN")
        return self.hf_token.get_secret_value() or None

    @property
    def layers(self) -> tuple[dict[str, Any], ...]:
        """Config layers over the profile: the --config file's [config], the column mapping, then --set."""
        return (self.config, self.column_mapping, self.overrides)


REQUEST_FILE_KEYS = set(RunRequest.model_fields) - {"workspace", "overrides", "owner", "hf_token"}


def explain(err: ValidationError) -> str:
    """A pydantic error as one line per problem, naming the option."""
    parts = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{key}: {msg}" if key else msg)
    return "; ".join(parts)


def validated(model: type[M], **options: Any) -> M:
    """A request model from keyword options (None means 'not given'); raises ConfigError with one line."""
    try:
        return model(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as err:
        raise ConfigError(explain(err)) from None


def make_request(**options: Any) -> RunRequest:
    """A RunRequest from keyword options (None means 'not given'); raises ConfigError with one line."""
    return validated(RunRequest, **options)


def request_from_file(path: str, **flags: Any) -> RunRequest:
    """A --config request file, with CLI flags (not None) over its values."""
    data = read_toml(path, "--config", REQUEST_FILE_KEYS)
    data.update({k: v for k, v in flags.items() if v is not None})
    return make_request(**data)
