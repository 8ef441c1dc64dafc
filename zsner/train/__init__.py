"""Training: data preparation, the supervised loop with checkpoint/resume, evaluation and model files."""
