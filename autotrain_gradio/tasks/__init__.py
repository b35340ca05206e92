"""THE list of tasks, and what is built from it: the `TrainConfig` union, config validation, `--set` parsing.

A task is a folder `tasks/<task>/` with `config.py` (its pydantic model, no torch), `data.py` (the torch-free reader
that validate and the trainer share), `train.py` (the torch side: `train(cfg, ctx)`) and `tiny.py` (tiny models
built in code). Adding a task = its folder, one entry in `TASKS` below, a profile and tests. Everything that lists
tasks (profiles, `profiles --keys`, the app's form, the trainer's dispatch, `tiny:<kind>`) reads `TASKS`.

This module imports the task configs only (pydantic), never a trainer: the light side stays torch-free.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError

from autotrain_gradio.config import ConfigError, RunConfig, autotrain_names, read_toml, tomllib
from autotrain_gradio.tasks.captioning.config import CaptioningConfig
from autotrain_gradio.tasks.diffusion.config import DiffusionFullConfig, DiffusionLoraConfig
from autotrain_gradio.tasks.extractive_qa.config import ExtractiveQAConfig
from autotrain_gradio.tasks.image_classification.config import ImageClassificationConfig
from autotrain_gradio.tasks.image_regression.config import ImageRegressionConfig
from autotrain_gradio.tasks.llm.config import LLMConfig
from autotrain_gradio.tasks.object_detection.config import ObjectDetectionConfig
from autotrain_gradio.tasks.sentence_transformers.config import SentenceTransformersConfig
from autotrain_gradio.tasks.seq2seq.config import Seq2SeqConfig
from autotrain_gradio.tasks.tabular.config import TabularConfig
from autotrain_gradio.tasks.text_classification.config import TextClassificationConfig
from autotrain_gradio.tasks.text_regression.config import TextRegressionConfig
from autotrain_gradio.tasks.token_classification.config import TokenClassificationConfig
from autotrain_gradio.tasks.vlm.config import VLMConfig


@dataclass(frozen=True)
class Predict:
    """What the app's Try it tab calls on a finished run: `path` is the torch side's "module:function" (imported
    lazily), `takes` names the panel the tab shows: diffusion (a prompt; images without / with the LoRA) | image |
    text | tokens."""

    takes: str
    path: str


@dataclass(frozen=True)
class Task:
    """One trainable task: its config model, the data it reads, where its trainer lives, its tiny models."""

    name: str
    title: str
    config: type[RunConfig]
    train: str  # "module:function" of the torch side, imported only by the trainer process
    data: str = ""  # "module:load": the torch-free reader validate and the trainer share (tables, images)
    tiny: dict[str, str] = field(default_factory=dict)  # tiny:<kind> -> "module:builder"
    predict: Predict | None = None  # what the Try it tab calls on a finished run; None: the task has no Try panel

    def load_train(self) -> Callable[..., Any]:
        return _resolve(self.train)

    def load_predict(self) -> Callable[..., Any]:
        """The task's `predict(cfg, model_dir, input, ...)`; imported by the Try it tab only when it runs."""
        if self.predict is None:
            raise ConfigError(f"task {self.name} has no Try it panel")
        return _resolve(self.predict.path)

    def load_data(self) -> Callable[..., Any]:
        """The task's data reader: load(source, cfg, train_split, valid_split) -> its data (raises DataError)."""
        return _resolve(self.data)

    @property
    def column_keys(self) -> list[str]:
        """Column-mapping keys this task takes (AutoTrain's names): its config fields `*_column(s)`."""
        return [k for k in self.config.model_fields if k.endswith(("_column", "_columns"))]


_DIFFUSION_TINY = {k: f"autotrain_gradio.tasks.diffusion.tiny:build_{k}" for k in ("flux", "sdxl", "sd15")}

_IMAGE_PREDICT = Predict("image", "autotrain_gradio.tasks.image_classification.predict:predict")
_IMAGES = "autotrain_gradio.tasks.images:"  # the image-folder readers (class folders, captioned images)
_TEXT_PREDICT = Predict("text", "autotrain_gradio.tasks.text_classification.predict:predict")

