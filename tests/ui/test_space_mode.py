"""Space mode, served as on a Hugging Face Space (SPACE_ID and the OAuth variables set, Gradio's real OAuth routes
and session middleware): who a caller is comes from the signed session cookie HF's sign-in leaves. Two identities
are two such cookies, signed with the key Gradio derives from OAUTH_CLIENT_SECRET; nothing reaches huggingface.co.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from autotrain_gradio.demo import make_sample_dataset

SECRET = "test-oauth-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_cookie(username: str) -> str:
    """The `session` cookie Gradio's OAuth callback stores for a signed-in HF user."""
    from itsdangerous import TimestampSigner

    info = {"access_token": f"hf_oauth_{username}", "token_type": "bearer", "scope": "openid profile",
            "expires_at": int(time.time()) + 3600,
            "userinfo": {"preferred_username": username, "name": username.title(), "orgs": []}}
    signer = TimestampSigner(hashlib.sha256(f"{SECRET}-v4".encode()).hexdigest())
    return signer.sign(base64.b64encode(json.dumps({"oauth_info": info}).encode())).decode()


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    pytest.importorskip("authlib", reason="Space mode needs the [space] extra (authlib)")
    root = tmp_path_factory.mktemp("space-ws")
    port = _free_port()
    env = {**os.environ, "SYSTEM": "spaces", "SPACE_ID": "owner/autotrain", "SPACE_AUTHOR_NAME": "owner",
           "OAUTH_CLIENT_ID": "test", "OAUTH_CLIENT_SECRET": SECRET, "OAUTH_SCOPES": "openid profile",
           "OPENID_PROVIDER_URL": "http://127.0.0.1:9", "AUTOTRAIN_WORKSPACE": str(root)}
    code = ("import sys; from autotrain_gradio.ui.server import launch; "
            "launch(port=int(sys.argv[1]), server_name='127.0.0.1')")
    proc = subprocess.Popen([sys.executable, "-c", code, str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                output = proc.stdout.read() if proc.poll() is not None else ""
                pytest.fail(f"the Space-mode app did not start:\n{output}")
            time.sleep(0.3)
        yield url, root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _client(url: str, user: str | None, downloads: Path):
    from gradio_client import Client

    headers = {"Cookie": f"session={session_cookie(user)}"} if user else None
    return Client(url, headers=headers, verbose=False, download_files=str(downloads))


def test_space_visitors_sign_in_and_only_the_owner_trains_on_uploads(space, tmp_path):
    from gradio_client import handle_file

    url, root = space
    page = httpx.get(url).text
    assert "login" in page.lower()  # the Sign in with Hugging Face button is part of the page config
    assert httpx.get(f"{url}login/huggingface", follow_redirects=False).status_code in (302, 307, 500)

    anonymous = _client(url, None, tmp_path)
    with pytest.raises(Exception, match="sign in first"):
        anonymous.predict(api_name="/list_jobs")

    data = make_sample_dataset(tmp_path / "cats", count=2)
    owner = _client(url, "owner", tmp_path)
    folder, _, _, note, _ = owner.predict([handle_file(str(p)) for p in sorted(data.iterdir())], "cats",
                                          api_name="/upload_dataset")
    assert Path(folder).parent.parent == root / "uploads" and "Uploaded 4 files (2 images, 2 captions) into" in note
    ok = owner.predict(folder, "TinyFluxLORA", "", {}, api_name="/validate")
    assert ok["ok"], ok["errors"]
    assert ok["name"].startswith("owner-") and ok["name"].endswith("--cats")  # run names are per user
    server_path = owner.predict(str(data), "TinyFluxLORA", "", {}, api_name="/validate")
    assert server_path["errors"] == ["this Space trains on uploaded datasets only; upload images with captions, a "
                                     "table or a zip of them"]
    push = owner.predict(folder, "TinyFluxLORA", "", {"push_to_hub": True}, api_name="/validate")
    assert push["ok"], push["errors"]  # pushes with the owner's own OAuth token, handed to that job only

    visitor = _client(url, "eve", tmp_path)
    refused = visitor.predict(folder, "TinyFluxLORA", "", {}, api_name="/validate")
    assert refused["errors"] == ["eve may not train on this Space (only owner); duplicate the Space to train on your "
                                 "own hardware"]
    nothing, why, *_ = visitor.predict([handle_file(str(p)) for p in sorted(data.iterdir())], "",
                                       api_name="/upload_dataset")
    assert nothing == "" and "eve may not train on this Space" in why
    assert [p.name for p in (root / "uploads").iterdir()] == [Path(folder).parent.name]  # eve's upload kept nothing
    assert visitor.predict(api_name="/list_jobs") == []
    forged = _client(url, None, tmp_path)  # a cookie signed with another key is no session at all
    forged.headers["Cookie"] = "session=" + session_cookie("owner")[:-4] + "AAAA"
    with pytest.raises(Exception, match="sign in first"):
        forged.predict(api_name="/list_jobs")


@pytest.mark.browser
def test_a_visitor_is_asked_to_sign_in_before_anything_else(space):
    """In real Chromium: without a session the page is the sign-in panel (no tab, no upload box to be refused by);
    signed in, the tabs are there and the panel is gone."""
    from playwright.sync_api import expect, sync_playwright

    from tests.ui.browser import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: the browser tests drive the system Chromium only")
    url, _ = space
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            anonymous = browser.new_page()
            anonymous.goto(url)
            expect(anonymous.locator("#signin-gate")).to_contain_text("Sign in to start", timeout=60_000)
            expect(anonymous.locator("#signin-gate-login")).to_be_visible()
            expect(anonymous.locator("#dataset-upload")).to_be_hidden()
            expect(anonymous.get_by_role("tab", name="Jobs")).to_be_hidden()
            signed_in = browser.new_context()
            signed_in.add_cookies([{"name": "session", "value": session_cookie("owner"), "url": url}])
            page = signed_in.new_page()
            page.goto(url)
            expect(page.locator("#profile")).to_be_visible(timeout=60_000)
            expect(page.get_by_role("tab", name="Jobs")).to_be_visible()
            expect(page.locator("#signin-gate")).to_be_hidden()
        finally:
            browser.close()
