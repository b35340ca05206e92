"""The Chat tab: try an LLM run. Pick one of your `llm` jobs; its merged model, else its model/ folder (a LoRA adapter
loads with its base model), else its newest checkpoint is loaded and replies stream token by token, formatted with
the run's own chat template.

Replies share the app's one model slot with Try it (ui/fair.py: bounds checked on the server, one call per user, one
model at a time, a time limit per call, stopped when the caller goes away). transformers is imported on the first
message only: building the app stays torch-free. One model stays loaded
(the last one asked for); a newer checkpoint or a finished export replaces it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from autotrain_gradio import jobs
from autotrain_gradio.auth import User
from autotrain_gradio.config import ConfigError
from autotrain_gradio.tasks import load_config
from autotrain_gradio.ui import fair
from autotrain_gradio.ui.actions import ActionError, AppContext

_loaded: dict[str, Any] = {}  # {"key": (folder, mtime), "model": ..., "tokenizer": ...}


def model_folder(job: jobs.Job) -> Path | None:
    """What to chat with: output/<name>/merged, else model/, else the newest checkpoints/checkpoint-N."""
    out = Path(job.output_dir)
    for folder in (out / "merged", out / "model"):
        if (folder / "config.json").is_file() or (folder / "adapter_config.json").is_file():
            return folder
    checkpoints = [p for p in (out / "checkpoints").glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(checkpoints, key=lambda p: int(p.name.split("-")[-1])) if checkpoints else None


def _is_llm(job: jobs.Job) -> bool:
    try:
        return load_config(job.config_path).task == "llm"
    except (ConfigError, OSError):
        return False


def chat_runs(ctx: AppContext, user: User | None) -> list[tuple[str, int]]:
    """(label, job id) for the caller's llm jobs that have something to load, newest first."""
    runs = [job for job in ctx.visible_jobs(user) if _is_llm(job) and model_folder(job) is not None]
    return [(f"{job.id}: {job.name} ({job.status}, {model_folder(job).name})", job.id) for job in reversed(runs)]


def _model(folder: Path) -> tuple[Any, Any]:
    """The model and tokenizer in `folder`, loaded once and kept until another folder (or a newer save) is asked."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    key = (str(folder), max(p.stat().st_mtime for p in folder.iterdir()))
    if _loaded.get("key") != key:
        _loaded.clear()  # free the previous model before loading the next
        device = "cuda" if torch.cuda.is_available() else "cpu"
        model = AutoModelForCausalLM.from_pretrained(folder, dtype="auto").to(device).eval()
        model.config.use_cache = True
        _loaded.update(key=key, model=model, tokenizer=AutoTokenizer.from_pretrained(folder))
    return _loaded["model"], _loaded["tokenizer"]


def _text(content: Any) -> str:
    """A chat message's content as text (Gradio 6 may hand a list of {"type": "text", "text": ...} parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")


