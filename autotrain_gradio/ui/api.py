"""The app's API: one named Gradio endpoint per action (typed arguments, JSON results, a job id where it acts on a
job), and AutoTrain's REST routes on the same server. Both are thin: they find out who calls (auth.Access) and hand
over to ui/actions.py, the same functions the buttons use.

    from gradio_client import Client
    client = Client("http://127.0.0.1:7860/", auth=("alice", "secret"))   # or hf_token=... on a Space
    job = client.predict("/data/cats", "TinyFluxLORA", "", {"max_steps": 4}, api_name="/start_job")
    client.predict(job["job_id"], api_name="/job_status")

    curl -X POST -H "Authorization: Bearer $TOKEN" -d '{"job_id": 1}' http://127.0.0.1:7860/api/logs
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from fastapi import FastAPI, HTTPException, Request
from gradio.data_classes import FileData
from pydantic import BaseModel, Field, ValidationError

from autotrain_gradio.compat import rest
from autotrain_gradio.ui import actions, manage, uploads
from autotrain_gradio.ui.actions import ActionError, AppContext


def _call(fn, *args: Any) -> Any:
    try:
        return fn(*args)
    except ActionError as err:
        raise gr.Error(str(err)) from None


def register(ctx: AppContext) -> None:
    """Declare the named endpoints inside the current Blocks context."""
    user = ctx.access.user_of

    def validate(dataset: str, profile: str, dataset_name: str = "", settings: dict | None = None,
                 request: gr.Request = None) -> dict:
        """Dry run: check a dataset (a folder you may read, or one `upload_dataset` returned) against a profile
        with optional settings; nothing is written. Returns ok, errors, warnings, the plan and the config."""
        result = actions.run_request(ctx, user(request), dataset, profile, dataset_name=dataset_name,
                                     overrides=settings, dry_run=True)
        return actions.result_dict(result)

    def start_job(dataset: str, profile: str, dataset_name: str = "", settings: dict | None = None,
                  request: gr.Request = None) -> dict:
        """Validate, prepare, configure and queue a training job. Returns the result with its job_id."""
        result = actions.run_request(ctx, user(request), dataset, profile, dataset_name=dataset_name,
                                     overrides=settings, dry_run=False)
        return actions.result_dict(result)

    def list_jobs(request: gr.Request = None) -> list[dict]:
        """Your jobs, newest first."""
        return _call(actions.list_jobs, ctx, user(request))

    def job_status(job_id: int, request: gr.Request = None) -> dict:
        """Status, step/total, loss, ETA and latest metrics of one of your jobs."""
        return _call(actions.job_status, ctx, user(request), job_id)

    def job_events(job_id: int, offset: int = 0, request: gr.Request = None) -> dict:
        """A job's events since `offset` (0: from its start) and the offset to ask from next time."""
        return _call(actions.job_events, ctx, user(request), job_id, offset)

    def job_logs(job_id: int, lines: int = 30, request: gr.Request = None) -> dict:
        """A job's own log lines by level, and the tail of its raw trainer output."""
        return _call(actions.job_logs, ctx, user(request), job_id, lines)

    def cancel_job(job_id: int, request: gr.Request = None) -> dict:
        """Cancel one of your jobs; a running trainer writes a checkpoint and ends."""
        return _call(actions.cancel_job, ctx, user(request), job_id)

    def resume_job(job_id: int, request: gr.Request = None) -> dict:
        """Queue a cancelled or failed job of yours again; it continues from its last checkpoint."""
        return _call(actions.resume_job, ctx, user(request), job_id)

    def download(job_id: int, as_zip: bool = False, request: gr.Request = None) -> list[FileData]:
        """One of your jobs' model files and checkpoint LoRAs (or one zip of them), as downloadable files."""
        return [FileData(path=p) for p in _call(actions.download, ctx, user(request), job_id, as_zip)]

    def delete_job(job_id: int, request: gr.Request = None) -> dict:
        """Delete a finished job of yours and its output folder."""
        return _call(manage.delete_job, ctx, user(request), job_id)

    def duplicate_job(job_id: int, request: gr.Request = None) -> dict:
        """Queue a new run with the settings and data of one of your jobs; returns the new job."""
        return _call(manage.duplicate_job, ctx, user(request), job_id)

    def retry_job(job_id: int, request: gr.Request = None) -> dict:
        """Queue a failed or cancelled job of yours again from the start."""
        return _call(manage.retry_job, ctx, user(request), job_id)

    def set_hf_token(token: str, request: gr.Request = None) -> dict:
        """(Logins) Your own Hugging Face token for your jobs and push_to_hub, held in memory only; '' forgets it.
        Jobs never get the app owner's token."""
        return _call(actions.set_token, ctx, user(request), token)

    def list_uploads(request: gr.Request = None) -> list[str]:
        """Your uploads' names, oldest first."""
        return _call(uploads.list_uploads, ctx, user(request))

    def delete_upload(name: str, request: gr.Request = None) -> dict:
        """Delete one of your uploads (its name, or the dataset path upload_dataset returned)."""
        return _call(uploads.delete_upload, ctx, user(request), name)

    for fn in (validate, start_job, list_jobs, job_status, job_events, job_logs, cancel_job, resume_job, download,
               delete_job, duplicate_job, retry_job, set_hf_token, list_uploads, delete_upload):
        gr.api(fn, api_name=fn.__name__, concurrency_id="api", concurrency_limit=4)


