"""What a user installs: the wheel, the Docker images, the Space and the Colab notebook, checked from their files."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# What a wheel is built from (the Dockerfiles COPY exactly these; test_wheel builds from exactly these).
BUILD_INPUTS = ("pyproject.toml", "README.md", "autotrain_gradio")
