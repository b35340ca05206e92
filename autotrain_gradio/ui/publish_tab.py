"""The Publish tab: what to do with a finished run. Push its model folder (weights + model card) to the Hugging Face
Hub under a repo name, private or public, with the visitor's own token; merge an LLM's LoRA adapter into full
weights (output/<name>/merged, which the Chat tab then prefers); download one zip, or pick single files, each named
for what it is (`<name>-comfyui.safetensors`, `<name>-diffusers/...`, `<name>-checkpoint-N/...`).

The token is used in memory for this one push and never written anywhere: the one typed here, else the caller's own
(a Space visitor's sign-in, a login's `set_hf_token`, the open local app's HF_TOKEN); a shared app never falls back to
the machine's token. huggingface_hub (and, for a merge, torch)
are imported on the click only, so building the app stays light.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import gradio as gr

from autotrain_gradio import jobs
from autotrain_gradio.auth import User
from autotrain_gradio.config import ConfigError
from autotrain_gradio.tasks import load_config
from autotrain_gradio.ui.actions import ActionError, AppContext, download, download_name, job_secrets, model_files

REPO_NAME = re.compile(r"^(?:[\w.-]{1,96}/)?[\w.-]{1,96}$")


def finished_runs(ctx: AppContext, user: User | None) -> list[tuple[str, int]]:
    """(label, job id) of the caller's completed runs with model files, newest first."""
    return [(f"{j.id}: {j.name} ({j.profile})", j.id) for j in reversed(ctx.visible_jobs(user))
            if j.status == "completed" and model_files(j)]


def publish_files(job: jobs.Job) -> list[tuple[Path, str]]:
    """(file, name in the repo) of what a push uploads: the model folder (weights, model card, configs); never
    checkpoints, logs or samples outside the model folder."""
    model = Path(job.output_dir) / "model"
    return [(p, str(p.relative_to(model))) for p in sorted(model.rglob("*")) if p.is_file()]


def file_list(job: jobs.Job) -> str:
    """Markdown: each downloadable file under the name it downloads as."""
    return "\n".join(f"- `{download_name(job, p)}`" for p in model_files(job))


def push(ctx: AppContext, user: User | None, job_id: Any, repo: str, private: bool, token: str = "") -> str:
    """Upload the job's model folder to `repo` (`name` or `owner/name`) with the caller's own token; the URL."""
    job = ctx.job(user, job_id)
    if job.status != "completed":
        raise ActionError(f"job {job.id} is {job.status}; only a completed run can be published")
    repo = (repo or "").strip()
    if not REPO_NAME.match(repo):
        raise ActionError(f"{repo!r} is not a repo name; use letters, digits, '-', '_' or '.', as name or owner/name")
    # The typed token, else the caller's own: a Space sign-in, a login's set_hf_token, the local machine's HF_TOKEN.
    secret = (token or "").strip() or job_secrets(ctx, user).get("HF_TOKEN", "")
    if not secret:
        raise ActionError("give your Hugging Face write token (huggingface.co/settings/tokens); it is used for this "
                          "push only and never stored")
    files = publish_files(job)
    if not files:
        raise ActionError(f"job {job.id} has no model folder to publish")
    from huggingface_hub import HfApi

    api = HfApi(token=secret)
    try:
        repo_id = repo if "/" in repo else f"{api.whoami()['name']}/{repo}"
        api.create_repo(repo_id, repo_type="model", private=bool(private), exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(Path(job.output_dir) / "model"), repo_type="model",
                          commit_message=f"autotrain-gradio: {job.name}")
    except Exception as err:  # noqa: BLE001 - any Hub failure is one line for the person; the token never shows
        text = str(err).replace(secret, "***").splitlines()[0] if str(err) else type(err).__name__
        raise ActionError(f"the Hugging Face Hub refused or could not be reached: {text}") from None
    return f"https://huggingface.co/{repo_id}"


def merge(ctx: AppContext, user: User | None, job_id: Any) -> Path:
    """Merge an LLM run's LoRA adapter into its base model: output/<name>/merged (what Chat then loads)."""
    job = ctx.job(user, job_id)
    adapter = Path(job.output_dir) / "model"
    try:
        cfg = load_config(job.config_path)
    except (ConfigError, OSError) as err:
        raise ActionError(f"job {job.id}: its config cannot be read ({err})") from None
    if cfg.task != "llm" or not (adapter / "adapter_config.json").is_file():
        raise ActionError(f"job {job.id} has no LLM LoRA adapter to merge (only LLM runs trained with LoRA have one)")
    from autotrain_gradio.tasks.llm.model import merge_adapter

    return merge_adapter(str(cfg.base_model), adapter, Path(job.output_dir) / "merged")


