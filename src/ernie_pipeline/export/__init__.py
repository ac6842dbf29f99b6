"""Checkpoints for other frameworks: Hugging Face transformers (hf)."""
