"""The task contract: TaskOutput's recorded values and the declared capabilities."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from avssl.tasks.base import CapabilityError, Task, TaskOutput, capabilities, check_modality


def test_detached_logs_hold_the_loss_and_every_log_as_float_tensors() -> None:
    w = torch.ones(2, requires_grad=True)
    loss = (w * 3).sum()
    logs = TaskOutput(
        loss, {"acc/x": torch.tensor(0.25, dtype=torch.float64), "logit_scale": 14.0}
    ).detached_logs()
    assert set(logs) == {"loss", "acc/x", "logit_scale"}
    assert all(v.dtype == torch.float32 and not v.requires_grad for v in logs.values())
    assert [logs[k].item() for k in ("loss", "acc/x", "logit_scale")] == [6.0, 0.25, 14.0]


class Plain(nn.Module):
    embeds: frozenset[str] = frozenset()

    def forward(self, batch: dict) -> TaskOutput:
        return TaskOutput(torch.zeros(()))


class Everything(Plain):
    embeds = frozenset({"audio"})

    def embed(self, batch: dict, modality: str) -> Tensor:
        check_modality(self, modality)
        return batch["audio"]

    def localize(self, batch: dict) -> Tensor:
        return batch["video"]

    def segment(self, batch: dict) -> Tensor:
        return batch["video"]

    def on_step_end(self, step: int, max_steps: int) -> None:
        pass


def test_capabilities_are_read_from_the_declarations() -> None:
    plain, full = capabilities(Plain()), capabilities(Everything())
    assert (plain.embeds, plain.localize, plain.segment, plain.step_hook) == (
        frozenset(),
        False,
        False,
        False,
    )
    assert (full.embeds, full.localize, full.segment, full.step_hook) == (
        frozenset({"audio"}),
        True,
        True,
        True,
    )
    assert isinstance(Plain(), Task) and isinstance(Everything(), Task)
    with pytest.raises(CapabilityError, match="embeds audio"):
        Everything().embed({}, "video")


def test_undeclared_or_unbacked_capabilities_are_errors() -> None:
    class NoDeclaration(nn.Module):
        pass

    class Unbacked(Plain):
        embeds = frozenset({"video"})

    class Unknown(Plain):
        embeds = frozenset({"smell"})

        def embed(self, batch: dict, modality: str) -> Tensor:
            return batch[modality]

    with pytest.raises(TypeError, match="must declare"):
        capabilities(NoDeclaration())
    with pytest.raises(TypeError, match="no embed"):
        capabilities(Unbacked())
    with pytest.raises(ValueError, match="unknown modalities"):
        capabilities(Unknown())
