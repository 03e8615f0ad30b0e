"""Every prediction path runs on the device the task lives on: a task whose parameters are on the `meta`
device and that refuses inputs on any other device goes through the runner's evaluators, `avssl embed`,
`avssl eval …`, `avssl localize` and `avssl segment` (a prediction path that hard-codes "cpu" fails here
on a CPU-only machine). Also `--device` resolution, and the same commands' output safety: atomic writes,
no collisions between videos of the same name, no overwritten predictions.npz."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from avssl.cli import main as cli
from avssl.data.loader import DataConfig
from avssl.data.media_writer import write_video
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic
from avssl.device import resolve_device
from avssl.outputs import path_tag
from avssl.runner.evaluators import EVALUATORS


class DeviceGuard(nn.Module):
    """Embeds, localizes and segments (random outputs on the CPU, like `.cpu()` of a real output); records
    the device of every input and raises when it is not the device of its parameters."""

    embeds = frozenset({"video", "audio"})

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.seen: list[str] = []

    def _check(self, batch: dict) -> int:
        for key in ("video", "audio"):
            device = batch[key].device
            self.seen.append(device.type)
            if device != self.weight.device:
                raise RuntimeError(f"device mismatch: {key} on {device}, parameters on {self.weight.device}")
        return batch["video"].shape[0]

    def embed(self, batch: dict, modality: str) -> torch.Tensor:
        return torch.randn(self._check(batch), 4)

    def localize(self, batch: dict) -> torch.Tensor:
        return torch.rand(self._check(batch), 7, 7)

    def segment(self, batch: dict) -> torch.Tensor:
        return torch.rand(self._check(batch), batch["video"].shape[2], 8, 8)


def meta_guard() -> DeviceGuard:
    return DeviceGuard().to("meta")


S4_DATA = {"size": 32, "duration_s": 5.0, "fps": 1.0, "num_workers": 0}


@pytest.fixture(scope="module")
def flickr(tmp_path_factory):
    return write_synthetic("flickr", tmp_path_factory.mktemp("flickr"), SynthSpec(n=4, seed=0))


@pytest.fixture(scope="module")
def s4(tmp_path_factory):
    root = tmp_path_factory.mktemp("s4")
    write_synthetic("avsbench-s4", root, SynthSpec(n=8, seed=3, num_classes=4))
    return root


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """a/clip.mp4 and b/clip.mp4: two different videos with the same file name."""
    root, out = tmp_path_factory.mktemp("videos"), []
    for k, name in enumerate(("a", "b")):
        frames = [np.full((48, 64, 3), 40 + 100 * k, np.uint8) for _ in range(12)]
        sound = (0.3 * np.sin(np.arange(16000 * 2) * (0.05 + k * 0.02)))[None].astype(np.float32)
        (root / name).mkdir()
        out.append(write_video(root / name / "clip.mp4", frames, 6.0, sound, 16000))
    return out


def test_resolve_device(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_runner_evaluators_predict_on_the_task_device(flickr, s4, tmp_path):
    guard = meta_guard()
    cfg = SimpleNamespace(
        eval=SimpleNamespace(root=str(flickr), benchmark="flickr", rule="gt"),
        data=DataConfig(size=32, num_workers=0),
    )
    assert 0 <= EVALUATORS["localization"](guard, cfg, tmp_path)["cIoU"] <= 100
    data = DataConfig(root=str(s4), layout="avsbench-s4", **S4_DATA)
    cfg = SimpleNamespace(eval=SimpleNamespace(root="", batch_size=2, f_mode="per-frame"), data=data)
    assert 0 <= EVALUATORS["segmentation"](guard, cfg, tmp_path)["mIoU"] <= 100
    assert guard.seen and set(guard.seen) == {"meta"}


@pytest.fixture
def fake_run(monkeypatch, tmp_path):
    """`load_run` replaced: records the device asked for and returns a meta-device guard."""
    state = SimpleNamespace(guard=meta_guard(), devices=[])

    def load_run(run, device="cpu"):
        state.devices.append(torch.device(device))
        return state.guard, {"task": "guard", "data": dict(S4_DATA)}

    monkeypatch.setattr("avssl.inference.load.load_run", load_run)
    return state


def test_cli_predicts_on_the_task_device_and_writes_safely(
    fake_run, flickr, s4, videos, tmp_path, monkeypatch
):
    replaced, real_replace = [], os.replace

    def recording_replace(src, dst):
        replaced.append(os.path.basename(dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recording_replace)
    (tmp_path / "loc").mkdir()
    (tmp_path / "loc" / "predictions.npz").write_bytes(b"the user's own file")
    run = ["--run", str(tmp_path), "--device", "cpu"]
    assert cli(["embed", *map(str, videos), *run, "--workers", "0", "--out", str(tmp_path / "e.npz")]) == 0
    assert np.load(tmp_path / "e.npz")["video"].shape == (2, 4)
    loc = ["--benchmark", "flickr", "--data", str(flickr), "--workers", "0", "--batch-size", "3"]
    assert cli(["eval", "localization", *loc, *run, "--out", str(tmp_path / "loc")]) == 0
    seg = ["--benchmark", "avsbench-s4", "--data", str(s4), "--workers", "0"]
    assert cli(["eval", "segmentation", *seg, *run, "--out", str(tmp_path / "seg" / "M.json")]) == 0
    assert cli(["localize", *map(str, videos), *run, "--out", str(tmp_path / "l"), "--no-overlay"]) == 0
    assert cli(["segment", str(videos[0]), *run, "--out", str(tmp_path / "s"), "--no-overlay"]) == 0
    assert fake_run.guard.seen and set(fake_run.guard.seen) == {"meta"}
    assert fake_run.devices == [torch.device("cpu")] * 5
    # eval --run kept the user's predictions.npz and says where its own went
    assert (tmp_path / "loc" / "predictions.npz").read_bytes() == b"the user's own file"
    metrics = json.loads((tmp_path / "loc" / "M.json").read_text())
    assert metrics["predictions"] == str(tmp_path / "loc" / "predictions-2.npz")
    seg_metrics = json.loads((tmp_path / "seg" / "M.json").read_text())
    assert seg_metrics["predictions"] == str(tmp_path / "seg" / "predictions.npz")
    # a/clip.mp4 and b/clip.mp4 localized into one --out: two folders, each naming its own video
    folders = sorted(p.name for p in (tmp_path / "l").iterdir())
    assert folders == ["clip", f"clip-{path_tag(videos[1])}"]
    for folder, video in zip(folders, videos):
        assert json.loads((tmp_path / "l" / folder / "peaks.json").read_text())["video"] == str(video)
    # every result written atomically (temp file, then os.replace)
    expected = {"e.npz", "M.json", "predictions.npz", "predictions-2.npz", "heatmaps.npz", "peaks.json"}
    assert expected | {"masks.npz", "frames.json"} <= set(replaced)


def test_cli_device_not_available_is_one_line(fake_run, videos, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = [str(videos[0]), "--run", str(tmp_path), "--device", "cuda", "--out", str(tmp_path / "o")]
    assert cli(["localize", *args]) == 2
    assert (
        capsys.readouterr().err.strip()
        == "avssl localize: error: --device cuda: no CUDA device is available on this machine"
    )
