"""Tokens in login mode: a job gets its submitter's own token, never the app owner's HF_TOKEN."""

from __future__ import annotations

from autotrain_gradio.auth import Access, User
from autotrain_gradio.ui.actions import AppContext, job_secrets, run_request
from tests.security.conftest import call


def test_a_login_job_never_gets_the_owners_token(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_app_owner")
    monkeypatch.setenv("WANDB_API_KEY", "owner-wandb")
    ctx = AppContext(tmp_path, Access.from_settings(tmp_path, auth=["alice:a", "bob:b"]))
    assert job_secrets(ctx, User("bob")) == {}
    ctx.access.set_token("alice", "hf_alice_own")
    assert job_secrets(ctx, User("alice", "hf_alice_own")) == {"HF_TOKEN": "hf_alice_own"}
    refused = run_request(ctx, User("bob"), str(ctx.uploads(User("bob"))), "TinyFluxLORA",
                          overrides={"push_to_hub": True})
    assert refused.errors[0].startswith("push_to_hub needs your own Hugging Face token")
    local = AppContext(tmp_path, Access.from_settings(tmp_path, space=False))
    assert job_secrets(local, User(""))["HF_TOKEN"] == "hf_app_owner"  # one's own machine: the CLI's rule


def test_set_hf_token_is_per_login_and_in_memory_only(app):
    alice, bob = app.session("alice"), app.session("bob")
    access = app.served.ctx.access
    kind, (out,) = call(alice, "set_hf_token", "hf_alice_secret")
    assert kind == "complete" and out["ok"], out
    assert access.tokens == {"alice": "hf_alice_secret"}
    assert access.user_of(type("R", (), {"username": "bob", "headers": {}})()).token is None
    kind, message = call(bob, "set_hf_token", "not a token")
    assert (kind, message) == ("error", "that is not a Hugging Face token (hf_...); copy it from "
                                        "huggingface.co/settings/tokens")
    leaked = [p for p in app.root.rglob("*") if p.is_file() and b"hf_alice_secret" in p.read_bytes()]
    assert leaked == []  # never written
    assert call(alice, "set_hf_token", "")[1][0]["ok"] and access.tokens == {}
