"""Stage 6: downstream evaluation of the chain's checkpoints: CLUE-style task files (tasks), the fine-tuning grid and
its selection (grid), one fine-tuning run (finetune), the report (report)."""
