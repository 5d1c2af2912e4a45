"""Training the generative recommender: length-bucketed batches, AdamW with warm-up and then inverse-square-root
or annealed decay over a step budget, early stopping on a validation metric (a fixed user subset), a checkpoint
after every epoch (a killed run resumes there), bf16 autocast where the hardware has it. Every random source
comes from the run's seed; the clock is measured, never obeyed."""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bench.errors import check_finite_loss
from bench.metrics import better, parse_metric, per_user_metrics
from bench.progress import bar, log
from bench.protocol import Examples
from bench.device import use_bf16
from bench.seq2seq.beam import beam_search, sample_search
from bench.seq2seq.config import TrainConfig
from bench.seq2seq.model import Seq2SeqRecommender
from bench.seq2seq.trie import PrefixTrie


def autocast(device: str, bf16: bool):
    if not bf16:
        return nullcontext()
    return torch.autocast("cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16)


def length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                   chunk_batches: int = 0) -> list[np.ndarray]:
    """Batches of examples with similar history lengths (little padding), in random order.

    Sorting by (length, random key) then cutting gives batches of near-equal length; shuffling the batches
    keeps the gradient order random. Beauty histories average 6.7 items: padding every batch to 20 would
    waste about two thirds of the encoder's work. With `chunk_batches`, a random permutation is cut into
    chunks of that many batches and each chunk is sorted alone: batches mix lengths a little more.
    """
    if not chunk_batches:
        order = np.lexsort((rng.random(len(lengths)), lengths))
        batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    else:
        permutation, chunk, batches = rng.permutation(len(lengths)), batch_size * chunk_batches, []
        for start in range(0, len(permutation), chunk):
            part = permutation[start:start + chunk]
            part = part[np.argsort(lengths[part], kind="stable")]
            batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def tensors(examples: Examples, rows, device: str):
    return (torch.as_tensor(examples.users[rows], device=device), torch.as_tensor(examples.history[rows], device=device),
            torch.as_tensor(examples.lengths[rows], device=device), torch.as_tensor(examples.targets[rows], device=device))


def recommend(model: Seq2SeqRecommender, trie: PrefixTrie, examples: Examples, k: int, beam: int, batch_size: int,
              device: str, bf16: bool = False, constrained: bool = True, progress: str = "") -> tuple[np.ndarray, int]:
    """Top-k items for every example row (in the given order) and the count of invalid IDs (unconstrained)."""
    model.eval()
    out = np.full((len(examples), k), -1, dtype=np.int64)
    invalid = 0
    order = np.argsort(examples.lengths, kind="stable")  # similar lengths together, as in training
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    for rows in (bar(chunks, desc=progress, unit="batch") if progress else chunks):
        users, history, lengths, _ = tensors(examples, rows, device)
        with autocast(device, bf16):
            result = beam_search(model, trie, users, history, lengths, beam=max(beam, k), k=k,
                                 constrained=constrained)
        out[rows] = result.items.cpu().numpy()
        invalid += result.invalid
    return out, invalid


def sample(model: Seq2SeqRecommender, trie: PrefixTrie, examples: Examples, k: int, temperatures: tuple[float, ...],
           seed: int, batch_size: int, device: str, bf16: bool = False, progress: str = "") -> np.ndarray:
    """k distinct items per example row drawn by `sample_search`, in the given row order. One generator
    seeded once draws every batch in a fixed order (by length, as `recommend`), so a seed gives the same lists."""
    model.eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    out = np.full((len(examples), k), -1, dtype=np.int64)
    order = np.argsort(examples.lengths, kind="stable")
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    for rows in (bar(chunks, desc=progress, unit="batch") if progress else chunks):
        users, history, lengths, _ = tensors(examples, rows, device)
        with autocast(device, bf16):
            result = sample_search(model, trie, users, history, lengths, k, temperatures, generator)
        out[rows] = result.items.cpu().numpy()
    return out


def make_optimizer(model: Seq2SeqRecommender, config: TrainConfig) -> torch.optim.Optimizer:
    # fused: one kernel for all parameters (CPU and CUDA), instead of a dozen tensor ops per parameter
    return torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, config.adam_beta2),
                             weight_decay=config.weight_decay, fused=True)


def train_step(model: Seq2SeqRecommender, optimizer, batch, config: TrainConfig, device: str = "cpu",
               bf16: bool = False) -> float:
    """One update on a batch (users, history, lengths, targets); returns the loss. `perf` times this."""
    with autocast(device, bf16):
        loss = model.loss(*batch, label_smoothing=config.label_smoothing, temperature=config.ranking_temperature)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip, foreach=True)
    optimizer.step()
    return loss.item()


@dataclass
class TrainState:
    epoch: int = 0
    step: int = 0
    elapsed: float = 0.0  # wall seconds, validation included
    train_seconds: float = 0.0  # wall seconds in training steps alone (for examples/s)
    examples: int = 0
    best_score: float = -1.0
    best_epoch: int = 0
    evals_without_gain: int = 0
    history: list = field(default_factory=list)


