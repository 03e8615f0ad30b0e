"""The one embed path: driven by `task.embeds`, labels from the dataset items, and `avssl embed` /
`avssl eval probe` on tasks without audio (a video-only task, an image_multissl run)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from safetensors.torch import save_file
from torch import Tensor, nn

from avssl.cli import main as cli_main
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic
from avssl.evaluation.embed import embed
from avssl.tasks import TASKS
from avssl.tasks.base import CapabilityError, TaskOutput, check_modality


@dataclass
class VideoOnlyConfig:
    dim: int = 6


class VideoOnly(nn.Module):
    """A task that embeds video and nothing else (as the video families' methods do)."""

    embeds = frozenset({"video"})

    def __init__(self, cfg: VideoOnlyConfig):
        super().__init__()
        self.proj = nn.Linear(3, cfg.dim)

    def embed(self, batch: dict, modality: str) -> Tensor:
        check_modality(self, modality)
        return F.normalize(self.proj(batch["video"].flatten(2).mean(2)), dim=1)  # (B, C, T, H, W) → (B, D)

    def forward(self, batch: dict) -> TaskOutput:
        return TaskOutput(self.embed(batch, "video").square().sum(1).mean())


class Items(torch.utils.data.Dataset):
    def __init__(self, n: int = 7):
        g = torch.Generator().manual_seed(0)
        self.video = torch.randn(n, 3, 2, 4, 4, generator=g)

    def __len__(self) -> int:
        return len(self.video)

    def __getitem__(self, i: int) -> dict:
        return {"video": self.video[i], "index": i, "label": i % 3}


def test_embed_gives_the_declared_modalities_in_dataset_order() -> None:
    torch.manual_seed(0)
    task, data = VideoOnly(VideoOnlyConfig()).train(), Items()
    emb = embed(task, data, batch_size=3, num_workers=0)
    assert set(emb) == {"video", "ids", "labels"} and task.training  # training mode restored
    task.eval()
    with torch.no_grad():
        expected = torch.stack([task.embed({"video": data[i]["video"][None]}, "video")[0] for i in range(7)])
    np.testing.assert_allclose(emb["video"], expected.numpy(), atol=1e-6)
    assert emb["ids"].tolist() == list(range(7)) and emb["labels"].tolist() == [i % 3 for i in range(7)]
    with pytest.raises(CapabilityError, match="embeds video"):
        embed(task, data, num_workers=0, modalities=["audio"])


def _video_only_run(tmp_path, data_root) -> str:
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    torch.manual_seed(0)
    save_file(VideoOnly(VideoOnlyConfig()).state_dict(), str(run / "model" / "model.safetensors"))
    data = {"root": str(data_root), "layout": "vggsound", "size": 32, "fps": 2.0, "duration_s": 1.0}
    (run / "config.yaml").write_text(
        yaml.safe_dump({"task": "video_only", "model": {"dim": 6}, "data": data})
    )
    return str(run)


def test_cli_embed_and_probe_on_a_video_only_task(tmp_path, monkeypatch) -> None:
    root = tmp_path / "vggsound"
    write_synthetic("vggsound", root, SynthSpec(n=12, seed=3, size=32, duration_s=1.0, num_classes=3))
    monkeypatch.setitem(TASKS, "video_only", (VideoOnlyConfig, VideoOnly))
    run = _video_only_run(tmp_path, root)
    common = ["--run", run, "--workers", "0", "--batch-size", "4"]
    assert cli_main(["embed", *common, "--split", "train", "--out", str(tmp_path / "e.npz")]) == 0
    with np.load(tmp_path / "e.npz") as saved:
        assert set(saved.files) == {"video", "ids", "labels"} and saved["video"].shape[1] == 6
    assert cli_main(["eval", "probe", *common, "--out", str(tmp_path / "probe.json")]) == 0
    probe = json.loads((tmp_path / "probe.json").read_text())
    assert probe["modality"] == "video" and "linear" in probe and "knn" in probe
    # audio was never asked of the task; asking for it is a one-line user error
    assert cli_main(["eval", "probe", *common, "--modality", "audio", "--out", str(tmp_path / "a.json")]) == 2


def test_cli_probe_on_an_image_multissl_run(tmp_path) -> None:
    from recipes.multissl_image import main as image_recipe

    run = tmp_path / "image"
    image_recipe(
        [
            f"output_dir={run}",
            "eval.split=null",
            "train.max_steps=1",
            "data.size=32",
            "data.num_workers=0",
            "data.synthetic={train: 8, val: 4}",
            "model.queue_size=16",
            "model.dense_queue_size=16",
            "train.batch_size=4",
            "train.progress_bar=false",
        ]
    )
    out = tmp_path / "probe.json"
    args = ["eval", "probe", "--run", str(run), "--test-split", "val", "--workers", "0", "--out", str(out)]
    assert cli_main(args) == 0
    probe = json.loads(out.read_text())
    assert probe["modality"] == "video" and 0 <= probe["linear"]["top1"] <= 100
