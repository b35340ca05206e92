"""Token classification (NER, POS tagging): one label per word, the transformers Trainer on a table of word lists."""
