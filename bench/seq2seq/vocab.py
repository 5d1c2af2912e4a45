"""Token vocabulary for a SID table: specials, hashed user tokens, then the codes of each level.

Fixed-length tables give every level its own offset (code 5 of level 0 and code 5 of level 1 are different
tokens, as in TIGER); variable-length tables (titles) share one range for all positions.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.errors import ConfigError
from bench.tokenizer import SIDTable

PAD, BOS = 0, 1
N_SPECIAL = 2


class SIDVocab:
    """`user_ids="hashed"`: one of `user_buckets` hashed tokens per user (TIGER); "sids": the user's own
    semantic ID from the table (DAS), one token range per user level."""

    def __init__(self, table: SIDTable, user_buckets: int = 2000, user_ids: str = "hashed"):
        self.table = table
        self.n_levels = table.n_levels
        self.user_buckets = user_buckets
        self.user_offset = N_SPECIAL
        if user_ids == "sids":
            if not table.has_user_ids:
                raise ConfigError("user_ids: sids needs a tokenizer that gives user IDs (e.g. das); this table "
                                  "has item IDs only")
            user_sizes = np.array(table.user_vocab_sizes)
            offsets = N_SPECIAL + np.concatenate([[0], np.cumsum(user_sizes[:-1])])
            self.user_codes = torch.as_tensor(np.array(table.user_codes), dtype=torch.long) + torch.as_tensor(offsets)
            base = N_SPECIAL + int(user_sizes.sum())
        elif user_ids == "hashed":
            self.user_codes = None
            base = N_SPECIAL + user_buckets
        else:
            raise ConfigError(f"user_ids must be hashed or sids, got {user_ids!r}")
        sizes = list(table.vocab_sizes)
        if table.variable_length:
            self.level_offsets = [base] * self.n_levels
            self.size = base + sizes[0]
        else:
            self.level_offsets = list(base + np.concatenate([[0], np.cumsum(sizes[:-1])]).astype(int))
            self.size = base + int(sum(sizes))
        self.level_sizes = sizes
        codes = torch.tensor(np.array(table.codes), dtype=torch.long)
        self.table_codes = codes  # [n_items, L], level-local codes
        self.item_tokens = codes + torch.as_tensor(self.level_offsets)[None, :]  # [n_items, L]
        # Which tokens of an item are real: all for fixed length; up to the first end code for titles.
        if table.variable_length:
            self.item_token_mask = torch.as_tensor(np.arange(self.n_levels)[None, :] < table.lengths[:, None])
        else:
            self.item_token_mask = torch.ones_like(codes, dtype=torch.bool)

    def user_tokens(self, users: torch.Tensor) -> torch.Tensor:
        """[B, 1] hashed user tokens (TIGER's hashing trick into `user_buckets` tokens), or [B, levels] user
        SID tokens."""
        if self.user_codes is not None:
            return self.user_codes[users.long()]
        return (self.user_offset + (users.long() * 2654435761 % 4294967296) % self.user_buckets)[:, None]

    def to(self, device) -> "SIDVocab":
        if self.user_codes is not None:
            self.user_codes = self.user_codes.to(device)
        self.table_codes = self.table_codes.to(device)
        self.item_tokens = self.item_tokens.to(device)
        self.item_token_mask = self.item_token_mask.to(device)
        return self
