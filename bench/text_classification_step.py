"""Per-step time of our text-classification trainer (the shared `hf_trainer.fit` path: events callback, step clock,
our datasets) against a plain `transformers.Trainer` on the same tiny BERT, data and settings, measured in one run
(repetitions interleaved: ours, reference, ours, ...), and the ratio (goal <= 1.05).

"Ours" is `tasks.text_classification.train.train(cfg, ctx)` as the trainer process runs it, on a prepared CSV; its
step times come from the `step` events' timestamps. The reference is the textbook script: the table tokenized up
front, `DataCollatorWithPadding`, `Trainer(model, args, train_dataset, processing_class)`, with the same
TrainingArguments values; its step times come from a callback's `on_log` (where ours writes its `step` event).
Times are the process's CPU time (`time.process_time`, torch on --threads threads): on a shared machine wall time
swings with other people's load, CPU time much less. Per side and repetition: mean step time after warm-up; the
ratio is the median of the per-repetition ratios. Model loading and tokenization up front are not counted.

    python bench/text_classification_step.py [--reps 3] [--steps 60] [--batch 16] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

WORDS = ["good", "great", "bad", "awful", "the", "movie", "was", "a", "story", "music", "people", "time", "film"]


def make_csv(path: Path, rows: int) -> Path:
    rng = random.Random(0)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "target"])
        for i in range(rows):
            writer.writerow([" ".join(rng.choices(WORDS, k=rng.randint(20, 60))), "pos" if i % 2 else "neg"])
    return path


def _per_step(marks: list[float], warmup: int) -> float:
    return (marks[-1] - marks[warmup]) / (len(marks) - 1 - warmup)


def run_ours(args, work: Path, data: Path, rep: int) -> float:
    from autotrain_gradio.events import EventWriter, read_events
    from autotrain_gradio.tasks.common import RunContext
    from autotrain_gradio.tasks.text_classification.config import TextClassificationConfig
    from autotrain_gradio.tasks.text_classification.train import train
    from autotrain_gradio.workspace import run_paths

    out = work / "output" / f"ours{rep}"
    cfg = TextClassificationConfig(name=f"ours{rep}", base_model="tiny:bert", data_dir=str(data),
                                   output_dir=str(out), batch_size=args.batch, max_steps=args.steps,
                                   learning_rate=5e-5, lr_scheduler="linear", max_seq_length=128, valid_split=0.0,
                                   eval_every_epoch=False, mixed_precision="no", seed=0)
    marks: list[float] = []

    class TimedWriter(EventWriter):  # the real writer, plus the process CPU time at each step event
        def emit(self, type: str, **fields):
            if type == "step":
                marks.append(time.process_time())
            return super().emit(type, **fields)

    paths = run_paths(out)
    events = TimedWriter(paths.events)
    try:
        train(cfg, RunContext(cfg=cfg, paths=paths, events=events))
    finally:
        events.close()
    assert len(marks) == len([e for e in read_events(paths.events) if e["type"] == "step"]) == args.steps
    return _per_step(marks, args.warmup)


def run_reference(args, work: Path, data: Path, rep: int) -> float:
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        PrinterCallback,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from autotrain_gradio.tasks.tiny import resolve_model

    source = resolve_model("tiny:bert")
    tokenizer = AutoTokenizer.from_pretrained(source)
    with open(data / "train.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    labels = sorted({r["target"] for r in rows})
    dataset = [{**tokenizer(r["text"], truncation=True, max_length=128), "labels": labels.index(r["target"])}
               for r in rows]
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=len(labels))
    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_log(self, a, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                marks.append(time.process_time())

    targs = TrainingArguments(output_dir=str(work / "ref" / str(rep)), per_device_train_batch_size=args.batch,
                              max_steps=args.steps, learning_rate=5e-5, lr_scheduler_type="linear", logging_steps=1,
                              save_strategy="no", eval_strategy="no", report_to="none", disable_tqdm=True,
                              use_cpu=True, seed=0, dataloader_num_workers=0)
    trainer = Trainer(model=model, args=targs, train_dataset=dataset, processing_class=tokenizer,
                      data_collator=DataCollatorWithPadding(tokenizer), callbacks=[Clock()])
    trainer.remove_callback(PrinterCallback)  # as ours does: no log dict printed per step on either side
    trainer.train()
    return _per_step(marks, args.warmup)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "data").mkdir()
        data = make_csv(work / "data" / "train.csv", rows=args.batch * 20).parent
        ours, ref = [], []
        for rep in range(args.reps):
            ours.append(run_ours(args, work, data, rep))
            ref.append(run_reference(args, work, data, rep))
            print(f"rep {rep}: ours {ours[-1] * 1000:.1f} ms/step, plain Trainer {ref[-1] * 1000:.1f} ms/step",
                  flush=True)
    o, r = statistics.median(ours), statistics.median(ref)
    ratio = statistics.median(a / b for a, b in zip(ours, ref, strict=True))
    print(f"tiny BERT, batch {args.batch}, {args.steps} steps ({args.warmup} warm-up), {args.threads} thread(s), "
          "CPU time per step")
    print(f"ours {o * 1000:.1f} ms/step | plain transformers.Trainer {r * 1000:.1f} ms/step | ratio {ratio:.3f} "
          "(goal <= 1.05)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
