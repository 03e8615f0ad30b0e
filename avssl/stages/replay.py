"""Replay memory for incremental multi-SSL: clips stored from earlier stages' training data, rehearsed later.

Incremental learning (Vasudevan, Dai & Van Gool, "Sound and Visual Representation Learning with Multiple
Pretraining Tasks", CVPR 2022) learns pretext tasks stage by stage; forgetting is
limited by distillation from the previous stage and, optionally, by rehearsal on a replay buffer: a fixed
memory of training clips the earlier stages saw, on which their tasks keep being trained while the new task
learns on the current data (experience replay, as in Rebuffi et al., "iCaRL: Incremental Classifier and
Representation Learning", CVPR 2017, and Lopez-Paz & Ranzato, "Gradient Episodic Memory for Continual
Learning", NeurIPS 2017).

The memory of stage k (`RUN_k/replay_memory.safetensors`) holds up to `capacity` clips, an equal share per
earlier stage: stage k keeps `capacity // k` of stage k−1's memory per older stage and adds `capacity // k`
new clips drawn (seeded, without repetition) from the training set as stage k−1 saw it (train transforms
applied once, at fill time). Clips are stored as the decoded, transformed tensors (not file references), so
rehearsal needs no access to earlier data. Memory size: capacity × one sample's tensors (float32).

`ReplayMemory.sample(n, device)` draws `n` stored clips with the global torch RNG (restored by the
training loop on resume, so a resumed stage replays the same clips) and returns them as a batch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from avssl.data.datasets.base import BadItem, collate

MEMORY_FILE = "replay_memory.safetensors"


class ReplayMemory:
    """Stored clips: `tensors` {key: (N, …)}, `stage` (N,) the stage each clip came from, `extras` the
    batch's shared scalars (e.g. sample_rate)."""

    def __init__(self, tensors: dict[str, Tensor], stage: Tensor, extras: dict | None = None):
        sizes = {k: v.shape[0] for k, v in tensors.items()}
        if not tensors or set(sizes.values()) != {stage.shape[0]}:
            raise ValueError(
                f"replay memory: every tensor needs one row per clip, got {sizes} for {stage.shape[0]}"
            )
        self.tensors, self.stage, self.extras = tensors, stage.long(), dict(extras or {})

    def __len__(self) -> int:
        return int(self.stage.shape[0])

    def sample(self, n: int, device: torch.device | str | None = None) -> dict:
        """A batch of `n` clips drawn uniformly with replacement (global torch RNG)."""
        index = torch.randint(len(self), (n,))
        return {**self.extras, **{k: v[index].to(device) for k, v in self.tensors.items()}}

    def select(self, keep: Tensor) -> ReplayMemory:
        return ReplayMemory({k: v[keep] for k, v in self.tensors.items()}, self.stage[keep], self.extras)

    def save(self, path: str | Path) -> None:
        """Atomic write (temp file + rename) of a safetensors file with the extras in its metadata."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tensors = {f"clip.{k}": v.contiguous() for k, v in self.tensors.items()}
        save_file({**tensors, "stage": self.stage}, str(tmp), metadata={"extras": json.dumps(self.extras)})
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> ReplayMemory:
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no replay memory here (the stage that writes it has not started)"
            )
        with safe_open(str(path), framework="pt") as f:
            extras = json.loads((f.metadata() or {}).get("extras", "{}"))
            tensors = {k[len("clip.") :]: f.get_tensor(k) for k in f.keys() if k.startswith("clip.")}
            stage = f.get_tensor("stage")
        return cls(tensors, stage, extras)


def draw_clips(dataset, n: int, seed: int) -> tuple[dict[str, Tensor], dict]:
    """`n` readable training samples of `dataset` (seeded order, no repeats; unreadable ones skipped) as
    stacked tensors, plus the batch's non-tensor scalars."""
    order = np.random.default_rng(seed).permutation(len(dataset))
    samples = []
    for index in order:
        if len(samples) == n:
            break
        sample = dataset[(int(index), 0)]
        if not isinstance(sample, BadItem):
            samples.append(sample)
    if not samples:
        raise RuntimeError("replay memory: no readable training sample to store")
    batch = collate(samples)
    tensors = {
        k: v for k, v in batch.items() if isinstance(v, Tensor) and v.ndim >= 1 and v.shape[0] == len(samples)
    }
    extras = {k: v for k, v in batch.items() if isinstance(v, (int, float)) and k != "num_items"}
    return tensors, extras


def fill_memory(
    dataset, capacity: int, stage: int, previous: ReplayMemory | None, seed: int = 0
) -> ReplayMemory:
    """The memory stage `stage` (≥ 1) rehearses from: an equal share of `capacity` for each earlier stage,
    the older stages' clips kept from `previous`, stage−1's clips drawn from `dataset`."""
    if stage < 1:
        raise ValueError("the first stage has no earlier stage to replay")
    share = capacity // stage
    if share < 1:
        raise ValueError(
            f"replay_buffer {capacity} is too small for {stage} earlier stages (one clip each at least)"
        )
    tensors, extras = draw_clips(dataset, share, seed + stage)
    new = ReplayMemory(tensors, torch.full((next(iter(tensors.values())).shape[0],), stage - 1), extras)
    if previous is None:
        return new
    kept = [previous.select(torch.nonzero(previous.stage == s).flatten()[:share]) for s in range(stage - 1)]
    parts = [m for m in kept if len(m)] + [new]
    keys = set(new.tensors)
    for part in parts:
        if set(part.tensors) != keys or any(
            part.tensors[k].shape[1:] != new.tensors[k].shape[1:] for k in keys
        ):
            raise ValueError(
                "replay memory: the earlier stages' clips differ in shape from this stage's data"
            )
    return ReplayMemory(
        {k: torch.cat([p.tensors[k] for p in parts]) for k in keys},
        torch.cat([p.stage for p in parts]),
        extras,
    )
