"""Fixtures the job-queue tests share (test_jobs.py, test_ray_jobs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory) -> Path:
    """Two colour classes of six 32 px images: the tiny ViT learns them in a few steps."""
    root = tmp_path_factory.mktemp("toy") / "colours"
    for name, rgb in {"red": (220, 30, 30), "blue": (30, 40, 220)}.items():
        (root / name).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (32, 32), rgb).save(root / name / f"{i}.png")
    return root
