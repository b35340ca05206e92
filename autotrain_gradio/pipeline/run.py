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
from autotrain_gradio.events import (  # noqa: F401 - the exit codes are re-exported
    ACTIVE_STATUSES,
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
)
from autotrain_gradio.gpus import check_gpu_ids, parse_gpu_ids
from autotrain_gradio.pipeline.base_model import check_base_model
from autotrain_gradio.pipeline.configure import build_config, write_run_folder
from autotrain_gradio.pipeline.logs import pipeline_logger
from autotrain_gradio.pipeline.prepare import prepare_dataset
from autotrain_gradio.pipeline.request import RunRequest, make_request
from autotrain_gradio.pipeline.validate import validate_data
from autotrain_gradio.profiles import ProfileError, get_profile
from autotrain_gradio.tasks import get_task, missing_install
from autotrain_gradio.tasks.common import NO_TOKEN, usable_token
from autotrain_gradio.workspace import RunPaths, check_name, extract_zip, jobs_db, suggest_name, workspace_root


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
    # in_process=True: what the trainer left in this process (the model, its processor or tokenizer; for a
    # diffusion LoRA, the LoRA-wrapped denoiser) and its outputs ({"model": path, ...} as in the end event).
    model: Any = None
    processor: Any = None
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    def __bool__(self) -> bool:
        """`if run_pipeline(...):` reads as 'it worked' (the seed's scripts test the result this way)."""
        return self.ok

    def add(self, phase: str, ok: bool, message: str) -> None:
        self.phases.append(PhaseResult(phase, ok, message))


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
        return next((job for job in store.list(ACTIVE_STATUSES)
                     if str(Path(job.output_dir).resolve()) == target), None)
    finally:
        store.close()


def keyword_request(options: dict[str, Any], **given: Any) -> RunRequest:
    """A RunRequest from keywords as scripts and notebooks write them (the seed's `run_pipeline(dataset_path=...,
    profile=..., monitor=True, min_images=10)`): RunRequest's fields as they are, paths as `Path` too, the old
    `config_layers` as the request's `config`, and any other keyword a training setting over the profile
    (`max_steps=100`), checked against the task's settings like `--set`."""
    options = {**options, **{k: v for k, v in given.items() if v is not None}}
    layers = options.pop("config_layers", ()) or ()
    if layers:
        options["config"] = merge(*layers, options.get("config") or {})
    for key in ("dataset_path", "datasets_dir", "workspace", "dataset_name", "gpu_ids"):
        if isinstance(options.get(key), Path | int):
            options[key] = str(options[key])
    if isinstance(options.get("dataset_paths"), list | tuple):
        options["dataset_paths"] = [str(p) for p in options["dataset_paths"]]
    settings = {k: options.pop(k) for k in list(options) if k not in RunRequest.model_fields}
    if settings:
        options["overrides"] = {**settings, **(options.get("overrides") or {})}
    return make_request(**options)


def _request(request: RunRequest | str | Path | None, profile: str | None, options: dict[str, Any]) -> RunRequest:
    """A RunRequest from either form run_pipeline takes: a request, or (dataset_path, profile, **keywords)."""
    if isinstance(request, RunRequest):
        if profile is not None:
            options["profile"] = profile
        return make_request(**{**request.model_dump(), **options}) if options else request
    return keyword_request(options, dataset_path=request, profile=profile)


def _refused(result: PipelineResult, phase: str, *errors: str) -> PipelineResult:
    result.errors.extend(errors)
    result.exit_code = EXIT_BAD_INPUT
    result.add(phase, False, errors[0])
    return result


def _base_model_of(cfg: Any) -> str | None:
    """The base model a run loads; None for a task that loads none (tabular: an empty, unused field)."""
    field = type(cfg).model_fields.get("base_model")
    if field is None or not (cfg.base_model or field.default):
        return None
    return cfg.base_model


