"""`avssl eval frames` on a CARL run trained two steps on a tiny synthetic Penn Action set (JPEG frame
folders, .mat labels, phase .npy files): the JSON equals the library's report on the same features, the
features are the task's frame embeddings of every frame of a video, bad settings are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from avssl.cli import main
from avssl.data.datasets import load_index
from avssl.data.decoding import read_image
from avssl.data.synthetic.phases import PhaseSynthSpec, write_phase_synthetic
from avssl.evaluation.embed import eval_data_config
from avssl.evaluation.frames import frame_features, frame_report
from avssl.inference.load import load_run
from recipes.carl import main as carl

CONFIG = Path(__file__).resolve().parents[2] / "recipes" / "configs" / "carl.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = write_phase_synthetic(
        tmp_path_factory.mktemp("penn") / "Penn_Action",
        PhaseSynthSpec(n=12, num_classes=2, size=32, min_frames=16, max_frames=20, seed=3),
    )
    out = tmp_path_factory.mktemp("carl")
    carl(
        [
            "--config", str(CONFIG), f"output_dir={out}", f"data.root={root}", "data.layout=pennaction",
            "data.size=32", "data.num_workers=0", "train.batch_size=4", "train.max_steps=2",
            "train.progress_bar=false", "eval.clips=1", "eval.background_swapped=false",
        ]
    )  # fmt: skip
    return out


def test_eval_frames_equals_the_library_report(run, tmp_path, capsys) -> None:
    out = tmp_path / "frames.json"
    assert main(["eval", "frames", "--run", str(run), "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    assert got["frame_embeddings"] == "embed_frames" and got["stride"] == 1
    task, config = load_run(run)
    data = eval_data_config(config, None, None, None)
    train, val = frame_features(task, data, "train"), frame_features(task, data, "val")
    want = frame_report(train, val, 1)
    for key in ("classification", "progression", "kendalls_tau"):
        assert got[key] == pytest.approx(want[key])
    assert got["retrieval"] == pytest.approx(want["retrieval"]) and set(got["retrieval"]) == {
        "AP@5",
        "AP@10",
        "AP@15",
    }
    assert sorted(got["per_action"]) == ["0", "1"] and got["per_action"]["0"]["num_val_videos"] == 2
    # the features: every frame of the video, resized and normalised as the run's eval transform, in order
    item = load_index("pennaction", data.root, "val").items[0]
    frames = torch.stack([read_image(f) for f in item.frames]).permute(0, 3, 1, 2).float() / 255
    frames = torch.nn.functional.interpolate(frames, size=(32, 32), mode="bilinear", antialias=True)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    video = ((frames - mean[:, None, None]) / std[:, None, None]).permute(1, 0, 2, 3)[None]
    with torch.no_grad():
        expected = task.embed_frames({"video": video})[0]
    assert val.ids[0] == item.id and val.features[0].shape == (len(item.frames), 64)
    assert torch.allclose(val.features[0], expected, atol=2e-2)


def test_eval_frames_errors_are_one_line(run, tmp_path, capsys) -> None:
    out = str(tmp_path / "x.json")
    assert main(["eval", "frames", "--run", str(run), "--stride", "0", "--out", out]) != 0
    assert "--stride must be at least 1" in capsys.readouterr().err
    assert main(["eval", "frames", "--run", str(run), "--layout", "ucf101", "--out", out]) != 0
    assert "phase-labelled layout (pennaction, pouring), not 'ucf101'" in capsys.readouterr().err
    assert main(["eval", "frames", "--run", str(run), "--data", str(tmp_path), "--out", out]) != 0
    assert "missing: a Penn Action root has frames/ and labels/" in capsys.readouterr().err
