"""Per-step CPU time of every Trainer task against its plain library, paired A B A B, each side a fresh child process.

Ours is the task's `train(cfg, ctx)` exactly as the trainer process runs it (its data reader and datasets, the shared
`hf_trainer.fit`: our TrainingArguments, events callback, step clock, buffered events). Plain is the same task's
datasets, model and collator handed to the library's own Trainer class (transformers' Trainer, TRL's SFT / DPO
trainers, SentenceTransformerTrainer) with the library's default arguments: only what a CPU run and the comparison
need is set (steps, batch, learning rate, schedule, seed, logging every step, no saving, the same extra arguments the
task passes to its TrainingArguments class). So the ratio is the cost of our Trainer path, step for step.

A step's CPU time: the process's CPU seconds between consecutive step ends (ours: at each step event; plain: a
callback's on_log), median over the steps after --warmup. torch runs 1 thread on both sides (OMP_NUM_THREADS=1).

    python bench/trainer_steps.py [--tasks text-classification,...] [--reps 4] [--steps 40] [--batch 8]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired import HEADER, Pairs, Sample, load_note, paired, run_child  # noqa: E402

WORDS = ["good", "great", "bad", "awful", "the", "movie", "was", "a", "story", "music", "people", "time", "film"]
COLOURS, ANIMALS = ["red", "blue", "green", "black"], ["dog", "horse", "fish", "bird"]
TASKS = ("text-classification", "token-classification", "extractive-qa", "seq2seq", "sentence-transformers",
         "llm-sft", "llm-dpo", "image-classification")


def _sentence(rng: random.Random, lo: int = 6, hi: int = 16) -> str:
    return " ".join(rng.choice(WORDS + COLOURS + ANIMALS) for _ in range(rng.randint(lo, hi)))


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def make_data(task: str, folder: Path, n: int) -> None:
    """A learnable toy set of n rows for the task in folder/ (train.csv, train.jsonl or class folders)."""
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    if task in ("text-classification", "seq2seq"):
        with open(folder / "train.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "target"])
            for i in range(n):
                text = _sentence(rng, 12, 40)
                writer.writerow([text, ("pos" if i % 2 else "neg") if task == "text-classification"
                                 else " ".join(text.split()[:4])])
    elif task == "token-classification":
        rows = []
        for _ in range(n):
            words = [rng.choice(COLOURS + ANIMALS + WORDS) for _ in range(rng.randint(8, 16))]
            rows.append({"tokens": words, "tags": ["COL" if w in COLOURS else "ANI" if w in ANIMALS else "O"
                                                   for w in words]})
        _jsonl(folder / "train.jsonl", rows)
    elif task == "extractive-qa":
        rows = []
        for _ in range(n):
            answer = rng.choice(COLOURS)
            context = f"{_sentence(rng)} the {rng.choice(ANIMALS)} was {answer} {_sentence(rng)}"
            rows.append({"context": context, "question": "what colour was it?",
                         "answers": {"text": [answer], "answer_start": [context.index(f" {answer} ") + 1]}})
        _jsonl(folder / "train.jsonl", rows)
    elif task == "sentence-transformers":
        _jsonl(folder / "train.jsonl", [{"anchor": _sentence(rng), "positive": _sentence(rng)} for _ in range(n)])
    elif task == "llm-sft":
        _jsonl(folder / "train.jsonl", [{"messages": [{"role": "user", "content": _sentence(rng)},
                                                      {"role": "assistant", "content": _sentence(rng)}]}
                                        for _ in range(n)])
    elif task == "llm-dpo":
        _jsonl(folder / "train.jsonl", [{"prompt": _sentence(rng), "chosen": _sentence(rng), "rejected": "no."}
                                        for _ in range(n)])
    elif task == "image-classification":
        from PIL import Image

        for label, colour in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
            (folder / label).mkdir(exist_ok=True)
            for i in range(max(4, n // 2)):
                shade = tuple(max(0, min(255, c + rng.randint(-30, 30))) for c in colour)
                Image.new("RGB", (32, 32), shade).save(folder / label / f"{i}.png")


def make_config(task: str, data: Path, out: Path, steps: int, batch: int):
    common = dict(name=out.name, data_dir=str(data), output_dir=str(out), max_steps=steps, batch_size=batch,
                  learning_rate=1e-4, lr_scheduler="constant", mixed_precision="no", valid_split=0.0,
                  eval_every_epoch=False, seed=0)
    if task == "text-classification":
        from autotrain_gradio.tasks.text_classification.config import TextClassificationConfig
        return TextClassificationConfig(**common, base_model="tiny:bert", max_seq_length=64)
    if task == "token-classification":
        from autotrain_gradio.tasks.token_classification.config import TokenClassificationConfig
        return TokenClassificationConfig(**common, base_model="tiny:bert", max_seq_length=64)
    if task == "extractive-qa":
        from autotrain_gradio.tasks.extractive_qa.config import ExtractiveQAConfig
        # Some held-out rows: the task does not run with none (its windowing of an empty split fails).
        return ExtractiveQAConfig(**{**common, "valid_split": 0.1}, base_model="tiny:bert", max_seq_length=96,
                                  max_doc_stride=32)
    if task == "seq2seq":
        from autotrain_gradio.tasks.seq2seq.config import Seq2SeqConfig
        return Seq2SeqConfig(**common, base_model="tiny:t5", max_seq_length=64)
    if task == "sentence-transformers":
        from autotrain_gradio.tasks.sentence_transformers.config import SentenceTransformersConfig
        return SentenceTransformersConfig(**common, base_model="tiny:bert", trainer="pair",
                                          sentence1_column="anchor", sentence2_column="positive", max_seq_length=64)
    if task in ("llm-sft", "llm-dpo"):
        from autotrain_gradio.tasks.llm.config import LLMConfig
        if task == "llm-sft":
            return LLMConfig(**common, base_model="tiny:llm", trainer="sft", text_column="messages",
                             model_max_length=64)
        return LLMConfig(**common, base_model="tiny:llm", trainer="dpo", text_column="chosen", model_max_length=64)
    from autotrain_gradio.tasks.image_classification.config import ImageClassificationConfig
    return ImageClassificationConfig(**common, base_model="tiny:vit")


def plain_fit(marks: list[float], steps: int, batch: int):
    """A stand-in for `hf_trainer.fit` that hands the task's pieces to the library's Trainer as plainly as it goes."""
    def fit(cfg, ctx, *, load_model, model_source, train_dataset, eval_dataset=None, card=None, compute_metrics=None,
            processing_class=None, data_collator=None, trainer_class=None, args_class=None, extra_args=None,
            trainer_kwargs=None, **_ignored):
        from transformers import Trainer, TrainerCallback, TrainingArguments

        class Clock(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs and "loss" in logs:
                    marks.append(time.process_time())

        args_class = args_class or TrainingArguments
        args = args_class(output_dir=str(ctx.paths.checkpoints_dir), max_steps=steps, per_device_train_batch_size=batch,
                          learning_rate=cfg.learning_rate, lr_scheduler_type="constant", seed=cfg.seed,
                          logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True, use_cpu=True,
                          bf16=False, fp16=False, remove_unused_columns=False, **(extra_args or {}))
        trainer = (trainer_class or Trainer)(model=load_model(model_source), args=args, train_dataset=train_dataset,
                                             processing_class=processing_class, data_collator=data_collator,
                                             callbacks=[Clock()], **(trainer_kwargs or {}))
        from transformers import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # both sides: no log dict printed per step
        trainer.train()
        return {"checkpoint": ""}

    return fit


def child(task: str, side: str, work: Path, steps: int, batch: int, warmup: int) -> dict:
    import importlib

    from autotrain_gradio.events import EventWriter
    from autotrain_gradio.tasks import get_task, hf_trainer
    from autotrain_gradio.tasks.common import RunContext
    from autotrain_gradio.workspace import run_paths

    data = work / "data"
    make_data(task, data, steps * batch)
    cfg = make_config(task, data, work / "output" / side, steps, batch)
    marks: list[float] = []

    class TimedWriter(EventWriter):  # the real writer, plus the process CPU time at each step event
        def emit(self, type: str, **fields):
            if type == "step":
                marks.append(time.process_time())
            return super().emit(type, **fields)

    paths = run_paths(cfg.output_dir)
    events = TimedWriter(paths.events)
    train = get_task(cfg.task).load_train()
    if side == "plain":
        module = importlib.import_module(train.__module__)
        hf_trainer.fit = plain_fit(marks, steps, batch)
        if hasattr(module, "fit"):
            module.fit = hf_trainer.fit
    try:
        train(cfg, RunContext(cfg=cfg, paths=paths, events=events))
    finally:
        events.close()
    gaps = [b - a for a, b in zip(marks[warmup:], marks[warmup + 1:], strict=False)]
    return {"step_cpu_s": statistics.median(gaps), "steps": len(marks)}


def measure(tasks: list[str], reps: int, steps: int, batch: int, warmup: int) -> list[Pairs]:
    results = []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryDirectory() as tmp:
        env.setdefault("AUTOTRAIN_TINY_CACHE", str(Path(tmp) / "tiny"))

        def side(task: str, name: str):
            def run(rep: int) -> Sample:
                work = Path(tmp) / f"{task}-{name}-{rep}"
                sample, out = run_child([sys.executable, __file__, "--child", task, name, str(work), "--steps",
                                         str(steps), "--batch", str(batch), "--warmup", str(warmup)], env=env)
                step = json.loads(out.strip().splitlines()[-1])["step_cpu_s"]
                return Sample(step, step)  # per-step CPU seconds (no per-step wall: see the table's note)
            return run

        for task in tasks:
            pairs = Pairs(f"{task} step", 1.03, note="CPU s per step; wall column = CPU")
            results.append(paired(pairs, side(task, "ours"), side(task, "plain"), reps))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", nargs=3, metavar=("TASK", "SIDE", "WORK"))
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    if args.child:
        task, side, work = args.child
        print(json.dumps(child(task, side, Path(work), args.steps, args.batch, args.warmup)))
        return
    results = measure(args.tasks.split(","), args.reps, args.steps, args.batch, args.warmup)
    print(load_note())
    print(HEADER)
    for pairs in results:
        print(pairs.row())


if __name__ == "__main__":
    main()