def build(ctx: AppContext, app: gr.Blocks) -> tuple[Any, gr.Dropdown]:
    """Render the Publish tab; returns the run list's refresh and the list (the app refreshes it when a job ends)."""
    with gr.Row():
        run = gr.Dropdown(label="Finished run", choices=[], elem_id="publish-run", scale=3, allow_custom_value=True)
        refresh = gr.Button("Refresh runs", scale=0, min_width=140, elem_id="publish-refresh")
    files_note = gr.Markdown("", elem_id="publish-files")
    with gr.Accordion("Push to the Hugging Face Hub", open=True):
        with gr.Row():
            repo = gr.Textbox(label="Repo name", placeholder="my-lora  or  your-name/my-lora", elem_id="publish-repo")
            private = gr.Checkbox(value=True, label="Private repo", elem_id="publish-private")
        token = gr.Textbox(label="Your Hugging Face write token", type="password", elem_id="publish-token",
                           placeholder="hf_… (used for this push only, never stored; on a Space your sign-in is used)")
        push_btn = gr.Button("Push to the Hub", variant="primary", elem_id="publish-push")
    with gr.Row():
        merge_btn = gr.Button("Merge the LLM adapter into full weights", elem_id="publish-merge")
        zip_btn = gr.Button("Download everything as one zip", elem_id="publish-zip")
        files_btn = gr.Button("List files to download", elem_id="publish-list")
    status = gr.Markdown("", elem_id="publish-status")
    files = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="publish-downloads")

    def user_of(request: gr.Request) -> User | None:
        return ctx.access.user_of(request)

    def runs(current: int | None, request: gr.Request) -> dict:
        try:
            choices = finished_runs(ctx, user_of(request))
        except ActionError:
            choices = []
        ids = [job_id for _, job_id in choices]
        return gr.update(choices=choices, value=current if current in ids else (ids[0] if ids else None))

    def on_run(job_id: int | None, request: gr.Request) -> dict:
        try:
            job = ctx.job(user_of(request), job_id)
        except ActionError:
            return {files_note: "No finished run yet: train one, then publish it here.", repo: "", status: "",
                    files: None}
        return {files_note: f"**Files of {job.name}**\n{file_list(job)}", repo: job.name.split("--")[-1],
                status: "", files: None}

    def on_push(job_id: int | None, name: str, is_private: bool, secret: str, request: gr.Request) -> dict:
        try:
            url = push(ctx, user_of(request), job_id, name, is_private, secret)
        except ActionError as err:
            return {status: f"❌ {err}", token: ""}
        return {status: f"✅ Published: [{url}]({url})", token: ""}

    def on_merge(job_id: int | None, request: gr.Request) -> dict:
        try:
            folder = merge(ctx, user_of(request), job_id)
        except (ActionError, ValueError) as err:
            return {status: f"❌ {err}"}
        return {status: f"✅ Merged into {folder.name}/: the Chat tab now talks to the merged model"}

    def on_download(job_id: int | None, as_zip: bool, request: gr.Request) -> dict:
        try:
            return {files: download(ctx, user_of(request), job_id, as_zip=as_zip), status: ""}
        except ActionError as err:
            return {status: f"❌ {err}"}

    def on_zip(job_id: int | None, request: gr.Request) -> dict:
        return on_download(job_id, True, request)

    def on_files(job_id: int | None, request: gr.Request) -> dict:
        return on_download(job_id, False, request)

    private_api = {"api_visibility": "private"}
    gr.on([app.load, refresh.click], runs, [run], [run], **private_api)
    run.change(on_run, [run], [files_note, repo, status, files], **private_api)
    push_btn.click(None, None, push_btn, js="() => '⏳ Pushing…'", **private_api)
    push_btn.click(on_push, [run, repo, private, token], [status, token], **private_api).then(
        lambda: gr.Button("Push to the Hub"), None, push_btn, **private_api)
    merge_btn.click(on_merge, [run], [status], concurrency_id="gpu", concurrency_limit=1, **private_api)
    zip_btn.click(on_zip, [run], [files, status], **private_api)
    files_btn.click(on_files, [run], [files, status], **private_api)
    return runs, run
