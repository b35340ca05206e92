"""Fair use of the shared compute (Try it, Chat): bounds checked here on the server, whatever a slider or a raw API
call sends; each user runs one Try or Chat at a time (a second is refused at once, it never waits in the queue ahead
of other users); one model works at a time (`model_lock`), each call for at most `CALL_TIME_LIMIT_S`; a call whose
caller went away (the page closed, the client disconnected) stops at its next step.

So another user waits at most one bounded call. Imports no torch.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from autotrain_gradio.auth import User
from autotrain_gradio.ui.actions import ActionError

TRY_MAX_STEPS = 50  # denoising steps of one Try (the run's own sample_steps are far below)
TRY_MAX_RESOLUTION = 1024  # pixels per side a Try renders
MAX_INPUT_PIXELS = 4096 * 4096  # an image given to a classifier
MAX_TEXT_CHARS = 10_000  # a text given to a classifier or tagger, one chat message
CHAT_MAX_NEW_TOKENS = 512
CHAT_MAX_MESSAGES = 40  # history sent with one message
CHAT_MAX_HISTORY_CHARS = 40_000
CALL_TIME_LIMIT_S = 120.0
BUSY = ("you already have a Try or Chat running; wait for it to finish (each user runs one at a time, so everyone "
        "gets a turn)")

model_lock = threading.Lock()  # one model works at a time in this app, Try and Chat together
stops: deque[tuple[str, str]] = deque(maxlen=50)  # (user, why) of the latest calls stopped early, newest last
_running: set[str] = set()
_guard = threading.Lock()


def check_try(steps: int | None, resolution: int | None = None, image: Any = None, text: str = "") -> None:
    """Refuse a Try past the bounds, with the bound in the sentence."""
    if steps is not None and not 0 <= int(steps) <= TRY_MAX_STEPS:
        raise ActionError(f"steps {int(steps)} is past this app's limit of {TRY_MAX_STEPS} for one Try; use fewer")
    if resolution is not None and resolution > TRY_MAX_RESOLUTION:
        raise ActionError(f"this run renders {resolution}px images, past this app's Try limit of "
                          f"{TRY_MAX_RESOLUTION}px; download the LoRA and try it on your own machine")
    size = getattr(image, "size", None)
    if size is not None and size[0] * size[1] > MAX_INPUT_PIXELS:
        raise ActionError(f"the image is {size[0]}x{size[1]} pixels, past this app's limit of "
                          f"{MAX_INPUT_PIXELS // 1_000_000} megapixels; send a smaller one")
    if len(text or "") > MAX_TEXT_CHARS:
        raise ActionError(f"the text is {len(text)} characters, past this app's limit of {MAX_TEXT_CHARS}")


def check_chat(messages: list[dict[str, Any]], max_new_tokens: int) -> None:
    """Refuse a chat call past the bounds (new tokens, history length, message size)."""
    if not 1 <= int(max_new_tokens) <= CHAT_MAX_NEW_TOKENS:
        raise ActionError(f"max_new_tokens {int(max_new_tokens)} is outside 1..{CHAT_MAX_NEW_TOKENS}, this app's "
                          "limit for one reply")
    if len(messages) > CHAT_MAX_MESSAGES:
        raise ActionError(f"the conversation has {len(messages)} messages, past this app's limit of "
                          f"{CHAT_MAX_MESSAGES}; press Clear to start a new one")
    chars = sum(len(str(m.get("content", ""))) for m in messages)
    if chars > CHAT_MAX_HISTORY_CHARS or len(str(messages[-1].get("content", ""))) > MAX_TEXT_CHARS:
        raise ActionError(f"the conversation is {chars} characters, past this app's limit of "
                          f"{CHAT_MAX_HISTORY_CHARS} (one message: {MAX_TEXT_CHARS}); press Clear to start a new one")


@contextmanager
def one_at_a_time(user: User) -> Iterator[None]:
    """Hold this user's single Try/Chat turn; a second call while one runs is refused at once (429)."""
    with _guard:
        if user.name in _running:
            raise ActionError(BUSY, 429)
        _running.add(user.name)
    try:
        yield
    finally:
        with _guard:
            _running.discard(user.name)


@contextmanager
def model_turn(limit_s: float = CALL_TIME_LIMIT_S) -> Iterator[None]:
    """The app's one model slot, waited for at most one call's time limit."""
    if not model_lock.acquire(timeout=limit_s):
        raise ActionError("the model is busy with another user's call; try again in a minute", 429)
    try:
        yield
    finally:
        model_lock.release()


def stopper(blocks: Any, limit_s: float | None = None) -> Callable[[], str | None]:
    """A check for the current event, called between steps: why to stop ('time limit' / 'caller gone') or None.
    The caller is gone when Gradio's queue marked this event dead (its client disconnected)."""
    from gradio.context import LocalContext

    limit_s = CALL_TIME_LIMIT_S if limit_s is None else limit_s
    deadline = time.monotonic() + limit_s
    event_id = LocalContext.event_id.get(None)

    def why() -> str | None:
        if time.monotonic() > deadline:
            return f"stopped at this app's time limit of {limit_s:.0f} s per call"
        queue = getattr(blocks, "_queue", None)
        for events in list(getattr(queue, "active_jobs", None) or []):
            for event in events or []:
                if getattr(event, "_id", None) == event_id and not getattr(event, "alive", True):
                    return "stopped: the caller went away"
        return None

    return why
