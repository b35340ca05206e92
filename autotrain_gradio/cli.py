"""`autotrain`: pipeline run|batch|prepare, profiles, demo, app, and train list|monitor|cancel|resume|logs.

Training settings are not re-declared here: `--set key=value` and `--config FILE` are validated by the config
models (`autotrain profiles --keys TASK` lists every key with its help text).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from autotrain_gradio.config import ConfigError, read_toml
from autotrain_gradio.tasks import TASKS, describe_fields

REQUEST_KEYS = {"dataset_path", "datasets_dir", "dataset_paths", "profile", "dataset_name", "min_images", "gpu_ids",
                "max_concurrent", "monitor", "skip_copy", "force", "dry_run", "immediate", "config"}


def _common(p: argparse.ArgumentParser, batch: bool) -> None:
    if batch:
        src = p.add_mutually_exclusive_group()
        src.add_argument("--datasets-dir", help="folder with one sub-folder per dataset")
        src.add_argument("--dataset-paths", help='comma-separated dataset folders: "a,b,c"')
        p.add_argument("--max-concurrent", type=int, default=None, help="jobs running at once (default 1)")
    else:
        p.add_argument("--dataset-path", help="folder of images (+ .txt captions, or class sub-folders)")
        p.add_argument("--dataset-name", help="name for input/<name> and output/<name> (default: folder name)")
    p.add_argument("--profile", help="training profile (see `autotrain profiles`)")
    p.add_argument("--min-images", type=int, default=None, help="refuse datasets with fewer images (default 1)")
    p.add_argument("--gpu-ids", help='GPUs to use, e.g. "0,1" (default: free GPUs)')
    p.add_argument("--monitor", action="store_true", default=None, help="follow training progress live")
    p.add_argument("--skip-copy", action="store_true", default=None, help="reuse input/<name> if it exists")
    p.add_argument("--force", action="store_true", default=None, help="replace what an earlier run wrote")
    p.add_argument("--dry-run", action="store_true", default=None, help="validate and print the plan; write nothing")
    p.add_argument("--immediate", action="store_true", default=None, help="train in the foreground, no queue")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a training setting, e.g. --set learning_rate=2e-4 (repeatable)")
    p.add_argument("--config", dest="request_file", help="TOML with these options and a [config] table")


def _request(args: argparse.Namespace) -> dict[str, Any]:
    """CLI flags over the --config file's values."""
    request: dict[str, Any] = {}
    if args.request_file:
        request = read_toml(args.request_file, "--config", REQUEST_KEYS)
    for key in REQUEST_KEYS - {"config"}:
        value = getattr(args, key, None)
        if value is not None:
            request[key] = value
    if not request.get("profile"):
        raise ConfigError("--profile is required; `autotrain profiles` lists them")
    return request


def cmd_pipeline(args: argparse.Namespace) -> int:
    from autotrain_gradio.pipeline import EXIT_BAD_INPUT, run_batch_pipeline, run_pipeline

    try:
        req = _request(args)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    layers = (req.pop("config", {}),)
    common = dict(min_images=req.pop("min_images", 1), gpu_ids=req.pop("gpu_ids", None),
                  monitor=bool(req.pop("monitor", False)), skip_copy=bool(req.pop("skip_copy", False)),
                  force=bool(req.pop("force", False)), dry_run=bool(req.pop("dry_run", False)),
                  immediate=bool(req.pop("immediate", False)), workspace=args.workspace, overrides=args.overrides,
                  config_layers=layers, mode="prepare" if args.mode == "prepare" else "run")
    if args.mode == "batch":
        if not (req.get("datasets_dir") or req.get("dataset_paths")):
            print("error: batch needs --datasets-dir or --dataset-paths", file=sys.stderr)
            return EXIT_BAD_INPUT
        return run_batch_pipeline(req["profile"], datasets_dir=req.get("datasets_dir"),
                                  dataset_paths=req.get("dataset_paths"),
                                  max_concurrent=req.get("max_concurrent") or 1, **common).exit_code
    if not req.get("dataset_path"):
        print("error: --dataset-path is required (the folder of images)", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run_pipeline(req["dataset_path"], req["profile"], dataset_name=req.get("dataset_name"), **common).exit_code


def cmd_profiles(args: argparse.Namespace) -> int:
    from autotrain_gradio.profiles import list_profiles
    from autotrain_gradio.workspace import workspace_root

    if args.keys:
        for key, default, help_text in describe_fields(args.keys):
            print(f"{key:<24} {default:<22} {help_text}")
        return 0
    for name, prof in sorted(list_profiles(workspace_root(args.workspace)).items()):
        print(f"{name:<24} {prof.task:<21} {prof.description}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from autotrain_gradio.demo import run_demo

    return run_demo(workspace=args.workspace, profile=args.profile, steps=args.steps)


def cmd_app(args: argparse.Namespace) -> int:
    from autotrain_gradio.ui.app import launch

    launch(workspace=args.workspace, share=args.share, port=args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autotrain", description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", default=None, help="workspace folder (default $AUTOTRAIN_WORKSPACE or .)")
    sub = parser.add_subparsers(dest="command", required=True)

    pipe = sub.add_parser("pipeline", help="validate -> prepare -> configure -> train -> monitor")
    modes = pipe.add_subparsers(dest="mode", required=True)
    for mode, text in (("run", "one dataset"), ("batch", "many datasets"), ("prepare", "phases 1-3 only")):
        p = modes.add_parser(mode, help=text)
        _common(p, batch=mode == "batch")
        p.add_argument("--workspace", default=argparse.SUPPRESS, help="workspace folder")
        p.set_defaults(func=cmd_pipeline)

    prof = sub.add_parser("profiles", help="list profiles, or the settings of a task")
    prof.add_argument("--keys", choices=TASKS, help="list every setting of this task with its default and help")
    prof.set_defaults(func=cmd_profiles)

    demo = sub.add_parser("demo", help="make a small sample dataset and train the CPU demo profile on it")
    demo.add_argument("--profile", default="TinyFluxLORA", help="profile to train (default TinyFluxLORA)")
    demo.add_argument("--steps", type=int, default=None, help="override max_steps")
    demo.set_defaults(func=cmd_demo)

    app = sub.add_parser("app", help="start the Gradio app")
    app.add_argument("--share", action="store_true", help="create a public share link (Colab)")
    app.add_argument("--port", type=int, default=None, help="port (default 7860)")
    app.set_defaults(func=cmd_app)

    from autotrain_gradio.cli_train import add_train_commands

    add_train_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
