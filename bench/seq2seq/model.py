"""A T5-style encoder-decoder (pre-RMSNorm, relative position bias, ReLU MLP, no biases), sized like TIGER by
default: 4 + 4 layers, 6 heads x 64, d_model 128, MLP 1024, dropout 0.1. By default attention is scaled by
1/sqrt(d_kv) and the output head is untied, which AdamW trains faster; `t5_exact` gives T5's own function
(unscaled attention, tied and scaled head), the same as Hugging Face's T5 with the same weights.
`positions: learned` replaces T5's relative bias with learned positions added to the inputs, by recency in
the encoder: cross-attention has no position term, so with the bias alone the decoder cannot tell the most
recent history item from the others except through what self-attention left in each vector (issue 41: +7%
test NDCG@10 at the cpu budget). `norm`, `activation`, `head_init_std` and `linear_init` reach a plain
reference model's choices (LayerNorm, GELU, its initialisations) for comparison.

Beam search decodes with tree attention: each decoded position's keys and values are written once, into
slots shared by all beams of a user, and a beam attends to the slots of its own ancestors through a mask.
Choosing the next beams then reorders a small boolean mask instead of copying every layer's cache, and all
W beams of a user read one copy of its encoder memory.
"""

from __future__ import annotations

import math
import torch
import torch.nn.functional as F
from torch import nn

from bench.seq2seq.config import ModelShape
from bench.seq2seq.vocab import PAD, SIDVocab

NEG = -1e9  # additive mask value (finite: rows that mask everything stay NaN-free)


class _DropoutFn(torch.autograd.Function):
    """Dropout with a byte mask drawn 8 bytes per random number: on a 2-core CPU, torch's bernoulli-based
    dropout costs more than the matmuls it follows. Same distribution (keep with probability 1 - p, rounded
    to 1/256), same seeding (torch's global generator)."""

    @staticmethod
    def forward(ctx, x, p):
        n = x.numel()
        random = torch.randint(-2**63, 2**63 - 1, ((n + 7) // 8,), dtype=torch.int64, device=x.device)
        keep = random.view(torch.uint8)[:n].view(x.shape) >= round(p * 256)
        scale = 1.0 / (1.0 - p)
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return torch.where(keep, x * scale, torch.zeros((), dtype=x.dtype, device=x.device))

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved_tensors
        return torch.where(keep, grad * ctx.scale, torch.zeros((), dtype=grad.dtype, device=grad.device)), None


class Dropout(nn.Module):
    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if x.is_cuda:
            return F.dropout(x, self.p, True)
        return _DropoutFn.apply(x, self.p)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps).to(x.dtype) * self.weight


def make_norm(shape: ModelShape) -> nn.Module:
    return RMSNorm(shape.d_model) if shape.norm == "rms" else nn.LayerNorm(shape.d_model)


def relative_bucket(relative: torch.Tensor, bidirectional: bool, buckets: int, max_distance: int) -> torch.Tensor:
    """T5's bucketing of relative positions: exact for near offsets, logarithmic further away."""
    out = torch.zeros_like(relative)
    if bidirectional:
        buckets //= 2
        out += (relative > 0).long() * buckets
        relative = relative.abs()
    else:
        relative = -torch.clamp(relative, max=0)
    exact = buckets // 2
    is_small = relative < exact
    large = exact + (torch.log(relative.float().clamp(min=1) / exact) / math.log(max_distance / exact)
                     * (buckets - exact)).long()
    return out + torch.where(is_small, relative, large.clamp(max=buckets - 1))


class PositionBias(nn.Module):
    def __init__(self, shape: ModelShape, bidirectional: bool):
        super().__init__()
        self.shape, self.bidirectional = shape, bidirectional
        self.table = nn.Embedding(shape.position_buckets, shape.heads)
        nn.init.normal_(self.table.weight, std=shape.d_model ** -0.5)  # T5's init (nn.Embedding's N(0, 1) swamps q.k)

    def forward(self, q_len: int, k_len: int, device) -> torch.Tensor:
        relative = torch.arange(k_len, device=device)[None, :] - torch.arange(q_len, device=device)[:, None]
        buckets = relative_bucket(relative, self.bidirectional, self.shape.position_buckets, self.shape.max_distance)
        return self.table(buckets).permute(2, 0, 1)[None]  # [1, H, q, k]

    def towards(self, query_position: int, key_positions: torch.Tensor) -> torch.Tensor:
        """Bias [1, H, 1, K] of one query position towards keys at the given positions (decoding)."""
        buckets = relative_bucket(key_positions - query_position, self.bidirectional,
                                  self.shape.position_buckets, self.shape.max_distance)
        return self.table(buckets).permute(1, 0)[None, :, None, :]


def attention(q, k, v, mask, dropout: "Dropout", training: bool, scale: float) -> torch.Tensor:
    """softmax(scale q kᵀ + mask) v for [N, H, T, d_kv] tensors (T5: scale 1). On CPU the explicit
    matmul-softmax-matmul is 1.2-3.5x faster than `scaled_dot_product_attention` on these short sequences
    (a history of at most 21 tokens, an ID of 4; measured on the 2-core CPU); CUDA keeps the fused kernel."""
    if q.is_cuda:
        if k.shape[0] != q.shape[0]:  # one memory broadcast over many queries (exact scoring)
            k, v = k.expand(q.shape[0], *k.shape[1:]), v.expand(q.shape[0], *v.shape[1:])
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask.to(q.dtype), scale=scale,
                                              dropout_p=dropout.p if training else 0.0)
    if scale != 1.0:
        q = q * scale
    weights = torch.softmax(q @ k.transpose(-1, -2) + mask, dim=-1)
    return dropout(weights).to(v.dtype) @ v


