"""Image regression (one float per image) with the transformers Trainer on an image folder plus a metadata table."""
