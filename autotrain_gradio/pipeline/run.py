"""The five phases behind every entry point: `run_pipeline` for one dataset, `run_batch_pipeline` for many.

validate (read-only) -> build the config (pure) -> prepare (copy) -> configure (write config.toml)
-> train (queue a job, or run it in the foreground with immediate=True) -> monitor.
Any bad input is found before the first write: the result says why, exit code 2, workspace unchanged.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from autotrain_gradio.config import ConfigError, merge, to_toml
from autotrain_gradio.jobs.launch import parse_gpu_ids
from autotrain_gradio.pipeline.configure import build_config, write_run_folder
from autotrain_gradio.pipeline.logs import pipeline_logger
from autotrain_gradio.pipeline.prepare import prepare_dataset
from autotrain_gradio.pipeline.validate import validate_dataset
from autotrain_gradio.profiles import ProfileError, get_profile
from autotrain_gradio.tasks import parse_override
from autotrain_gradio.workspace import RunPaths, extract_zip, jobs_db, suggest_name, workspace_root

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_PARTIAL = 0, 1, 2, 3
MODES = ("run", "prepare")


@dataclass
class PhaseResult:
    phase: str  # validate | prepare | configure | train | monitor
    ok: bool
    message: str


@dataclass
class PipelineResult:
    """What happened to one dataset, phase by phase."""

    dataset_path: str
    profile: str
    name: str = ""
    exit_code: int = EXIT_OK
    phases: list[PhaseResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    config_path: Path | None = None
    output_dir: Path | None = None
    job_id: int | None = None
    config: Any = None

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    def add(self, phase: str, ok: bool, message: str) -> None:
        self.phases.append(PhaseResult(phase, ok, message))


def _overrides(overrides: dict[str, Any] | list[str] | None) -> dict[str, Any]:
    if not overrides:
        return {}
    if isinstance(overrides, dict):
        return dict(overrides)
    return dict(parse_override(item) for item in overrides)


def _say(stream: TextIO | None, text: str) -> None:
    if stream is not None:
        print(text, file=stream, flush=True)


def _live_job(paths: RunPaths):
    """A queued or running job that uses this run's output folder, if any (read-only: no store is created)."""
    if not jobs_db(paths.root).exists():
        return None
    from autotrain_gradio.jobs import JobStore

    store = JobStore(paths.root)
    try:
        target = str(paths.output_dir.resolve())
        return next((job for job in store.list(("queued", "running"))
                     if str(Path(job.output_dir).resolve()) == target), None)
    finally:
        store.close()


def plan_dataset(dataset_path: str | Path, profile: str, *, dataset_name: str | None = None, min_images: int = 1,
                 gpu_ids: str | list[int] | None = None, skip_copy: bool = False, force: bool = False,
                 workspace: str | Path | None = None, overrides: dict[str, Any] | list[str] | None = None,
                 config_layers: tuple[dict[str, Any], ...] = ()) -> tuple[PipelineResult, RunPaths | None, Any]:
    """Phase 1 and the pure part of phase 3: everything that can be wrong is found here, nothing is written."""
    result = PipelineResult(str(dataset_path), profile)
    root = workspace_root(workspace)
    try:
        prof = get_profile(profile, root)
        gpus = parse_gpu_ids(gpu_ids)
        user = _overrides(overrides)
    except (ProfileError, ConfigError) as err:
        result.errors.append(str(err))
        result.exit_code = EXIT_BAD_INPUT
        result.add("validate", False, str(err))
        return result, None, None
    result.profile = prof.name
    name = dataset_name or suggest_name(dataset_path)
    result.name = name
    paths = RunPaths(root, name)
    caption_ext = merge(prof.config, *config_layers, user).get("caption_extension", ".txt")
    report = validate_dataset(dataset_path, prof, name, paths, min_images=min_images, force=force,
                              skip_copy=skip_copy, caption_extension=caption_ext)
    result.warnings.extend(report.warnings)
    if force and not report.errors and (busy := _live_job(paths)) is not None:
        report.errors.append(f"job {busy.id} ({busy.status}) is using {paths.output_dir}; --force would delete it "
                             f"under the job: cancel it first (autotrain train cancel --job {busy.id}) or choose "
                             "another --dataset-name")
    if report.errors:
        result.errors.extend(report.errors)
        result.exit_code = EXIT_BAD_INPUT
        result.add("validate", False, report.errors[0])
        return result, None, report
    result.add("validate", True, report.summary())
    launch = {"num_processes": len(gpus)} if gpus and len(gpus) > 1 and prof.task.startswith("diffusion") else {}
    try:
        cfg = build_config(prof, paths, *config_layers, launch, user)
    except ConfigError as err:
        result.errors.append(str(err))
        result.exit_code = EXIT_BAD_INPUT
        result.add("configure", False, str(err))
        return result, None, report
    result.config, result.config_path, result.output_dir = cfg, paths.config, paths.output_dir
    return result, paths, report


