"""Vision-language fine-tuning (AutoTrain's `vlm`: vqa and captioning) with TRL's SFTTrainer and LoRA."""
