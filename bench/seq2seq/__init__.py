"""The shared generative recommender: SID vocabulary, prefix trie, T5-style encoder-decoder, beam search,
training loop. Every tokenizer is judged through this one model."""