def plan_dataset(request: RunRequest) -> tuple[PipelineResult, RunPaths | None, Any]:
    """Phase 1 and the pure part of phase 3: everything that can be wrong is found here, nothing is written: the
    request, the profile, the name, the settings, the base model (reachable with the token the job will have) and
    the data (the task's own reader)."""
    req = request
    result = PipelineResult(req.dataset_path, req.profile)
    root = workspace_root(req.workspace or None)
    try:
        if not req.profile:
            raise ConfigError("--profile is required; `autotrain profiles` lists them")
        if not req.dataset_path:
            raise ConfigError("--dataset-path is required (a folder of images, a .zip, a table file or a Hub id)")
        prof = get_profile(req.profile, root)
        gpus = parse_gpu_ids(req.gpu_ids)
        if req.backend == "local":  # a remote backend's GPUs are the cluster's
            check_gpu_ids(gpus)
        task = get_task(prof.task)
        if command := missing_install(prof.task):
            raise ConfigError(f"profile {prof.name} trains {prof.task}, whose libraries are not installed here: "
                              f"{command}")
        unknown = sorted(set(req.column_mapping) - set(task.column_keys))
        if unknown:
            takes = ", ".join(task.column_keys) or "no column mapping (its data is not a table)"
            raise ConfigError(f"column mapping key {', '.join(map(repr, unknown))} is not one {prof.task} takes; "
                              f"it takes {takes}")
        result.profile = prof.name
        result.name = name = req.dataset_name or suggest_name(req.dataset_path)
        if (problem := check_name(name)) is not None:
            raise ConfigError(problem)
    except (ProfileError, ConfigError) as err:
        return _refused(result, "validate", str(err)), None, None
    paths = RunPaths(root, name)
    launches = "num_processes" in task.config.model_fields  # one process per named GPU
    launch = {"num_processes": len(gpus)} if gpus and len(gpus) > 1 and launches else {}
    try:  # the reader takes the run's settings (column mapping, splits, caption extension)
        cfg = build_config(prof, paths, *req.layers[:-1], launch, req.layers[-1])
        if cfg.push_to_hub and req.mode == "run" and not usable_token(req.check_token):
            raise ConfigError(NO_TOKEN)  # found now, not after the training (the job gets this environment's token)
        if gpus and launches and req.backend == "local" and cfg.num_processes != len(gpus):
            raise ConfigError(f"num_processes={cfg.num_processes} but --gpu-ids names {len(gpus)} GPU"
                              f"{'s' if len(gpus) > 1 else ''} ({req.gpu_ids}): one process runs per GPU; drop one "
                              "of the two or make them agree")
    except ConfigError as err:
        return _refused(result, "configure", str(err)), None, None
    model_error, model_source = None, ""
    if (base_model := _base_model_of(cfg)) is not None:  # reachable with the token the job will have
        model_error, model_source = check_base_model(base_model, req.check_token)
    report = validate_data(req.dataset_path, prof, task.load_data(), cfg, name, paths, min_items=req.min_images,
                           force=req.force, skip_copy=req.skip_copy, train_split=req.train_split,
                           valid_split=req.valid_split or None)
    result.warnings.extend(report.warnings)
    if req.force and not report.errors and (busy := _live_job(paths)) is not None:
        report.errors.append(f"job {busy.id} ({busy.status}) is using {paths.output_dir}; --force would delete it "
                             f"under the job: cancel it first (autotrain train cancel --job {busy.id}) or choose "
                             "another --dataset-name")
    if model_error is not None:  # shown with whatever else is wrong, first
        return _refused(result, "validate", model_error, *report.errors), None, report
    if report.errors:
        return _refused(result, "validate", *report.errors), None, report
    result.add("validate", True, report.summary())
    if model_source:
        result.add("base model", True, model_source)
    result.config, result.config_path, result.output_dir = cfg, paths.config, paths.output_dir
    return result, paths, report


def run_pipeline(request: RunRequest | str | Path | None = None, profile: str | None = None, *,
                 stream: TextIO | None = None, quiet: bool = False, **options: Any) -> PipelineResult:
    """Validate, prepare, configure and (mode='run') train one dataset. Takes a `RunRequest`, or the dataset path,
    the profile and RunRequest's fields as keywords. Returns what each phase did; `exit_code` is 0 ok, 1 training
    failed, 2 bad input, or the trainer's own code with immediate=True."""
    stream = None if quiet else (stream or sys.stdout)
    try:
        req = _request(request, profile, dict(options))
        _check_backend(req)
    except ConfigError as err:
        given = request if request is not None else options.get("dataset_path", "")
        result = _refused(PipelineResult(str(given or ""), str(profile or "")), "validate", str(err))
        _say(stream, f"❌ {err}")
        return result
    source = Path(req.dataset_path).expanduser()
    if source.is_file() and source.suffix.lower() == ".zip":
        # A zip is unpacked into a temporary folder (never into the workspace) and goes through the same phases.
        with tempfile.TemporaryDirectory(prefix="autotrain-zip-") as tmp:
            try:
                folder = extract_zip(source, Path(tmp))
            except ValueError as err:
                result = _refused(PipelineResult(req.dataset_path, req.profile), "validate", str(err))
                _say(stream, f"❌ {err}")
                return result
            _say(stream, f"📦 unpacked {source.name}")
            inner = req.model_copy(update={"dataset_path": str(folder),
                                           "dataset_name": req.dataset_name or suggest_name(source)})
            return replace(run_pipeline(inner, stream=stream, quiet=quiet), dataset_path=req.dataset_path)
    result, paths, report = plan_dataset(req)
    for warning in result.warnings:
        _say(stream, f"⚠️  {warning}")
    if not paths:
        for error in result.errors:
            _say(stream, f"❌ {error}")
        return result
    _say(stream, f"🔍 validate  {result.name}: {result.phases[0].message}")
    cfg = result.config

    prepared = prepare_dataset(report, paths, skip_copy=req.skip_copy, force=req.force, dry_run=req.dry_run)
    result.plan = [*prepared.plan, f"write {paths.config}", f"create {paths.output_dir}/{{model,log,samples}}"]
    if req.dry_run:
        result.add("prepare", True, "dry run: nothing written")
        _say(stream, "📝 dry run, nothing written. Plan:")
        for line in result.plan:
            _say(stream, f"   - {line}")
        _say(stream, f"--- {paths.config} ---\n{to_toml(cfg)}")
        return result

    log = pipeline_logger(paths.root)
    log.info("run %s: dataset %s profile %s", result.name, req.dataset_path, result.profile)
    result.add("prepare", True, f"{prepared.items} {prepared.unit} in {prepared.input_dir}")
    _say(stream, f"📁 prepare   {prepared.plan[-1]}")
    write_run_folder(cfg, paths)
    result.add("configure", True, str(paths.config))
    _say(stream, f"⚙️  configure {paths.config}")
    log.info("run %s: prepared %d %s, config %s", result.name, prepared.items, prepared.unit, paths.config)
    if req.mode == "prepare":
        _say(stream, f"✅ prepared. Review {paths.config}, then train it with: "
                     f"autotrain train start --config {paths.config}")
        return result
    if req.in_process:
        return train_in_process(result, paths.root, owner=req.owner, grant_seconds=req.grant_seconds, stream=stream)
    return _train(result, paths, req, stream, log)


