"""Batched beam search over semantic IDs, constrained to real items by the prefix trie.

All users of a batch and all their beams advance together: one decoder call and one top-k per level, with
the trie's allowed-code masks built by tensor ops and the beams' keys/values shared by tree attention.
Every surviving beam is a distinct prefix, so the final beams are distinct items; the top k of them are the
recommendations (item level). Unconstrained decoding (TIGER's setting) generates freely and drops IDs that
are no item, reporting how many were invalid.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch

from bench.seq2seq.model import DecodeState, Seq2SeqRecommender
from bench.seq2seq.trie import PrefixTrie
from bench.seq2seq.vocab import BOS

NEG_INF = float("-inf")


@dataclass
class BeamResult:
    items: torch.Tensor  # [B, k] item indices, -1 where fewer than k valid items were found
    scores: torch.Tensor  # [B, k] log-probabilities of the items' IDs
    invalid: int = 0  # unconstrained mode: beams among the top k that were no item


@torch.inference_mode()
def beam_search(model: Seq2SeqRecommender, trie: PrefixTrie, users, history, lengths, beam: int, k: int,
                constrained: bool = True, full_softmax: bool = False) -> BeamResult:
    """`full_softmax` normalises over the whole token vocabulary, as Hugging Face's generate does; by
    default each level is normalised over its own codes, as the model is trained."""
    vocab = model.vocab
    memory, memory_mask = model.encode(users, history, lengths)
    b = memory.shape[0]
    device = memory.device
    scores = torch.zeros(b, 1, device=device)  # one live beam per user to start
    nodes = torch.zeros(b, 1, dtype=torch.long, device=device)
    last_tokens = torch.full((b, 1), BOS, dtype=torch.long, device=device)  # each beam's newest token
    state = DecodeState(model, memory, memory_mask, slots=1 + beam * (vocab.n_levels - 1))
    for level in range(vocab.n_levels):
        width = scores.shape[1]
        hidden = model.decode_next(last_tokens, level, state)  # [B*W, d]
        size = vocab.level_sizes[level]
        if full_softmax:
            start = vocab.level_offsets[level]
            logp = torch.log_softmax((hidden @ model.output_weight.T).float(), dim=-1)[:, start:start + size]
            log_probs = partial(_take, logp)  # already normalised
        else:
            logits = model.level_logits(hidden, level)  # [B*W, V]
            log_probs = partial(_log_softmax_at, logits)
        if constrained:
            top_scores, parent_beam, code, nodes = _best_children(trie, level, scores, nodes, log_probs, size, beam)
        else:
            logp = logp if full_softmax else torch.log_softmax(logits.float(), dim=-1)
            candidates = (scores.reshape(-1, 1) + logp).reshape(b, width * size)
            top_scores, top_index = candidates.topk(min(beam, width * size), dim=1)
            parent_beam, code = top_index // size, top_index % size
            nodes = trie.step(level, nodes.gather(1, parent_beam), code)
        nodes = torch.where(torch.isfinite(top_scores), nodes, torch.full_like(nodes, -1))
        last_tokens = code + vocab.level_offsets[level]
        state.reorder(parent_beam)  # each surviving beam continues its parent's path
        scores = top_scores
    items = torch.where(nodes >= 0, trie.leaf_items[nodes.clamp(min=0)], torch.full_like(nodes, -1))
    valid = (items >= 0) & torch.isfinite(scores)
    invalid = 0
    if not constrained:
        invalid = int((~valid[:, :k]).sum())
    # valid beams first (they are already sorted by score), then cut to k
    order = torch.sort((~valid).int(), dim=1, stable=True).indices
    items, scores = items.gather(1, order)[:, :k], scores.gather(1, order)[:, :k]
    valid = valid.gather(1, order)[:, :k]
    items = torch.where(valid, items, torch.full_like(items, -1))
    if items.shape[1] < k:
        pad = torch.full((b, k - items.shape[1]), -1, dtype=items.dtype, device=device)
        items = torch.cat([items, pad], 1)
        scores = torch.cat([scores, torch.full(pad.shape, NEG_INF, device=device)], 1)
    return BeamResult(items, scores, invalid)


def _take(logp: torch.Tensor, rows: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    return logp[rows, codes]


def _log_softmax_at(logits: torch.Tensor, rows: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """`log_softmax(logits.float(), -1)[rows, codes]` for ascending `rows`, the same numbers bit for bit (the
    softmax is row by row), a block of rows at a time. Whole, the float copy and the log-softmax of a title
    ID's 6,751 codes for 5,120 beams (140 MB a level) ran at memory speed, about a third of the beam search;
    a block of ~2 MB stays in cache (6x faster on that shape, one thread). One block on a GPU."""
    n, size = logits.shape
    block = n if logits.device.type == "cuda" else max(64, (1 << 19) // size)
    starts = list(range(0, n, block))
    bounds = torch.searchsorted(rows, torch.tensor(starts + [n], device=rows.device)).tolist()
    out = torch.empty(len(rows), device=logits.device)
    for start, low, high in zip(starts, bounds, bounds[1:]):
        if high > low:
            part = torch.log_softmax(logits[start:start + block].float(), dim=-1)
            out[low:high] = part[rows[low:high] - start, codes[low:high]]
    return out


def _best_children(trie: PrefixTrie, level: int, scores, nodes, log_probs, size: int, beam: int):
    """The `beam` best one-code extensions of each user's beams that stay in the trie: (scores, parent beam,
    code, child node), each [B, beam'], beam' = min(beam, W x V) as a dense search would keep. `log_probs`
    gives the level's log-probabilities at (rows, codes) of the flattened beams.

    Only the trie's edges are scored: a beam deep in a title's ID has a handful of children among thousands of
    codes, so a dense [B, W x V] mask, sum and top-k cost far more than the decoder step itself. Candidates
    keep the dense layout's order (beam, then code), so the top k is the same one."""
    b, width = nodes.shape
    rows, codes, child = trie.children(level, nodes.reshape(-1))
    user = torch.div(rows, width, rounding_mode="floor")
    per_user = torch.bincount(user, minlength=b)
    slot = torch.arange(len(rows), device=rows.device) - torch.repeat_interleave(torch.cumsum(per_user, 0) - per_user,
                                                                                   per_user)
    columns = max(int(per_user.max()) if len(rows) else 0, min(beam, width * size))
    candidates = torch.full((b, columns), NEG_INF, device=scores.device)
    candidates[user, slot] = scores.reshape(-1)[rows] + log_probs(rows, codes)
    parent_beam = torch.zeros(b, columns, dtype=torch.long, device=scores.device)
    parent_beam[user, slot] = rows - user * width
    code = torch.zeros_like(parent_beam)
    code[user, slot] = codes
    child_node = torch.full_like(parent_beam, -1)
    child_node[user, slot] = child
    top_scores, top_index = candidates.topk(min(beam, columns), dim=1)
    return top_scores, parent_beam.gather(1, top_index), code.gather(1, top_index), child_node.gather(1, top_index)


@torch.inference_mode()
def score_all_items(model: Seq2SeqRecommender, users, history, lengths, chunk: int = 4096) -> torch.Tensor:
    """Log-probability of every item's full ID for every user [B, n_items]: brute force, the reference that
    beam search and `exact_top_k` are tested against. Each user's encoder memory is computed once and
    broadcast over the catalogue, `chunk` items at a time."""
    vocab = model.vocab
    memory, memory_mask = model.encode(users, history, lengths)
    n_items = vocab.item_tokens.shape[0]
    device = memory.device
    tokens = torch.cat([torch.full((n_items, 1), BOS, device=device), vocab.item_tokens[:, :-1]], 1)
    out = torch.empty(memory.shape[0], n_items, device=device)
    for user in range(memory.shape[0]):
        for start in range(0, n_items, chunk):
            part = slice(start, start + chunk)
            hidden = model.decode(tokens[part], memory[user:user + 1], memory_mask[user:user + 1])
            total = torch.zeros(hidden.shape[0], device=device)
            for level in range(vocab.n_levels):
                logp = torch.log_softmax(model.level_logits(hidden[:, level], level).float(), dim=-1)
                total += logp.gather(1, vocab.table_codes[part, level:level + 1]).squeeze(1)
            out[user, part] = total
    return out


@torch.inference_mode()
def exact_top_k(model: Seq2SeqRecommender, trie: PrefixTrie, users, history, lengths, k: int,
                floor: torch.Tensor | None = None, margin: float = 0.1, chunk: int = 8192) -> BeamResult:
    """The exact top-k items by the model's full-ID log-probability, without scoring every item.

    A prefix's log-probability only falls as it is extended, so once `floor[u]` is a score that at least k
    real items reach (e.g. the k-th score beam search found, less `margin` for rounding), no item below it
    can enter the top k and every prefix below it is pruned: a branch-and-bound search, exact, that scores
    a few hundred prefixes per level instead of n_items x levels positions. Should fewer than k items stay
    above the floor (a floor that was not one), the user is searched again without it."""
    memory, memory_mask = model.encode(users, history, lengths)
    device = memory.device
    b = memory.shape[0]
    floors = torch.full((b,), NEG_INF, device=device) if floor is None else floor.to(device).float() - margin
    items = torch.full((b, k), -1, dtype=torch.long, device=device)
    scores = torch.full((b, k), NEG_INF, device=device)
    for user in range(b):
        for bound in (float(floors[user]), NEG_INF):
            found, found_scores = _bounded_search(model, trie, memory[user:user + 1],
                                                  memory_mask[user:user + 1], bound, chunk)
            if len(found) >= k or bound == NEG_INF:
                break
        top = found_scores.topk(min(k, len(found)))
        items[user, :len(top.indices)] = found[top.indices]
        scores[user, :len(top.indices)] = top.values
    return BeamResult(items, scores)


def _bounded_search(model, trie, memory, memory_mask, bound: float, chunk: int):
    """(items, scores) of every item whose ID scores at least `bound` for one user's encoder memory."""
    vocab = model.vocab
    device = memory.device
    tokens = torch.full((1, 1), BOS, dtype=torch.long, device=device)  # decoder inputs of the live prefixes
    nodes = torch.zeros(1, dtype=torch.long, device=device)
    prefix_scores = torch.zeros(1, device=device)
    for level in range(vocab.n_levels):
        if len(tokens) == 0:  # nothing reaches the bound
            return nodes, prefix_scores
        logits = torch.cat([model.level_logits(model.decode(part, memory, memory_mask)[:, -1], level)
                            for part in tokens.split(chunk)])
        parent, code, child = trie.children(level, nodes)  # only the trie's edges are scored
        candidates = prefix_scores[parent] + _log_softmax_at(logits, parent, code)
        keep = torch.isfinite(candidates) & (candidates >= bound)
        parent, code, prefix_scores, nodes = parent[keep], code[keep], candidates[keep], child[keep]
        tokens = torch.cat([tokens[parent], (code + vocab.level_offsets[level])[:, None]], 1)
    return trie.leaf_items[nodes], prefix_scores


@torch.inference_mode()
def sample_search(model: Seq2SeqRecommender, trie: PrefixTrie, users, history, lengths, k: int,
                  temperatures: tuple[float, ...], generator: torch.Generator) -> BeamResult:
    """k distinct valid items per user, drawn without replacement from the model's distribution with the
    logits of level l divided by `temperatures[l]` (TIGER's diversity decoding; high on the prefix codes and
    low on the suffix is the hybrid suggested for it), constrained to real items by the trie: each level's
    softmax runs over the codes that continue a real item (TIGER sampled unconstrained and dropped invalid IDs).

    Stochastic beam search (Kool, van Hoof and Welling, ICML 2019): a beam search of width k over Gumbel-
    perturbed log-probabilities, each child's perturbation conditioned on its parent's, returns an exact
    sample of k sequences without replacement, in the order drawn. Seeded by `generator`."""
    vocab = model.vocab
    if len(temperatures) != vocab.n_levels or min(temperatures) <= 0:
        raise ValueError(f"one positive temperature per SID level ({vocab.n_levels}), got {temperatures}")
    memory, memory_mask = model.encode(users, history, lengths)
    b, device = memory.shape[0], memory.device
    log_p = torch.zeros(b, 1, device=device)     # each beam's tempered log-probability
    perturbed = torch.zeros(b, 1, device=device)  # and its Gumbel score (the root's is any constant)
    nodes = torch.zeros(b, 1, dtype=torch.long, device=device)
    last_tokens = torch.full((b, 1), BOS, dtype=torch.long, device=device)
    state = DecodeState(model, memory, memory_mask, slots=1 + k * (vocab.n_levels - 1))
    for level in range(vocab.n_levels):
        width = log_p.shape[1]
        hidden = model.decode_next(last_tokens, level, state)
        logits = model.level_logits(hidden, level).float() / temperatures[level]
        rows, codes, child = trie.children(level, nodes.reshape(-1))
        child_log_p = log_p.reshape(-1)[rows] + _log_softmax_over(logits[rows, codes], rows, len(nodes.reshape(-1)))
        gumbel = child_log_p - torch.log(-torch.log(
            torch.rand(len(rows), generator=generator, device=device).clamp(1e-12, 1 - 1e-12)))
        top = torch.full((len(nodes.reshape(-1)),), NEG_INF, device=device).scatter_reduce(
            0, rows, gumbel, "amax")[rows]  # the largest perturbed child of each parent
        child_score = _conditioned(perturbed.reshape(-1)[rows], gumbel, top)
        user = torch.div(rows, width, rounding_mode="floor")
        per_user = torch.bincount(user, minlength=b)
        slot = torch.arange(len(rows), device=device) - torch.repeat_interleave(
            torch.cumsum(per_user, 0) - per_user, per_user)
        columns = max(int(per_user.max()) if len(rows) else 0, 1)
        table = {name: torch.full((b, columns), fill, dtype=dtype, device=device) for name, fill, dtype in
                 (("score", NEG_INF, torch.float), ("log_p", NEG_INF, torch.float), ("parent", 0, torch.long),
                  ("code", 0, torch.long), ("child", -1, torch.long))}
        for name, values in (("score", child_score), ("log_p", child_log_p), ("parent", rows - user * width),
                             ("code", codes), ("child", child)):
            table[name][user, slot] = values
        perturbed, pick = table["score"].topk(min(k, columns), dim=1)
        log_p, parent_beam = table["log_p"].gather(1, pick), table["parent"].gather(1, pick)
        code, nodes = table["code"].gather(1, pick), table["child"].gather(1, pick)
        nodes = torch.where(torch.isfinite(perturbed), nodes, torch.full_like(nodes, -1))
        last_tokens = code + vocab.level_offsets[level]
        state.reorder(parent_beam)
    items = torch.where(nodes >= 0, trie.leaf_items[nodes.clamp(min=0)], torch.full_like(nodes, -1))
    if items.shape[1] < k:
        items = torch.cat([items, torch.full((b, k - items.shape[1]), -1, dtype=items.dtype, device=device)], 1)
        log_p = torch.cat([log_p, torch.full((b, k - log_p.shape[1]), NEG_INF, device=device)], 1)
    return BeamResult(items, log_p)


def _log_softmax_over(logits: torch.Tensor, rows: torch.Tensor, n_rows: int) -> torch.Tensor:
    """Each edge's log-softmax among its parent's valid children only (the constrained, locally renormalised
    distribution: a prefix's probability is then the sum of its items')."""
    top = torch.full((n_rows,), NEG_INF, device=logits.device).scatter_reduce(0, rows, logits, "amax")
    total = torch.zeros(n_rows, device=logits.device).index_add_(0, rows, torch.exp(logits - top[rows]))
    return logits - top[rows] - torch.log(total[rows])


def _conditioned(parent: torch.Tensor, gumbel: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
    """Each child's Gumbel score conditioned on its siblings' maximum being its parent's score (Kool et al.,
    eq. 23, in their numerically stable form): -log(exp(-parent) - exp(-top) + exp(-gumbel))."""
    v = parent - gumbel + torch.log1p(-torch.exp((gumbel - top).clamp(max=-1e-12)))
    return parent - torch.relu(v) - torch.log1p(torch.exp(-v.abs()))
