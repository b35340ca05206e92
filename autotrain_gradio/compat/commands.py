"""AutoTrain's command line over ours: `autotrain --config FILE.yml` (its YAML, queued and followed to the end),
`pipeline run --config FILE.yml`, and the per-task commands `autotrain llm|text-classification|... --train`."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

from autotrain_gradio.config import ConfigError
from autotrain_gradio.pipeline.request import RunRequest, make_request


def use_token(token: str | None) -> None:
    """A token from AutoTrain's config (hub.token) goes into this process's environment only, from where the
    submission hands it to the job's worker in memory (jobs/secrets.py); an HF_TOKEN already set wins."""
    if token and not os.environ.get("HF_TOKEN"):
        os.environ["HF_TOKEN"] = token


def yaml_request(path: str, **flags: Any) -> RunRequest:
    """AutoTrain's YAML with our CLI flags over it; its notes are printed, its token goes to the environment."""
    from autotrain_gradio.compat.yaml_config import request_from_yaml

    run = request_from_yaml(path, **flags)
    for note in run.notes:
        print(f"ℹ️  {note}", file=sys.stderr)
    use_token(run.token)
    return run.request


def cmd_autotrain_config(args: argparse.Namespace) -> int:
    """`autotrain --config FILE.yml`: as AutoTrain does, train it and wait for the end (exit code: the result):
    in the foreground on the local backend, queued and followed on a remote one."""
    from autotrain_gradio.pipeline import EXIT_BAD_INPUT, run_pipeline

    try:
        request = yaml_request(args.autotrain_config, workspace=args.workspace)
        wait = {"immediate": True} if request.backend == "local" else {"monitor": True}
        request = make_request(**{**request.model_dump(), **wait})
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run_pipeline(request).exit_code


# --- AutoTrain's per-task commands -----------------------------------------------------------------------------
# Not flags of a training setting: what the command itself takes (AutoTrain's names), beside the generated ones.
COMMAND_FLAGS = {
    "data_path": "the data: a table file, a folder with train / valid files or split folders, or a Hub dataset id",
    "train_split": "split (Hub) or file / folder name (local) to train on",
    "valid_split": "split or file / folder name to validate on; a number is the fraction held out (seeded) "
                   "when the data has no validation split",
    "backend": "local (default), or spaces-<flavor>: a Hugging Face Job on that hardware",
    "username": "Hugging Face user or organisation the model is pushed under",
    "token": "Hugging Face token (kept in the job's environment only; or set HF_TOKEN)",
}
SKIPPED = {"task", "data_dir", "output_dir"}  # set by the pipeline, not by a user


def _names(*keys: str) -> list[str]:
    """AutoTrain's spellings of a flag: --data-path and --data_path."""
    return list(dict.fromkeys(f"--{spelling}" for key in keys for spelling in (key.replace("_", "-"), key)))


def _add_setting(p: argparse.ArgumentParser, field: str, info: Any, aliases: list[str]) -> None:
    """One flag per config field, under its name and AutoTrain's (the field's alias); its help is the field's."""
    names = _names(*aliases, field)
    kind = info.annotation
    text = f"{info.description} (default {info.default!r})"
    common = {"dest": f"cfg__{field}", "default": None, "metavar": field.upper()}
    if kind is bool:  # AutoTrain's booleans are store_true flags; `--peft false` turns one off (the config reads it)
        p.add_argument(*names, nargs="?", const=True, help=text, **common)
    elif getattr(kind, "__origin__", None) is list:
        p.add_argument(*names, type=lambda s: [v.strip() for v in s.split(",") if v.strip()],
                       help=f"{text}; comma-separated", **common)
    else:
        p.add_argument(*names, help=text, **common)


