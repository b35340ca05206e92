"""The three journeys of a new user in real Chromium, on one server: photos -> LoRA -> Jobs -> Publish; a CSV of any
name -> classifier; a chat JSONL -> LLM -> Chat. Each asserts what the person sees. Plus the theme's contrast,
measured on the rendered page."""

from __future__ import annotations

import json
import re

import pytest

from autotrain_gradio.demo import make_sample_dataset
from autotrain_gradio.ui.form import form_fields

from .browser import choose_profile, local_app_page

pytestmark = [pytest.mark.browser,
              pytest.mark.filterwarnings("ignore:.*no_silent_downcasting:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:DeprecationWarning")]
FIXED_INPUTS = 6  # profile, dataset path, dataset name, min images, replace, in-process


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    yield from local_app_page(tmp_path_factory, "journey", height=1600)


def set_field(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input")
    box.wait_for(state="attached", timeout=30_000)
    if not box.is_visible():  # the Settings accordion starts closed
        page.locator("#settings").get_by_text("Settings (from").click()
    box.fill(value)
    box.press("Tab")


def sent_inputs(page, button: str) -> int:
    """How many values one click of `button` sends to the server; the button must say it is busy meanwhile (set in
    the browser on the click, before any round trip)."""
    page.evaluate("""sel => { window.seen = []; const b = document.querySelector(sel);
        new MutationObserver(() => window.seen.push(b.innerText)).observe(b, {subtree: true, childList: true,
                                                                             characterData: true}); }""", button)
    with page.expect_request(lambda r: "/queue/join" in r.url and r.method == "POST") as sent:
        page.locator(button).click()
    page.wait_for_function("() => window.seen.some(t => t.includes('⏳'))", timeout=5_000)
    return len(json.loads(sent.value.post_data)["data"])


def test_photos_to_lora_jobs_and_publish(page):
    from playwright.sync_api import expect

    page, root, data = page
    photos = make_sample_dataset(data / "photos", count=2)
    page.locator("#dataset-name textarea").fill("photos")
    page.locator("#dataset-upload input[type=file]").set_input_files([str(p) for p in sorted(photos.iterdir())])
    expect(page.locator("#upload-note")).to_contain_text("Uploaded 4 files (2 images, 2 captions)", timeout=30_000)
    expect(page.locator("#upload-thumbs img")).to_have_count(2)

    set_field(page, "diffusion-lora-max_steps", "2")
    page.locator("#profile input").click()  # opening the Profile list and leaving it changes nothing
    page.keyboard.press("Escape")
    page.locator("#dataset-name textarea").click()
    page.wait_for_timeout(1500)
    expect(page.locator("#diffusion-lora-max_steps input")).to_have_value("2")

    choose_profile(page, "TinyImageClassification")  # another profile says what it replaced, keeps the upload
    expect(page.locator("#profile-note")).to_contain_text("it replaced your edits: Max steps: 2 →", timeout=15_000)
    expect(page.locator("#upload-note")).to_contain_text("Uploaded 4 files")
    expect(page.locator("#min-images input")).to_have_value("2")  # the profile's own minimum
    choose_profile(page, "TinyFluxLORA")
    set_field(page, "diffusion-lora-max_steps", "2")
    assert sent_inputs(page, "#validate") == FIXED_INPUTS + len(form_fields("diffusion-lora"))
    expect(page.locator("#report")).to_contain_text("Valid: photos with profile TinyFluxLORA", timeout=60_000)

    page.locator("#start").click()
    expect(page.locator("#report")).to_contain_text("Queued as job", timeout=60_000)
    page.get_by_role("tab", name="Jobs").click()
    expect(page.locator("#job-title")).to_contain_text("photos", timeout=30_000)  # it follows the new job
    expect(page.locator("#job-title")).to_contain_text("completed", timeout=240_000)
    expect(page.locator("#job-progress")).to_contain_text("100% · step 2/2", timeout=15_000)
    expect(page.locator("#job-loss")).to_be_visible()  # the first run of a fresh workspace draws its line
    expect(page.locator("#job-loss canvas, #job-loss svg path").first).to_be_attached(timeout=15_000)
    expect(page.locator("#job-samples img").first).to_be_visible(timeout=15_000)
    expect(page.locator("#job-sample-history")).to_be_visible()
    logs = page.locator("#job-logs textarea")
    assert logs.evaluate("e => e.scrollTop + e.clientHeight >= e.scrollHeight - 4")  # opens at the newest line
    assert "trainer pid" not in logs.input_value()
    page.locator("#job-download").click()  # a staged copy under a random folder, never the workspace path itself
    link = page.locator("#job-files a[href$='/photos-diffusers-pytorch_lora_weights.safetensors']")
    expect(link).to_be_attached(timeout=30_000)
    weights = root / "output" / "photos" / "model" / "pytorch_lora_weights.safetensors"
    href = link.get_attribute("href")
    assert page.request.get(href).body() == weights.read_bytes() and str(root) not in href
    assert page.request.get(href.split("file=")[0] + f"file={weights}").status in (403, 404)
    assert "max_steps = 2\n" in (root / "output" / "photos" / "config.toml").read_text()  # the form's edit went in

    page.get_by_role("tab", name="Publish").click()
    expect(page.locator("#publish-files")).to_contain_text("photos-comfyui.safetensors", timeout=30_000)
    expect(page.locator("#publish-files")).to_contain_text("photos-diffusers/pytorch_lora_weights.safetensors")
    expect(page.locator("#publish-repo textarea")).to_have_value("photos")
    page.locator("#publish-push").click()
    expect(page.locator("#publish-status")).to_contain_text("give your Hugging Face write token", timeout=30_000)
    page.locator("#publish-token input").fill("hf_not_a_real_token")
    page.locator("#publish-push").click()  # this machine has no Hub: the refusal is one line, the token never shown
    expect(page.locator("#publish-status")).to_contain_text("Hugging Face Hub refused or could not be reached",
                                                             timeout=60_000)
    assert "hf_not_a_real_token" not in page.content()
    page.locator("#publish-zip").click()
    expect(page.locator("#publish-downloads a[href$='/photos.zip']")).to_be_attached(timeout=30_000)


def test_any_csv_to_classifier_with_guessed_columns(page):
    from playwright.sync_api import expect

    page, root, data = page
    page.get_by_role("tab", name="Train").click()
    choose_profile(page, "TinyTextClassification")
    expect(page.locator("#min-images")).to_be_hidden(timeout=15_000)  # rows, not images: the profile decides
    table = data / "my reviews.csv"
    table.write_text("review,sentiment\n" + "".join(f"text number {i},{i % 2}\n" for i in range(12)), "utf-8")
    page.locator("#dataset-name textarea").fill("reviews")
    page.locator("#dataset-upload input[type=file]").set_input_files([str(table)])
    expect(page.locator("#table-note")).to_contain_text("12 rows, columns: review, sentiment", timeout=30_000)
    expect(page.locator("#table-preview")).to_contain_text("text number 0")
    text, target = page.locator("#text-classification-text_column"), page.locator("#text-classification-target_column")
    expect(text.locator("input")).to_have_value("review", timeout=15_000)
    expect(target.locator("input")).to_have_value("sentiment")
    expect(text).to_contain_text("guessed “review”")
    set_field(page, "text-classification-epochs", "2")
    sent = sent_inputs(page, "#validate")
    assert sent == FIXED_INPUTS + len(form_fields("text-classification")) + 2  # + its two mapping dropdowns
    expect(page.locator("#report")).to_contain_text("Valid: reviews with profile TinyTextClassification",
                                                    timeout=60_000)
    page.locator("#start").click()
    expect(page.locator("#report")).to_contain_text("Queued as job", timeout=60_000)
    page.get_by_role("tab", name="Jobs").click()
    expect(page.locator("#job-title")).to_contain_text("reviews", timeout=30_000)
    expect(page.locator("#job-title")).to_contain_text("completed", timeout=240_000)
    expect(page.locator("#job-loss")).to_be_visible(timeout=15_000)
    expect(page.locator("#job-samples")).to_be_hidden()  # a text job has no samples, and no diffusion note
    assert "noise by design" not in page.locator("#job-title").inner_text()


def test_chat_jsonl_to_llm_and_chat(page):
    from playwright.sync_api import expect

    page, root, data = page
    chats = data / "chats.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"Hey {a}?"}, {"role": "assistant", "content": s}]}
            for a, s in {"cat": "meow", "dog": "woof", "cow": "moo"}.items() for _ in range(3)]
    chats.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    page.get_by_role("tab", name="Train").click()
    choose_profile(page, "TinyLLM")
    page.locator("#dataset-name textarea").fill("chats")
    page.locator("#dataset-upload input[type=file]").set_input_files([str(chats)])
    expect(page.locator("#table-note")).to_contain_text("9 rows", timeout=30_000)
    set_field(page, "llm-max_steps", "3")
    page.locator("#start").click()
    expect(page.locator("#report")).to_contain_text("Queued as job", timeout=60_000)
    page.get_by_role("tab", name="Chat").click()  # no Refresh click: the list follows the job's end
    expect(page.locator("#chat-run input")).to_have_value(re.compile(r"^\d+: chats \(completed"), timeout=240_000)
    page.locator("#chat-message textarea").fill("Hey cat?")
    page.locator("#chat-send").click()
    expect(page.locator("#chat-status")).to_contain_text(re.compile("loading the model|thinking"), timeout=10_000)
    expect(page.locator("#chat-box")).to_contain_text("Hey cat?", timeout=60_000)
    expect(page.locator("#chat-status")).to_have_text("", timeout=120_000)  # done: the reply (or its note) is in
    assert page.locator("#chat-send").is_enabled()


