"""What model cards show beyond their task's own text, read from the run's events: the eval curve and table
(Trainer tasks) and the last sample images with their prompts (diffusion). Torch-free; the pictures are files
next to the card (an SVG drawn here, PNGs copied), so the card renders the same on the Hub and offline."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from autotrain_gradio.events import read_events

_W, _H, _PAD = 480, 240, 36


def eval_history(events_path: str | Path) -> list[dict[str, Any]]:
    """Every `eval` event of the run: step, epoch and metrics, in order."""
    path = Path(events_path)
    return [e for e in read_events(path) if e.get("type") == "eval"] if path.is_file() else []


def curve_svg(points: list[tuple[float, float]], label: str) -> str:
    """A small line chart (x: step, y: `label`) as standalone SVG."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1

    def at(x: float, y: float) -> str:
        return (f"{_PAD + (x - x0) / (x1 - x0) * (_W - 2 * _PAD):.1f},"
                f"{_H - _PAD - (y - y0) / (y1 - y0) * (_H - 2 * _PAD):.1f}")

    line = " ".join(at(x, y) for x, y in points)
    dots = "".join(f'<circle cx="{at(x, y).split(",")[0]}" cy="{at(x, y).split(",")[1]}" r="3"/>' for x, y in points)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" font-family="sans-serif" '
            f'font-size="11"><rect width="100%" height="100%" fill="white"/>'
            f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#888"/>'
            f'<line x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{_H - _PAD}" stroke="#888"/>'
            f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{line}"/><g fill="#1f77b4">{dots}</g>'
            f'<text x="{_W / 2}" y="{_H - 8}" text-anchor="middle">step</text>'
            f'<text x="{_PAD}" y="{_PAD - 10}">{label} ({y0:.4g} to {y1:.4g})</text></svg>\n')


def eval_section(events_path: str | Path, model_dir: Path) -> str:
    """Markdown: the eval loss curve (eval_curve.svg written into model_dir) and a table of every evaluation."""
    history = eval_history(events_path)
    if not history:
        return ""
    names = sorted({k for e in history for k, v in e["metrics"].items() if isinstance(v, int | float)})
    lines = ["## Evaluation", ""]
    metric = "loss" if "loss" in names else (names[0] if names else "")
    points = [(float(e["step"]), float(e["metrics"][metric])) for e in history if metric in e["metrics"]]
    if points:
        (model_dir / "eval_curve.svg").write_text(curve_svg(points, f"eval {metric}"), encoding="utf-8")
        lines += [f"![eval {metric} by step](eval_curve.svg)", ""]
    lines += ["| step | epoch | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for e in history:
        cells = [f"{e['metrics'][n]:.4f}" if isinstance(e["metrics"].get(n), float) else str(e["metrics"].get(n, ""))
                 for n in names]
        lines.append(f"| {e['step']} | {e.get('epoch', '')} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def samples_section(events_path: str | Path, model_dir: Path) -> str:
    """Markdown: the images of the run's last `sample` event, copied into model_dir/samples/, with their prompts."""
    path = Path(events_path)
    samples = [e for e in read_events(path) if e.get("type") == "sample"] if path.is_file() else []
    if not samples:
        return ""
    last = samples[-1]
    folder = model_dir / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["## Samples", "", f"At step {last['step']}:", ""]
    for image, prompt in zip(last["paths"], last.get("prompts", []), strict=False):
        if Path(image).is_file():
            shutil.copy2(image, folder / Path(image).name)
            lines.append(f"![{prompt}](samples/{Path(image).name})  \n*{prompt}*\n")
    return "\n".join(lines) + "\n"


def append_to_card(card: Path, section: str) -> None:
    """Add a section at the end of an existing README.md (nothing happens without a card or a section)."""
    if section and card.is_file():
        card.write_text(card.read_text(encoding="utf-8").rstrip() + "\n\n" + section, encoding="utf-8")
