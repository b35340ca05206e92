"""AutoTrain Advanced 0.8.36 beside this project on the same text-classification run, in one process tree, paired
(A B A B ...): same toy data (600 / 200 rows, 10% label noise), same tiny BERT folder, same settings (3 epochs, lr
1e-3, batch 8, max length 32, warmup 0.1, linear, weight decay 0, early stopping 5 / 0.01, seed 42).

AutoTrain runs as its own trainer module (`python -m autotrain.trainers.text_classification`) on its own munged data
(its TextBinaryClassificationPreprocessor), with its pinned libraries (transformers 4.48, accelerate 1.2.1,
datasets 3.2, huggingface_hub 0.27) installed --no-deps into a cache folder from PyPI: today's transformers 5 no
longer takes its TrainingArguments. Ours runs `autotrain text-classification --train ...`. Prints each run's best
validation accuracy and loss, the epoch each reports, wall and CPU seconds, and the ratios ours / AutoTrain.

    python bench/autotrain_side_by_side.py --pairs 2
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PINNED = ["autotrain-advanced==0.8.36", "loguru", "transformers==4.48.0", "tokenizers==0.21.0", "accelerate==1.2.1",
          "evaluate==0.4.3", "huggingface_hub==0.27.1", "datasets==3.2.0", "fsspec==2024.9.0"]
SETTINGS = {"lr": 1e-3, "epochs": 3, "max_seq_length": 32, "batch_size": 8, "warmup_ratio": 0.1, "seed": 42,
            "scheduler": "linear", "weight_decay": 0.0}
POS, NEG = ["good", "great", "excellent", "wonderful", "amazing", "loved"], ["bad", "terrible", "awful", "boring",
                                                                             "poor", "hated"]
FILLER = ["film", "movie", "plot", "actor", "scene", "story", "the", "a", "was", "it"]


def toy_data(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", 600, 1), ("valid", 200, 2)):
        rng = random.Random(seed)
        rows = []
        for i in range(n):
            label = i % 2
            words = rng.choices(FILLER, k=5) + rng.choices(POS if label else NEG, k=1)
            label = 1 - label if rng.random() < 0.1 else label
            rng.shuffle(words)
            rows.append([" ".join(words), "pos" if label else "neg"])
        with open(folder / f"{split}.csv", "w", newline="") as fh:
            csv.writer(fh).writerows([["text", "label"], *rows])


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), proc.stdout + proc.stderr


def run_autotrain(work: Path, data: Path, model: str, deps: Path, client: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    munge = ("import pandas as pd; from autotrain.preprocessor.text import TextBinaryClassificationPreprocessor as P;"
             f"P(train_data=pd.read_csv('{data}/train.csv'), valid_data=pd.read_csv('{data}/valid.csv'), "
             "text_column='text', label_column='label', username='x', project_name='at-run', token=None, local=True, "
             "seed=42, convert_to_class_label=True).prepare()")
    subprocess.run([sys.executable, "-c", munge], env={**env, "PYTHONPATH": str(client)}, cwd=work, check=True,
                   capture_output=True)
    params = {**SETTINGS, "data_path": "at-run/autotrain-data", "model": model, "project_name": "at-run",
              "text_column": "autotrain_text", "target_column": "autotrain_label", "train_split": "train",
              "valid_split": "validation", "optimizer": "adamw_torch", "mixed_precision": None, "log": "none",
              "early_stopping_patience": 5, "early_stopping_threshold": 0.01, "gradient_accumulation": 1,
              "max_grad_norm": 1.0, "logging_steps": -1, "save_total_limit": 1, "eval_strategy": "epoch"}
    (work / "at.json").write_text(json.dumps(params))
    wall, cpu, out = timed([sys.executable, "-m", "autotrain.trainers.text_classification", "--training_config",
                            "at.json"], {**env, "PYTHONPATH": f"{deps}{os.pathsep}{client}"}, work)
    evals = [json.loads(m.replace("'", '"')) for m in re.findall(r"\{'eval_loss'[^}]*\}", out)]
    final = evals[-1]  # its last log: the reloaded best model, evaluated again
    return {"accuracy": final["eval_accuracy"], "loss": round(final["eval_loss"], 4), "epoch": final["epoch"],
            "wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}


def run_ours(work: Path, data: Path) -> dict:
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in SETTINGS.items()]
    cmd = [sys.executable, "-m", "autotrain_gradio.cli", "--workspace", str(work / "ws"), "text-classification",
           "--train", "--model", "tiny:bert", "--data-path", str(data), "--project-name", "ours", "--text-column",
           "text", "--target-column", "label", "--valid-split", "valid", "--mixed-precision", "none", *flags]
    wall, cpu, _ = timed(cmd, {**os.environ, "OMP_NUM_THREADS": "2"}, work)
    results = json.loads((work / "ws" / "output" / "ours" / "eval_results.json").read_text())
    return {"accuracy": results["eval_accuracy"], "loss": round(results["eval_loss"], 4), "epoch": results["epoch"],
            "wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "autotrain-gradio" / "autotrain-0.8.36"))
    args = parser.parse_args()
    cache = Path(args.cache)
    client, deps = cache / "autotrain", cache / "deps"
    if not (client / "autotrain").is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(client),
                        *PINNED[:2]], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(deps),
                        *PINNED[2:]], check=True)
    from autotrain_gradio.tasks.tiny import resolve_model

    model = resolve_model("tiny:bert")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        toy_data(data)
        for pair in range(args.pairs):
            for name in ("autotrain", "ours"):
                work = Path(tmp) / f"{name}-{pair}"
                work.mkdir()
                row = run_autotrain(work, data, model, deps, client) if name == "autotrain" else run_ours(work, data)
                rows.append({"run": name, "pair": pair, **row})
                print(json.dumps(rows[-1]), flush=True)
    mean = {name: {k: sum(r[k] for r in rows if r["run"] == name) / args.pairs for k in ("wall_s", "cpu_s")}
            for name in ("autotrain", "ours")}
    print(f"ours / AutoTrain: wall {mean['ours']['wall_s'] / mean['autotrain']['wall_s']:.2f}, "
          f"CPU {mean['ours']['cpu_s'] / mean['autotrain']['cpu_s']:.2f} (AutoTrain's time excludes its munging)")


if __name__ == "__main__":
    main()
