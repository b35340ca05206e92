"""The Try it tab on real tiny runs: a Flux LoRA renders without and with its LoRA (different images), an image
classifier answers with its own class names; the same through a real server in Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autotrain_gradio.auth import Access, User
from autotrain_gradio.demo import make_sample_dataset
from autotrain_gradio.pipeline import run_pipeline
from autotrain_gradio.ui.actions import ActionError, AppContext
from autotrain_gradio.ui.try_tab import try_run, try_runs

pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:DeprecationWarning")]
CHROMIUM = "/usr/bin/chromium"
LORA = {"max_steps": 2, "sample_every": 0, "sample_steps": 1, "learning_rate": 5e-2, "checkpoint_every": 0}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """A workspace with a finished tiny Flux LoRA run and a finished tiny ViT classifier run (red vs blue)."""
    root, data = tmp_path_factory.mktemp("try-ws"), tmp_path_factory.mktemp("try-data")
    shapes = make_sample_dataset(data / "shapes", count=2)
    for name, rgb in {"red": (220, 30, 30), "blue": (30, 40, 220)}.items():
        (data / "colours" / name).mkdir(parents=True)
        for i in range(5):  # AutoTrain's least per class
            Image.new("RGB", (32, 32), rgb).save(data / "colours" / name / f"{i}.png")
    ids = {}
    for key, path, profile, overrides in (("lora", shapes, "TinyFluxLORA", LORA),
                                          ("vit", data / "colours", "TinyImageClassification", {"epochs": 1})):
        result = run_pipeline(str(path), profile, workspace=root, immediate=True, quiet=True, overrides=overrides)
        assert result.exit_code == 0, result.errors or result.phases
        ids[key] = result.job_id
    return root, ids


def test_try_renders_with_and_without_the_lora_and_classifies(runs):
    root, ids = runs
    ctx = AppContext(root, Access.from_settings(root, space=False))
    me = User("")
    listed = dict((job_id, label) for label, job_id in try_runs(ctx, me))
    assert "diffusion" in listed[ids["lora"]] and "image" in listed[ids["vit"]]

    trial = try_run(ctx, me, ids["lora"], prompt="a photo of {trigger}", seed=3, steps=1, strength=1.0)
    without, with_lora = np.asarray(trial.without, dtype=int), np.asarray(trial.with_lora, dtype=int)
    assert without.shape == with_lora.shape == (32, 32, 3)
    assert np.abs(without - with_lora).mean() > 0.5  # the LoRA changes the picture
    assert "a photo of shapes" in trial.note  # {trigger} became the run's trigger word
    again = try_run(ctx, me, ids["lora"], prompt="a photo of {trigger}", seed=3, steps=1, strength=0.0)
    assert np.array_equal(np.asarray(again.with_lora, dtype=int), without)  # strength 0 is the base model

    scores = try_run(ctx, me, ids["vit"], image=Image.new("RGB", (40, 40), (220, 30, 30))).scores
    assert set(scores) == {"red", "blue"} and abs(sum(scores.values()) - 1) < 1e-4
    with pytest.raises(ActionError, match="upload an image first"):
        try_run(ctx, me, ids["vit"])
    with pytest.raises(ActionError, match="no job with id 999 among your jobs"):
        try_run(ctx, me, 999)


@pytest.mark.browser
def test_browser_try_it_shows_a_prediction_and_two_images(runs, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing")
    sync_api = pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import expect

    from autotrain_gradio.ui.server import launch
    from tests.ui.browser import CHROMIUM_ARGS, free_port

    root, ids = runs
    picture = tmp_path / "red.png"
    Image.new("RGB", (32, 32), (220, 30, 30)).save(picture)
    port = free_port()
    app = launch(workspace=root, port=port, server_name="127.0.0.1", prevent_thread_lock=True)
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_role("tab", name="Try it").click()
            page.locator("#try-run input").click()
            page.get_by_role("option", name=f"{ids['vit']}: colours", exact=False).click()
            page.locator("#try-image input[type=file]").set_input_files(str(picture))
            page.locator("#try-go").click()
            expect(page.locator("#try-label")).to_contain_text("red", timeout=120_000)
            expect(page.locator("#try-label")).to_contain_text("%")

            page.locator("#try-run input").click()
            page.get_by_role("option", name=f"{ids['lora']}: shapes", exact=False).click()
            page.locator("#try-go").click()
            expect(page.locator("#try-with img")).to_be_visible(timeout=180_000)
            expect(page.locator("#try-without img")).to_be_visible()
            expect(page.locator("#try-note")).to_contain_text("a photo of shapes")
            page.screenshot(path="/tmp/autotrain_ui_try.png", full_page=True)
            browser.close()
    finally:
        app.close()


def test_model_cards_show_samples_and_the_eval_curve(runs):
    import xml.etree.ElementTree as ET

    root, ids = runs
    lora = root / "output" / "shapes" / "model"
    card = (lora / "README.md").read_text(encoding="utf-8")
    shown = re.findall(r"!\[[^\]]*\]\((samples/[^)]+\.png)\)", card)
    assert "## Samples" in card and shown and all((lora / rel).is_file() for rel in shown)
    assert "shapes" in card and "load_lora_weights" in card  # trigger word, how to load it (diffusers, ComfyUI)
    vit = root / "output" / "colours" / "model"
    card = (vit / "README.md").read_text(encoding="utf-8")
    assert "## Evaluation" in card and "![eval loss by step](eval_curve.svg)" in card
    assert re.search(r"\| \d+ \| [0-9.]+ \| .*\d\.\d{4}", card)  # a row per evaluation
    assert ET.parse(vit / "eval_curve.svg").getroot().tag.endswith("svg")
