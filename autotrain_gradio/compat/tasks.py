"""Every task name AutoTrain Advanced 0.8.36 uses (its YAML `task:`, its internal task ids, its CLI commands) ->
our task and the settings the name implies (`llm-orpo` -> trainer orpo, `st:pair` -> trainer pair, ...), and the
shipped profile a request for that task starts from. One table; nothing here is re-declared elsewhere."""

from __future__ import annotations

from typing import Any

from autotrain_gradio.config import ConfigError

# (our task, the settings the name implies): AutoTrain's names, grouped by our task.
_GROUPS: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("llm", {"trainer": "default"}, ("llm", "lm_training", "llm-generic")),
    ("llm", {"trainer": "sft"}, ("llm-sft",)),
    ("llm", {"trainer": "dpo"}, ("llm-dpo",)),
    ("llm", {"trainer": "orpo"}, ("llm-orpo",)),
    ("llm", {"trainer": "reward"}, ("llm-reward",)),
    ("text-classification", {}, ("text_classification", "text-classification", "text_binary_classification",
                                 "text-binary-classification", "text_multi_class_classification")),
    ("text-regression", {}, ("text_regression", "text-regression", "text_single_column_regression",
                             "text-single-column-regression")),
    ("token-classification", {}, ("token_classification", "token-classification", "text_token_classification")),
    ("extractive-qa", {}, ("extractive-qa", "extractive_question_answering", "ext_qa", "ext-qa",
                           "text_extractive_question_answering")),
    ("seq2seq", {}, ("seq2seq",)),
    ("sentence-transformers", {}, ("st", "sentence_transformers", "sentence-transformers")),
    ("image-classification", {}, ("image_classification", "image-classification", "image_binary_classification",
                                  "image-binary-classification", "image_multi_class_classification")),
    ("image-regression", {}, ("image_regression", "image-regression", "image_single_column_regression",
                              "image-single-column-regression", "image-scoring")),
    ("object-detection", {}, ("object_detection", "object-detection", "image_object_detection",
                              "image-object-detection")),
    ("vlm", {}, ("vlm",)),
    ("tabular", {}, ("tabular",)),
    ("tabular", {"tabular_task": "classification"}, ("tabular_classification", "tabular-classification",
                                                     "tabular_binary_classification",
                                                     "tabular_multi_class_classification")),
    ("tabular", {"tabular_task": "multi_label_classification"}, ("tabular_multi_label_classification",)),
    ("tabular", {"tabular_task": "regression"}, ("tabular_regression", "tabular-regression",
                                                 "tabular_single_column_regression")),
]
TASK_NAMES: dict[str, tuple[str, dict[str, Any]]] = {name: (ours, preset) for ours, preset, names in _GROUPS
                                                     for name in names}
# AutoTrain's defaults that change what is trained (not only how): below a config's params, over our profile's.
DEFAULTS: dict[str, dict[str, Any]] = {
    "llm": {"peft": False, "chat_template": "none"},  # a full fine-tune of plain text unless the config says else
}
# `st:<trainer>`, `sentence-transformers:<trainer>` and `vlm:<trainer>`: the part after the colon is the trainer.
TRAINER_SUFFIX = {"st": "sentence-transformers", "sentence-transformers": "sentence-transformers", "vlm": "vlm"}


def resolve_task(name: str) -> tuple[str, dict[str, Any]]:
    """AutoTrain's task name -> (our task, settings it implies); an unknown name is one line listing the known."""
    prefix, _, trainer = str(name).partition(":")
    if trainer and prefix in TRAINER_SUFFIX:
        return TRAINER_SUFFIX[prefix], {"trainer": trainer}
    if name in TASK_NAMES:
        ours, preset = TASK_NAMES[name]
        return ours, dict(preset)
    raise ConfigError(f"task {name!r} is not one AutoTrain has; use one of: {', '.join(sorted(TASK_NAMES))}, "
                      "st:<trainer> or vlm:<trainer>")


def profile_for(task: str, preset: dict[str, Any], workspace: Any = None) -> str:
    """The shipped profile a request for `task` starts from: the full-size one whose settings match `preset`
    (LLM-ORPO for trainer orpo, TabularRegression for regression), else the first full-size one of that task."""
    from autotrain_gradio.profiles import SHIPPED_DIR, list_profiles

    shipped = {name: p for name, p in sorted(list_profiles(workspace).items())
               if p.task == task and p.path.parent == SHIPPED_DIR and not name.startswith("Tiny")}
    for name, prof in shipped.items():
        if all(prof.config.get(k) == v for k, v in preset.items()):
            return name
    if shipped:
        return next(iter(shipped))
    raise ConfigError(f"no shipped profile trains task {task}")