class Attention(nn.Module):
    def __init__(self, shape: ModelShape):
        super().__init__()
        inner = shape.heads * shape.d_kv
        self.heads, self.d_kv = shape.heads, shape.d_kv
        self.scale = 1.0 if shape.t5_exact else shape.d_kv ** -0.5
        self.q = nn.Linear(shape.d_model, inner, bias=False)
        self.k = nn.Linear(shape.d_model, inner, bias=False)
        self.v = nn.Linear(shape.d_model, inner, bias=False)
        self.o = nn.Linear(inner, shape.d_model, bias=False)
        self.drop = Dropout(shape.dropout)

    def split(self, x, groups: int | None = None):
        """[N, T, d] -> [N, H, T, d_kv]; with `groups` (beam search: N = users x beams, T = 1), the beams
        of a user become its query positions: [users, H, beams, d_kv]."""
        n = groups or x.shape[0]
        return x.view(n, -1, self.heads, self.d_kv).transpose(1, 2)

    def merge(self, out, rows: int):
        """[N', H, T', d_kv] -> output projection [rows, T, d] (the inverse of `split`)."""
        return self.o(out.transpose(1, 2).reshape(rows, -1, self.heads * self.d_kv))

    def keys_values(self, memory, groups: int | None = None):
        return self.split(self.k(memory), groups), self.split(self.v(memory), groups)

    def attend(self, x, k, v, mask, groups: int | None = None):
        out = attention(self.split(self.q(x), groups), k, v, mask, self.drop, self.training, self.scale)
        return self.merge(out, x.shape[0])

    def forward(self, x, memory, mask):
        return self.attend(x, *self.keys_values(memory), mask)


class FeedForward(nn.Module):
    def __init__(self, shape: ModelShape):
        super().__init__()
        self.wi = nn.Linear(shape.d_model, shape.d_ff, bias=False)
        self.wo = nn.Linear(shape.d_ff, shape.d_model, bias=False)
        self.drop = Dropout(shape.dropout)
        self.gelu = shape.activation == "gelu"

    def forward(self, x):
        hidden = F.gelu(self.wi(x)) if self.gelu else F.relu(self.wi(x), inplace=True)  # in place: one pass fewer
        return self.wo(self.drop(hidden))


class EncoderLayer(nn.Module):
    def __init__(self, shape: ModelShape):
        super().__init__()
        self.norm1, self.attn = make_norm(shape), Attention(shape)
        self.norm2, self.ff = make_norm(shape), FeedForward(shape)
        self.drop = Dropout(shape.dropout)

    def forward(self, x, mask):
        h = self.norm1(x)
        x = x + self.drop(self.attn(h, h, mask))
        return x + self.drop(self.ff(self.norm2(x)))


