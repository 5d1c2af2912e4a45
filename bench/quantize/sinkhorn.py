"""Balanced code assignment by Sinkhorn-Knopp (LETTER's last level): instead of every item taking its nearest
code, a batch's items are spread over the codes as evenly as the distances allow, which keeps codes in use
and cuts collisions at the level that tells similar items apart."""

from __future__ import annotations

import torch


@torch.no_grad()
def sinkhorn_codes(distances: torch.Tensor, epsilon: float, iterations: int = 50) -> torch.Tensor:
    """Codes [B] for distances [B, K]: the argmax of the entropic transport plan with uniform marginals
    (each item one unit, each code B/K units). Distances are first centred and scaled to [-1, 1] (as LETTER
    does) so that `epsilon` means the same at any distance scale; the iterations run in the log domain in
    float64, so a small epsilon cannot underflow to NaN."""
    d = distances.double()
    middle = (d.max() + d.min()) / 2
    amplitude = (d.max() - middle).clamp(min=1e-12)
    log_plan = -((d - middle) / amplitude) / epsilon
    batch, codes = log_plan.shape
    log_item_mass = -torch.log(torch.tensor(float(batch), dtype=d.dtype, device=d.device))
    log_code_mass = -torch.log(torch.tensor(float(codes), dtype=d.dtype, device=d.device))
    for _ in range(iterations):
        log_plan = log_plan - torch.logsumexp(log_plan, dim=1, keepdim=True) + log_item_mass
        log_plan = log_plan - torch.logsumexp(log_plan, dim=0, keepdim=True) + log_code_mass
    return log_plan.argmax(dim=1)
