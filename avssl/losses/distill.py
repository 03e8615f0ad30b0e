"""Forgetting control for incremental learning: distillation from a frozen copy of the previous model.

* :class:`OutputDistillation` — Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network",
  2015, as used against forgetting by Learning without Forgetting (Li & Hoiem, ECCV 2016): the previous
  tasks' heads are kept close to the frozen teacher's outputs on the current inputs::

      L = T² · mean_b Σ_c p_c^t log(p_c^t / p_c^s),   p^t = softmax(z^t / T),  p^s = softmax(z^s / T)

  (the T² factor keeps gradient magnitudes independent of T, Hinton et al. §2).
* :class:`FeatureDistillation` — the current encoder's pooled features stay close to the teacher's
  (feature-based distillation, e.g. Hou et al., "Learning a Unified Classifier Incrementally via
  Rebalancing", CVPR 2019, "less-forget" constraint)::

      L = mean_b (1 − cos(f_b^s, f_b^t))
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class OutputDistillation(nn.Module):
    """Temperature-scaled KL(teacher ‖ student) of logits (B, C), times T²; the teacher gets no gradient.

    Args:
        temperature: T (Hinton et al. use 1–20; LwF uses 2).
    """

    def __init__(self, temperature: float = 2.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        """student, teacher (B, C) logits → scalar."""
        t = self.temperature
        log_p_s = F.log_softmax(student / t, dim=1)
        log_p_t = F.log_softmax(teacher.detach() / t, dim=1)
        kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(1).mean()
        return kl * t * t


class FeatureDistillation(nn.Module):
    """mean over rows of 1 − cos(student_b, teacher_b) for (B, D) features; the teacher gets no gradient."""

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        """student, teacher (B, D) → scalar in [0, 2]."""
        return (1.0 - F.cosine_similarity(student, teacher.detach(), dim=1)).mean()
