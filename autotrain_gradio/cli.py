"""`autotrain`: pipeline run|batch|prepare, caption, profiles, demo, app, train list|monitor|cancel|resume|logs, and
tools.

Training settings are not re-declared here: `--set key=value` and `--config FILE` are validated by the config
models (`autotrain profiles --keys TASK` lists every key with its help text).
"""

from __future__ import annotations

import argparse
import sys

from autotrain_gradio.cli_flags import add_model_flags, given
from autotrain_gradio.config import ConfigError
from autotrain_gradio.tasks import TASKS, describe_fields
from autotrain_gradio.tasks.captioning.config import CAPTION_SETTINGS, CaptioningConfig

CAPTION_FLAGS = ("base_model", *CAPTION_SETTINGS)  # `caption` takes these captioning settings as flags


def _add_request_flags(p: argparse.ArgumentParser, batch: bool) -> None:
    """One flag per RunRequest field (its help is the field's description): declared once, in pipeline/request.py."""
    from autotrain_gradio.pipeline.request import RunRequest

    add_model_flags(p, RunRequest, batch=batch)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a training setting, e.g. --set learning_rate=2e-4 (repeatable)")
    p.add_argument("--config", dest="request_file", help="TOML with these options, a [config] table of training "
                   "settings and a [column_mapping] table; or AutoTrain's YAML config (.yml / .yaml)")


def _request(args: argparse.Namespace):
    """CLI flags over the --config file's values (our TOML request file, or AutoTrain's YAML), validated as one
    RunRequest."""
    from autotrain_gradio.pipeline.request import RunRequest, make_request, request_from_file

    flags = {k: getattr(args, k, None) for k in RunRequest.model_fields}
    flags["mode"] = "prepare" if args.mode == "prepare" else "run"
    flags["workspace"] = args.workspace
    if args.overrides:
        flags["overrides"] = args.overrides
    if args.request_file:
        from autotrain_gradio.compat.yaml_config import is_yaml

        if is_yaml(args.request_file):
            from autotrain_gradio.compat.commands import yaml_request

            return yaml_request(args.request_file, **flags)
        return request_from_file(args.request_file, **flags)
    return make_request(**flags)


def cmd_pipeline(args: argparse.Namespace) -> int:
    from autotrain_gradio.pipeline import EXIT_BAD_INPUT, run_batch_pipeline, run_pipeline

    try:
        req = _request(args)
        if not req.profile:
            raise ConfigError("--profile is required; `autotrain profiles` lists them")
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.mode == "batch":
        if not (req.datasets_dir or req.dataset_paths):
            print("error: batch needs --datasets-dir or --dataset-paths", file=sys.stderr)
            return EXIT_BAD_INPUT
        return run_batch_pipeline(req).exit_code
    if not req.dataset_path:
        print("error: --dataset-path is required (a folder of images, a .zip, a table file or a Hub id)",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    return run_pipeline(req).exit_code


def cmd_caption(args: argparse.Namespace) -> int:
    from autotrain_gradio.pipeline import EXIT_BAD_INPUT
    from autotrain_gradio.pipeline.caption import CAPTION_PROFILE, caption_dataset

    if not args.dataset_path:
        print("error: --dataset-path is required (a folder or .zip of images)", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        flags = {k: v for k, v in vars(_request(args)).items() if k not in ("dataset_path", "profile")}
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    settings = given(args, CaptioningConfig, CAPTION_FLAGS)  # checked by the captioning config, as --set would be
    result = caption_dataset(args.dataset_path, settings.pop("base_model", None),
                             profile=args.profile or CAPTION_PROFILE, **settings, **flags)
    if result.ok and result.job_id is not None:
        print(f"📝 then fix captions in the app's Captions tab, and train on the captioned copy with: autotrain "
              f"pipeline run --dataset-path {args.dataset_path} --dataset-name {result.name} --skip-copy --force "
              "--profile <profile>")
    return result.exit_code


def cmd_profiles(args: argparse.Namespace) -> int:
    from autotrain_gradio.profiles import list_profiles
    from autotrain_gradio.tasks import missing_install
    from autotrain_gradio.workspace import workspace_root

    if args.keys:
        for key, default, help_text in describe_fields(args.keys):
            print(f"{key:<24} {default:<22} {help_text}")
        return 0
    for name, prof in sorted(list_profiles(workspace_root(args.workspace)).items()):
        command = missing_install(prof.task)
        print(f"{name:<24} {prof.task:<21} {prof.description}" + (f"  [not installed: {command}]" if command else ""))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from autotrain_gradio.demo import run_demo

    return run_demo(workspace=args.workspace, profile=args.profile, steps=args.steps)


def cmd_app(args: argparse.Namespace) -> int:
    from autotrain_gradio.ui.server import launch

    try:
        launch(workspace=args.workspace, share=args.share, port=args.port, server_name=args.host,
               space=True if args.space else None, auth=args.auth, allowed_paths=args.allowed_paths,
               api_token=args.api_token, allowed_users=args.allowed_users)
    except ValueError as err:  # a malformed --auth entry
        print(f"❌ {err}", file=sys.stderr)
        return 2
    return 0


def cmd_merge_llm_adapter(args: argparse.Namespace) -> int:
    """Base model + LoRA adapter -> full weights (AutoTrain's `tools merge-llm-adapter`)."""
    from autotrain_gradio.tasks.llm.model import merge_adapter

    try:
        out = merge_adapter(args.base, args.adapter, args.output)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"merged model written to {out}")
    return 0


def cmd_convert_to_kohya(args: argparse.Namespace) -> int:
    """diffusers-format LoRA -> kohya/ComfyUI file (AutoTrain's `tools convert_to_kohya`)."""
    from autotrain_gradio.tasks.diffusion.export import convert_to_kohya

    try:
        out = convert_to_kohya(args.input_path, args.output_path)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"kohya/ComfyUI LoRA written to {out}")
    return 0