def train_in_process(result: PipelineResult, workspace: str | Path, *, owner: str = "", grant_seconds: int = 0,
                     stream: TextIO | None = None) -> PipelineResult:
    """Phase 4 of a configured run (`result` of phases 1-3) in this process (jobs/inprocess.py): on a ZeroGPU
    Space inside GPU grants, else one plain call. Fills the result's job, exit code, model, processor, outputs."""
    from autotrain_gradio.jobs import inprocess

    root = workspace_root(workspace)
    log = pipeline_logger(root)
    common = dict(name=result.name, profile=result.profile, config_path=result.config_path, owner=owner)
    if inprocess.on_zerogpu():
        seconds = inprocess.grant_seconds(grant_seconds)
        _say(stream, f"🚀 train     {result.name} in this process, in ZeroGPU grants of {seconds} s")
        done = inprocess.run_in_grants(root, duration=seconds, keep_objects=False, **common)
    else:
        _say(stream, f"🚀 train     {result.name} in this process (interrupt: stops after a checkpoint)")
        done = inprocess.run_in_process(root, **common)
    result.job_id, result.exit_code = done.job.id, done.exit_code
    result.model, result.processor = done.extra.get("model"), done.extra.get("processor")
    result.outputs = done.extra.get("outputs") or {}
    job = done.job
    result.add("train", done.exit_code == 0, f"job {job.id} {job.status} in this process, exit code "
               f"{done.exit_code}" + (f": {job.error}" if job.error else ""))
    if job.error:
        result.errors.append(job.error)
    _say(stream, f"{'✅' if done.exit_code == 0 else '❌'} {result.phases[-1].message}")
    (log.info if result.exit_code == 0 else log.error)("run %s: %s", result.name, result.phases[-1].message)
    return result


def _check_backend(req: RunRequest) -> None:
    """A remote backend that cannot be used from here (not installed, no cluster) is refused before anything is
    written: ConfigError with the install command or the address that does not answer."""
    if req.mode != "run" or req.backend == "local":
        return
    from autotrain_gradio.jobs import JobError, backend_options

    try:
        backend_options(req.backend, **req.backend_options)
    except JobError as err:
        raise ConfigError(str(err)) from None


def _train(result: PipelineResult, paths: RunPaths, req: RunRequest, stream: TextIO | None, log: Any) -> PipelineResult:
    from autotrain_gradio import jobs

    gpus = parse_gpu_ids(req.gpu_ids)
    monitor = req.monitor
    if req.immediate:
        _say(stream, f"🚀 train     {result.name} in the foreground (Ctrl-C stops it after a checkpoint)")
        job, code = jobs.run_now(paths.root, name=result.name, profile=result.profile, config_path=paths.config,
                                 gpu_ids=gpus, monitor=monitor or stream is not None, stream=stream or sys.stdout)
        result.job_id, result.exit_code = job.id, code
        result.add("train", code == 0, f"job {job.id} {job.status}, trainer exit code {code}"
                   + (f": {job.error}" if job.error else ""))
    else:
        try:
            job = jobs.submit(paths.root, name=result.name, profile=result.profile, config_path=paths.config,
                              gpu_ids=gpus, max_concurrent=req.max_concurrent, backend=req.backend,
                              options=req.backend_options, owner=req.owner, secrets=req.job_secrets)
        except jobs.JobError as err:  # the backend cannot be used from here: one line, exit 2
            _refused(result, "train", str(err))
            _say(stream, f"❌ train     {err}")
            return result
        result.job_id = job.id
        where = f" on {req.backend}" if req.backend != "local" else ""
        result.add("train", True, f"queued as job {job.id}{where}")
        _say(stream, f"🚀 train     queued as job {job.id}{where}; follow it with: autotrain train monitor --job "
                     f"{job.id}")
        if monitor:
            from autotrain_gradio.jobs.follow import monitor_job

            code = monitor_job(paths.root, job.id, stream or sys.stdout)
            result.exit_code = code
            result.add("monitor", code == 0, f"job {job.id} ended with exit code {code}")
    (log.info if result.exit_code == 0 else log.error)("run %s: %s", result.name, result.phases[-1].message)
    return result
