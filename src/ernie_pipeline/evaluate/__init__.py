"""Stage 6: downstream evaluation of checkpoints (CLUE-style fine-tuning grids). Not built yet (issue 18)."""
