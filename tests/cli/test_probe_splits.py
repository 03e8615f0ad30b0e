"""`avssl eval probe` on a folder with a labels.csv `split` column: it scores the test split's items after
fitting on the training split's; equal splits, or a set without splits, are refused with one line."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch.nn.functional as F
import yaml
from safetensors.torch import save_file
from torch import Tensor, nn

from avssl.cli import main
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic
from avssl.tasks import TASKS
from avssl.tasks.base import TaskOutput, check_modality


@dataclass
class MeanColourConfig:
    dim: int = 4


class MeanColour(nn.Module):
    """Embeds a clip's mean colour (enough for a probe to run; the counts are what is checked)."""

    embeds = frozenset({"video"})

    def __init__(self, cfg: MeanColourConfig):
        super().__init__()
        self.proj = nn.Linear(3, cfg.dim)

    def embed(self, batch: dict, modality: str) -> Tensor:
        check_modality(self, modality)
        return F.normalize(self.proj(batch["video"].flatten(2).mean(2)), dim=1)  # (B, C, T, H, W) → (B, D)

    def forward(self, batch: dict) -> TaskOutput:
        return TaskOutput(self.embed(batch, "video").sum())


@pytest.fixture
def folder_run(tmp_path, monkeypatch):
    root = tmp_path / "folder"
    write_synthetic("folder", root, SynthSpec(n=10, seed=1, size=32, duration_s=1.0, num_classes=2))
    ids = sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.mp4"))
    splits = {i: ("test" if k % 3 == 0 else "train") for k, i in enumerate(ids)}
    (root / "labels.csv").write_text(
        "path,label,split\n" + "".join(f"{i},{i.split('/')[0]},{splits[i]}\n" for i in ids)
    )
    monkeypatch.setitem(TASKS, "mean_colour", (MeanColourConfig, MeanColour))
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    save_file(MeanColour(MeanColourConfig()).state_dict(), str(run / "model" / "model.safetensors"))
    data = {"root": str(root), "layout": "folder", "size": 32, "fps": 2.0, "duration_s": 1.0}
    (run / "config.yaml").write_text(
        yaml.safe_dump({"task": "mean_colour", "model": {"dim": 4}, "data": data})
    )
    return run, root, splits


def _probe(run, tmp_path, *extra) -> int:
    args = ["eval", "probe", "--run", str(run), "--workers", "0", "--batch-size", "4", *extra]
    return main([*args, "--out", str(tmp_path / "probe.json")])


def test_probe_scores_the_test_split(folder_run, tmp_path):
    run, _, splits = folder_run
    assert _probe(run, tmp_path) == 0
    metrics = json.loads((tmp_path / "probe.json").read_text())
    assert metrics["num_train"] == sum(s == "train" for s in splits.values()) == 6
    assert metrics["num_test"] == sum(s == "test" for s in splits.values()) == 4


def test_probe_refuses_equal_splits(folder_run, tmp_path, capsys):
    run, _, _ = folder_run
    assert _probe(run, tmp_path, "--train-split", "test", "--test-split", "test") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "both 'test'" in err[0]
    assert not (tmp_path / "probe.json").exists()


def test_probe_refuses_a_set_without_splits(folder_run, tmp_path, capsys):
    run, root, _ = folder_run
    (root / "labels.csv").unlink()  # labels from the class folders, no splits: both "splits" are every item
    assert _probe(run, tmp_path) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("avssl")]
    assert len(err) == 1 and "same 10 items" in err[0]  # (the embedding progress bars precede it)


def test_probe_names_the_file_of_a_missing_split(folder_run, tmp_path, capsys):
    run, root, _ = folder_run
    assert _probe(run, tmp_path, "--test-split", "val") == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("avssl")]
    assert len(err) == 1 and str(root / "labels.csv") in err[0] and "'val'" in err[0]
