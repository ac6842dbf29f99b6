"""After stage 5, on request: a checkpoint of the chain for other frameworks (Hugging Face transformers: hf)."""
