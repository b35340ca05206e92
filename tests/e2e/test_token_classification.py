"""Token classification end to end through the CLI on the tiny BERT: a toy tagger (colour words, animal words,
others) learns to tag held-out rows, and the saved model loads with AutoModelForTokenClassification and tags a new
sentence. Bad inputs: the exact one-line refusal, exit 2, nothing written."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from autotrain_gradio.pipeline import EXIT_BAD_INPUT, run_pipeline
from tests.e2e.cli_run import finished, run_cli

COLOURS = ["red", "blue", "green", "black", "white"]
ANIMALS = ["dog", "horse", "fish", "bird"]
OTHER = ["the", "of", "and", "to", "a", "in", "is", "it", "you", "that", "was", "for", "on", "are", "with", "as",
         "his", "they", "be", "at", "one", "have", "this", "from"]


def toy_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words, tags = [], []
        for _ in range(rng.randint(4, 7)):
            r = rng.random()
            kind = "B-COL" if r < 0.2 else "B-ANI" if r < 0.4 else "O"
            words.append(rng.choice(COLOURS if kind == "B-COL" else ANIMALS if kind == "B-ANI" else OTHER))
            tags.append(kind)
        rows.append({"words": words, "labels": tags})
    return rows


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_tagger_learns_and_loads(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _jsonl(data / "train.jsonl", toy_rows(48))
    _jsonl(data / "valid.jsonl", toy_rows(12, seed=1))
    proc, out = run_cli(tmp_path / "ws", data, "TinyTokenClassification", "tokens_column=words,tags_column=labels",
                        "max_steps=24", "epochs=1")
    results = finished(proc, out)
    # Chance: a tagger that guesses among 3 tags finds ~1/3 of the entities with ~1/3 precision.
    assert results["eval_f1"] > 0.8 and results["eval_accuracy"] > 0.9, results

    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    model = AutoModelForTokenClassification.from_pretrained(out / "model")
    assert set(model.config.id2label.values()) == {"B-ANI", "B-COL", "O"}
    tag = pipeline("token-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(out / "model"))
    found = {t["word"]: t["entity"] for t in tag("the red horse is with his dog")}
    assert found.get("red") == "B-COL" and found.get("horse") == "B-ANI" and found.get("dog") == "B-ANI", found
    assert "token-classification" in (out / "model" / "README.md").read_text()

    # The Try it tab's predict: the words with their tags, ready for gr.HighlightedText.
    from autotrain_gradio.tasks import get_task

    spans = get_task("token-classification").load_predict()(None, out / "model", "the red horse is with his dog")
    assert spans == [("the ", None), ("red ", "COL"), ("horse ", "ANI"), ("is ", None), ("with ", None),
                     ("his ", None), ("dog ", "ANI")], spans


def _refused(tmp_path: Path, rows: list[dict] | str, mapping: str = "tokens_column=words,tags_column=labels",
             suffix: str = "jsonl") -> str:
    path = tmp_path / f"bad.{suffix}"
    if isinstance(rows, str):
        path.write_text(rows, encoding="utf-8")
    else:
        _jsonl(path, rows)
    ws = tmp_path / "ws"
    result = run_pipeline(path, "TinyTokenClassification", workspace=str(ws), column_mapping=mapping, quiet=True,
                          dry_run=False, mode="prepare")
    assert result.exit_code == EXIT_BAD_INPUT and not ws.exists(), result
    return result.errors[0]


def test_bad_inputs_are_one_line_each(tmp_path):
    good = toy_rows(6)
    uneven = [*good[:2], {"words": ["the", "red", "dog"], "labels": ["O", "B-COL"]}, *good[2:]]
    assert _refused(tmp_path, uneven) == (
        f"{tmp_path / 'bad.jsonl'}: row 3 has 3 tokens in 'words' but 2 tags in 'labels'; give exactly one tag per "
        "token")
    not_list = [*good[:4], {"words": "the red dog", "labels": ["O", "B-COL", "B-ANI"]}]
    assert _refused(tmp_path, not_list) == (
        f"{tmp_path / 'bad.jsonl'}: row 5 of column 'words' (tokens_column) is not a list (got 'the red dog'); "
        'write each row as a list, e.g. ["John", "lives", "in", "Paris"]')
    csv = 'words,labels\n"[\'the\', \'dog\']","[\'O\', \'B-ANI\']"\n"the cat","[\'O\', \'B-ANI\']"\n'
    assert _refused(tmp_path, csv, suffix="csv") == (
        f"{tmp_path / 'bad.csv'}: row 2 of column 'words' (tokens_column) is not a list (got 'the cat'); write each "
        'row as a list, e.g. ["John", "lives", "in", "Paris"]')
    assert _refused(tmp_path, good, mapping="tags_column=labels").startswith(
        f"{tmp_path / 'bad.jsonl'}: no column 'tokens' for tokens_column; its columns are words, labels.")


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_lists_read_from_csv_text_and_parquet(tmp_path, suffix):
    import pandas as pd

    from autotrain_gradio.tasks.token_classification.config import TokenClassificationConfig
    from autotrain_gradio.tasks.token_classification.data import load

    rows = toy_rows(10)
    path = tmp_path / f"train.{suffix}"
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path)
    data = load(path, TokenClassificationConfig(tokens_column="words", tags_column="labels", valid_split=0.2))
    assert data.labels == ["B-ANI", "B-COL", "O"] and len(data.train) == 8 and len(data.valid) == 2
    assert sorted(w for words, _ in data.train + data.valid for w in words) == sorted(
        w for r in rows for w in r["words"])