class DecoderLayer(nn.Module):
    def __init__(self, shape: ModelShape):
        super().__init__()
        self.norm1, self.self_attn = make_norm(shape), Attention(shape)
        self.norm2, self.cross_attn = make_norm(shape), Attention(shape)
        self.norm3, self.ff = make_norm(shape), FeedForward(shape)
        self.drop = Dropout(shape.dropout)

    def forward(self, x, self_mask, memory, memory_mask):
        h = self.norm1(x)
        x = x + self.drop(self.self_attn(h, h, self_mask))
        x = x + self.drop(self.cross_attn(self.norm2(x), memory, memory_mask))
        return x + self.drop(self.ff(self.norm3(x)))

    def step(self, x, state: "DecodeState", layer: int, self_mask):
        """One new position of every beam, x [users x beams, 1, d] (inference: no dropout)."""
        users = state.ancestors.shape[0]
        h = self.norm1(x)
        state.write(layer, *self.self_attn.keys_values(h, users))
        keys, values = state.keys_values(layer)
        x = x + self.self_attn.attend(h, keys, values, self_mask, users)
        x = x + self.cross_attn.attend(self.norm2(x), *state.memory_kv[layer], state.memory_mask, users)
        return x + self.ff(self.norm3(x))


class DecodeState:
    """What beam search keeps between decoder steps (tree attention).

    Step t writes the keys/values of every live beam's position t into fresh slots of one buffer per layer
    [users, H, slots, d_kv]; `ancestors[u, w, s]` says whether slot s lies on beam w's path. Picking the next
    beams gathers that small mask, where a plain cache would copy every layer's keys and values."""

    def __init__(self, model: "Seq2SeqRecommender", memory, memory_mask, slots: int):
        users = memory.shape[0]
        self.memory_mask = memory_mask
        self.memory_kv = model.cross_keys_values(memory)
        self.keys: list = [None] * len(model.decoder)
        self.values: list = [None] * len(model.decoder)
        self.ancestors = torch.zeros(users, 1, slots, dtype=torch.bool, device=memory.device)
        self.positions = torch.zeros(slots, dtype=torch.long, device=memory.device)
        self.filled = 0

    def open_slots(self, position: int) -> None:
        """One slot per live beam for decoder position `position`, on that beam's own path."""
        users, width, _ = self.ancestors.shape
        start = self.filled
        self.filled += width
        self.positions[start:self.filled] = position
        beams = torch.arange(width, device=self.ancestors.device)
        self.ancestors[:, beams, start + beams] = True

    def write(self, layer: int, keys, values) -> None:  # [users, H, beams, d_kv]
        if self.keys[layer] is None:
            shape = (keys.shape[0], keys.shape[1], self.ancestors.shape[2], keys.shape[3])
            self.keys[layer], self.values[layer] = keys.new_empty(shape), values.new_empty(shape)
        start = self.filled - keys.shape[2]
        self.keys[layer][:, :, start:self.filled] = keys
        self.values[layer][:, :, start:self.filled] = values

    def keys_values(self, layer: int):
        return self.keys[layer][:, :, :self.filled], self.values[layer][:, :, :self.filled]

    def reorder(self, parent_beam: torch.Tensor) -> None:
        """The new beams [users, W'] continue the paths of these parent beams."""
        self.ancestors = self.ancestors.gather(1, parent_beam[..., None].expand(-1, -1, self.ancestors.shape[2]))


