"""The app offers only tasks whose libraries are installed, in every mode: the others are listed apart, greyed, with
the pip command that adds them, and the Profiles tab says the same per profile."""

from __future__ import annotations

import sys

import pytest

from autotrain_gradio.auth import Access, User
from autotrain_gradio.ui.actions import AppContext
from autotrain_gradio.ui.app import build_app
from autotrain_gradio.ui.profiles_tab import profiles_frame

COMMAND = "pip install 'autotrain-gradio[llm]'"
NEED_TRL = {"LLM-SFT", "LLM-DPO", "LLM-ORPO", "LLM-Reward", "TinyLLM", "VLM", "TinyVLM"}


def _by_id(blocks) -> dict:
    return {c.elem_id: c for c in blocks.blocks.values() if getattr(c, "elem_id", None)}


@pytest.mark.parametrize("auth", [None, ["alice:pw"]])  # the open local app and login mode (Space: test_space_mode)
def test_tasks_without_their_libraries_are_listed_apart_with_the_pip_command(tmp_path, monkeypatch, auth):
    monkeypatch.setitem(sys.modules, "trl", None)  # how Python marks a module that cannot be imported
    ctx = AppContext(tmp_path, Access.from_settings(tmp_path, space=False, auth=auth))
    ids = _by_id(build_app(ctx=ctx))
    choices = {value for _, value in ids["profile"].choices}
    assert not choices & NEED_TRL and {"TinyFluxLORA", "TextClassification", "Seq2Seq"} <= choices
    note = ids["not-installed"].value
    assert f"<code>{COMMAND}</code>" in note and all(name in note for name in NEED_TRL)
    assert "TinyFluxLORA" not in note and "opacity" in note  # greyed
    frame = profiles_frame(ctx, User(""))
    installed = dict(zip(frame["name"], frame["installed"], strict=True))
    assert installed["LLM-SFT"] == COMMAND and installed["TinyFluxLORA"] == "yes"


def test_nothing_is_listed_apart_when_every_library_is_here(tmp_path):
    ids = _by_id(build_app(tmp_path))
    assert ids["not-installed"].value == "" and "LLM-SFT" in {v for _, v in ids["profile"].choices}