# --- AutoTrain's REST routes -----------------------------------------------------------------------------------


class CreateProject(BaseModel):
    """AutoTrain's create_project body, in this app's terms: a profile stands for task + base model."""

    project_name: str = Field("", description="the run's name (default: from the dataset folder)")
    profile: str = Field(..., description="a profile name, e.g. TinyFluxLORA")
    dataset: str = Field(..., description="a dataset folder this user may read (an upload's folder in a Space)")
    params: dict[str, Any] = Field(default_factory=dict, description="settings that override the profile")


class JobRef(BaseModel):
    job_id: int | None = None
    project_name: str | None = Field(None, description="instead of job_id: the newest job of this name")
    jid: int | str | None = Field(None, description="AutoTrain's name for job_id")


def add_rest_routes(app: FastAPI, ctx: AppContext) -> None:
    """POST /api/create_project, /api/logs and /api/stop_training, each with 'Authorization: Bearer <token>'."""

    def caller(request: Request):
        if ctx.access.mode != "space" and not ctx.access.api_tokens:
            raise HTTPException(401, "the REST API is off: start the app with --api-token (or AUTOTRAIN_API_TOKEN)")
        token = request.headers.get("authorization", "")
        if not token.lower().startswith("bearer ") or (who := ctx.access.user_of_token(token[7:].strip())) is None:
            raise HTTPException(401, "a valid 'Authorization: Bearer <token>' header is required")
        return who

    def job_id(ref: JobRef, who) -> int:
        if ref.job_id is not None:
            return ref.job_id
        if ref.jid is not None:  # AutoTrain's client
            return ref.jid
        named = [j for j in ctx.visible_jobs(who) if j.name == ref.project_name or j.name.endswith(
            f"--{ref.project_name}")]
        if not named:
            raise ActionError(f"no job named {ref.project_name!r} among your jobs", 404)
        return named[-1].id

    def answer(fn, *args):
        try:
            return fn(*args)
        except ActionError as err:
            raise HTTPException(err.status, str(err)) from None

    @app.post("/api/create_project")
    def create_project(body: dict[str, Any], request: Request) -> dict:
        """Ours (profile, dataset, params) or AutoTrain's body (task, base_model, hub_dataset, ...)."""
        who = caller(request)
        if rest.is_autotrain_body(body):
            return answer(rest.create_project, ctx, who, body)
        try:
            ours = CreateProject.model_validate(body)
        except ValidationError as err:
            raise HTTPException(422, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                               for e in err.errors())) from None
        result = actions.run_request(ctx, who, ours.dataset, ours.profile, dataset_name=ours.project_name,
                                     overrides=ours.params, dry_run=False)
        if result.errors:
            raise HTTPException(403 if "may not train" in result.errors[0] else 400, result.errors[0])
        return {"success": True, "job_id": result.job_id, "project_name": result.name}

    @app.post("/api/logs")
    def logs(body: JobRef, request: Request) -> dict:
        who = caller(request)

        def both() -> dict:  # ours, and AutoTrain's `logs` text, `success`, `message`
            found = actions.job_logs(ctx, who, job_id(body, who))
            return {**found, "status": actions.job_status(ctx, who, job_id(body, who)),
                    "logs": rest.logs_text(found), "success": True, "message": "Logs fetched successfully"}
        return answer(both)

    def stop(ref: JobRef, request: Request) -> dict:
        who = caller(request)
        stopped = answer(lambda: actions.cancel_job(ctx, who, job_id(ref, who)))
        return {**stopped, "detail": stopped.get("message", ""), "success": True,
                "message": f"Training stopped for {stopped.get('job_id', ref.jid)}"}

    @app.post("/api/stop_training")
    def stop_training(body: JobRef, request: Request) -> dict:
        return stop(body, request)

    @app.post("/api/stop_training/{jid}")
    def stop_training_by_id(jid: int, request: Request) -> dict:
        """AutoTrain's client posts the job id in the path."""
        return stop(JobRef(jid=jid), request)

    @app.get("/api/version")
    def version() -> dict:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as installed

        try:
            return {"version": installed("autotrain-gradio")}
        except PackageNotFoundError:
            return {"version": "unknown"}