def lr_factor(config: TrainConfig):
    """The learning rate's multiplier at each step: linear warm-up, then the configured decay."""
    warmup, total, floor = max(config.warmup_steps, 1), max(config.max_steps, 1), config.min_lr_ratio

    def factor(step: int) -> float:
        step = max(step, 1)
        if step < warmup:
            return step / warmup
        if config.schedule == "inverse_sqrt":
            return math.sqrt(warmup / step)
        progress = min(1.0, (step - warmup) / max(total - warmup, 1))
        decay = 0.5 * (1 + math.cos(math.pi * progress)) if config.schedule == "cosine" else 1 - progress
        return floor + (1 - floor) * decay
    return factor


def train(model: Seq2SeqRecommender, trie: PrefixTrie, train_examples: Examples, valid_examples: Examples,
          config: TrainConfig, seed: int, device: str, checkpoint: Path | None = None,
          config_key: str = "", on_eval=None, selection_metric: str = "ndcg@10") -> TrainState:
    """Train until max_steps / max_epochs or early stopping on `selection_metric`; the best weights are loaded
    back (the last step's with `keep: final`; the best epoch is still reported). `on_eval(epoch, score)` hears every validation score (a sweep's pruner raises from it)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model.to(device)
    bf16 = use_bf16(config.precision, device)
    optimizer = make_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(config))
    state = TrainState()
    best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}

    eval_rows = np.arange(len(valid_examples))
    if config.eval_users and config.eval_users < len(eval_rows):
        eval_rows = np.sort(np.random.default_rng(seed + 1).choice(eval_rows, config.eval_users, replace=False))
    eval_set = valid_examples.select(eval_rows)
    _, cutoff = parse_metric(selection_metric)

    if checkpoint is not None and checkpoint.is_file():
        saved = torch.load(checkpoint, map_location=device, weights_only=True)
        if saved.get("config_key") == config_key:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            best_weights = saved["best_weights"]
            state = TrainState(**saved["state"])
            rng.bit_generator.state = saved["numpy_rng"]
            torch.set_rng_state(saved["torch_rng"])
            log(f"resumed from {checkpoint} at epoch {state.epoch}, step {state.step}")
    started = time.perf_counter() - state.elapsed

    def out_of_budget() -> bool:
        return state.step >= config.max_steps or state.epoch >= config.max_epochs

    while not out_of_budget() and (config.patience == 0 or state.evals_without_gain < config.patience):
        model.train()
        batches = length_batches(train_examples.lengths, config.batch_size, rng,
                                 config.chunk_batches if config.batching == "chunked" else 0)
        losses = []
        progress = bar(batches, desc=f"epoch {state.epoch + 1}", unit="batch")
        epoch_start = time.perf_counter()
        for rows in progress:
            loss = train_step(model, optimizer, tensors(train_examples, rows, device), config, device, bf16)
            losses.append(check_finite_loss(loss, "tiger", state.step + 1))  # a diverged run records nothing
            scheduler.step()
            state.step += 1
            state.examples += len(rows)
            if out_of_budget():
                break
        state.train_seconds += time.perf_counter() - epoch_start
        state.epoch += 1
        state.elapsed = time.perf_counter() - started
        if state.epoch % config.eval_every_epochs == 0 or out_of_budget():
            ranked, _ = recommend(model, trie, eval_set, cutoff, config.beam_size, config.eval_batch_size, device,
                                  bf16)
            metrics = per_user_metrics(ranked, eval_set.targets, (cutoff,))
            score = float(metrics[selection_metric].mean())
            state.history.append({"epoch": state.epoch, "step": state.step, "loss": float(np.mean(losses)),
                                  **{f"valid_{name}": float(values.mean()) for name, values in metrics.items()},
                                  "lr": optimizer.param_groups[0]["lr"], "minutes": round(state.elapsed / 60, 2)})
            if better(selection_metric, score, state.best_score if state.best_epoch else None):
                state.best_score, state.best_epoch, state.evals_without_gain = score, state.epoch, 0
                best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                state.evals_without_gain += 1
            log(f"epoch {state.epoch}: loss {np.mean(losses):.4f}, valid {selection_metric} {score:.4f} "
                f"(best {state.best_score:.4f} at epoch {state.best_epoch}), {state.elapsed / 60:.1f} min")
            if on_eval is not None:
                on_eval(state.epoch, score)
        if checkpoint is not None:
            _save_checkpoint(checkpoint, model, optimizer, scheduler, best_weights, state, rng, config_key)
    if config.keep == "best":
        model.load_state_dict(best_weights)
    return state


def _save_checkpoint(path: Path, model, optimizer, scheduler, best_weights, state, rng, config_key) -> None:
    import dataclasses
    import io

    from bench.io import atomic_write_bytes

    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "best_weights": best_weights,
                "state": dataclasses.asdict(state), "numpy_rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(), "config_key": config_key}, buffer)
    atomic_write_bytes(path, buffer.getvalue())
