"""Sentence embeddings with sentence-transformers' own trainer: AutoTrain's five trainers (pair, pair_class,
pair_score, triplet, qa), each with the loss and the evaluator that fit its data."""
