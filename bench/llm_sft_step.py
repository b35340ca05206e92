"""Per-step time and peak RSS of our LLM SFT trainer against a plain `trl.SFTTrainer`, same tiny model (tiny:llm),
same LoRA, same chat data and batch, measured in one run: repetitions interleaved (ours, reference, ours, ...),
each in its own subprocess so peak RSS is per side; per-step time is the median over a run's steps after warm-up,
then over repetitions; and the ratio (target <= 1.05).

"Ours" is the real trainer process (`autotrain_gradio.train` on a config.toml, as `autotrain pipeline run` starts
it: our data reader, events, the shared Trainer path); its step times come from the `step` events' timestamps. The
reference is the few lines TRL's docs show (SFTConfig + SFTTrainer + a LoRA PeftModel) with a callback that only
records the time at each step end.

    python bench/llm_sft_step.py [--reps 3] [--steps 40] [--batch 8]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from interleave import interleave  # bench/interleave.py: python puts the script's folder on sys.path

SOUNDS = {"cat": "meow", "dog": "woof", "cow": "moo", "duck": "quack", "sheep": "baa"}
TEMPLATES = ["What sound does a {a} make?", "Which noise does the {a} make?", "Say the sound of a {a}.", "{a} says?"]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _median_step(marks: list[float], warmup: int) -> float:
    return statistics.median(b - a for a, b in zip(marks[warmup - 1:-1], marks[warmup:], strict=True))


def _rows() -> list[dict]:
    return [{"messages": [{"role": "user", "content": t.format(a=a)}, {"role": "assistant", "content": s}]}
            for a, s in SOUNDS.items() for t in TEMPLATES]


def _settings(args) -> dict:
    return dict(max_steps=args.warmup + args.steps, batch_size=args.batch, learning_rate=1e-3, seed=0)


def child_ours(args, work: Path) -> dict:
    from autotrain_gradio import train
    from autotrain_gradio.config import save_config
    from autotrain_gradio.tasks.llm.config import LLMConfig

    s = _settings(args)
    cfg = LLMConfig(name=f"ours-{args.rep}", base_model="tiny:llm", data_dir=str(work / "data"),
                    output_dir=str(work / "output" / f"ours-{args.rep}"), trainer="sft", text_column="messages",
                    model_max_length=256, lora_r=16, lora_alpha=32, lora_dropout=0.0, valid_split=0.0,
                    eval_every_epoch=False, mixed_precision="no", lr_scheduler="constant", **s)
    code = train.main(["--config", str(save_config(cfg, Path(cfg.output_dir) / "config.toml"))])
    if code != 0:
        raise SystemExit(f"trainer exited {code}")
    events = [json.loads(line) for line in (Path(cfg.output_dir) / "log" / "events.jsonl").read_text().splitlines()]
    return {"step_s": _median_step([e["t"] for e in events if e["type"] == "step"], args.warmup),
            "rss_mb": _rss_mb()}


def child_reference(args, work: Path) -> dict:
    """TRL's documented SFT recipe on the same model, data and LoRA."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from autotrain_gradio.tasks.tiny import resolve_model

    s = _settings(args)
    path = resolve_model("tiny:llm")
    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *a, **k):
            marks.append(time.perf_counter())

    config = SFTConfig(output_dir=str(work / "reference"), max_steps=s["max_steps"],
                       per_device_train_batch_size=s["batch_size"], learning_rate=s["learning_rate"], seed=0,
                       lr_scheduler_type="constant", max_length=256, report_to="none", use_cpu=True, bf16=False,
                       save_strategy="no", gradient_checkpointing=False, logging_steps=1, disable_tqdm=True)
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(path), args=config,
                         train_dataset=Dataset.from_list(_rows()), processing_class=AutoTokenizer.from_pretrained(path),
                         peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear",
                                                task_type="CAUSAL_LM"),
                         callbacks=[Clock()])
    trainer.train()
    return {"step_s": _median_step(marks, args.warmup), "rss_mb": _rss_mb()}


def run(args) -> None:
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-llm-"))
    (work / "data").mkdir(parents=True, exist_ok=True)
    (work / "data" / "train.jsonl").write_text("\n".join(json.dumps(r) for r in _rows()) + "\n")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "HF_HUB_OFFLINE": "1", "AUTOTRAIN_TINY_CACHE": os.environ.get("AUTOTRAIN_TINY_CACHE", str(work / "tiny"))}
    interleave(__file__, ["--workdir", str(work), "--steps", str(args.steps), "--warmup", str(args.warmup),
                          "--batch", str(args.batch)], args.reps, env,
               f"tiny:llm LoRA r16 SFT, batch {args.batch}, {args.steps} steps x {args.reps} reps, "
               f"{args.threads} thread(s) per side", target=1.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", default="")
    parser.add_argument("--rep", type=int, default=0)
    parser.add_argument("--child", choices=("ours", "reference"))
    args = parser.parse_args()
    if args.child:
        result = (child_ours if args.child == "ours" else child_reference)(args, Path(args.workdir))
        print(json.dumps(result), flush=True)
    else:
        run(args)


if __name__ == "__main__":
    main()
