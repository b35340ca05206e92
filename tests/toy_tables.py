"""Learnable toy tables for the tabular tests: numeric, categorical and missing values, a known rule per target."""

from __future__ import annotations

import csv
import random
from pathlib import Path


def toy_rows(n: int = 120, seed: int = 0) -> list[dict[str, str]]:
    """id, x1, x2 (numbers), colour (category); targets: label (yes/no), kind (3 classes), flag_a/flag_b (0/1),
    y and z (numbers). Every 10th row misses x1, every 10th (shifted) misses its colour."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        x1, x2 = rng.uniform(-2, 2), rng.uniform(-2, 2)
        colour = rng.choice(["red", "green", "blue"])
        shift = {"red": 1.5, "green": -0.5, "blue": -0.5}[colour]
        rows.append({
            "id": f"r{i}", "x1": f"{x1:.3f}", "x2": f"{x2:.3f}", "colour": colour,
            "label": "yes" if x1 + shift > 0 else "no",
            "kind": "low" if x2 < -0.7 else "mid" if x2 < 0.7 else "high",
            "flag_a": str(int(x1 > 0)), "flag_b": str(int(colour == "red")),
            "y": f"{3 * x1 - 2 * x2 + {'red': 4, 'green': 0, 'blue': -4}[colour] + rng.gauss(0, 0.3):.3f}",
            "z": f"{x2 * 2 + rng.gauss(0, 0.1):.3f}",
        })
        if i % 10 == 3:
            rows[-1]["x1"] = ""
        if i % 10 == 7:
            rows[-1]["colour"] = ""
    return rows


FEATURES = ["id", "x1", "x2", "colour"]


def write_csv(path: Path, rows: list[dict[str, str]], targets: list[str]) -> Path:
    """The id and feature columns plus the given targets (the other targets would leak the answer)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FEATURES + targets, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path
