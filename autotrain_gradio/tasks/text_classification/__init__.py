"""Text classification (binary and multi-class) with the transformers Trainer on a table's text and label columns."""
