"""What the app can do, one plain function per action, for one caller: validate, start, list, status, events, logs,
cancel, resume, download. The buttons, the named Gradio API endpoints and the REST routes all call these, so the
rules (who sees which job, what a visitor may read, the per-user limits) live here once.

A job another user owns is answered exactly like a job that does not exist, so ids cannot be probed. Files are
never served from the workspace: a download is a hard link (or copy) under a fresh random folder of Gradio's
upload cache, the only place Gradio serves from here, and only its owner is handed that URL.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autotrain_gradio import jobs
from autotrain_gradio.auth import Access, User, looks_local
from autotrain_gradio.config import ConfigError
from autotrain_gradio.events import RunState
from autotrain_gradio.jobs import inprocess
from autotrain_gradio.jobs.runs import job_tailer, poll_events
from autotrain_gradio.jobs.secrets import own_secrets
from autotrain_gradio.pipeline import PipelineResult, run_pipeline
from autotrain_gradio.pipeline.request import make_request
from autotrain_gradio.profiles import Profile, ProfileError, get_profile, list_profiles, load_profile_file
from autotrain_gradio.workspace import folder_bytes, suggest_name

LOG_LINES = 30


class ActionError(Exception):
    """An action refused or impossible; the message is one sentence for the person who asked."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status  # the HTTP status the REST routes answer with


@dataclass
class AppContext:
    """One running app: its workspace and its sharing rules."""

    root: Path
    access: Access
    backend: str = "local"  # where the app's new jobs run (the owner's queue setting)

    def uploads(self, user: User) -> Path:
        """The caller's own upload folder (outside every folder the app serves)."""
        return self.root / "uploads" / user.folder

    def path_error(self, user: User, path: str | Path, what: str = "dataset path") -> str | None:
        """None when this caller may name this server path, else why not (auth.Access.dataset_path_error)."""
        return self.access.dataset_path_error(path, self.uploads(user), user.name, what)

    def own_profiles_dir(self, user: User | None) -> Path | None:
        """Where a user of a shared app keeps their saved profiles (None: the open local app's workspace/profiles)."""
        return self.root / "profiles" / "users" / user.folder if self.access.shared and user is not None else None

    def profiles(self, user: User | None) -> dict[str, Profile]:
        """The profiles this caller may use: shipped and the owner's (shared, read-only), then their own."""
        found = list_profiles(self.root)
        if (own := self.own_profiles_dir(user)) is not None and own.is_dir():
            for path in sorted(own.glob("*.toml")):
                try:
                    found[path.stem] = load_profile_file(path)
                except ProfileError:
                    continue  # saved by the app, checked then: a broken one is simply not offered
        return found

    def profile(self, user: User | None, name: str) -> Profile:
        """One of `profiles(user)` by name (case-insensitive), else a ProfileError listing them."""
        found = self.profiles(user)
        if not self.access.shared and name.endswith(".toml") and Path(name).is_file():
            return get_profile(name, self.root)
        match = next((p for n, p in found.items() if n.lower() == (name or "").lower()), None)
        if (name or "") in found:
            match = found[name]
        if match is None:
            raise ProfileError(f"unknown profile {name!r}; valid profiles: {', '.join(sorted(found))}")
        return match

    def profile_ref(self, user: User | None, name: str) -> str:
        """What the pipeline is given for a profile: its name, or the file of the caller's own."""
        prof = self.profile(user, name)
        own = self.own_profiles_dir(user)
        return str(prof.path) if own is not None and prof.path.parent == own else prof.name

    def signed_in(self, user: User | None) -> User:
        if user is None:
            raise ActionError("sign in first: this app shows each user their own jobs only", 401)
        return user

    def visible_jobs(self, user: User | None) -> list[jobs.Job]:
        """Every job (open local app) or the caller's own (shared app), in id order."""
        user = self.signed_in(user)
        store = jobs.JobStore(self.root)
        try:
            return store.list_owned(user.name) if self.access.shared else store.list()
        finally:
            store.close()

    def job(self, user: User | None, job_id: int | float | str | None) -> jobs.Job:
        """The caller's job with this id; another user's job is 'no job', never 'not yours'."""
        user = self.signed_in(user)
        if job_id is None or str(job_id).strip() == "":
            raise ActionError("select a job first (give its job id)")
        try:
            number = int(job_id) if isinstance(job_id, int) else int(float(job_id))
        except (ValueError, OverflowError):
            raise ActionError(f"job id {str(job_id)[:40]!r} is not a number") from None
        store = jobs.JobStore(self.root)
        try:
            job = store.get(number)
        finally:
            store.close()
        if job is None or (self.access.shared and job.owner != user.name):
            raise ActionError(f"no job with id {number} among your jobs", 404)
        return job


