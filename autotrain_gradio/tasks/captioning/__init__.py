"""Auto-captioning: a vision-language captioner writes a caption file next to each image of a prepared dataset."""
