"""Sentence-transformers end to end: the triplet trainer through the CLI on the tiny BERT learns which words belong
together (colours vs animals) on held-out triplets, well above the untrained encoder, and the output loads with
SentenceTransformer(path). The other four trainers run a few steps each in-process through the trainer entry and
save a loadable model. Bad inputs: the exact one-line refusal, exit 2, nothing written."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from autotrain_gradio.config import save_config
from autotrain_gradio.events import read_events
from autotrain_gradio.pipeline import EXIT_BAD_INPUT, run_pipeline
from tests.e2e.cli_run import finished, run_cli
from tests.e2e.test_token_classification import ANIMALS, COLOURS, OTHER


def _sentence(rng: random.Random, word: str) -> str:
    words = [rng.choice(OTHER)]
    words.insert(rng.randrange(2), word)
    return " ".join(words)


def triplets(n: int, seed: int) -> list[dict]:
    """Anchor and positive name two different words of one group (colours or animals), the negative one of the
    other group: nothing but what the words mean links anchor and positive."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        group, other = (COLOURS, ANIMALS) if rng.random() < 0.5 else (ANIMALS, COLOURS)
        a, p = rng.sample(group, 2)
        rows.append({"a": _sentence(rng, a), "p": _sentence(rng, p), "n": _sentence(rng, rng.choice(other))})
    return rows


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_triplet_trainer_learns_and_loads(tmp_path):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import TripletEvaluator

    from autotrain_gradio.tasks.tiny import resolve_model

    data, valid = tmp_path / "data", triplets(32, seed=1)
    _jsonl(data / "train.jsonl", triplets(64, seed=0))
    _jsonl(data / "valid.jsonl", valid)
    proc, out = run_cli(tmp_path / "ws", data, "TinySentenceTransformers",
                        "sentence1_column=a,sentence2_column=p,sentence3_column=n", "trainer=triplet",
                        "max_steps=20", "eval_every_epoch=false")
    results = finished(proc, out)
    evaluator = TripletEvaluator([r["a"] for r in valid], [r["p"] for r in valid], [r["n"] for r in valid],
                                 write_csv=False)
    before = evaluator(SentenceTransformer(resolve_model("tiny:bert"), device="cpu"))["cosine_accuracy"]
    model = SentenceTransformer(str(out / "model"), device="cpu")
    assert results["eval_cosine_accuracy"] >= 0.9 and results["eval_cosine_accuracy"] > before + 0.2, (results,
                                                                                                        before)
    assert evaluator(model)["cosine_accuracy"] == pytest.approx(results["eval_cosine_accuracy"])
    red, blue, dog = model.encode(["the red", "blue one", "a dog"])
    assert float(model.similarity(red, blue)) > float(model.similarity(red, dog))


@pytest.mark.parametrize("trainer", ["pair", "qa", "pair_class", "pair_score"])
def test_every_other_trainer_runs_and_saves(tmp_path, trainer):
    from sentence_transformers import SentenceTransformer

    from autotrain_gradio.tasks.sentence_transformers.config import SentenceTransformersConfig
    from autotrain_gradio.train import main

    rows = [{"s1": r["a"], "s2": r["p"] if i % 2 else r["n"], "target": ("same", "other")[i % 2],
             "score": i % 2 * 1.0} for i, r in enumerate(triplets(12, seed=2))]
    target = "score" if trainer == "pair_score" else "target"
    cfg = SentenceTransformersConfig(name="st", base_model="tiny:bert", trainer=trainer, sentence1_column="s1",
                                     sentence2_column="s2", target_column=target, batch_size=4, max_steps=2,
                                     data_dir=str(_jsonl(tmp_path / "data" / "train.jsonl", rows).parent),
                                     output_dir=str(tmp_path / "output" / "st"), mixed_precision="no")
    out = Path(cfg.output_dir)
    assert main(["--config", str(save_config(cfg, out / "config.toml"))]) == 0
    end = read_events(out / "log" / "events.jsonl")[-1]
    assert end["status"] == "completed" and "loss" in end["outputs"]["metrics"], end
    if trainer in ("pair", "qa"):
        assert "cosine_accuracy" in end["outputs"]["metrics"]
    if trainer == "pair_score":
        assert "spearman_cosine" in end["outputs"]["metrics"]
    assert SentenceTransformer(str(out / "model"), device="cpu").encode(["a red dog"]).shape == (1, 32)


def test_bad_inputs_are_one_line_each(tmp_path):
    rows = [{"sentence1": "the red", "sentence2": "a blue", "target": s} for s in (0.5, 1.0, 2.0, 0.0)]
    path, ws = _jsonl(tmp_path / "bad.jsonl", rows), tmp_path / "ws"
    result = run_pipeline(path, "TinySentenceTransformers", workspace=str(ws), quiet=True, mode="prepare")
    assert result.exit_code == EXIT_BAD_INPUT and result.errors == [
        f"{path}: column 'target' (target_column) holds similarity scores outside 0-1 at row 3 (e.g. 2.0); rescale "
        "them to 0-1"]
    result = run_pipeline(path, "TinySentenceTransformers", workspace=str(ws), quiet=True, mode="prepare",
                          overrides={"trainer": "triplet"})
    assert result.errors[0].startswith(f"{path}: no column 'sentence3' for sentence3_column; its columns are "
                                       "sentence1, sentence2, target.")
    _jsonl(path, [{**r, "target": "same"} for r in rows])
    result = run_pipeline(path, "TinySentenceTransformers", workspace=str(ws), quiet=True, mode="prepare",
                          overrides={"trainer": "pair_class"})
    assert result.errors == [f"{path}: column 'target' (target_column) has a single class ('same'); pair_class "
                             "needs at least 2 labels (e.g. entailment, contradiction)"]
    assert not ws.exists()