def add_tools_commands(sub: argparse._SubParsersAction) -> None:
    """`autotrain tools ...`: utilities outside the pipeline."""
    tools = sub.add_parser("tools", help="utilities: merge-llm-adapter, convert_to_kohya")
    tools = tools.add_subparsers(dest="tool", required=True)
    merge = tools.add_parser("merge-llm-adapter", help="merge a LoRA adapter into its base model (full weights)")
    merge.add_argument("--base", required=True, help="base model: Hub id, folder or tiny:<kind>")
    merge.add_argument("--adapter", required=True, help="the adapter folder (output/<name>/model)")
    merge.add_argument("--output", required=True, help="folder for the merged model and its tokenizer")
    merge.set_defaults(func=cmd_merge_llm_adapter)
    kohya = tools.add_parser("convert_to_kohya", aliases=["convert-to-kohya"],
                             help="a diffusers-format LoRA (pytorch_lora_weights.safetensors) -> kohya/ComfyUI file")
    kohya.add_argument("--input_path", "--input-path", "--input", dest="input_path", required=True,
                       help="pytorch_lora_weights.safetensors, or the folder holding it (output/<name>/model)")
    kohya.add_argument("--output_path", "--output-path", "--output", dest="output_path", default=None,
                       help="file (or folder) to write (default: <folder>_kohya.safetensors beside the input)")
    kohya.set_defaults(func=cmd_convert_to_kohya)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autotrain", description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", default=None, help="workspace folder (default $AUTOTRAIN_WORKSPACE or .)")
    parser.add_argument("--config", dest="autotrain_config", default=None, metavar="FILE.yml",
                        help="run AutoTrain Advanced's YAML config (queue it and follow it to the end)")
    sub = parser.add_subparsers(dest="command")

    pipe = sub.add_parser("pipeline", help="validate -> prepare -> configure -> train -> monitor")
    modes = pipe.add_subparsers(dest="mode", required=True)
    for mode, text in (("run", "one dataset"), ("batch", "many datasets"), ("prepare", "phases 1-3 only")):
        p = modes.add_parser(mode, help=text)
        _add_request_flags(p, batch=mode == "batch")
        p.add_argument("--workspace", default=argparse.SUPPRESS, help="workspace folder")
        p.set_defaults(func=cmd_pipeline)

    cap = sub.add_parser("caption", help="caption images with a vision-language model (a queued job); captions go "
                         "into the prepared copy input/<name>, never the originals")
    _add_request_flags(cap, batch=False)
    add_model_flags(cap, CaptioningConfig, keys=CAPTION_FLAGS,
                    aliases={"base_model": ("--model",), "max_new_tokens": ("--max-length",)})
    cap.add_argument("--workspace", default=argparse.SUPPRESS, help="workspace folder")
    cap.set_defaults(func=cmd_caption, mode="run")

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
    app.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1; 0.0.0.0 for a LAN)")
    app.add_argument("--space", action="store_true",
                     help="shared Space mode: HF sign-in, per-user jobs, uploads only (on when SPACE_ID is set)")
    app.add_argument("--auth", action="append", default=None, metavar="USER:PASSWORD",
                     help="require a login; repeat for more users, each sees only their own jobs (or AUTOTRAIN_AUTH)")
    app.add_argument("--allowed-paths", nargs="+", default=None, metavar="FOLDER",
                     help="server folders a dataset may come from; USER=FOLDER for one login only (default: "
                          "the workspace and your home folder in the open local app, none with --auth)")
    app.add_argument("--api-token", default=None,
                     help="bearer token for the REST routes /api/* (or AUTOTRAIN_API_TOKEN); without it they are off")
    app.add_argument("--allowed-users", default=None, metavar="NAMES",
                     help="Space mode: comma-separated HF users/orgs who may train (default: the Space owner)")
    app.set_defaults(func=cmd_app)

    from autotrain_gradio.cli_train import add_train_commands

    add_train_commands(sub)
    add_tools_commands(sub)

    from autotrain_gradio.compat.api_server import add_api_command
    from autotrain_gradio.compat.commands import add_task_commands

    add_api_command(sub)
    add_task_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        if not args.autotrain_config:
            parser.error("a command is required (or --config FILE.yml, AutoTrain's YAML)")
        from autotrain_gradio.compat.commands import cmd_autotrain_config

        return cmd_autotrain_config(args)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
