"""AutoTrain's command line over ours: `autotrain --config FILE.yml` (its YAML, queued and followed to the end),
`pipeline run --config FILE.yml`, and the per-task commands `autotrain llm|text-classification|... --train`."""

from __future__ import annotations

import argparse
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
