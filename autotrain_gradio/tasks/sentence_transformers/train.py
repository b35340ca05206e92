"""Sentence embeddings on the shared Trainer path with sentence-transformers' own SentenceTransformerTrainer: the
loss that fits each of AutoTrain's trainers (MultipleNegativesRanking for pair / qa / triplet, Softmax for
pair_class, CoSENT for pair_score) and an evaluator on the held-out rows whose metrics reach the eval event."""

from __future__ import annotations

from typing import Any

from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer import evaluation, losses
from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer

from autotrain_gradio.tasks.common import RunContext
from autotrain_gradio.tasks.hf_trainer import ModelCard, fit
from autotrain_gradio.tasks.sentence_transformers.config import SentenceTransformersConfig
from autotrain_gradio.tasks.sentence_transformers.data import SentenceData, load
from autotrain_gradio.tasks.tiny import resolve_model

IN_BATCH_NEGATIVES = ("pair", "qa", "triplet")  # MultipleNegativesRankingLoss: the other rows are the negatives


def make_loss(trainer: str, labels: list[str]):
    """The loss for a trainer, as SentenceTransformerTrainer takes it: a function of the model."""
    if trainer == "pair_class":
        return lambda model: losses.SoftmaxLoss(model, model.get_sentence_embedding_dimension(), len(labels))
    if trainer == "pair_score":
        return losses.CoSENTLoss
    return losses.MultipleNegativesRankingLoss


def make_evaluator(data: SentenceData) -> Any | None:
    """pair_score: Spearman / Pearson of cosine similarity against the scores; triplet: how often the anchor is
    closer to its positive than to its negative; pair / qa: the same with another row's positive as the negative
    (chance is 50%). pair_class has its evaluation loss only (the softmax head is the loss's, not the model's)."""
    rows = data.valid
    if not rows or data.trainer == "pair_class":
        return None
    if data.trainer == "pair_score":
        return evaluation.EmbeddingSimilarityEvaluator([r["sentence1"] for r in rows], [r["sentence2"] for r in rows],
                                                       [r["score"] for r in rows], write_csv=False)
    if data.trainer == "triplet":
        return evaluation.TripletEvaluator([r["anchor"] for r in rows], [r["positive"] for r in rows],
                                           [r["negative"] for r in rows], write_csv=False)
    first, second = list(data.columns(rows).values())
    if len(rows) < 2:
        return None
    return evaluation.TripletEvaluator(first, second, second[1:] + second[:1], write_csv=False)


def train(cfg: SentenceTransformersConfig, ctx: RunContext) -> dict[str, Any]:
    """Fine-tune an embedding model on the prepared table; returns fit's outputs. The model folder loads with
    SentenceTransformer(path)."""
    data = load(cfg.data_dir, cfg)
    ctx.log(data.summary())
    source = resolve_model(cfg.base_model)

    def load_model(path: str) -> SentenceTransformer:
        model = SentenceTransformer(path, device="cpu")  # the Trainer moves it to the run's device
        model.max_seq_length = cfg.max_seq_length
        return model

    usage = """from sentence_transformers import SentenceTransformer

model = SentenceTransformer("path/to/model")
embeddings = model.encode(["A man is eating food.", "A man is eating a piece of bread."])
print(model.similarity(embeddings, embeddings))"""
    card = ModelCard("sentence-similarity", f"Trainer `{cfg.trainer}` on {len(data.train)} rows "
                     f"({len(data.valid)} held out).", usage, library_name="sentence-transformers")
    extra = {"batch_sampler": "no_duplicates"} if cfg.trainer in IN_BATCH_NEGATIVES else {}
    return fit(cfg, ctx, load_model=load_model, model_source=source,
               train_dataset=Dataset.from_dict(data.columns(data.train)),
               eval_dataset=Dataset.from_dict(data.columns(data.valid)) if data.valid else None, card=card,
               trainer_class=SentenceTransformerTrainer, args_class=SentenceTransformerTrainingArguments,
               extra_args=extra, trainer_kwargs={"loss": make_loss(cfg.trainer, data.labels),
                                                 "evaluator": make_evaluator(data)})
