"""What every multi-SSL task shares: which pretext tasks are trained and how their losses combine (joint
multi-task), and the forgetting control of incremental learning (a frozen teacher from the previous stage,
output and feature distillation, replay of the earlier tasks' objectives).

Paper: Vasudevan, Dai & Van Gool, "Sound and Visual Representation Learning with Multiple Pretraining Tasks",
CVPR 2022: several self-supervised tasks combined either jointly or
incrementally, stage by stage; the incremental model beats every single task. The stage runner is
`avssl.stages.incremental`; it attaches the previous stage's frozen model to a stage's task as its teacher
(`task.attach_teacher`).

Replay rehearses the earlier stages' *objectives* (their heads stay trainable, their loss is added with
`replay_weight`): on the current batch by default, or, with `replay_buffer` > 0, on `replay_batch` clips
per step drawn from a replay memory of clips stored from the earlier stages' training data
(`avssl.stages.replay`; the stage runner fills it and attaches it: `task.attach_replay(memory)`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from avssl.losses.distill import FeatureDistillation, OutputDistillation
from avssl.losses.multitask import UncertaintyWeighting, weighted_sum
from avssl.tasks.base import TaskOutput


@dataclass
class StrategyConfig:
    """The pretext tasks trained now (empty = all of the model's) and how their losses combine (weighted
    sum, or the uncertainty weighting of Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to
    Weigh Losses for Scene Geometry and Semantics", CVPR 2018, when `uncertainty`)."""

    pretexts: list[str] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    uncertainty: bool = False


@dataclass
class DistillConfig:
    """Forgetting control against the teacher (previous stage): weights of output distillation (earlier
    tasks' heads), feature distillation (pooled encoder features) and replay (earlier tasks' own losses:
    on the current batch, or on `replay_batch` clips per step from a memory of `replay_buffer` stored clips
    when `replay_buffer` > 0)."""

    output_weight: float = 0.0
    feature_weight: float = 0.0
    temperature: float = 2.0
    replay_weight: float = 0.0
    replay_buffer: int = 0
    replay_batch: int = 8


def freeze(module: nn.Module) -> nn.Module:
    """`module` in eval mode with every parameter's requires_grad off (returned for chaining)."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


class MultiSSLObjective(nn.Module):
    """Combines the current tasks' losses, the replayed and distilled earlier tasks, and feature
    distillation into TaskOutput(loss, {"loss/<task>", "loss/replay", "loss/distill_out", "loss/distill_feat"})."""

    def __init__(self, names: list[str], strategy: StrategyConfig, distill: DistillConfig) -> None:
        super().__init__()
        unknown = set(strategy.pretexts) - set(names)
        if unknown:
            raise ValueError(f"strategy.pretexts must be a subset of {names}, got {strategy.pretexts}")
        self.active_pretexts = list(strategy.pretexts) or list(names)
        self.strategy, self.distill = copy.deepcopy(strategy), copy.deepcopy(distill)
        self.uncertainty = UncertaintyWeighting(names) if strategy.uncertainty else None
        if self.uncertainty is not None:  # only the trained tasks' log-variances learn (DDP: no unused ones)
            for name, p in self.uncertainty.log_vars.items():
                p.requires_grad_(name in self.active_pretexts)
        self.output_loss = OutputDistillation(distill.temperature)
        self.feature_loss = FeatureDistillation()

    def forward(
        self,
        losses: dict[str, Tensor],
        replayed: dict[str, Tensor],
        outputs: list[tuple[Tensor, Tensor]],
        features: list[tuple[Tensor, Tensor]],
    ) -> TaskOutput:
        """losses / replayed: {task: CE}; outputs, features: (student, teacher) pairs."""
        combined = (
            self.uncertainty(losses)
            if self.uncertainty is not None
            else weighted_sum(losses, self.strategy.weights)
        )
        out: dict[str, Tensor | float] = {f"loss/{n}": v.detach() for n, v in losses.items()}
        d = self.distill
        if replayed and d.replay_weight > 0:
            replay = torch.stack(list(replayed.values())).mean()
            combined, out["loss/replay"] = combined + d.replay_weight * replay, replay.detach()
        if outputs and d.output_weight > 0:
            kd = torch.stack([self.output_loss(s, t) for s, t in outputs]).mean()
            combined, out["loss/distill_out"] = combined + d.output_weight * kd, kd.detach()
        if features and d.feature_weight > 0:
            fd = torch.stack([self.feature_loss(s, t) for s, t in features]).mean()
            combined, out["loss/distill_feat"] = combined + d.feature_weight * fd, fd.detach()
        return TaskOutput(combined, out)
