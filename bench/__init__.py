"""SID Bench: a benchmark for item tokenizers (semantic IDs) in generative recommendation."""

__version__ = "0.1.0"