CONTRAST_JS = """
() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = c => (c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
                               return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const bg = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
                     if (c.length === 3 || c[3] > 0.5) return c.slice(0, 3); } return [255, 255, 255]; };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const pick = sel => document.querySelector(sel);
  const out = {};
  const text = (name, el) => { if (el) out[name] = ratio(rgb(getComputedStyle(el).color), bg(el)); };
  text("label", pick("#dataset-name label span, #dataset-name [data-testid=block-info]"));
  text("info", pick(".info-text"));
  text("primary button", pick("#start"));
  document.querySelectorAll("[role=tab]").forEach((el, i) => text(`tab ${i} ${el.innerText}`, el));
  const input = pick("#dataset-name textarea");
  out["placeholder"] = ratio(rgb(getComputedStyle(input, "::placeholder").color), bg(input));
  return out;
}
"""


def test_theme_meets_wcag_aa_with_a_visible_focus_ring(page):
    page, _, _ = page
    page.get_by_role("tab", name="Train").click()
    page.wait_for_selector("#start")
    ratios = page.evaluate(CONTRAST_JS)
    assert {"label", "info", "primary button", "placeholder"} <= set(ratios), ratios
    assert "tab 0 Train" in ratios and len([k for k in ratios if k.startswith("tab ")]) >= 7, ratios
    assert all(r >= 4.5 for r in ratios.values()), ratios
    page.locator("#dataset-name textarea").focus()
    page.keyboard.press("Tab")  # keyboard focus: the ring must show
    ring = page.evaluate("() => { const s = getComputedStyle(document.activeElement);"
                         " return [s.outlineStyle, parseFloat(s.outlineWidth), document.activeElement.tagName]; }")
    assert ring[0] != "none" and ring[1] >= 2, ring
