"""Combining the losses of several tasks: fixed weights, or homoscedastic-uncertainty weighting.

Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene Geometry and
Semantics", CVPR 2018. Each task i gets a learnt log-variance s_i = log σ_i²; the combined objective (the
form used for classification-style losses, Eq. 7 with s_i = log σ_i² for numerical stability) is

    L = Σ_i  exp(−s_i) · L_i + s_i

so a task whose loss stays high is down-weighted, and the +s_i term stops every σ_i from growing without
bound. With s_i = 0 (the initial value) it is the plain sum. Fixed weights: L = Σ_i w_i · L_i.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class UncertaintyWeighting(nn.Module):
    """Σ_i exp(−s_i) L_i + s_i over the tasks present in `losses`; one learnt s_i per task name.

    Args:
        names: every task that may appear (a parameter each, initialised to 0).
    """

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.log_vars = nn.ParameterDict({n: nn.Parameter(torch.zeros(())) for n in names})

    def forward(self, losses: dict[str, Tensor]) -> Tensor:
        """{name: scalar loss} → scalar; names must be among the constructor's."""
        unknown = set(losses) - set(self.log_vars)
        if unknown:
            raise KeyError(f"no uncertainty parameter for tasks {sorted(unknown)}")
        return sum(torch.exp(-self.log_vars[n]) * loss + self.log_vars[n] for n, loss in losses.items())


def weighted_sum(losses: dict[str, Tensor], weights: dict[str, float]) -> Tensor:
    """Σ_i w_i · L_i (w_i = 1 for a task without a weight)."""
    return sum(weights.get(n, 1.0) * loss for n, loss in losses.items())
