"""Auto-captioning through the same pipeline: validate and copy the images into input/<name>, then queue the
captioning job (task `captioning`), which writes a caption next to each image of that copy, never the originals.

    from autotrain_gradio.pipeline.caption import caption_dataset
    result = caption_dataset("photos/", model="tiny:captioner", prefix="ohwx", immediate=True)

Training on the captioned copy afterwards reuses it: `autotrain pipeline run --dataset-path photos/ --dataset-name
<name> --skip-copy --force --profile FluxLORA` (--force replaces the captioning job's run folder, not the images).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from autotrain_gradio.config import ConfigError
from autotrain_gradio.pipeline.request import RunRequest, make_request
from autotrain_gradio.pipeline.run import EXIT_BAD_INPUT, PipelineResult, run_pipeline
from autotrain_gradio.tasks.captioning.config import CAPTION_SETTINGS

CAPTION_PROFILE = "Captioning"


def caption_request(dataset_path: str | Path, model: str | None = None, *, profile: str = CAPTION_PROFILE,
                    **options: Any) -> RunRequest:
    """The RunRequest of a captioning run: `model` and the captioning settings become its --set overrides."""
    overrides = dict(options.pop("overrides", None) or {})
    if model:
        overrides["base_model"] = model
    for key in CAPTION_SETTINGS:
        value = options.pop(key, None)
        if value is not None:
            overrides[key] = value
    for key in ("workspace", "dataset_name"):
        if isinstance(options.get(key), Path):
            options[key] = str(options[key])
    return make_request(dataset_path=str(dataset_path), profile=profile, overrides=overrides, **options)


def caption_dataset(dataset_path: str | Path, model: str | None = None, *, profile: str = CAPTION_PROFILE,
                    **options: Any) -> PipelineResult:
    """Caption a folder or zip of images: phases 1-3 as for training, then the captioning job (queued, or in the
    foreground with immediate=True). Keywords: the captioning settings (prefix, style, prompt, max_new_tokens,
    overwrite, batch_size, ...) and RunRequest's options (workspace, dataset_name, skip_copy, force, monitor, ...)."""
    stream, quiet = options.pop("stream", None), options.pop("quiet", False)
    try:
        req = caption_request(dataset_path, model, profile=profile, **options)
    except ConfigError as err:
        result = PipelineResult(str(dataset_path), profile, exit_code=EXIT_BAD_INPUT, errors=[str(err)])
        result.add("validate", False, str(err))
        if not quiet:
            print(f"❌ {err}", file=stream or sys.stdout, flush=True)
        return result
    return run_pipeline(req, stream=stream, quiet=quiet)
