"""Predicted localization maps of a trained task on a Flickr-SoundNet / VGG-SS layout, for
`avssl eval localization --run RUN` and for evaluation during training.

Each test image is resized to the model's square input (the references resize to 224×224 without
cropping, so the ground-truth boxes stay valid) and its audio window is centred on the clip; the task's
`localize(batch)` maps (B, h, w) are returned per item id, un-normalised, at the model's resolution —
`evaluate_localization` then resizes and binarises them exactly as the reference code does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch

from avssl.config import ConfigError, from_dict, to_dict
from avssl.data.datasets import load_index
from avssl.data.datasets.base import ClipDataset
from avssl.data.loader import DataConfig, build_loader, clip_spec, data_transforms
from avssl.device import module_device, to_device
from avssl.transforms import build_transforms


def benchmark_dataset(
    benchmark: str, root: str, run_data: dict | DataConfig, split: str | None = None
) -> ClipDataset:
    """Items of the benchmark at `root` (`split`, None = the layout's test items) with the run's audio
    settings, a square resize to the run's `data.size` (no crop, so boxes and masks stay valid) and the
    run's own normalisation (the normalize step of its `data.eval_transforms`). A run with `data.eval_input`
    (an imported published model) gets its authors' test input instead: native frames through its
    `data.eval_transforms`, its audio window (`avssl.data.loader.EvalInputConfig`)."""
    data = run_data if isinstance(run_data, DataConfig) else from_dict(DataConfig, to_dict(run_data))
    spec = clip_spec(data, "centre")
    index = load_index(benchmark, root, split) if split else load_index(benchmark, root)
    if data.eval_input is not None:
        return ClipDataset(index.items, spec, data_transforms(data, train=False), mode="eval")
    normalize = [t for t in data.eval_transforms if t.get("name") == "normalize"][-1:] or [
        {"name": "normalize"}
    ]
    transform = build_transforms([{"name": "resize", "size": [data.size, data.size]}, *normalize])
    return ClipDataset(index.items, spec, transform, mode="eval")


@torch.no_grad()
def predict_items(
    predict: Callable[[dict], torch.Tensor],
    task: torch.nn.Module,
    dataset: ClipDataset,
    batch_size: int,
    num_workers: int = 2,
    device: str | torch.device | None = None,
) -> dict[str, np.ndarray]:
    """{item id: float32 array} from `predict(batch)` (a method of `task`, which is put in eval mode and
    restored afterwards), batch by batch over `dataset`, on `device` (None: the device `task` lives on)."""
    device = module_device(task) if device is None else device
    was_training = task.training
    task.eval()
    out: dict[str, np.ndarray] = {}
    try:
        for batch in build_loader(dataset, batch_size, num_workers):
            arrays = predict(to_device(batch, device)).float().cpu().numpy()
            out.update({meta["id"]: m for meta, m in zip(batch["meta"], arrays)})
    finally:
        task.train(was_training)
    return out


def localization_predictor(
    task: torch.nn.Module, ogl_alpha: float | None = None
) -> Callable[[dict], torch.Tensor]:
    """`task.localize`, or with `ogl_alpha` EZ-VSL's object-guided localization `task.localize_ogl(batch,
    alpha)` (Mo & Morgado, "Localizing Visual Sounds the Easy Way"); ConfigError for a task without it or an
    alpha outside [0, 1]."""
    if ogl_alpha is None:
        return task.localize
    if not hasattr(task, "localize_ogl"):
        raise ConfigError(
            f"object-guided localization (--ogl / eval.ogl_alpha) is EZ-VSL's; {type(task).__name__} has none"
        )
    if not 0.0 <= ogl_alpha <= 1.0:
        raise ConfigError(f"ogl alpha must be in [0, 1], got {ogl_alpha}")
    return functools.partial(task.localize_ogl, alpha=ogl_alpha)


def predict_localization(
    task: torch.nn.Module,
    dataset: ClipDataset,
    batch_size: int = 16,
    num_workers: int = 2,
    device: str | torch.device | None = None,
    ogl_alpha: float | None = None,
) -> dict[str, np.ndarray]:
    """{item id: (h, w) float32 map} from `task.localize` over the dataset (task put in eval mode and back);
    with `ogl_alpha`, EZ-VSL's object-guided maps (see `localization_predictor`),
    on `device` (None: the task's own)."""
    predict = localization_predictor(task, ogl_alpha)
    return predict_items(predict, task, dataset, batch_size, num_workers, device)
