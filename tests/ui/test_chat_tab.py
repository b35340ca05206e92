"""The Chat tab on a real TinyLLM run: it lists the caller's llm jobs, streams a reply with the run's chat template
that equals the model's own greedy generation, falls back to the newest checkpoint while there is no export, and
answers through the named `/chat` endpoint of a real server (gradio_client)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from autotrain_gradio.auth import Access, User
from autotrain_gradio.ui.actions import ActionError, AppContext
from autotrain_gradio.ui.chat_tab import chat_runs, model_folder, stream_reply

pytestmark = pytest.mark.slow
PROMPT = [{"role": "user", "content": "Hey cat?"}]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[AppContext, int]:
    """A finished TinyLLM SFT job (a few steps, a checkpoint every 3) started through the CLI."""
    root = tmp_path_factory.mktemp("chat-ws")
    data = tmp_path_factory.mktemp("chat-data") / "chats.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"Hey {a}?"}, {"role": "assistant", "content": s}]}
            for a, s in {"cat": "meow", "dog": "woof", "cow": "moo"}.items() for _ in range(3)]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "autotrain_gradio.cli", "--workspace", str(root), "pipeline", "run", "--dataset-path",
         str(data), "--profile", "TinyLLM", "--immediate", "--set", "max_steps=6", "--set", "checkpoint_every=3",
         "--set", "eval_every_epoch=false", "--column-mapping", "text_column=messages"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    ctx = AppContext(root, Access.from_settings(root, space=False))
    (job,) = ctx.visible_jobs(User(""))
    return ctx, job.id


def _greedy(folder: Path, max_new_tokens: int) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder)
    inputs = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    ids = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)[0][inputs["input_ids"].shape[1]:]
    return tokenizer.decode(ids, skip_special_tokens=True)


def test_lists_streams_and_falls_back_to_a_checkpoint(trained):
    ctx, job_id = trained
    (label, listed), = chat_runs(ctx, User(""))
    assert listed == job_id and label.endswith("(completed, model)")
    job = ctx.job(User(""), job_id)
    assert model_folder(job) == Path(job.output_dir) / "model"

    pieces = list(stream_reply(ctx, User(""), job_id, PROMPT, max_new_tokens=12))
    assert len(pieces) >= 2 and all(b.startswith(a) for a, b in zip(pieces, pieces[1:], strict=False))
    assert pieces[-1] == _greedy(Path(job.output_dir) / "model", 12)

    # Without an export (a run still training, say) the newest checkpoint answers.
    shutil.move(Path(job.output_dir) / "model", Path(job.output_dir) / "model.away")
    try:
        assert model_folder(job) == Path(job.output_dir) / "checkpoints" / "checkpoint-6"
        assert list(stream_reply(ctx, User(""), job_id, PROMPT, max_new_tokens=12))[-1] == pieces[-1]
    finally:
        shutil.move(Path(job.output_dir) / "model.away", Path(job.output_dir) / "model")
    with pytest.raises(ActionError, match="no job with id 999 among your jobs"):
        list(stream_reply(ctx, User(""), 999, PROMPT))


def test_chat_endpoint_on_a_real_server(trained):
    from gradio_client import Client

    from autotrain_gradio.ui.server import launch

    ctx, job_id = trained
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    served = launch(workspace=ctx.root, port=port, server_name="127.0.0.1", prevent_thread_lock=True)
    try:
        client = Client(served.url, verbose=False)
        history, box = client.predict("Hey cat?", [], job_id, 12, 0.0, api_name="/chat")
        assert box == ""
        assert [m["role"] for m in history] == ["user", "assistant"]
        reply = history[-1]["content"]
        reply = reply if isinstance(reply, str) else "".join(p.get("text", "") for p in reply)
        job = ctx.job(User(""), job_id)
        assert reply == _greedy(Path(job.output_dir) / "model", 12)
    finally:
        served.close()
