"""Text regression (one float per text) with the transformers Trainer on a table's text and target columns."""