# --- validate and start --------------------------------------------------------------------------------------


def held_bytes(ctx: AppContext, user: User) -> int:
    """Everything a user of a shared app holds: their uploads, prepared copies (input/) and runs (output/)."""
    folders = [ctx.uploads(user)]
    for area in ("input", "output"):
        if (ctx.root / area).is_dir():
            folders += [f for f in (ctx.root / area).iterdir() if f.name.startswith(f"{user.folder}--")]
    folders += [Path(j.output_dir) for j in ctx.visible_jobs(user)]  # runs named before the per-user prefix
    return sum(folder_bytes(f) for f in {f.resolve() for f in folders} if f.is_dir())


def quota_error(ctx: AppContext, user: User) -> str | None:
    if not ctx.access.shared:
        return None
    mine = ctx.visible_jobs(user)
    active = [j for j in mine if j.status in ("queued", "running")]
    if len(active) >= ctx.access.max_jobs:
        return (f"you already have {len(active)} jobs queued or running (the limit is {ctx.access.max_jobs}); "
                "wait for one to finish or cancel one")
    used = held_bytes(ctx, user)
    if used >= ctx.access.max_disk_bytes:
        return (f"your uploads and runs use {used / 1024**3:.1f} GB of the {ctx.access.max_disk_bytes / 1024**3:.1f}"
                " GB allowed; delete a job or old uploads first")
    return None


def run_request(ctx: AppContext, user: User | None, dataset: str, profile: str, *, dataset_name: str = "",
                overrides: dict[str, Any] | None = None, column_mapping: dict[str, Any] | None = None,
                min_images: int = 1, force: bool = False, dry_run: bool = True,
                in_process: bool = False, train_split: str = "train", valid_split: str = "") -> PipelineResult:
    """Validate (dry_run) or start one run for the caller, after the sharing rules: signed in, allowed to train,
    a dataset they may read, within their limits. Then a RunRequest, the object the CLI builds too, goes through
    the same `run_pipeline`. Every refusal is a PipelineResult with one error. `in_process` trains in the app's own
    process (the handler returns when the run ends); on a ZeroGPU Space every start does, inside GPU grants."""
    dataset = (dataset or "").strip()
    refused = PipelineResult(dataset, profile or "")

    def refuse(message: str) -> PipelineResult:
        refused.errors.append(message)
        refused.exit_code = 2
        return refused

    if (why := ctx.access.may_train(user)) is not None or user is None:
        return refuse(why or "sign in first")
    if not dataset:
        return refuse("no dataset: enter a folder path or upload images first")
    if (why := ctx.path_error(user, dataset)) is not None:
        return refuse(why)
    try:
        profile_ref = ctx.profile_ref(user, profile or "")
    except ProfileError as err:
        return refuse(str(err))
    overrides = dict(overrides or {})
    secrets = job_secrets(ctx, user)
    # A shared app pushes with the visitor's own token only (a Space sign-in), never the machine's.
    if overrides.get("push_to_hub") and ctx.access.shared and not secrets:
        return refuse("push_to_hub needs your own Hugging Face token, and this shared app has none of yours (sign "
                      "in with Hugging Face on a Space, or give yours with set_hf_token); download the model from the "
                      "Jobs tab and push it yourself")
    here = (in_process or inprocess.on_zerogpu()) and not dry_run
    if here and ctx.access.shared and overrides.get("push_to_hub"):  # the app's environment is no visitor's
        return refuse("push_to_hub is off for runs in the app's own process (ZeroGPU): download the model from the "
                      "Jobs tab and push it yourself")
    if not dry_run and (why := quota_error(ctx, user)) is not None:
        return refuse(why)
    name = (dataset_name or "").strip() or suggest_name(dataset)
    if ctx.access.shared:  # run names are per user: two visitors' "photos" never collide or reveal each other
        name = f"{user.folder}--{name}"[:64]
    if (why := _base_model_refused(ctx, user, profile, overrides, column_mapping)) is not None:
        return refuse(why)
    try:
        # The request the CLI builds too: phases 1-5 in run_pipeline, with the caller as the job's owner and the
        # caller's token (a shared app's own; None: this machine's, as the CLI passes it).
        request = make_request(dataset_path=dataset, profile=profile_ref, dataset_name=name, min_images=min_images,
                               force=force, dry_run=dry_run, workspace=str(ctx.root), overrides=overrides,
                               column_mapping=column_mapping or {}, in_process=here, owner=user.name,
                               hf_token=secrets.get("HF_TOKEN", "") if ctx.access.shared else None,
                               train_split=train_split, valid_split=valid_split, backend=ctx.backend)
    except ConfigError as err:
        return refuse(str(err))
    return run_pipeline(request, quiet=True)