TASKS: dict[str, Task] = {
    "diffusion-lora": Task("diffusion-lora", "Diffusion LoRA (Flux / SDXL / SD1.5)", DiffusionLoraConfig,
                           "autotrain_gradio.tasks.diffusion.train:train",
                           data=_IMAGES + "load_bucketed", tiny=_DIFFUSION_TINY,
                           predict=Predict("diffusion", "autotrain_gradio.tasks.diffusion.predict:predict")),
    "diffusion-full": Task("diffusion-full", "Diffusion full fine-tune", DiffusionFullConfig,
                           "autotrain_gradio.tasks.diffusion.train:train", data=_IMAGES + "load_bucketed"),
    "image-classification": Task("image-classification", "Image classification", ImageClassificationConfig,
                                 "autotrain_gradio.tasks.image_classification.train:train",
                                 data=_IMAGES + "load_class_folders",
                                 tiny={"vit": "autotrain_gradio.tasks.image_classification.tiny:build_vit"},
                                 predict=_IMAGE_PREDICT),
    "text-classification": Task("text-classification", "Text classification", TextClassificationConfig,
                                "autotrain_gradio.tasks.text_classification.train:train",
                                data="autotrain_gradio.tasks.text_classification.data:load",
                                tiny={"bert": "autotrain_gradio.tasks.text_classification.tiny:build_bert"},
                                predict=_TEXT_PREDICT),
    "text-regression": Task("text-regression", "Text regression", TextRegressionConfig,
                            "autotrain_gradio.tasks.text_regression.train:train",
                            data="autotrain_gradio.tasks.text_regression.data:load", predict=_TEXT_PREDICT),
    "image-regression": Task("image-regression", "Image regression", ImageRegressionConfig,
                             "autotrain_gradio.tasks.image_regression.train:train",
                             data="autotrain_gradio.tasks.image_regression.data:load", predict=_IMAGE_PREDICT),
    "tabular": Task("tabular", "Tabular classification / regression (scikit-learn, XGBoost + Optuna)", TabularConfig,
                    "autotrain_gradio.tasks.tabular.train:train", data="autotrain_gradio.tasks.tabular.data:load"),
    "token-classification": Task("token-classification", "Token classification (NER)", TokenClassificationConfig,
                                 "autotrain_gradio.tasks.token_classification.train:train",
                                 data="autotrain_gradio.tasks.token_classification.data:load",
                                 predict=Predict("tokens",
                                                 "autotrain_gradio.tasks.token_classification.predict:predict")),
    "extractive-qa": Task("extractive-qa", "Extractive question answering", ExtractiveQAConfig,
                          "autotrain_gradio.tasks.extractive_qa.train:train",
                          data="autotrain_gradio.tasks.extractive_qa.data:load"),
    "seq2seq": Task("seq2seq", "Sequence to sequence (T5-style)", Seq2SeqConfig,
                    "autotrain_gradio.tasks.seq2seq.train:train", data="autotrain_gradio.tasks.seq2seq.data:load",
                    tiny={"t5": "autotrain_gradio.tasks.seq2seq.tiny:build_t5"}),
    "sentence-transformers": Task("sentence-transformers", "Sentence embeddings (sentence-transformers)",
                                  SentenceTransformersConfig,
                                  "autotrain_gradio.tasks.sentence_transformers.train:train",
                                  data="autotrain_gradio.tasks.sentence_transformers.data:load"),
    "object-detection": Task("object-detection", "Object detection (DETR / YOLOS)", ObjectDetectionConfig,
                             "autotrain_gradio.tasks.object_detection.train:train",
                             data="autotrain_gradio.tasks.object_detection.data:load",
                             tiny={"yolos": "autotrain_gradio.tasks.object_detection.tiny:build_yolos"}),
    "llm": Task("llm", "LLM fine-tuning (SFT / DPO / ORPO / reward / causal LM)", LLMConfig,
                "autotrain_gradio.tasks.llm.train:train", data="autotrain_gradio.tasks.llm.data:load",
                tiny={"llm": "autotrain_gradio.tasks.llm.tiny:build_llm"}),
    "vlm": Task("vlm", "Vision-language model (VQA / captioning)", VLMConfig,
                "autotrain_gradio.tasks.vlm.train:train", data="autotrain_gradio.tasks.vlm.data:load",
                tiny={"vlm": "autotrain_gradio.tasks.vlm.tiny:build_vlm"}),
    "captioning": Task("captioning", "Auto-captioning (BLIP, Florence-2, ...)", CaptioningConfig,
                       "autotrain_gradio.tasks.captioning.train:train", data=_IMAGES + "load_captioned",
                       tiny={"captioner": "autotrain_gradio.tasks.captioning.tiny:build_blip"}),
}

# What a task's trainer imports beyond the base install: importable module -> the pyproject extra that brings it.
# The app offers a task only when these are present (looked up, never imported); validate names the pip command.
TASK_EXTRAS: dict[str, dict[str, str]] = {
    "llm": {"trl": "llm"}, "vlm": {"trl": "llm"}, "sentence-transformers": {"sentence_transformers": "st"},
    "tabular": {"xgboost": "tabular", "optuna": "tabular", "joblib": "tabular"},
    "token-classification": {"seqeval": "metrics"}, "seq2seq": {"rouge_score": "metrics"},
    "object-detection": {"pycocotools": "metrics"},
}