def run_pipeline(dataset_path: str | Path, profile: str, *, dataset_name: str | None = None, min_images: int = 1,
                 gpu_ids: str | list[int] | None = None, monitor: bool = False, skip_copy: bool = False,
                 force: bool = False, dry_run: bool = False, immediate: bool = False, mode: str = "run",
                 workspace: str | Path | None = None, overrides: dict[str, Any] | list[str] | None = None,
                 config_layers: tuple[dict[str, Any], ...] = (), max_concurrent: int = 1,
                 stream: TextIO | None = None, quiet: bool = False) -> PipelineResult:
    """Validate, prepare, configure and (mode='run') train one dataset. Returns what each phase did;
    `exit_code` is 0 ok, 1 training failed, 2 bad input, or the trainer's own code with immediate=True."""
    options = {k: v for k, v in locals().items() if k not in ("dataset_path", "profile")}
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    stream = None if quiet else (stream or sys.stdout)
    source = Path(dataset_path).expanduser()
    if source.is_file() and source.suffix.lower() == ".zip":
        # A zip is unpacked into a temporary folder (never into the workspace) and goes through the same phases.
        with tempfile.TemporaryDirectory(prefix="autotrain-zip-") as tmp:
            try:
                folder = extract_zip(source, Path(tmp))
            except ValueError as err:
                result = PipelineResult(str(dataset_path), profile, exit_code=EXIT_BAD_INPUT, errors=[str(err)])
                result.add("validate", False, str(err))
                _say(stream, f"❌ {err}")
                return result
            _say(stream, f"📦 unpacked {source.name}")
            options["dataset_name"] = dataset_name or suggest_name(source)
            return replace(run_pipeline(folder, profile, **options), dataset_path=str(dataset_path))
    result, paths, report = plan_dataset(
        dataset_path, profile, dataset_name=dataset_name, min_images=min_images, gpu_ids=gpu_ids,
        skip_copy=skip_copy, force=force, workspace=workspace, overrides=overrides, config_layers=config_layers)
    for warning in result.warnings:
        _say(stream, f"⚠️  {warning}")
    if not paths:
        for error in result.errors:
            _say(stream, f"❌ {error}")
        return result
    _say(stream, f"🔍 validate  {result.name}: {result.phases[0].message}")
    cfg = result.config

    prepared = prepare_dataset(report, paths, skip_copy=skip_copy, force=force, dry_run=dry_run)
    result.plan = [*prepared.plan, f"write {paths.config}", f"create {paths.output_dir}/{{model,log,samples}}"]
    if dry_run:
        result.add("prepare", True, "dry run: nothing written")
        _say(stream, "📝 dry run, nothing written. Plan:")
        for line in result.plan:
            _say(stream, f"   - {line}")
        _say(stream, f"--- {paths.config} ---\n{to_toml(cfg)}")
        return result

    log = pipeline_logger(paths.root)
    log.info("run %s: dataset %s profile %s", result.name, dataset_path, result.profile)
    result.add("prepare", True, f"{prepared.images} images in {prepared.input_dir}")
    _say(stream, f"📁 prepare   {prepared.plan[-1]}")
    write_run_folder(cfg, paths)
    result.add("configure", True, str(paths.config))
    _say(stream, f"⚙️  configure {paths.config}")
    log.info("run %s: prepared %d images, config %s", result.name, prepared.images, paths.config)
    if mode == "prepare":
        _say(stream, f"✅ prepared. Review {paths.config}, then train it with: "
                     f"autotrain train start --config {paths.config}")
        return result
    return _train(result, paths, gpu_ids, immediate, monitor, max_concurrent, stream, log)


def _train(result: PipelineResult, paths: RunPaths, gpu_ids: Any, immediate: bool, monitor: bool,
           max_concurrent: int, stream: TextIO | None, log: Any) -> PipelineResult:
    from autotrain_gradio import jobs

    gpus = parse_gpu_ids(gpu_ids)
    if immediate:
        _say(stream, f"🚀 train     {result.name} in the foreground (Ctrl-C stops it after a checkpoint)")
        job, code = jobs.run_now(paths.root, name=result.name, profile=result.profile, config_path=paths.config,
                                 gpu_ids=gpus, monitor=monitor or stream is not None, stream=stream or sys.stdout)
        result.job_id, result.exit_code = job.id, code
        result.add("train", code == 0, f"job {job.id} {job.status}, trainer exit code {code}"
                   + (f": {job.error}" if job.error else ""))
    else:
        job = jobs.submit(paths.root, name=result.name, profile=result.profile, config_path=paths.config,
                          gpu_ids=gpus, max_concurrent=max_concurrent)
        result.job_id = job.id
        result.add("train", True, f"queued as job {job.id}")
        _say(stream, f"🚀 train     queued as job {job.id}; follow it with: autotrain train monitor --job {job.id}")
        if monitor:
            from autotrain_gradio.monitor import monitor_job

            code = monitor_job(paths.root, job.id, stream or sys.stdout)
            result.exit_code = code
            result.add("monitor", code == 0, f"job {job.id} ended with exit code {code}")
    (log.info if result.exit_code == 0 else log.error)("run %s: %s", result.name, result.phases[-1].message)
    return result
