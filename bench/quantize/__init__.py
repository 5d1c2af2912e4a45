"""Shared quantisation machinery: k-means (plain and balanced), residual quantisation, collision resolution,
SID diagnostics. Tokenizer plugins compose these; they never copy them."""