def job_secrets(ctx: AppContext, user: User | None) -> dict[str, str]:
    """What a job of this caller gets in its environment. A shared app (logins or a Space): the caller's own token only
    (a Space's OAuth token, or the one a login gave with `set_hf_token`), never the owner's environment. The open
    local app: this machine's HF_TOKEN, as the CLI passes it. Held in the worker's memory only."""
    if ctx.access.shared:
        return {"HF_TOKEN": user.token} if user is not None and user.token else {}
    return own_secrets()


def set_token(ctx: AppContext, user: User | None, token: str) -> dict[str, Any]:
    """A login's own Hugging Face token for their jobs (and push_to_hub), held in this app's memory only; '' forgets
    it. Only in login mode: a Space has the visitor's sign-in, the local app the machine's environment."""
    user = ctx.signed_in(user)
    if ctx.access.mode != "login":
        raise ActionError("set_hf_token is for apps with --auth logins; a Space uses your Hugging Face sign-in and "
                          "the local app this machine's HF_TOKEN")
    token = (token or "").strip()
    if token and (len(token) > 256 or not token.isascii() or any(c.isspace() for c in token)):
        raise ActionError("that is not a Hugging Face token (hf_...); copy it from huggingface.co/settings/tokens")
    ctx.access.set_token(user.name, token)
    return {"ok": True, "message": "your token is held in this app's memory for your own jobs only, never written"
            if token else "your token is forgotten; your next jobs run without one"}


def _base_model_refused(ctx: AppContext, user: User, profile: str, overrides: dict[str, Any],
                        column_mapping: dict[str, Any] | None) -> str | None:
    """Why the run's base model may not be named by this caller: a local folder is a server path like any other, so
    the path rules come before any look at it (not even a dry run looks). Whether it loads is the plan's check."""
    try:
        planned = ctx.profile(user, profile or "").build(column_mapping or {}, overrides)
    except (ProfileError, ConfigError):
        return None  # the pipeline reports invalid settings
    base_model = getattr(planned, "base_model", None)
    if base_model is not None and looks_local(base_model):
        return ctx.path_error(user, base_model, "base model")
    return None


