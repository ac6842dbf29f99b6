"""Stage 5: ERNIE pretraining with Paddle + PaddleNLP: model building, launch (multi-GPU / multi-node), the
training loop, checkpoints and resume."""
