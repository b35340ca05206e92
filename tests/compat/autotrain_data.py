"""Tiny local data in the layouts AutoTrain's configs expect, built from a config's own task, column mapping and
split names: table files named after train_split / valid_split (JSON Lines in `.json`, as AutoTrain's token
classification reads them), image folders per split with a metadata.jsonl whose file column is `file_name` while
the config maps `image_column: image`, class sub-folders for image classification."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

from PIL import Image

from autotrain_gradio.compat.tasks import resolve_task
from autotrain_gradio.profiles import SHIPPED_DIR, list_profiles

ROWS = 12
WORDS = ["good", "great", "fine", "bad", "poor", "awful"]


def tiny_model(task: str) -> str:
    """The tiny base model of our Tiny profile for this task (tiny:bert, tiny:llm, ...)."""
    tiny = [p for name, p in sorted(list_profiles().items()) if p.task == task and name.startswith("Tiny")
            and p.path.parent == SHIPPED_DIR]
    return tiny[0].config["base_model"]


def _split(name: str | None) -> str | None:
    return name.rpartition(":")[2] if name else name  # st's pair:train -> train


def _value(key: str, column: str, task: str, trainer: str, i: int, rng: random.Random) -> Any:
    word = WORDS[i % len(WORDS)]
    if task == "llm":
        if column == "messages":
            return [{"role": "user", "content": f"say {word}"}, {"role": "assistant", "content": f"{word} {i}"}]
        if key == "text_column" and trainer in ("sft", "default"):
            return f"### Human: say {word}### Assistant: {word} {i}"
        return {"prompt_text_column": f"say {word}", "text_column": f"{word} {i}",
                "rejected_text_column": f"no {i}"}[key]
    if key == "target_column":
        if task == "text-classification":
            return "pos" if i % 2 else "neg"
        if task == "sentence-transformers":
            return i % 3 if trainer == "pair_class" else round(rng.random(), 3)
        return round(rng.random(), 3) if task in ("text-regression", "image-regression") else f"{word} out"
    if key == "tokens_column":
        return [word, "is", "here"]
    if key == "tags_column":
        return ["B-X", "O", "O"]
    if key == "answer_column":
        return {"text": [word], "answer_start": [4]}
    if key == "text_column" and task == "extractive-qa":
        return f"the {word} one is here"
    if key == "question_column":
        return "which one?"
    return f"{word} sentence {i} {key}"


def _table(folder: Path, split: str, rows: list[dict], json_lines: bool) -> None:
    if json_lines:
        (folder / f"{split}.json").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return
    with open(folder / f"{split}.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _images(folder: Path, task: str, mapping: dict[str, str], trainer: str, rng: random.Random) -> None:
    folder.mkdir(parents=True)
    lines = []
    for i in range(ROWS):
        shade = 40 + 15 * i
        Image.new("RGB", (32, 32), (shade, 255 - shade, 90)).save(folder / f"{i}.png")
        row: dict[str, Any] = {"file_name": f"{i}.png"}
        if task == "object-detection":
            row[mapping.get("objects_column", "objects")] = {"bbox": [[2.0, 3.0, 10.0, 12.0]], "category": [i % 2]}
        elif task == "vlm":
            row[mapping.get("prompt_text_column", "prompt")] = "what colour?"
            row[mapping.get("text_column", "text")] = "green" if i % 2 else "red"
        else:
            row[mapping.get("target_column", "target")] = round(rng.random(), 3)
        lines.append(json.dumps(row))
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_data(config: dict[str, Any], root: Path) -> Path:
    """A folder holding the config's train split (and its validation split, when it names one)."""
    task, preset = resolve_task(config["task"])
    trainer = preset.get("trainer") or (config.get("params") or {}).get("trainer") or ""
    data = config["data"]
    mapping = data.get("column_mapping") or {}
    splits = [s for s in (_split(data.get("train_split")), _split(data.get("valid_split"))) if s]
    rng = random.Random(0)
    root.mkdir(parents=True)
    for split in splits:
        if task == "image-classification":
            for i in range(ROWS):
                label = "cat" if i % 2 else "dog"
                (root / split / label).mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (32, 32), (200 if i % 2 else 30, 80, 80)).save(root / split / label / f"{i}.png")
        elif task in ("image-regression", "object-detection", "vlm"):
            _images(root / split, task, mapping, trainer, rng)
        else:
            rows = [{column: _value(key, column, task, trainer, i, rng) for key, column in mapping.items()}
                    for i in range(ROWS)]
            _table(root, split, rows, json_lines=task in ("token-classification", "extractive-qa", "llm"))
    return root