def result_dict(result: PipelineResult) -> dict[str, Any]:
    """A pipeline result as JSON: what the API returns for validate and start_job."""
    from autotrain_gradio.config import to_toml

    return {"ok": not result.errors, "name": result.name, "profile": result.profile, "job_id": result.job_id,
            "errors": list(result.errors), "warnings": list(result.warnings), "plan": list(result.plan),
            "phases": [{"phase": p.phase, "ok": p.ok, "message": p.message} for p in result.phases],
            "config_toml": to_toml(result.config) if result.config is not None and not result.errors else ""}


def profile_task(ctx: AppContext, profile: str) -> str:
    """The task of a profile, or an ActionError naming the problem."""
    try:
        return get_profile(profile or "", ctx.root).task
    except ProfileError as err:
        raise ActionError(str(err)) from None


# --- reading jobs ---------------------------------------------------------------------------------------------


def job_dict(job: jobs.Job, state: RunState | None = None) -> dict[str, Any]:
    """One job as JSON: identity, status, progress, loss, ETA and the latest metrics."""
    out = {"id": job.id, "name": job.name, "profile": job.profile, "status": job.status, "error": job.error,
           "step": job.last_step, "total_steps": job.total_steps, "created": job.created, "started": job.started,
           "finished": job.finished}
    if state is not None:
        out.update(step=max(job.last_step, state.step), total_steps=state.total or job.total_steps, loss=state.loss,
                   eta_s=state.eta_s if job.status == "running" else None, metrics=dict(state.metrics),
                   epoch=state.epoch)
    return out


def state_of(job: jobs.Job) -> RunState:
    """Everything this job's events say (nothing before it was launched)."""
    if job.pid is None and job.status == "queued":
        return RunState()
    return RunState().update(poll_events(job_tailer(job)))


def job_status(ctx: AppContext, user: User | None, job_id: Any) -> dict[str, Any]:
    """Status, step/total, loss, ETA and the latest metrics of one of the caller's jobs."""
    job = ctx.job(user, job_id)
    return job_dict(job, state_of(job))


def job_events(ctx: AppContext, user: User | None, job_id: Any, offset: int = 0) -> dict[str, Any]:
    """The job's events since `offset` (0: its first), and the offset to pass next time."""
    job = ctx.job(user, job_id)
    tailer = job_tailer(job)
    tailer.offset = max(tailer.offset, min(int(offset or 0), 2**62))  # past the end: nothing new, not an error
    events = poll_events(tailer) if job.pid is not None or job.status != "queued" else []
    return {"job_id": job.id, "events": events, "offset": tailer.offset}


def own_log_lines(state: RunState, lines: int = LOG_LINES) -> list[str]:
    """Our own log lines ([level] message, from the events), not the raw stderr of the libraries."""
    return state.logs[-lines:]


def raw_tail(path: Path, lines: int = LOG_LINES) -> str:
    """The last lines of a text file ('' when it does not exist yet)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 16_384))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def job_logs(ctx: AppContext, user: User | None, job_id: Any, lines: int = LOG_LINES) -> dict[str, Any]:
    """The job's own log lines (by level) and the tail of its raw trainer output."""
    job = ctx.job(user, job_id)
    lines = max(1, min(int(lines or LOG_LINES), 1000))
    return {"job_id": job.id, "lines": own_log_lines(state_of(job), lines), "raw_tail": raw_tail(job.log_path, lines)}


def list_jobs(ctx: AppContext, user: User | None) -> list[dict[str, Any]]:
    """The caller's jobs (every job in an open local app), newest first."""
    return [job_dict(j) for j in reversed(ctx.visible_jobs(user))]


# --- acting on jobs -------------------------------------------------------------------------------------------


def cancel_job(ctx: AppContext, user: User | None, job_id: Any) -> dict[str, Any]:
    """Cancel one of the caller's jobs (a running trainer checkpoints and ends on its own)."""
    job = ctx.job(user, job_id)
    try:
        job = jobs.cancel(ctx.root, job.id, wait=False)
    except jobs.JobError as err:
        raise ActionError(str(err)) from None
    return {**job_dict(job), "message": f"Job {job.id}: cancel requested ({job.status})."}


