"""Image classification: the transformers Trainer on class folders (config, data, train, tiny)."""