def stream_reply(ctx: AppContext, user: User | None, job_id: Any, messages: list[dict[str, Any]],
                 max_new_tokens: int = 128, temperature: float = 0.0,
                 should_stop: Callable[[], str | None] | None = None) -> Iterator[str]:
    """The assistant's reply to `messages` from the job's model, growing as tokens arrive (greedy at temperature 0).
    Within the app's fair-use bounds (ui/fair.py): checked first, one call per user, one model at a time, and the
    generation stops at the next token once `should_stop` gives a reason or the caller stops reading (Gradio closes
    this generator when the client disconnects)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    job = ctx.job(user, job_id)
    chat = [{"role": str(m.get("role")), "content": _text(m.get("content"))} for m in messages]
    if any(m["role"] not in ("system", "user", "assistant") for m in chat):
        raise ActionError("each message's role must be system, user or assistant")
    fair.check_chat(chat, max_new_tokens)
    folder = model_folder(job) if _is_llm(job) else None
    if folder is None:
        raise ActionError(f"job {job.id} has no LLM model or checkpoint to chat with yet")
    closed = threading.Event()
    reason: list[str] = []

    class Stop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            why = "stopped: the caller went away" if closed.is_set() else (should_stop() if should_stop else None)
            if why and not reason:
                reason.append(why)
            return torch.full((input_ids.shape[0],), bool(why), dtype=torch.bool, device=input_ids.device)

    with fair.one_at_a_time(ctx.signed_in(user)), fair.model_turn():
        model, tokenizer = _model(folder)
        inputs = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt",
                                               return_dict=True).to(model.device)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True,
                                        timeout=fair.CALL_TIME_LIMIT_S)
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        worker = threading.Thread(target=model.generate, kwargs={
            **inputs, "streamer": streamer, "max_new_tokens": int(max_new_tokens), **sampling,
            "stopping_criteria": StoppingCriteriaList([Stop()]), "max_time": fair.CALL_TIME_LIMIT_S})
        worker.start()
        text = ""
        try:
            for piece in streamer:
                text += piece
                yield text
        finally:
            closed.set()  # also on GeneratorExit: the generation stops at its next token
            worker.join()
            if reason:
                fair.stops.append((job.owner, reason[0]))
        if reason and reason[0] != "stopped: the caller went away":
            yield f"{text}\n\n[{reason[0]}]"


EMPTY_REPLY = "_(the model returned no text: try another message, more new tokens, or a later checkpoint)_"


def build(ctx: AppContext, app: gr.Blocks) -> Any:
    """Render the Chat tab's contents in the current Blocks context; returns the run list's refresh (the app calls
    it when a job ends)."""
    with gr.Row():
        run = gr.Dropdown(label="Run", choices=[], elem_id="chat-run", scale=3, allow_custom_value=True,
                          info="Your LLM jobs: merged model, else model/, else the newest checkpoint")
        refresh = gr.Button("Refresh runs", scale=0, min_width=140)
    chatbot = gr.Chatbot(label="Chat", elem_id="chat-box", height=360)
    status = gr.Markdown("", elem_id="chat-status")
    with gr.Row():
        box = gr.Textbox(label="Message", placeholder="Say something to the model", elem_id="chat-message", scale=4)
        send = gr.Button("Send", variant="primary", scale=0, min_width=100, elem_id="chat-send")
        stop = gr.Button("Stop", scale=0, min_width=100, elem_id="chat-stop", interactive=False)
        clear = gr.Button("Clear", scale=0, min_width=100)
    with gr.Accordion("Generation", open=False):
        max_new = gr.Slider(1, fair.CHAT_MAX_NEW_TOKENS, value=128, step=1, label="Max new tokens")
        temperature = gr.Slider(0.0, 2.0, value=0.0, step=0.05, label="Temperature (0: greedy)")

    def runs(current: int | None, request: gr.Request) -> dict:
        try:
            choices = chat_runs(ctx, ctx.access.user_of(request))
        except ActionError:
            choices = []
        ids = [job_id for _, job_id in choices]
        return gr.update(choices=choices, value=current if current in ids else (ids[0] if ids else None))

    def respond(message: str, history: list[dict[str, Any]] | None, job_id: int | None, max_new_tokens: float,
                temp: float, request: gr.Request) -> Iterator[tuple[list[dict[str, Any]], str]]:
        """Stream the reply to `message` after `history` from the run `job_id`'s model."""
        if not (message or "").strip():
            raise gr.Error("type a message first")
        history = [{"role": m["role"], "content": _text(m["content"])} for m in history or []]
        history.append({"role": "user", "content": message})
        text = ""
        try:
            for text in stream_reply(ctx, ctx.access.user_of(request), job_id, history, int(max_new_tokens), temp,
                                     fair.stopper(app)):
                yield [*history, {"role": "assistant", "content": text}], ""
        except ActionError as err:
            raise gr.Error(str(err)) from None
        if not text.strip():  # an empty bubble says nothing: say so
            yield [*history, {"role": "assistant", "content": EMPTY_REPLY}], ""

    def loading(job_id: int | None, request: gr.Request) -> dict:
        try:
            folder = model_folder(ctx.job(ctx.access.user_of(request), job_id))
        except ActionError:
            folder = None
        ready = folder is not None and _loaded.get("key", ("",))[0] == str(folder)
        what = "thinking…" if ready else "loading the model (the first reply takes longest)…"
        return {status: f"⏳ {what}", stop: gr.Button(interactive=True), send: gr.Button(interactive=False)}

    def idle() -> dict:
        return {status: "", stop: gr.Button(interactive=False), send: gr.Button(interactive=True)}

    private = {"api_visibility": "private"}
    gr.on([app.load, refresh.click], runs, [run], [run], **private)
    busy = gr.on([box.submit, send.click], loading, [run], [status, stop, send], queue=False, **private)
    reply = busy.then(respond, [box, chatbot, run, max_new, temperature], [chatbot, box], api_name="chat",
                      concurrency_id="gpu", concurrency_limit=4)  # fair.py: one per user, one model at a time
    reply.then(idle, None, [status, stop, send], queue=False, **private)
    stop.click(idle, None, [status, stop, send], cancels=[reply], queue=False, **private)
    clear.click(lambda: ([], ""), None, [chatbot, box], **private)
    return runs, run
