"""`autotrain demo`: make a small captioned sample dataset and train the CPU demo profile on it end to end.

The same five phases a real run goes through; only the model (built in code by tiny.py) and the images are tiny.
`make_sample_dataset` is also what the tests and the notebook use.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 80, 220), "yellow": (230, 210, 40),
           "purple": (140, 60, 200), "orange": (240, 140, 30), "white": (245, 245, 245), "black": (15, 15, 15)}


def make_sample_dataset(folder: str | Path, count: int = 8, size: int = 64, captions: bool = True) -> Path:
    """Write `count` images of a coloured circle on a contrasting square (sizes vary, so buckets matter) with
    .txt captions naming the colour. Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = list(COLOURS)
    for i in range(count):
        colour = names[i % len(names)]
        w, h = (size, size) if i % 3 else (size, size * 3 // 4)
        background = (255 - COLOURS[colour][0], 255 - COLOURS[colour][1], 255 - COLOURS[colour][2])
        img = Image.new("RGB", (w, h), background)
        r = min(w, h) // 3
        ImageDraw.Draw(img).ellipse((w // 2 - r, h // 2 - r, w // 2 + r, h // 2 + r), fill=COLOURS[colour])
        img.save(folder / f"sample_{i:02d}.png")
        if captions:
            (folder / f"sample_{i:02d}.txt").write_text(f"a {colour} circle", encoding="utf-8")
    return folder


def run_demo(workspace: str | Path | None = None, profile: str = "TinyFluxLORA", steps: int | None = None) -> int:
    """Generate demo/dataset in the workspace and run the whole pipeline on it in the foreground."""
    from autotrain_gradio.pipeline import run_pipeline
    from autotrain_gradio.workspace import workspace_root

    root = workspace_root(workspace)
    data = make_sample_dataset(root / "demo" / "dataset")
    print(f"sample dataset: {data} (8 images + captions)")
    overrides = {"max_steps": steps} if steps else None
    result = run_pipeline(data, profile, dataset_name="demo", workspace=root, force=True, immediate=True,
                          monitor=True, overrides=overrides)
    if result.ok:
        print(f"\n✅ done. Results in {result.output_dir}: model/, samples/, log/events.jsonl, config.toml")
        print("Next: autotrain pipeline run --dataset-path <your photos> --profile FluxLORA --monitor")
    else:
        where = f"; see {result.output_dir}/log/" if result.output_dir else ""
        print(f"\n❌ demo failed (exit {result.exit_code}){where}", file=sys.stderr)
    return result.exit_code
