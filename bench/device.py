"""Device, budget and seeding decisions, made in one place so every stage agrees."""

from __future__ import annotations

import functools
import random
import sys

import numpy as np

from bench.errors import ConfigError
from bench.suites import BUDGETS


# pyproject's `torch>=2.4,<2.14`: 2.4 is the first with a fused AdamW on the CPU (every tiger step uses it);
# 2.13 is the newest build tested here. A CUDA torch already installed in that range is kept by pip.
TORCH_OLDEST, TORCH_BEYOND = (2, 4), (2, 14)


def check_torch(version: str | None = None) -> str | None:
    """Raise for a torch older than the range (it fails deep inside training otherwise); for one newer than
    the tested range, return a warning to print. `version` defaults to the installed torch's."""
    if version is None:
        import torch

        version = torch.__version__
    try:
        major_minor = tuple(int(part) for part in version.split("+")[0].split(".")[:2])
    except ValueError:
        return None  # a source build with an unusual version string: let it run
    oldest, beyond = (".".join(map(str, v)) for v in (TORCH_OLDEST, TORCH_BEYOND))
    if major_minor < TORCH_OLDEST:
        raise ConfigError(f"torch {version} is older than {oldest}, the oldest this project supports (fused AdamW on "
                          f"the CPU); install torch>={oldest},<{beyond} (a CUDA build of that range is kept as it is)")
    if major_minor >= TORCH_BEYOND:
        return f"torch {version} is newer than the tested range (>={oldest},<{beyond}); results may differ"
    return None


@functools.lru_cache(maxsize=1)
def _check_installed_torch() -> None:
    """`check_torch` on the installed torch, once per process (its warning printed once)."""
    warning = check_torch()
    if warning:
        from bench.progress import log

        log(f"warning: {warning}")


def resolve_device(requested: str = "auto") -> str:
    """'auto' picks CUDA when torch sees a GPU, else the CPU. Checks the installed torch's version first."""
    if requested not in ("auto", "cpu") and not requested.startswith("cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda[:N], got {requested!r}")
    _check_installed_torch()
    if requested == "cpu":
        return "cpu"
    import torch

    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {requested}: torch sees no CUDA device (is a CUDA build of torch installed?)")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def resolve_budget(budget: str, device: str) -> str:
    """'auto' means the published schedule on a GPU and the CPU budget otherwise."""
    if budget == "auto":
        return "paper" if device.startswith("cuda") else "cpu"
    if budget not in BUDGETS:
        raise ConfigError(f"--budget must be auto or one of {', '.join(BUDGETS)}, got {budget!r}")
    return budget


def use_bf16(precision: str, device: str, budget: str | None = None) -> bool:
    """Whether training runs under bf16 autocast: "auto" where the device computes bf16 natively (a GPU that
    supports it, a CPU with avx512_bf16 or AMX, about 2x faster there), "bf16" or "fp32" when forced. At the
    smoke budget "auto" is fp32 on every host: the smoke runs are CI's golden results, which must not depend
    on whether the host has bf16 (tests/fixtures/tiny-golden.json)."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ConfigError(f"precision must be auto, bf16 or fp32, got {precision!r}")
    if precision != "auto":
        return precision == "bf16"
    if budget == "smoke":
        return False
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def seed_everything(seed: int) -> None:
    """Seed Python, numpy's global generator and torch (when loaded); plugins also get the seed explicitly."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)
