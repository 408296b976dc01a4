"""Grading of the final model (docs/grading.md): model-directory checks, prompts, two
generation backends (vLLM, transformers), scorers, HumanEval in gVisor, the weighted
aggregate and audit gate, and the memorization probe. Entry point: grading.grade."""
