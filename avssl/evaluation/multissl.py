"""Evaluation of multi-SSL models: held-out pretext-task accuracy, and frozen-feature probes.

* `pretext_accuracy` asks every pretext task `repeats` fresh questions per held-out clip, with plans drawn
  from a fixed generator (the same questions for every model evaluated with the same seed), and reports
  the accuracy in percent next to chance (1 / number of classes: the plans draw labels uniformly).
* `feature_probe` fits kNN and linear probes (`avssl.evaluation.probe`) on pooled visual and audio
  features of the training split and scores the held-out split, and scores class retrieval: held-out
  clips query the training clips. Class labels come from the layout loader (`avssl.data.datasets.load_index`,
  which gives a synthetic set's items their scene's class).
"""

from __future__ import annotations

import dataclasses

import torch

from avssl.data.datasets.base import ClipDataset
from avssl.data.loader import DataConfig, build_dataset, build_loader
from avssl.device import module_device, to_device
from avssl.evaluation.embed import embed
from avssl.evaluation.probe import probe_metrics
from avssl.evaluation.retrieval import class_retrieval_metrics


def eval_dataset(cfg: DataConfig, split: str | None) -> ClipDataset:
    """Centre windows of `split` with the evaluation transforms (labels: the layout loader's, which
    include a synthetic set's classes)."""
    return build_dataset(dataclasses.replace(cfg, split=split), train=False, seed=0)


@torch.no_grad()
def pretext_accuracy(
    task: torch.nn.Module, dataset, names: list[str], repeats: int = 4, seed: int = 0, batch_size: int = 16
) -> dict[str, dict[str, float]]:
    """{name: {"accuracy", "chance", "n"}} (percent) over `repeats` plans per clip of `dataset`."""
    was_training = task.training
    task.eval()
    generator = torch.Generator().manual_seed(seed)
    correct = dict.fromkeys(names, 0)
    total = dict.fromkeys(names, 0)
    device = module_device(task)
    for batch in build_loader(dataset, batch_size, num_workers=0):
        batch = to_device(batch, device)
        for name in names:
            for _ in range(repeats):
                logits, labels = task.pretext_logits(name, batch, generator)
                correct[name] += int((logits.argmax(1) == labels).sum())
                total[name] += int(labels.numel())
    task.train(was_training)
    return {
        n: {
            "accuracy": 100.0 * correct[n] / max(total[n], 1),
            "chance": 100.0 / task.pretexts[n].num_classes,
            "n": total[n],
        }
        for n in names
    }


def _features(
    task: torch.nn.Module, dataset, batch_size: int = 16
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """({"visual": (N, D), "audio": (N, D)}, labels (N,)) of `dataset` through the one `embed` path."""
    emb = embed(
        task, dataset, batch_size, num_workers=0, device=module_device(task), modalities=["video", "audio"]
    )
    features = {"visual": torch.from_numpy(emb["video"]), "audio": torch.from_numpy(emb["audio"])}
    return features, torch.from_numpy(emb["labels"])


def feature_probe(task: torch.nn.Module, train_set, test_set, num_classes: int) -> dict[str, dict]:
    """{"visual": probe_metrics(...) + {"retrieval": R@1/5/10, MedR, MeanR}, "audio": …} with features of
    the centre clip of each window; retrieval: held-out clips query the training clips by class
    (`class_retrieval_metrics`)."""
    train_feats, train_labels = _features(task, train_set)
    test_feats, test_labels = _features(task, test_set)
    return {
        k: {
            **probe_metrics(train_feats[k], train_labels, test_feats[k], test_labels, num_classes),
            "retrieval": class_retrieval_metrics(test_feats[k], test_labels, train_feats[k], train_labels),
        }
        for k in train_feats
    }
