"""Extractive question answering (SQuAD format): a span of the context is the answer; the shared Trainer path."""
