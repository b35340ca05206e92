"""Seq2seq end to end through the CLI on the tiny T5: a toy rewrite (pick the colour and the animal out of a
sentence) is learned well enough that generation on held-out rows scores a high ROUGE, and the model loads with
AutoModelForSeq2SeqLM and generates the answer. LoRA through peft saves adapters that load the same way; int8 on a
machine without a GPU is refused at validate with one line."""

from __future__ import annotations

import json
import random
from pathlib import Path

from autotrain_gradio.pipeline import EXIT_BAD_INPUT, run_pipeline
from tests.e2e.cli_run import finished, run_cli
from tests.e2e.test_token_classification import ANIMALS, COLOURS, OTHER


def toy_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = [rng.choice(OTHER) for _ in range(5)]
        colour, animal = rng.choice(COLOURS), rng.choice(ANIMALS)
        words.insert(rng.randrange(6), colour)
        words.insert(rng.randrange(7), animal)
        rows.append({"text": " ".join(words), "target": f"{colour} {animal}"})
    return rows


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _generate(model_dir: Path, text: str) -> str:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    model, tokenizer = AutoModelForSeq2SeqLM.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)
    ids = model.generate(**tokenizer(text, return_tensors="pt"), max_new_tokens=8)
    return tokenizer.decode(ids[0], skip_special_tokens=True)


def test_rewrite_is_learned_and_generates(tmp_path):
    proc, out = run_cli(tmp_path / "ws", _jsonl(tmp_path / "pairs.jsonl", toy_rows(80)), "TinySeq2Seq", "",
                        "max_steps=60", "eval_every_epoch=false")
    results = finished(proc, out)
    # The untrained T5 generates nothing like the two target words (ROUGE-1 0 at the first evaluation).
    assert results["eval_rouge1"] > 70 and results["eval_rougeL"] > 70 and 2 <= results["eval_gen_len"] <= 5, results
    assert _generate(out / "model", "one of the green was with a horse") == "green horse"


def test_lora_adapters_load_and_int8_is_refused_without_gpu(tmp_path):
    data = _jsonl(tmp_path / "pairs.jsonl", toy_rows(12))
    proc, out = run_cli(tmp_path / "ws", data, "TinySeq2Seq", "", "peft=true", "lora_r=4", "max_steps=3",
                        "eval_every_epoch=false")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "model" / "adapter_config.json").exists() and not (out / "model" / "model.safetensors").exists()
    assert isinstance(_generate(out / "model", "the red dog"), str)  # base + adapters through the Auto class
    ws = tmp_path / "ws2"
    result = run_pipeline(data, "TinySeq2Seq", workspace=str(ws), quiet=True, mode="prepare",
                          overrides={"peft": True, "quantization": "int8"})
    assert result.exit_code == EXIT_BAD_INPUT and not ws.exists()
    assert result.errors == ["quantization='int8' needs a CUDA GPU (bitsandbytes) and this machine has none; set "
                             "quantization=none to train in full precision"]