class Seq2SeqRecommender(nn.Module):
    """Encoder over a user's history (SID tokens, or one summed vector per item), decoder over the next SID."""

    def __init__(self, vocab: SIDVocab, shape: ModelShape = ModelShape(), encoder_input: str = "sid_tokens"):
        super().__init__()
        if encoder_input not in ("sid_tokens", "item_sum"):
            raise ValueError(f"encoder_input must be sid_tokens or item_sum, got {encoder_input!r}")
        self.vocab, self.shape, self.encoder_input = vocab, shape, encoder_input
        self.embed = nn.Embedding(vocab.size, shape.d_model, padding_idx=PAD)
        # Token vectors of unit scale, stored divided by sqrt(d) and multiplied back at use (Vaswani et al.):
        # the same function at init, but AdamW's fixed-size steps then move them sqrt(d) times faster
        # relative to their scale, about as fast as the linear layers. Stored at scale 1 (T5), the code
        # embeddings, the only item representation, barely move within a short budget.
        self.embed_scale = 1.0 if shape.t5_exact or not shape.scaled_embeddings else shape.d_model ** 0.5
        nn.init.normal_(self.embed.weight, std=1.0 / self.embed_scale)
        self.encoder = nn.ModuleList(EncoderLayer(shape) for _ in range(shape.encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(shape) for _ in range(shape.decoder_layers))
        self.learned_positions = shape.positions == "learned"
        if self.learned_positions:  # rows 0..max_distance-1: recency (encoder) or position (decoder)
            self.encoder_positions = nn.Embedding(shape.max_distance + 1, shape.d_model)  # last row: user tokens
            self.decoder_positions = nn.Embedding(shape.max_distance, shape.d_model)
        else:
            self.encoder_bias = PositionBias(shape, bidirectional=True)
            self.decoder_bias = PositionBias(shape, bidirectional=False)
        self.encoder_norm, self.decoder_norm = make_norm(shape), make_norm(shape)
        self.drop = Dropout(shape.dropout)
        # untied: its own row per token (user-token rows are never a target, so never trained)
        self.head = None if shape.t5_exact else nn.Linear(shape.d_model, vocab.size, bias=False)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                bound = module.in_features ** -0.5
                if shape.linear_init == "uniform":
                    nn.init.uniform_(module.weight, -bound, bound)
                else:
                    nn.init.normal_(module.weight, std=bound)
            if isinstance(module, Attention) and shape.t5_exact:  # T5: queries absorb the 1/sqrt(d_kv) scaling
                nn.init.normal_(module.q.weight, std=(shape.d_model * shape.d_kv) ** -0.5)
        if self.head is not None and shape.head_init_std:
            nn.init.normal_(self.head.weight, std=shape.head_init_std)
        # T5 scales the tied head's input by d^-1/2; the untied head learns its own scale
        self.output_scale = shape.d_model ** -0.5 if shape.t5_exact else 1.0

    def embed_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        out = self.embed(tokens)
        return out if self.embed_scale == 1.0 else out * self.embed_scale

    def encoder_inputs(self, users: torch.Tensor, history: torch.Tensor, lengths: torch.Tensor):
        """(embeddings [B, S, d], key padding [B, S]) for histories of item indices (-1 padded)."""
        width = int(lengths.max()) if len(lengths) else 1
        items = history[:, :width].long()
        real = items >= 0
        tokens = self.vocab.item_tokens[items.clamp(min=0)]  # [B, H, L]
        token_real = self.vocab.item_token_mask[items.clamp(min=0)] & real[..., None]
        user = self.embed_tokens(self.vocab.user_tokens(users))  # [B, 1 or user levels, d]
        if self.learned_positions:
            user = user + self.encoder_positions.weight[-1]
        if self.encoder_input == "item_sum":  # one vector per entity: the user's too
            vectors = (self.embed_tokens(tokens) * token_real[..., None]).sum(2)
            if self.learned_positions:
                vectors = vectors + self.encoder_positions(self.recency(lengths, width))
            return torch.cat([user.sum(1, keepdim=True), vectors], 1), torch.cat([torch.ones_like(real[:, :1]), real], 1)
        b, levels = tokens.shape[0], tokens.shape[2]
        flat = self.embed_tokens(tokens.reshape(b, -1))
        if self.learned_positions:
            flat = flat + self.encoder_positions(self.recency(lengths, width).repeat_interleave(levels, 1))
        user_real = torch.ones(b, user.shape[1], dtype=torch.bool, device=real.device)
        return torch.cat([user, flat], 1), torch.cat([user_real, token_real.reshape(b, -1)], 1)

    def recency(self, lengths: torch.Tensor, width: int) -> torch.Tensor:
        """[B, width]: how many items back each history slot is (0 = the most recent; padding clamped)."""
        slots = torch.arange(width, device=lengths.device)[None, :]
        return (lengths.long()[:, None] - 1 - slots).clamp(0, self.shape.max_distance - 1)

    def encode(self, users, history, lengths):
        x, keep = self.encoder_inputs(users, history, lengths)
        mask = (~keep)[:, None, None, :] * NEG
        if not self.learned_positions:
            mask = self.encoder_bias(x.shape[1], x.shape[1], x.device) + mask
        x = self.drop(x)
        for layer in self.encoder:
            x = layer(x, mask)
        memory_mask = ((~keep) * NEG)[:, None, None, :]
        return self.drop(self.encoder_norm(x)), memory_mask

    def decode(self, tokens: torch.Tensor, memory, memory_mask) -> torch.Tensor:
        """Hidden states [N, T, d] for decoder input tokens [N, T] (teacher forcing)."""
        t = tokens.shape[1]
        mask = torch.full((t, t), NEG, device=tokens.device).triu(1)[None, None]
        x = self.embed_tokens(tokens)
        if self.learned_positions:
            x = x + self.decoder_positions.weight[:t]
        else:
            mask = self.decoder_bias(t, t, tokens.device) + mask
        x = self.drop(x)
        for layer in self.decoder:
            x = layer(x, mask, memory, memory_mask)
        return self.drop(self.decoder_norm(x)) * self.output_scale

    def cross_keys_values(self, memory) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Every decoder layer's cross-attention keys and values of the encoder memory, computed once per
        decoding; contiguous, or each step's attention would copy the transposed views again."""
        return [tuple(t.contiguous() for t in layer.cross_attn.keys_values(memory)) for layer in self.decoder]

    def decode_next(self, tokens: torch.Tensor, position: int, state: DecodeState) -> torch.Tensor:
        """Hidden states [users x beams, d] of decoder position `position`, whose input tokens are `tokens`
        [users, beams]; earlier positions are read from `state`."""
        state.open_slots(position)
        mask = (~state.ancestors[:, None, :, :state.filled]) * NEG  # [users, 1, beams, slots]
        x = self.embed_tokens(tokens.reshape(-1, 1))
        if self.learned_positions:
            x = x + self.decoder_positions.weight[position]
        else:
            mask = self.decoder_bias.towards(position, state.positions[:state.filled]) + mask  # [users, H, ...]
        for index, layer in enumerate(self.decoder):
            x = layer.step(x, state, index, mask)
        return self.decoder_norm(x)[:, -1] * self.output_scale

    @property
    def output_weight(self) -> torch.Tensor:
        """[vocab, d]: the output head's rows (the input embeddings themselves when tied, as in T5)."""
        return self.embed.weight if self.head is None else self.head.weight

    def level_logits(self, hidden: torch.Tensor, level: int) -> torch.Tensor:
        start = self.vocab.level_offsets[level]
        return hidden @ self.output_weight[start:start + self.vocab.level_sizes[level]].T

    def loss(self, users, history, lengths, targets, label_smoothing: float = 0.0,
             temperature: float = 1.0) -> torch.Tensor:
        """Mean cross-entropy of the target SID, level by level (teacher forcing). A `temperature` below 1
        sharpens the softmax, so the codes scored closest to the target weigh most: LETTER's ranking-guided
        generation loss (tau = 0.7); 1 is the plain loss."""
        memory, memory_mask = self.encode(users, history, lengths)
        target_tokens = self.vocab.item_tokens[targets.long()]  # [B, L]
        bos = torch.full_like(target_tokens[:, :1], 1)
        hidden = self.decode(torch.cat([bos, target_tokens[:, :-1]], 1), memory, memory_mask)
        codes = self.vocab.table_codes[targets.long()]
        weight = self.vocab.item_token_mask[targets.long()].float()  # titles: up to the first end marker
        total = hidden.new_zeros(())
        for level in range(self.vocab.n_levels):
            logits = self.level_logits(hidden[:, level], level).float()
            ce = F.cross_entropy(logits / temperature if temperature != 1.0 else logits, codes[:, level],
                                 reduction="none", label_smoothing=label_smoothing)
            total = total + (ce * weight[:, level]).sum()
        return total / weight.sum()
