"""Extractive QA on the shared Trainer path: (question, context) windows with a stride over long contexts, the
answer's first and last token as labels, and at evaluation the best span per question over all of its windows,
scored with SQuAD's exact match and F1."""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any

import numpy as np
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from autotrain_gradio.tasks.common import RunContext
from autotrain_gradio.tasks.extractive_qa.config import ExtractiveQAConfig
from autotrain_gradio.tasks.extractive_qa.data import QARow, load
from autotrain_gradio.tasks.hf_trainer import ModelCard, fit
from autotrain_gradio.tasks.tiny import resolve_model


class Windows:
    """Every row as one or more model inputs: the question and a window of the context (`stride` tokens shared
    with the next window). Each window keeps its row number and, for its context tokens, their character
    offsets (None elsewhere), which turn predicted token positions back into text."""

    def __init__(self, rows: list[QARow], tokenizer: Any, max_length: int, stride: int):
        question_first = tokenizer.padding_side == "right"  # the context is truncated, so it goes where padding is
        questions, contexts = [r.question.lstrip() for r in rows], [r.context for r in rows]
        pair = (questions, contexts) if question_first else (contexts, questions)
        enc = tokenizer(*pair, truncation="only_second" if question_first else "only_first", max_length=max_length,
                        stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True)
        context_id = 1 if question_first else 0
        self.items, self.row_of, self.offsets = [], [], []
        for w, row_index in enumerate(enc["overflow_to_sample_mapping"]):
            sequence = enc.sequence_ids(w)
            offsets = [o if sequence[k] == context_id else None for k, o in enumerate(enc["offset_mapping"][w])]
            item = {k: enc[k][w] for k in enc if k not in ("offset_mapping", "overflow_to_sample_mapping")}
            item["start_positions"], item["end_positions"] = self._label(rows[row_index], offsets)
            self.items.append(item)
            self.row_of.append(row_index)
            self.offsets.append(offsets)

    @staticmethod
    def _label(row: QARow, offsets: list[tuple[int, int] | None]) -> tuple[int, int]:
        """The first answer's first and last token in this window, or (0, 0) (the [CLS] token) when the window
        does not hold all of it."""
        start, end = row.starts[0], row.starts[0] + len(row.answers[0])
        inside = [k for k, o in enumerate(offsets) if o is not None]
        if not inside or offsets[inside[0]][0] > start or offsets[inside[-1]][1] < end:
            return 0, 0
        first = next(k for k in inside if offsets[k][1] > start)
        last = next(k for k in reversed(inside) if offsets[k][0] < end)
        return first, last

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.items[index]


def best_answers(start_logits: np.ndarray, end_logits: np.ndarray, windows: Windows, rows: list[QARow],
                 max_answer: int, top: int = 20) -> list[str]:
    """Per row, the highest-scoring span (start <= end, within the context, at most max_answer tokens) over all of
    its windows."""
    best: dict[int, tuple[float, str]] = {}
    for w, (starts, ends) in enumerate(zip(start_logits, end_logits, strict=True)):
        offsets, row = windows.offsets[w], windows.row_of[w]
        for i in np.argsort(starts)[-top:][::-1]:
            for j in np.argsort(ends)[-top:][::-1]:
                if i >= len(offsets) or j >= len(offsets) or offsets[i] is None or offsets[j] is None:
                    continue
                if j < i or j - i + 1 > max_answer:
                    continue
                score = float(starts[i] + ends[j])
                if row not in best or score > best[row][0]:
                    best[row] = (score, rows[row].context[offsets[i][0]:offsets[j][1]])
    return [best.get(r, (0.0, ""))[1] for r in range(len(rows))]


# --- SQuAD v1.1's official scoring: normalised exact match and token F1, best over the accepted answers ---------

def _normalize(text: str) -> list[str]:
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return re.sub(r"\b(a|an|the)\b", " ", text).split()


def _f1(prediction: str, truth: str) -> float:
    pred, gold = _normalize(prediction), _normalize(truth)
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: list[str], answers: list[list[str]]) -> dict[str, float]:
    """exact_match and f1 in percent, as SQuAD reports them."""
    em = [max(float(_normalize(p) == _normalize(a)) for a in golds) for p, golds in zip(predictions, answers,
                                                                                          strict=True)]
    f1 = [max(_f1(p, a) for a in golds) for p, golds in zip(predictions, answers, strict=True)]
    return {"exact_match": 100.0 * float(np.mean(em)), "f1": 100.0 * float(np.mean(f1))}


def train(cfg: ExtractiveQAConfig, ctx: RunContext) -> dict[str, Any]:
    """Train a span-extraction model on the prepared table; returns fit's outputs."""
    data = load(cfg.data_dir, cfg)
    ctx.log(data.summary())
    source = resolve_model(cfg.base_model)
    tokenizer = AutoTokenizer.from_pretrained(source)
    if not tokenizer.is_fast:
        raise ValueError(f"{cfg.base_model} has no fast tokenizer; extractive QA needs its character offsets "
                         "(pick a model with a tokenizer.json)")
    # The tokenizer needs stride < what is left of a window after the longest question.
    longest = max(len(tokenizer(r.question)["input_ids"]) for r in data.train + data.valid)
    room = cfg.max_seq_length - longest - 1
    if room < 8:
        raise ValueError(f"a question takes {longest} tokens, leaving no room for the context in max_seq_length="
                         f"{cfg.max_seq_length}; raise max_seq_length or shorten the questions")
    stride = min(cfg.max_doc_stride, room // 2)
    if stride < cfg.max_doc_stride:
        ctx.log(f"max_doc_stride {cfg.max_doc_stride} -> {stride}: the longest question leaves {room} context "
                "tokens per window", level="warning")
    train_windows = Windows(data.train, tokenizer, cfg.max_seq_length, stride)
    valid_windows = Windows(data.valid, tokenizer, cfg.max_seq_length, stride)

    def compute_metrics(pred: Any) -> dict[str, float]:
        start_logits, end_logits = pred.predictions[:2]
        found = best_answers(np.asarray(start_logits), np.asarray(end_logits), valid_windows, data.valid,
                             cfg.max_answer_length)
        return squad_scores(found, [r.answers for r in data.valid])

    usage = """import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

model = AutoModelForQuestionAnswering.from_pretrained("path/to/model")
tokenizer = AutoTokenizer.from_pretrained("path/to/model")
question, context = "Where does John live?", "John lives in Paris."
enc = tokenizer(question, context, return_tensors="pt", return_offsets_mapping=True)
offsets = enc.pop("offset_mapping")[0]
with torch.no_grad():
    out = model(**enc)
start, end = out.start_logits[0].argmax(), out.end_logits[0].argmax()
print(context[offsets[start][0]:offsets[end][1]])"""
    card = ModelCard("question-answering", f"Trained on {len(data.train)} questions ({len(data.valid)} held out).",
                     usage)
    return fit(cfg, ctx, load_model=AutoModelForQuestionAnswering.from_pretrained, model_source=source,
               train_dataset=train_windows, eval_dataset=valid_windows, card=card, compute_metrics=compute_metrics,
               processing_class=tokenizer)
