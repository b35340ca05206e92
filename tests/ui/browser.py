"""One local app in one real Chromium page, for the browser tests (Debian's Chromium, never a downloaded one)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_app_page(tmp_path_factory, name: str, height: int = 1400) -> Iterator[tuple]:
    """Yield (page, workspace, data folder) for a local-mode app on 127.0.0.1 that may read both folders; the
    browser and the server are closed after the module."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: the browser tests drive the system Chromium only")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    from autotrain_gradio.ui.server import launch

    root, data = tmp_path_factory.mktemp(f"{name}-ws"), tmp_path_factory.mktemp(f"{name}-data")
    port = free_port()
    app = launch(workspace=root, port=port, server_name="127.0.0.1", prevent_thread_lock=True,
                 allowed_paths=[str(root), str(data)])
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": height})
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_selector("#validate", timeout=60_000)
                yield page, root, data
            finally:
                browser.close()
    finally:
        app.close()


def choose_profile(page, name: str) -> None:
    page.locator("#profile input").click()
    page.get_by_role("option", name=name, exact=True).click()
