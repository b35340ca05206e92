"""How fast the app answers a person in a real Chromium: a profile change (pick -> the new task's form shown) and a
Validate (click -> the report) on a table dataset, plus the page's size (components in /config, bytes) and the load
time. The reference, measured in the same run on the same machine, is a bare Gradio app's round trip (a dropdown
change -> a markdown), so the ratio says how much the app adds to Gradio's own cost.

    python bench/app_latency.py [--reps 5]

Run it with PYTHONPATH pointing at another checkout to compare two versions of the app on one machine.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _timed(action, wait) -> float:
    start = time.perf_counter()
    action()
    wait()
    return time.perf_counter() - start


def reference(pw_browser, reps: int) -> list[float]:
    """A bare Gradio app: Dropdown.input -> Markdown, the least any profile change can cost."""
    import gradio as gr

    with gr.Blocks() as demo:
        choice = gr.Dropdown(["a", "b"], value="a", elem_id="ref-choice")
        shown = gr.Markdown("a", elem_id="ref-shown")
        choice.input(lambda v: f"chosen {v}", choice, shown)
    port = _port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    page = pw_browser.new_page()
    page.goto(f"http://127.0.0.1:{port}/")
    page.wait_for_selector("#ref-choice input")
    times = []
    for i in range(reps * 2):
        value = "b" if i % 2 == 0 else "a"

        def pick(value=value):
            page.locator("#ref-choice input").click()
            page.get_by_role("option", name=value, exact=True).click()
        times.append(_timed(pick, lambda value=value: page.get_by_text(f"chosen {value}").wait_for()))
    page.close()
    demo.close()
    return times


def app(pw_browser, reps: int) -> dict:
    try:
        from autotrain_gradio.ui.server import launch
    except ImportError:  # an older checkout (PYTHONPATH elsewhere): launch lived in ui/app.py
        from autotrain_gradio.ui.app import launch

    root = Path(tempfile.mkdtemp(prefix="app-latency-"))
    table = root / "reviews.csv"
    table.write_text("text,target\n" + "".join(f"text number {i},{i % 2}\n" for i in range(40)), encoding="utf-8")
    port = _port()
    served = launch(workspace=root, port=port, server_name="127.0.0.1", prevent_thread_lock=True,
                    allowed_paths=[str(root)])
    url = f"http://127.0.0.1:{port}/"
    config = urllib.request.urlopen(f"{url}config").read()
    components = len(json.loads(config)["components"])
    page = pw_browser.new_page(viewport={"width": 1400, "height": 1400})
    load = _timed(lambda: page.goto(url), lambda: page.wait_for_selector("#validate", timeout=120_000))
    profiles = ["TinyTextClassification", "TinyTextRegression"]
    change, validate = [], []
    for i in range(reps * 2):
        name = profiles[i % 2]
        task = "text-classification" if i % 2 == 0 else "text-regression"

        def pick(name=name):
            page.locator("#profile input").click()
            page.get_by_role("option", name=name, exact=True).click()
        wait = page.locator(f"#{task}-text_column")
        change.append(_timed(pick, lambda wait=wait: wait.wait_for(state="visible", timeout=60_000)))
    page.locator("#dataset-path textarea").fill(str(table))
    for i in range(reps):
        page.locator("#dataset-name textarea").fill(f"run{i}")  # each answer names its own run: no stale match
        validate.append(_timed(lambda: page.locator("#validate").click(),
                               lambda i=i: page.locator("#report").get_by_text(f"Valid: run{i} with").wait_for(
                                   timeout=20_000)))
    print("last report:", page.locator("#report").inner_text()[:300].replace("\n", " | "))
    page.close()
    served.close()
    return {"components": components, "config_kb": len(config) / 1024, "load_s": load, "change": change,
            "validate": validate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        ref = statistics.median(reference(browser, args.reps))
        ours = app(browser, args.reps)
        browser.close()
    change, validate = statistics.median(ours["change"]), statistics.median(ours["validate"])
    print(f"page: {ours['components']} components in /config, {ours['config_kb']:.0f} KB; load {ours['load_s']:.2f} s")
    print(f"reference (bare Gradio dropdown -> markdown): {ref * 1000:7.0f} ms")
    print(f"profile change (pick -> new form shown):      {change * 1000:7.0f} ms   ratio {change / ref:5.1f}x")
    print(f"validate (click -> report), 40-row table:     {validate * 1000:7.0f} ms   ratio {validate / ref:5.1f}x")


if __name__ == "__main__":
    main()
