"""The Captions tab: the app's Caption button queues the captioning job (run to completed on the tiny captioner);
the editor's bulk edits save to the prepared copy and never to the original (hash check); a shared app shows each
user only their own datasets."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from autotrain_gradio.auth import Access, User
from autotrain_gradio.jobs.follow import monitor_job
from autotrain_gradio.pipeline import run_pipeline
from autotrain_gradio.ui.actions import ActionError, AppContext, run_request
from autotrain_gradio.ui.captions_tab import (
    CAPTION_PROFILE,
    add_trigger,
    dataset_folder,
    find_replace,
    load_captions,
    own_datasets,
    remove_trigger,
    save_captions,
)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def photos(tmp_path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    for i, rgb in enumerate([(220, 30, 30), (30, 200, 40), (30, 40, 220)]):
        Image.new("RGB", (40, 32), rgb).save(root / f"img{i}.png")
    (root / "img0.txt").write_text("a red square\n", encoding="utf-8")
    (root / "img1.txt").write_text("a green square\n", encoding="utf-8")
    return root


def test_editor_saves_bulk_edits_to_the_copy_only(tmp_path, photos):
    before = _digest(photos)
    ws = tmp_path / "ws"
    prepared = run_pipeline(str(photos), "TinyFluxLORA", workspace=ws, mode="prepare", quiet=True)
    assert prepared.exit_code == 0, prepared.errors
    ctx = AppContext(ws, Access.from_settings(ws, space=False))
    me = User("")
    assert own_datasets(ctx, me) == ["photos"]
    folder = dataset_folder(ctx, me, "photos")
    frame = load_captions(folder)
    assert list(frame["caption"]) == ["a red square", "a green square", ""]  # img2 has none: flagged in the grid

    frame = find_replace(add_trigger(frame, "ohwx"), "square", "block")
    assert list(frame["caption"]) == ["ohwx, a red block", "ohwx, a green block", "ohwx"]
    assert save_captions(folder, frame) == 3
    assert (folder / "img2.txt").read_text(encoding="utf-8") == "ohwx\n"
    assert (folder / "img0.txt").read_text(encoding="utf-8") == "ohwx, a red block\n"
    frame = remove_trigger(load_captions(folder), "ohwx")
    assert list(frame["caption"]) == ["a red block", "a green block", ""]
    assert save_captions(folder, frame) == 3 and not (folder / "img2.txt").exists()  # empty caption: no file
    assert _digest(photos) == before  # the original folder: every byte as it was, nothing added

    frame.loc[0, "image"] = "../../photos/img0.png"
    with pytest.raises(ActionError, match="is not an image of this dataset"):
        save_captions(folder, frame)
    assert _digest(photos) == before


def test_shared_app_lists_only_the_callers_datasets(tmp_path, photos):
    ws = tmp_path / "ws"
    alice, bob = User("alice"), User("bob")
    for user in (alice, bob):  # the names a shared app gives each user's runs
        result = run_pipeline(str(photos), "TinyFluxLORA", workspace=ws, mode="prepare", quiet=True,
                              dataset_name=f"{user.folder}--photos")
        assert result.exit_code == 0, result.errors
    ctx = AppContext(ws, Access.from_settings(ws, auth=["alice:pw1", "bob:pw2"]))
    assert own_datasets(ctx, alice) == [f"{alice.folder}--photos"]
    with pytest.raises(ActionError, match=f"no prepared dataset named '{bob.folder}--photos' among yours"):
        dataset_folder(ctx, alice, f"{bob.folder}--photos")


def test_app_caption_button_queues_the_job_and_it_captions_the_copy(tmp_path, photos):
    before = _digest(photos)
    ws = tmp_path / "ws"
    ctx = AppContext(ws, Access.from_settings(ws, space=False, allowed_paths=[str(tmp_path)]))
    result = run_request(ctx, User(""), str(photos), CAPTION_PROFILE, dataset_name="mine", dry_run=False,
                         overrides={"base_model": "tiny:captioner", "prefix": "ohwx"})
    assert result.ok and result.job_id is not None, result.errors
    assert monitor_job(ws, result.job_id, io.StringIO()) == 0
    frame = load_captions(ws / "input" / "mine")
    assert list(frame["caption"][:2]) == ["a red square", "a green square"]  # kept
    assert frame["caption"][2].startswith("ohwx, ")  # the one without a caption got one
    assert _digest(photos) == before


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:.*no_silent_downcasting:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:DeprecationWarning")
def test_browser_editor_adds_the_trigger_word_and_saves_to_the_copy(tmp_path, photos):
    from tests.ui.browser import CHROMIUM, CHROMIUM_ARGS, free_port

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing")
    sync_api = pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import expect

    from autotrain_gradio.ui.server import launch

    before = _digest(photos)
    ws = tmp_path / "ws"
    assert run_pipeline(str(photos), "TinyFluxLORA", workspace=ws, mode="prepare", quiet=True).exit_code == 0
    port = free_port()
    app = launch(workspace=ws, port=port, server_name="127.0.0.1", prevent_thread_lock=True)
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_role("tab", name="Captions").click()
            # the page load lists the caller's prepared datasets and loads the first one
            expect(page.locator("#captions-dataset input")).to_have_value("photos", timeout=60_000)
            status = page.locator("#captions-status")
            expect(status).to_contain_text("3 images, 1 without a caption", timeout=60_000)
            expect(page.locator("#captions-grid")).to_contain_text("no caption")
            page.locator("#captions-trigger textarea").fill("ohwx")
            page.locator("#captions-add").click()
            expect(status).to_contain_text("edited", timeout=30_000)
            expect(page.locator("#captions-table")).to_contain_text("ohwx, a red square")
            page.locator("#captions-save").click()
            expect(status).to_contain_text("saved 3 caption files", timeout=30_000)
            browser.close()
    finally:
        app.close()
    copy = ws / "input" / "photos"
    assert (copy / "img0.txt").read_text(encoding="utf-8") == "ohwx, a red square\n"
    assert (copy / "img2.txt").read_text(encoding="utf-8") == "ohwx\n"
    assert _digest(photos) == before