def add_task_commands(sub: argparse._SubParsersAction) -> None:
    """`autotrain <task> --train ...` for every task AutoTrain has a command for (its name is our task's), with a
    flag per setting of that task's config (our name and AutoTrain's), generated here from the config models."""
    from autotrain_gradio.compat.tasks import TASK_NAMES
    from autotrain_gradio.config import autotrain_names
    from autotrain_gradio.tasks import TASKS

    for task in (t for t in TASKS if t in TASK_NAMES):
        model = TASKS[task].config
        p = sub.add_parser(task, help=f"AutoTrain's `{task}` command: {TASKS[task].title}",
                           description=f"AutoTrain Advanced's `autotrain {task}` over this project's pipeline.")
        p.add_argument("--train", action="store_true", help="train (AutoTrain's --train; required)")
        for key, text in COMMAND_FLAGS.items():
            p.add_argument(*_names(key), dest=f"cmd__{key}", default=None, metavar=key.upper(), help=text)
        if not TASKS[task].column_keys:  # class folders: AutoTrain's column flags are taken and said to be unused
            for key in ("image_column", "target_column"):
                p.add_argument(*_names(key), dest=f"cmd__{key}", default=None, metavar=key.upper(),
                               help="AutoTrain's column name; class folders name the labels here (unused)")
        if task == "tabular":  # AutoTrain's tabular --task (classification, regression, ...)
            p.add_argument("--task", dest="cfg__tabular_task", default=None, help="classification, regression, "
                           "multi_label_classification or multi_column_regression")
        if "gradient_checkpointing" in model.model_fields:
            p.add_argument(*_names("disable_gradient_checkpointing"), dest="cfg__disable_gradient_checkpointing",
                           action="store_true", default=None, help="turn gradient checkpointing off")
        if task == "llm":
            p.add_argument("--unsloth", dest="cfg__unsloth", action="store_true", default=None,
                           help="refused here: training runs through transformers + peft")
        aliases: dict[str, list[str]] = {}
        for alias, field in autotrain_names(model).items():
            aliases.setdefault(field, []).append(alias)
        for field, info in model.model_fields.items():
            if field not in SKIPPED and field not in COMMAND_FLAGS:
                _add_setting(p, field, info, aliases.get(field, []))
        p.add_argument("--profile", default=None, help="profile to start from (default: the shipped one of this "
                       "task and trainer)")
        p.add_argument("--dry-run", action="store_true", help="validate and print the plan; write nothing")
        p.add_argument("--workspace", default=argparse.SUPPRESS, help="workspace folder")
        p.set_defaults(func=cmd_task, autotrain_task=task)


def task_config(args: argparse.Namespace) -> dict[str, Any]:
    """A per-task command's flags as the AutoTrain config they mean (then read as its YAML is)."""
    from autotrain_gradio.tasks import get_task

    given = {k: v for k, v in vars(args).items() if v is not None}
    settings = {k.removeprefix("cfg__"): v for k, v in given.items() if k.startswith("cfg__")}
    command = {k.removeprefix("cmd__"): v for k, v in given.items() if k.startswith("cmd__")}
    columns = set(get_task(args.autotrain_task).column_keys)
    with contextlib.suppress(KeyError, ValueError):  # --valid-split 0.1: our hold-out fraction, else a split name
        settings["valid_split"] = float(command.pop("valid_split"))
    data = {"path": command.get("data_path"), "train_split": command.get("train_split"),
            "valid_split": command.get("valid_split"),
            "column_mapping": {k: settings.pop(k) for k in list(settings) if k in columns}
            | {k: v for k, v in command.items() if k.endswith("_column")}}
    return {"task": args.autotrain_task, "project_name": settings.pop("name", None),
            "backend": command.get("backend"), "data": data, "params": settings,
            "hub": {k: command[k] for k in ("username", "token") if k in command}}


def cmd_task(args: argparse.Namespace) -> int:
    """`autotrain <task> --train ...`: the flags through RunRequest and the pipeline, trained in the foreground on
    the local backend (as AutoTrain does), queued and followed on a remote one."""
    from autotrain_gradio.compat.yaml_config import from_autotrain
    from autotrain_gradio.pipeline import EXIT_BAD_INPUT, run_pipeline

    if not args.train:
        print(f"error: add --train (autotrain {args.autotrain_task} --train ...); AutoTrain's --deploy and "
              "--inference are not offered", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        run = from_autotrain(task_config(args), f"autotrain {args.autotrain_task}", workspace=args.workspace,
                             profile=args.profile, dry_run=args.dry_run or None)
        for note in run.notes:
            print(f"ℹ️  {note}", file=sys.stderr)
        use_token(run.token)
        request = run.request
        if not request.dry_run:
            wait = {"immediate": True} if request.backend == "local" else {"monitor": True}
            request = make_request(**{**request.model_dump(), **wait})
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run_pipeline(request).exit_code
