"""Reproducible benchmarks with their baselines measured in the same run."""
