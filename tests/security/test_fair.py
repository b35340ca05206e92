"""Fair use of Try it: bounds on the server, one call per user at a time, another user's Try answers, a time limit
per call, and the work stopped when the caller goes away."""

from __future__ import annotations

import threading
import time

from autotrain_gradio.ui import fair
from tests.security.conftest import call


def _wait(predicate, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_huge_steps_are_refused_and_the_other_users_try_answers(app, lora_runs):
    alice, bob = app.session("alice"), app.session("bob")
    args = ("a photo of {trigger}", 0, 3000, 1.0, None, "")
    kind, message = call(alice, "try_run", lora_runs["alice"], *args)
    assert (kind, message) == ("error", "steps 3000 is past this app's limit of 50 for one Try; use fewer")
    # alice holds the model (a Try the test keeps waiting on the model slot); her second Try is refused at once,
    # bob's is queued behind one bounded call and answers when it ends.
    fair.model_lock.acquire()
    try:
        first = threading.Thread(target=call, args=(alice, "try_run", lora_runs["alice"], "x", 0, 2, 1.0, None, ""))
        first.start()
        _wait(lambda: "alice" in fair._running)
        kind, message = call(app.session("alice"), "try_run", lora_runs["alice"], "y", 0, 1, 1.0, None, "")
        assert (kind, message) == ("error", fair.BUSY)
        answers = []
        second = threading.Thread(target=lambda: answers.append(
            call(bob, "try_run", lora_runs["bob"], "a photo of {trigger}", 1, 1, 1.0, None, "")))
        second.start()
    finally:
        fair.model_lock.release()
    first.join(300)
    second.join(300)
    kind, out = answers[0]
    assert kind == "complete" and out[4].startswith("prompt: a photo of"), out
    kind, message = call(bob, "try_run", lora_runs["alice"], *args)  # alice's run is no run of bob's
    assert (kind, message) == ("error", f"no job with id {lora_runs['alice']} among your jobs")


def test_time_limit_and_disconnect_stop_the_work(app, lora_runs, monkeypatch):
    alice = app.session("alice")
    monkeypatch.setattr(fair, "CALL_TIME_LIMIT_S", 0.0)
    kind, message = call(alice, "try_run", lora_runs["alice"], "a photo", 0, 2, 1.0, None, "")
    assert (kind, message) == ("error", "stopped at this app's time limit of 0 s per call")
    monkeypatch.setattr(fair, "CALL_TIME_LIMIT_S", 120.0)
    # The caller goes away while the call waits for the model: it stops at its first step, nobody waiting on it.
    fair.stops.clear()
    fair.model_lock.acquire()
    try:
        started = alice.post("/gradio_api/call/try_run",
                             json={"data": [lora_runs["alice"], "a photo", 0, 50, 1.0, None, ""]}).json()["event_id"]
        with alice.stream("GET", f"/gradio_api/call/try_run/{started}") as stream:
            _wait(lambda: "alice" in fair._running)
            stream.close()  # the client disconnects mid-call
        queue = app.served.blocks._queue
        _wait(lambda: not any(e.alive for jobs in queue.active_jobs if jobs for e in jobs if e._id == started))
    finally:
        fair.model_lock.release()
    _wait(lambda: "alice" not in fair._running)
    assert list(fair.stops) == [("alice", "stopped: the caller went away")]


def test_chat_and_try_bounds_are_the_servers(app, lora_runs):
    bob = app.session("bob")
    job = lora_runs["bob"]
    kind, message = call(bob, "chat", "hi", [], job, 100_000, 0.0)  # the slider's bound is the server's too
    assert (kind, message) == ("error", f"Value 100000 is greater than maximum value {fair.CHAT_MAX_NEW_TOKENS}.")
    history = [{"role": role, "content": [{"type": "text", "text": "hello"}]} for role in ("user", "assistant")] * 20
    kind, message = call(bob, "chat", "again", history, job, 8, 0.0)
    assert (kind, message) == ("error", "the conversation has 41 messages, past this app's limit of 40; press Clear "
                                        "to start a new one")
    kind, message = call(bob, "chat", "x" * 10_001, [], job, 8, 0.0)
    assert kind == "error" and message.startswith("the conversation is 10001 characters"), message
    kind, message = call(bob, "chat", "hi", [], job, 8, 0.0)  # within bounds: the run itself is the problem
    assert (kind, message) == ("error", f"job {job} has no LLM model or checkpoint to chat with yet")
    kind, message = call(bob, "try_run", job, "a photo", 0, 0, 1.0, None, "z" * 10_001)
    assert (kind, message) == ("error", "the text is 10001 characters, past this app's limit of 10000")
