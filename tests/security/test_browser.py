"""Where a page is involved, a real Chromium: bob's Profiles tab lists no profile of alice's and no server path, and
his Delete upload button removes his own upload."""

from __future__ import annotations

from pathlib import Path

import pytest

from autotrain_gradio.auth import User
from autotrain_gradio.ui.manage import save_profile

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.browser
def test_profiles_and_delete_upload_in_bobs_browser(app, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: the browser tests drive the system Chromium only")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    from playwright.sync_api import expect

    ctx = app.served.ctx
    if "AliceBrowser" not in ctx.profiles(User("alice")):
        save_profile(ctx, User("alice"), "TinyTextClassification", "AliceBrowser", {"max_steps": 3})
    table = tmp_path / "mine.csv"
    table.write_text("text,target\na fine film,pos\na dull film,neg\n")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
            page.goto(app.url)
            page.get_by_label("username").fill("bob")
            page.get_by_label("password").fill("pw-b")
            page.get_by_role("button", name="Login").click()
            page.wait_for_selector("#validate", timeout=60_000)
            page.get_by_role("tab", name="Profiles").click()
            listing = page.locator("#profiles-table")
            expect(listing).to_contain_text("Captioning", timeout=30_000)  # the first row, sorted by name...
            expect(listing).not_to_contain_text("AliceBrowser")  # ...where alice's would come before it
            expect(listing).not_to_contain_text(str(app.root))
            expect(listing).not_to_contain_text("/profiles/")
            page.get_by_role("tab", name="Train").click()
            page.locator("#dataset-upload input[type=file]").set_input_files(str(table))
            folder = app.root / "uploads" / User("bob").folder / "mine"
            expect(page.locator("#dataset-path textarea")).to_have_value(str(folder / "mine.csv"), timeout=30_000)
            assert (folder / "mine.csv").is_file()
            page.locator("#delete-upload").click()
            expect(page.locator("#report")).to_contain_text("Upload mine deleted", timeout=30_000)
            assert not folder.exists()
        finally:
            browser.close()