def missing_install(task: str) -> str | None:
    """The pip command that installs what `task` still lacks here, or None when it can train."""
    extras = sorted({extra for module, extra in TASK_EXTRAS.get(task, {}).items()
                     if importlib.util.find_spec(module) is None})
    return f"pip install 'autotrain-gradio[{','.join(extras)}]'" if extras else None


MODELS: dict[str, type[RunConfig]] = {name: task.config for name, task in TASKS.items()}
TrainConfig = Annotated[Union[tuple(MODELS.values())], Field(discriminator="task")]  # noqa: UP007 - built at runtime
_ADAPTER: TypeAdapter = TypeAdapter(TrainConfig)
_TEXT_KEYS = {k for m in MODELS.values() for k, f in m.model_fields.items() if f.annotation is str}


def _resolve(dotted: str) -> Callable[..., Any]:
    module, _, attr = dotted.partition(":")
    return getattr(importlib.import_module(module), attr)


def get_task(name: str) -> Task:
    """The task record; an unknown name is an error that lists the known ones (never a fallback)."""
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    return TASKS[name]


def tiny_builders() -> dict[str, str]:
    """Every `tiny:<kind>` the tasks offer -> "module:builder"."""
    return {kind: path for task in TASKS.values() for kind, path in task.tiny.items()}


def _explain(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"] if p not in TASKS)
        if not key:  # a cross-field rule (model validator): its message names the settings
            lines.append(e["msg"].removeprefix("Value error, "))
        else:
            lines.append(f"setting '{key}': {e['msg']} (got {e.get('input')!r})")
    return "; ".join(lines)


_NAMES = {name: autotrain_names(model) for name, model in MODELS.items()}
REFUSED = {  # AutoTrain parameters that cannot apply here, with what to do instead
    "unsloth": "unsloth=true: Unsloth's patched kernels are not used here; remove it (LoRA / QLoRA train through "
               "transformers + peft: peft=true, quantization=int4)",
    "token": "token: a token is never stored in a training config; export HF_TOKEN=<token> in the environment "
             "(AutoTrain YAML's hub.token and the REST API's token reach the job's environment only)",
}


def canonical(task: str, data: dict[str, Any]) -> dict[str, Any]:
    """One layer of settings with AutoTrain's parameter names turned into ours (`lr` -> `learning_rate`, ...), so
    layers merge by one name. `disable_gradient_checkpointing` becomes `gradient_checkpointing`, refused parameters
    (REFUSED) raise when set and are dropped when off; unknown keys stay for config_from_dict to name."""
    names = _NAMES.get(task, {})
    fields = MODELS[task].model_fields if task in MODELS else {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in REFUSED:
            if value:
                raise ConfigError(REFUSED[key])
        elif key == "disable_gradient_checkpointing" and "gradient_checkpointing" in fields:
            out["gradient_checkpointing"] = not value
        else:
            out[names.get(key, key)] = value
    return out


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Validate a plain dict into the right config class. AutoTrain's parameter names are taken (see `canonical`);
    unknown keys get a did-you-mean hint."""
    task = data.get("task")
    if task not in MODELS:
        raise ConfigError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    data = canonical(task, data)
    if username := data.pop("username", None):  # AutoTrain's hub namespace: pushes go to <username>/<name>
        data.setdefault("hub_repo_id", f"{username}/{data.get('name') or 'run'}")
    known = MODELS[task].model_fields
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown setting '{key}' for task {task}{hint}; "
                              f"`autotrain profiles --keys {task}` lists them")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as err:
        raise ConfigError(_explain(err)) from None


def load_config(path: str | Path) -> RunConfig:
    return config_from_dict(read_toml(path, "config"))


def parse_override(item: str) -> tuple[str, Any]:
    """Parse one `key=value`; the value is read as TOML (numbers, booleans, lists) or else a plain string."""
    if "=" not in item:
        raise ConfigError(f"--set expects key=value, got {item!r}")
    key, raw = (s.strip() for s in item.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    if key in _TEXT_KEYS and not isinstance(value, str):
        value = raw  # trigger_word=123 means the text "123"
    return key, value


def describe_fields(task: str) -> list[tuple[str, str, str]]:
    """(key, default, description) for every setting of a task: for `--keys`, help text and the UI."""
    rows = []
    for key, info in get_task(task).config.model_fields.items():
        if key == "task":
            continue
        rows.append((key, repr(info.default), info.description or ""))
    return rows
