"""Extractive QA end to end through the CLI on the tiny BERT: a toy set (which colour is in a passage that also
names an animal) is learned well enough to answer held-out questions, the saved model loads with
AutoModelForQuestionAnswering and answers, and a long context is read in strided windows. Bad inputs: the exact one-line
refusal, exit 2, nothing written."""

from __future__ import annotations

import json
import random
from pathlib import Path

from autotrain_gradio.pipeline import EXIT_BAD_INPUT, run_pipeline
from tests.e2e.cli_run import finished, run_cli
from tests.e2e.test_token_classification import ANIMALS, COLOURS, OTHER

QUESTIONS = {"what color is it?": COLOURS, "which color is here?": COLOURS}


def toy_rows(n: int, seed: int = 0, filler: int = 6) -> list[dict]:
    """A passage of filler words with one colour and one animal (a distractor) in it; the answer is the colour."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = [rng.choice(OTHER) for _ in range(filler)]
        for kind in (COLOURS, ANIMALS):
            words.insert(rng.randrange(len(words) + 1), rng.choice(kind))
        question = rng.choice(list(QUESTIONS))
        answer = next(w for w in words if w in QUESTIONS[question])
        context = " ".join(words)
        start = (" " + context + " ").index(f" {answer} ")
        rows.append({"context": context, "question": question, "answers": {"text": [answer], "answer_start": [start]}})
    return rows


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_reader_learns_and_answers_through_the_pipeline(tmp_path):
    data = _jsonl(tmp_path / "squad.jsonl", toy_rows(80))
    proc, out = run_cli(tmp_path / "ws", data, "TinyExtractiveQA", "", "max_steps=40", "epochs=1")
    results = finished(proc, out)
    # Chance: a random span of an 8-word passage is the one answer word ~1/36 of the time.
    assert results["eval_exact_match"] > 60 and results["eval_f1"] >= results["eval_exact_match"], results

    # transformers 5 dropped pipeline("question-answering"): the model loads with its Auto class and a span is read
    # from its start/end logits, as the model card shows.
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    model = AutoModelForQuestionAnswering.from_pretrained(out / "model").eval()
    tokenizer = AutoTokenizer.from_pretrained(out / "model")
    question, context = "what color is it?", "the horse with one red dog was at the river"
    enc = tokenizer(question, context, return_tensors="pt", return_offsets_mapping=True)
    offsets = enc.pop("offset_mapping")[0]
    with torch.no_grad():
        logits = model(**enc)
    start, end = int(logits.start_logits[0].argmax()), int(logits.end_logits[0].argmax())
    assert context[offsets[start][0]:offsets[end][1]] == "red"
    assert "AutoModelForQuestionAnswering" in (out / "model" / "README.md").read_text()


def test_long_contexts_are_read_in_windows(tmp_path):
    from transformers import AutoTokenizer

    from autotrain_gradio.tasks.extractive_qa.config import ExtractiveQAConfig
    from autotrain_gradio.tasks.extractive_qa.data import load
    from autotrain_gradio.tasks.extractive_qa.train import Windows, best_answers
    from autotrain_gradio.tasks.tiny import resolve_model

    rows = load(_jsonl(tmp_path / "long.jsonl", toy_rows(4, filler=60)), ExtractiveQAConfig(valid_split=0)).train
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("tiny:bert"))
    windows = Windows(rows, tokenizer, max_length=32, stride=8)
    assert len(windows) > 2 * len(rows)  # each passage spans several windows
    for r, row in enumerate(rows):  # the answer is labelled in a window that holds it, [CLS] in the others
        labelled = [w for w in range(len(windows)) if windows.row_of[w] == r and windows[w]["start_positions"]]
        assert labelled
        for w in labelled:
            start, end = windows.offsets[w][windows[w]["start_positions"]][0], \
                windows.offsets[w][windows[w]["end_positions"]][1]
            assert row.context[start:end] == row.answers[0]
    # Logits that favour exactly the labelled tokens decode back to each row's answer.
    import numpy as np

    size = max(len(windows[w]["input_ids"]) for w in range(len(windows)))
    starts, ends = np.zeros((len(windows), size)), np.zeros((len(windows), size))
    for w in range(len(windows)):
        if windows[w]["start_positions"]:
            starts[w, windows[w]["start_positions"]] = ends[w, windows[w]["end_positions"]] = 5.0
    assert best_answers(starts, ends, windows, rows, max_answer=5) == [row.answers[0] for row in rows]


def test_bad_answer_start_and_cells_are_one_line(tmp_path):
    rows = toy_rows(6)
    rows[3]["answers"]["answer_start"] = [rows[3]["answers"]["answer_start"][0] + 1]
    path, ws = _jsonl(tmp_path / "bad.jsonl", rows), tmp_path / "ws"
    result = run_pipeline(path, "TinyExtractiveQA", workspace=str(ws), quiet=True, mode="prepare")
    assert result.exit_code == EXIT_BAD_INPUT and not ws.exists()
    answer = rows[3]["answers"]["text"][0]
    start = rows[3]["answers"]["answer_start"][0]
    found = rows[3]["context"][start:start + len(answer)]
    assert result.errors == [f"{path}: row 4: answer_start {start} does not point at the answer text {answer!r} in "
                             f"column 'context' (found {found!r} there); answer_start is the 0-based character "
                             "offset of the answer in the context"]
    rows = toy_rows(3)
    rows[1]["answers"] = "red"
    result = run_pipeline(_jsonl(path, rows), "TinyExtractiveQA", workspace=str(ws), quiet=True, mode="prepare")
    assert result.errors == [f"{path}: row 2 of column 'answers' (answer_column) is not an object (got 'red'); "
                             'write each row as an object, e.g. {"text": ["Paris"], "answer_start": [27]}']
    result = run_pipeline(path, "TinyExtractiveQA", workspace=str(ws), quiet=True, mode="prepare",
                          overrides={"max_doc_stride": 40})
    assert result.errors == ["max_doc_stride (40) must be less than half of max_seq_length (64): windows would "
                             "overlap more than they advance; lower max_doc_stride or raise max_seq_length"]
    assert not ws.exists()
