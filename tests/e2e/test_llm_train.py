"""The llm task end to end through the CLI on TinyLLM (`autotrain pipeline run ... --immediate`): SFT learns a toy
chat set (eval loss falls, greedy answers to held-out prompts become right) and its merged output loads and
generates; DPO raises the chosen-over-rejected margin; ORPO lowers its loss; a reward model scores held-out chosen
answers above rejected ones (through `autotrain tools merge-llm-adapter`); the plain causal-LM trainer drops the
rows longer than model_max_length, as told, and learns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autotrain_gradio.events import read_events

pytestmark = pytest.mark.slow

SOUNDS = {"cat": "meow", "dog": "woof", "cow": "moo", "duck": "quack", "sheep": "baa"}
# The animal is always the last word, so "look a fixed distance back" is a rule a 2-layer model finds; a dozen
# templates keep it from memorising whole prompts instead.
TEMPLATES = [t + "?" for t in ("What sound does a {a}", "Which noise for the {a}", "Say the sound of a {a}",
                               "Tell me, {a}", "Hey {a}", "And the {a}", "The {a}", "Sound of a {a}",
                               "What says the {a}", "Noise made by a {a}", "Your {a}", "One {a}")]


def _held_out(i: int, j: int) -> bool:
    return j == i  # one (animal, template) pair per animal, each with another template


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")


def _split(make) -> tuple[list[dict], list[dict]]:
    train, valid = [], []
    for i, (animal, sound) in enumerate(SOUNDS.items()):
        for j, template in enumerate(TEMPLATES):
            (valid if _held_out(i, j) else train).append(make(template.format(a=animal), sound))
    return train, valid


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "autotrain_gradio.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env)


def _run(ws: Path, data: Path, name: str, *sets: str, mapping: str) -> tuple[subprocess.CompletedProcess, Path]:
    proc = _cli("--workspace", str(ws), "pipeline", "run", "--dataset-path", str(data), "--dataset-name", name,
                "--profile", "TinyLLM", "--immediate", "--column-mapping", mapping,
                *[a for s in sets for a in ("--set", s)])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, ws / "output" / name


def _evals(out: Path, key: str) -> list[float]:
    return [e["metrics"][key] for e in read_events(out / "log" / "events.jsonl") if e["type"] == "eval"]


def _answers(folder: Path, prompts: list[str]) -> list[str]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder)
    answers = []
    for prompt in prompts:
        inputs = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                               return_tensors="pt", return_dict=True)
        ids = model.generate(**inputs, max_new_tokens=8, do_sample=False)[0][inputs["input_ids"].shape[1]:]
        answers.append(tokenizer.decode(ids, skip_special_tokens=True).strip())
    return answers


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    """Preference pairs: the right sound is chosen, a refusal rejected; held-out prompts in valid.jsonl."""
    folder = tmp_path_factory.mktemp("pairs")
    train, valid = _split(lambda p, s: {"prompt": p, "chosen": s, "rejected": "I don't know."})
    _write_jsonl(folder / "train.jsonl", train)
    _write_jsonl(folder / "valid.jsonl", valid)
    return folder


def test_sft_learns_held_out_answers_and_merges(tmp_path):
    train, valid = _split(lambda p, s: {"messages": [{"role": "user", "content": p},
                                                     {"role": "assistant", "content": s}]})
    _write_jsonl(tmp_path / "chats" / "train.jsonl", train)
    _write_jsonl(tmp_path / "chats" / "valid.jsonl", valid)
    prompts = [row["messages"][0]["content"] for row in valid]
    expected = [row["messages"][1]["content"] for row in valid]
    _, out = _run(tmp_path / "ws", tmp_path / "chats", "chats", "trainer=sft", "max_steps=80",
                  "merge_adapter=true", mapping="text_column=messages")
    losses = _evals(out, "loss")
    assert losses[-1] < 0.5 * losses[0], losses
    assert (out / "model" / "adapter_config.json").is_file()
    adapter_answers = _answers(out / "model", prompts)
    right = sum(a == e for a, e in zip(adapter_answers, expected, strict=True))
    assert right >= 4, list(zip(prompts, adapter_answers, strict=True))
    # The merged folder is a plain model: no adapter files, and it answers as the adapter does.
    merged = out / "merged"
    assert not (merged / "adapter_config.json").exists() and (merged / "chat_template.jinja").is_file()
    assert _answers(merged, prompts) == adapter_answers
    card = (out / "model" / "README.md").read_text()
    assert "TRL trainer: sft" in card and "text_column='messages'" in card


def test_dpo_raises_the_margin(tmp_path, pairs):
    _, out = _run(tmp_path / "ws", pairs, "dpo", "trainer=dpo", "max_steps=12", "learning_rate=5e-3",
                  mapping="text_column=chosen")
    margins = _evals(out, "rewards/margins")
    # The reference is the starting model, so the margin starts at 0; it must grow and favour chosen.
    assert margins[-1] > 1.0 and margins[-1] > margins[0], margins
    assert _evals(out, "rewards/accuracies")[-1] >= 0.8


def test_orpo_lowers_its_loss(tmp_path, pairs):
    _, out = _run(tmp_path / "ws", pairs, "orpo", "trainer=orpo", "max_steps=12", "learning_rate=5e-3",
                  mapping="text_column=chosen")
    steps = [e["loss"] for e in read_events(out / "log" / "events.jsonl") if e["type"] == "step"]
    assert steps[-1] < 0.6 * steps[0], steps
    losses = _evals(out, "loss")
    assert losses[-1] < 0.85 * losses[0], losses
    assert _evals(out, "rewards/accuracies")[-1] >= 0.8


def test_reward_model_prefers_held_out_chosen_answers(tmp_path, pairs):
    ws = tmp_path / "ws"
    _, out = _run(ws, pairs, "reward", "trainer=reward", "max_steps=12", "learning_rate=5e-3",
                  mapping="text_column=chosen")
    assert _evals(out, "accuracy")[-1] >= 0.8
    merged = tmp_path / "merged-reward"
    proc = _cli("tools", "merge-llm-adapter", "--base", "tiny:llm", "--adapter", str(out / "model"),
                "--output", str(merged))
    assert proc.returncode == 0 and f"merged model written to {merged}" in proc.stdout, proc.stderr[-2000:]

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(merged), AutoModelForSequenceClassification.from_pretrained(merged)
    rows = [json.loads(line) for line in (pairs / "valid.jsonl").read_text().splitlines()]

    def score(prompt: str, answer: str) -> float:
        text = prompt + answer + tokenizer.eos_token  # as TRL's reward trainer joins a plain-text pair
        with torch.no_grad():
            return model(**tokenizer(text, return_tensors="pt")).logits[0, 0].item()

    wins = [score(r["prompt"], r["chosen"]) > score(r["prompt"], r["rejected"]) for r in rows]
    assert sum(wins) / len(wins) > 0.5 and sum(wins) >= 4, wins


def test_merge_tool_refuses_a_folder_without_adapter(tmp_path):
    proc = _cli("tools", "merge-llm-adapter", "--base", "tiny:llm", "--adapter", str(tmp_path), "--output",
                str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path} is not a LoRA adapter folder (no adapter_config.json); give the folder the trainer wrote "
        "(output/<name>/model)")
    assert not (tmp_path / "out").exists()


def test_default_trainer_drops_long_rows_and_learns(tmp_path):
    rows = [f"The {a} says {s}." for a, s in SOUNDS.items() for _ in range(4)] + ["x" * 300]
    data = tmp_path / "text.csv"
    data.write_text("text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    proc, out = _run(tmp_path / "ws", data, "text", "trainer=default", "max_steps=20", "block_size=32",
                     "model_max_length=64", "long_rows=drop", "valid_split=0.2", mapping="text_column=text")
    logs = [e["message"] for e in read_events(out / "log" / "events.jsonl") if e["type"] == "log"]
    long_log = [m for m in logs if "longer than model_max_length=64" in m]
    assert len(long_log) == 1 and "1 of " in long_log[0] and "they will be dropped (long_rows='drop')" in long_log[0]
    losses = _evals(out, "loss")
    assert losses[-1] < 0.5 * losses[0], losses
