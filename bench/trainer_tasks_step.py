"""What our Trainer path costs per optimizer step over the plain library, for token classification (transformers'
Trainer) and sentence-transformers (SentenceTransformerTrainer): the same tiny model, data, batch size and steps,
run both ways in one process, alternating (plain, ours, ours, plain, ...). Goal: ours / plain <= 1.05.

Ours is the task's `train(cfg, ctx)` as the trainer process runs it (its dataset classes, the shared `fit` with our
events callback, checkpoints off). Plain is what a person writes from the libraries' docs: `datasets.map` to tokenize
(token classification, labels on first sub-words) or a `datasets.Dataset` of the columns (sentence-transformers),
the library's trainer with the same arguments. The step time is the median gap between consecutive step ends after
`--warmup` steps (a callback in plain, our step events in ours), so loading and saving do not count; each side's
figure is the best of its `--repeats` runs (a shared machine's noise only ever adds time).

    python bench/trainer_tasks_step.py [--steps 60] [--warmup 5] [--batch 16] [--repeats 2] [--tasks a,b]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

COLOURS, ANIMALS = ["red", "blue", "green", "black", "white"], ["dog", "horse", "fish", "bird"]
OTHER = ["the", "of", "and", "to", "a", "in", "is", "it", "you", "that", "was", "for", "on", "are", "with", "as",
         "his", "they", "be", "at", "one", "have", "this", "from"]


def ner_rows(n: int, rng: random.Random) -> list[dict]:
    rows = []
    for _ in range(n):
        words, tags = [], []
        for _ in range(rng.randint(8, 16)):
            r = rng.random()
            tag = "B-COL" if r < 0.2 else "B-ANI" if r < 0.4 else "O"
            words.append(rng.choice(COLOURS if tag == "B-COL" else ANIMALS if tag == "B-ANI" else OTHER))
            tags.append(tag)
        rows.append({"tokens": words, "tags": tags})
    return rows


def pair_rows(n: int, rng: random.Random) -> list[dict]:
    def sentence() -> str:
        return " ".join(rng.choice(OTHER + COLOURS + ANIMALS) for _ in range(rng.randint(6, 12)))

    return [{"anchor": sentence(), "positive": sentence()} for _ in range(n)]


def _median_gap(times: list[float], warmup: int) -> float:
    gaps = [b - a for a, b in zip(times[warmup:], times[warmup + 1:], strict=False)]
    return statistics.median(gaps)


def ours(task: str, rows: list[dict], args, work: Path) -> float:
    from autotrain_gradio.config import save_config
    from autotrain_gradio.events import read_events
    from autotrain_gradio.train import main

    data = work / f"ours-{task}"
    data.mkdir(parents=True)
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    common = dict(name=task.replace("-", ""), base_model="tiny:bert", data_dir=str(data), max_steps=args.steps,
                  batch_size=args.batch, learning_rate=1e-4, lr_scheduler="constant", mixed_precision="no",
                  valid_split=0.0, eval_every_epoch=False, output_dir=str(work / "output" / task.replace("-", "")))
    if task == "token-classification":
        from autotrain_gradio.tasks.token_classification.config import TokenClassificationConfig as Config
        cfg = Config(**common, max_seq_length=64)
    else:
        from autotrain_gradio.tasks.sentence_transformers.config import SentenceTransformersConfig as Config
        cfg = Config(**common, trainer="pair", sentence1_column="anchor", sentence2_column="positive",
                     max_seq_length=64)
    assert main(["--config", str(save_config(cfg, Path(cfg.output_dir) / "config.toml"))]) == 0
    events = read_events(Path(cfg.output_dir) / "log" / "events.jsonl")
    return _median_gap([e["t"] for e in events if e["type"] == "step"], args.warmup)


def _clock():
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.time())

    return Clock()


def plain_token_classification(rows: list[dict], args, work: Path) -> float:
    from datasets import Dataset
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainingArguments,
    )

    from autotrain_gradio.tasks.tiny import resolve_model

    source = resolve_model("tiny:bert")
    labels = sorted({t for r in rows for t in r["tags"]})
    tokenizer = AutoTokenizer.from_pretrained(source)

    def tokenize(batch):
        enc = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=64)
        enc["labels"] = []
        for i, tags in enumerate(batch["tags"]):
            previous, row = None, []
            for word in enc.word_ids(i):
                row.append(-100 if word is None or word == previous else labels.index(tags[word]))
                previous = word
            enc["labels"].append(row)
        return enc

    dataset = Dataset.from_list(rows).map(tokenize, batched=True, remove_columns=["tokens", "tags"])
    model = AutoModelForTokenClassification.from_pretrained(source, num_labels=len(labels),
                                                            ignore_mismatched_sizes=True)
    clock = _clock()
    trainer = Trainer(model=model, train_dataset=dataset, data_collator=DataCollatorForTokenClassification(tokenizer),
                      processing_class=tokenizer, callbacks=[clock], args=TrainingArguments(
                          output_dir=str(work / "plain-ner"), max_steps=args.steps,
                          per_device_train_batch_size=args.batch, learning_rate=1e-4, lr_scheduler_type="constant",
                          use_cpu=True, report_to="none",
                          save_strategy="no", logging_steps=1, disable_tqdm=True, seed=42))
    trainer.train()
    return _median_gap(clock.times, args.warmup)


def plain_sentence_transformers(rows: list[dict], args, work: Path) -> float:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer

    from autotrain_gradio.tasks.tiny import resolve_model

    model = SentenceTransformer(resolve_model("tiny:bert"), device="cpu")
    model.max_seq_length = 64
    clock = _clock()
    trainer = SentenceTransformerTrainer(
        model=model, train_dataset=Dataset.from_list(rows), loss=MultipleNegativesRankingLoss(model),
        callbacks=[clock], args=SentenceTransformerTrainingArguments(
            output_dir=str(work / "plain-st"), max_steps=args.steps, per_device_train_batch_size=args.batch,
            learning_rate=1e-4, lr_scheduler_type="constant", use_cpu=True, report_to="none", save_strategy="no",
            logging_steps=1, disable_tqdm=True, seed=42, batch_sampler="no_duplicates"))
    trainer.train()
    return _median_gap(clock.times, args.warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tasks", default="token-classification,sentence-transformers", help="comma-separated")
    args = parser.parse_args()
    rng = random.Random(0)
    cases = {"token-classification": (ner_rows(args.steps * args.batch, rng), plain_token_classification),
             "sentence-transformers": (pair_rows(args.steps * args.batch, rng), plain_sentence_transformers)}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("AUTOTRAIN_TINY_CACHE", str(Path(tmp) / "tiny"))
        for task, (rows, plain) in cases.items():
            if task not in args.tasks.split(","):
                continue
            times: dict[str, list[float]] = {"plain": [], "ours": []}
            for r in range(args.repeats):
                for side in ("plain", "ours") if r % 2 == 0 else ("ours", "plain"):
                    work = Path(tmp) / f"{task}-{side}-{r}"
                    work.mkdir()
                    times[side].append(plain(rows, args, work) if side == "plain" else ours(task, rows, args, work))
            plain_s, ours_s = min(times["plain"]), min(times["ours"])
            runs = "  ".join(f"{side} " + ",".join(f"{t * 1000:.0f}" for t in ts) for side, ts in times.items())
            print(f"{task:24s} plain {plain_s * 1000:7.1f} ms/step   ours {ours_s * 1000:7.1f} ms/step   "
                  f"ours/plain {ours_s / plain_s:.3f}   (runs, ms: {runs})")


if __name__ == "__main__":
    main()