def resume_job(ctx: AppContext, user: User | None, job_id: Any) -> dict[str, Any]:
    """Queue one of the caller's cancelled or failed jobs again; it resumes from its last checkpoint."""
    job = ctx.job(user, job_id)
    if (why := ctx.access.may_train(user)) is not None:
        raise ActionError(why, 403)
    try:
        job = jobs.resume(ctx.root, job.id, secrets=job_secrets(ctx, user))
    except jobs.JobError as err:
        raise ActionError(str(err)) from None
    return {**job_dict(job), "message": f"Job {job.id}: queued again; it resumes from its last checkpoint."}


def model_files(job: jobs.Job) -> list[Path]:
    """The job's exported model files (output/<name>/model/), then each checkpoint's LoRA weights."""
    out = Path(job.output_dir)
    found = sorted(p for p in (out / "model").rglob("*") if p.is_file()) if (out / "model").is_dir() else []
    if (out / "checkpoints").is_dir():
        found += sorted(p for p in (out / "checkpoints").rglob("*.safetensors") if p.is_file())
    return found


def download_name(job: jobs.Job, path: Path) -> str:
    """What a file of a job is, as its download path: `<name>-comfyui.safetensors` (the kohya file ComfyUI and A1111
    load), `<name>-diffusers/pytorch_lora_weights.safetensors`, `<name>-model/...`, `checkpoint-N/...`."""
    rel = path.relative_to(job.output_dir)
    if rel.parts[0] == "checkpoints":
        return f"{job.name}-{Path(*rel.parts[1:])}"
    inner = Path(*rel.parts[1:]) if rel.parts[0] == "model" else rel
    if str(inner) == f"{job.name}.safetensors":
        return f"{job.name}-comfyui.safetensors"
    if inner.name in ("pytorch_lora_weights.safetensors", "pytorch_lora_weights.bin"):
        return f"{job.name}-diffusers/{inner}"
    return f"{job.name}-model/{inner}"


def stage(files: list[Path], base: Path | None = None, names: list[str] | None = None) -> list[str]:
    """Hand files to Gradio for serving: hard links (copies across file systems) under a fresh random folder of
    its upload cache, keeping their paths relative to `base` (or named `names`). Returns the staged paths."""
    from gradio.utils import get_upload_folder

    dest = Path(get_upload_folder()) / "autotrain" / secrets.token_urlsafe(16)
    staged = []
    for i, file in enumerate(files):
        target = dest / (names[i] if names else file.relative_to(base) if base and base in file.parents
                         else file.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(file, target)
        except OSError:
            shutil.copy2(file, target)
        staged.append(str(target))
    return staged


def download(ctx: AppContext, user: User | None, job_id: Any, as_zip: bool = False) -> list[str]:
    """The caller's job's model files (and checkpoint LoRAs), staged for download; one zip of them with as_zip."""
    job = ctx.job(user, job_id)
    files = model_files(job)
    if not files:
        raise ActionError(f"job {job.id} has no model files yet", 404)
    # The list shows file names only: each is named for what it is, its folders joined into the name.
    names = [download_name(job, f) for f in files]
    if not as_zip:
        return stage(files, names=[n.replace("/", "-") for n in names])
    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder()) / "autotrain" / secrets.token_urlsafe(16)
    folder.mkdir(parents=True)
    archive = folder / f"{job.name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for file, name in zip(files, names, strict=True):
            zf.write(file, name)
    return [str(archive)]


def remove_stale_uploads(ctx: AppContext) -> list[Path]:
    """Remove upload folders older than the configured age (a started run has its own copy under input/, so an
    upload is only needed until Start). Returns what was removed."""
    uploads = ctx.root / "uploads"
    if not uploads.is_dir():
        return []
    cutoff, removed = time.time() - ctx.access.upload_max_age_s, []
    for folder in (f for user in uploads.iterdir() if user.is_dir() for f in user.iterdir() if f.is_dir()):
        if folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
