"""The binaural multi-SSL task: forward/backward in every strategy, frozen unused heads, the teacher's
distillation terms, and the registry entry."""

from __future__ import annotations

import torch

from avssl.stages.teacher import load_teacher
from avssl.tasks import TASKS, build_task
from avssl.tasks.binaural_multissl import BinauralMultiSSL, BinauralMultiSSLConfig
from avssl.tasks.multissl_common import DistillConfig, StrategyConfig

B = 4


def _batch() -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "video": torch.randn(B, 3, 16, 32, 32, generator=g),
        "audio": 0.1 * torch.randn(B, 2, 64000, generator=g),
        "sample_rate": 16000,
    }


def _cfg(**changes) -> BinauralMultiSSLConfig:
    return BinauralMultiSSLConfig(**changes)


def test_joint_forward_backward_gives_every_part_and_gradients() -> None:
    torch.manual_seed(0)
    task = build_task("binaural_multissl", _cfg(strategy=StrategyConfig(uncertainty=True)))
    out = task(_batch())
    assert {"loss/spatial", "loss/sync", "loss/gap", "acc/spatial"} <= set(out.logs)
    out.loss.backward()
    without = [n for n, p in task.named_parameters() if p.requires_grad and p.grad is None]
    assert not without
    assert task.objective.uncertainty.log_vars["gap"].grad is not None
    assert torch.isfinite(out.loss)


def test_single_task_freezes_the_other_heads() -> None:
    task = BinauralMultiSSL(_cfg(strategy=StrategyConfig(pretexts=["sync"])))
    out = task(_batch())
    assert set(k for k in out.logs if k.startswith("loss/")) == {"loss/sync"}
    out.loss.backward()
    trainable = {
        n.split(".")[1] for n, p in task.named_parameters() if n.startswith("pretexts.") and p.requires_grad
    }
    assert trainable == {"sync"}
    assert all(p.grad is not None for n, p in task.named_parameters() if p.requires_grad)


def test_teacher_distillation_and_replay_terms(spatial_stage) -> None:
    stage_dir, first = spatial_stage
    distill = DistillConfig(output_weight=1.0, feature_weight=1.0, replay_weight=0.5)
    second = BinauralMultiSSL(_cfg(strategy=StrategyConfig(pretexts=["gap"]), distill=distill))
    assert second.rehearsed == [] and not any(
        p.requires_grad for p in second.pretexts["spatial"].parameters()
    )
    second.attach_teacher(load_teacher(stage_dir))
    assert all(p.requires_grad for p in second.pretexts["spatial"].parameters())  # rehearsed: trainable again
    second.load_state_dict(first.state_dict())
    assert second.rehearsed == ["spatial"]
    assert not any(p.requires_grad for p in second.teacher.parameters())
    assert "teacher" not in "".join(second.state_dict())  # never saved with the model
    torch.manual_seed(1)
    out = second.eval()(_batch())
    # same weights and (in eval mode) the same BatchNorm statistics as the teacher: no distillation loss
    assert float(out.logs["loss/distill_out"]) < 1e-6 and float(out.logs["loss/distill_feat"]) < 1e-6
    out = second.train()(_batch())
    assert {"loss/gap", "loss/replay"} <= set(out.logs)
    out.loss.backward()
    assert second.pretexts["spatial"].head.net[0].weight.grad is not None  # replayed head keeps learning


def test_registry_entry() -> None:
    config_cls, builder = TASKS["binaural_multissl"]
    assert config_cls is BinauralMultiSSLConfig and builder is BinauralMultiSSL
