"""Managing one's jobs and settings from the app: delete a finished job, duplicate one (same settings, a new run),
retry a failed or cancelled one from the start, and save the current form as a profile. Same rules as
ui/actions.py: a user acts on their own jobs only, and only someone who may train starts or saves anything.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import tomli_w

from autotrain_gradio import jobs
from autotrain_gradio.auth import User
from autotrain_gradio.config import merge
from autotrain_gradio.jobs.api import _pass_secrets  # the in-memory token handover that submit and resume use
from autotrain_gradio.pipeline.configure import write_run_folder
from autotrain_gradio.profiles import ProfileError, load_profile_file
from autotrain_gradio.tasks import load_config
from autotrain_gradio.ui.actions import ActionError, AppContext, job_dict, job_secrets, quota_error
from autotrain_gradio.workspace import MAX_NAME, RunPaths, check_name


def _may_train(ctx: AppContext, user: User | None) -> User:
    if (why := ctx.access.may_train(user)) is not None or user is None:
        raise ActionError(why or "sign in first", 403)
    return user


def delete_job(ctx: AppContext, user: User | None, job_id: Any) -> dict[str, Any]:
    """Remove a finished job of the caller's and its output folder (the run's copy of the data under input/ stays:
    another run may use it)."""
    job = ctx.job(user, job_id)
    if not job.done:
        raise ActionError(f"job {job.id} is {job.status}; cancel it first, then delete it")
    store = jobs.JobStore(ctx.root)
    try:
        if not store.delete(job.id):
            raise ActionError(f"job {job.id} changed meanwhile; refresh and try again")
    finally:
        store.close()
    out = Path(job.output_dir)
    if (out / "config.toml").is_file() and out.parent == ctx.root / "output":  # only what the app wrote
        shutil.rmtree(out, ignore_errors=True)
    return {"id": job.id, "message": f"Job {job.id} ({job.name}) deleted with its output folder."}


def _free_name(ctx: AppContext, base: str) -> str:
    for n in range(2, 1000):
        name = f"{base[: MAX_NAME - 5]}-{n}"
        if not (ctx.root / "output" / name).exists():
            return name
    raise ActionError(f"no free name left for a copy of {base}; delete some of its copies")


def duplicate_job(ctx: AppContext, user: User | None, job_id: Any) -> dict[str, Any]:
    """Queue a new run with the same settings and data as one of the caller's jobs, under a new name."""
    job = ctx.job(user, job_id)
    _may_train(ctx, user)
    if (why := quota_error(ctx, user)) is not None:
        raise ActionError(why, 403)
    try:
        cfg = load_config(job.config_path)
    except (OSError, ValueError) as err:
        raise ActionError(f"job {job.id}'s config.toml cannot be read ({err}); start a new run instead") from None
    name = _free_name(ctx, job.name)
    paths = RunPaths(ctx.root, name)
    copy = cfg.model_copy(update={"name": name, "output_dir": str(paths.output_dir)})
    write_run_folder(copy, paths)
    new = jobs.submit(ctx.root, name=name, profile=job.profile, config_path=paths.config, owner=job.owner,
                      secrets=job_secrets(ctx, user))
    return {**job_dict(new), "message": f"Job {new.id} ({name}) queued with the settings of job {job.id}."}


def retry_job(ctx: AppContext, user: User | None, job_id: Any) -> dict[str, Any]:
    """Queue a failed or cancelled job of the caller's again from the start (Resume continues from a checkpoint)."""
    job = ctx.job(user, job_id)
    _may_train(ctx, user)
    secrets_id = _pass_secrets(ctx.root, job_secrets(ctx, user), True)  # the retrier's token, in memory only
    store = jobs.JobStore(ctx.root)
    try:
        if not store.requeue(job.id, resume=False, secrets_id=secrets_id):
            raise ActionError(f"job {job.id} is {job.status}; only failed or cancelled jobs can be retried")
        job = store.get(job.id)
    finally:
        store.close()
    jobs.ensure_worker(ctx.root)
    return {**job_dict(job), "message": f"Job {job.id}: queued again from the start."}


def save_profile(ctx: AppContext, user: User | None, base: str, name: str, settings: dict[str, Any],
                 description: str = "") -> Path:
    """Write the base profile with these settings over it as a new profile: <workspace>/profiles/<name>.toml in the
    open local app, the caller's own folder (profiles/users/<user>/, seen by them only) in a shared one. A name the
    caller's profiles already have is refused (never shadow or overwrite one); the file is checked by loading it
    back."""
    user = _may_train(ctx, user)
    name = (name or "").strip()
    if (why := check_name(name)) is not None:
        raise ActionError(why.replace("dataset name", "profile name").replace("; pass --dataset-name", ""))
    taken = {n.lower(): n for n in ctx.profiles(user)}
    if name.lower() in taken:
        raise ActionError(f"a profile named {taken[name.lower()]} exists already; choose another name")
    try:
        prof = ctx.profile(user, base)
    except ProfileError as err:
        raise ActionError(str(err)) from None
    data = {"description": description or f"{prof.description} (saved from the app, based on {prof.name})",
            "task": prof.task, "min_images": prof.min_images, "estimated_output_gb": prof.estimated_output_gb}
    if prof.sample_prompts:
        data["sample_prompts"] = list(prof.sample_prompts)
    data["config"] = merge(prof.config, settings)
    folder = ctx.own_profiles_dir(user) or ctx.root / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    try:
        load_profile_file(path)
    except ProfileError as err:
        path.unlink(missing_ok=True)
        raise ActionError(str(err).replace(str(path), name)) from None
    return path
