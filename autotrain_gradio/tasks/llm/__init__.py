"""LLM fine-tuning with TRL: plain causal LM, SFT, DPO, ORPO and reward modelling, with LoRA / QLoRA and merge."""
