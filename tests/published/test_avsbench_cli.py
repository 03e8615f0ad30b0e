"""`avssl import-checkpoint avsbench-s4-r50 S4_best.pth --vggish vggish.pth` → `avssl eval segmentation
--run` → `avssl segment`, all from the command line, on released-format files with seeded random weights
(saved from ``nn.DataParallel``, as the authors' train.py does) and an AVSBench-S4-layout test set; the
masks equal the authors' pipeline on the same files (PNG frames, ImageNet normalisation, VGGish log-mel
examples of the wav); bad or missing files give one line. The other three kinds share this path and are
checked by the parity tests (``test_avsbench_parity.py``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from avssl.cli import main
from avssl.data.datasets import load_index
from avssl.data.media_writer import write_video
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic
from avssl.evaluation.segmentation import load_predictions

sys.path.insert(0, str(Path(__file__).parent))  # tests are imported with importlib (pyproject addopts)
from avsbench_reference import PredEndecoder, reference_forward, released_pair  # noqa: E402

MEAN, STD = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("avsbench_cli")
    s4 = root / "s4"
    write_synthetic("avsbench-s4", s4, SynthSpec(n=8, seed=3, num_classes=4))
    released, vgg = released_pair(seed=2)
    torch.save({f"module.{k}": v for k, v in released.items()}, root / "S4_best.pth")
    torch.save(vgg, root / "vggish-10086976.pth")
    torch.save(released_pair(seed=2, pvt=True)[0], root / "S4_pvt_best.pth")
    return root, s4, released, vgg


def _authors_masks(reference: PredEndecoder, vgg: dict, item) -> np.ndarray:
    """test.py on one video: the 5 PNG frames (224×224 as stored), ImageNet normalisation, the VGGish
    examples of its 5 s wav; sigmoid of the logits."""
    frames = [
        torch.from_numpy(np.asarray(Image.open(f).convert("RGB"), np.float32) / 255) for f in item.frames
    ]
    video = ((torch.stack(frames) - MEAN) / STD).permute(3, 0, 1, 2)  # (3, T, H, W)
    wav, rate = soundfile.read(item.audio_path, dtype="float32")
    assert rate == 16000 and wav.ndim == 1
    batch = {"video": video[None], "audio": torch.from_numpy(wav)[None, None]}
    pred, _, _ = reference_forward(reference, vgg, batch)
    return torch.sigmoid(pred)[:, 0].numpy()


@torch.no_grad()
def test_import_eval_segment_from_the_command_line(files, capsys):
    torch.set_num_threads(2)
    root, s4, released, vgg = files
    run = root / "run"
    cmd = ["import-checkpoint", "avsbench-s4-r50", str(root / "S4_best.pth"), "--out", str(run)]
    assert main([*cmd, "--vggish", str(root / "vggish-10086976.pth")]) == 0
    assert "avsbench-s4-r50 imported into" in capsys.readouterr().out
    source = (run / "SOURCE.md").read_text()
    assert "vggish-10086976.pth" in source and "resnet.layer3_2" in source  # both files, the unused branch
    out = root / "eval" / "M.json"
    args = ["eval", "segmentation", "--benchmark", "avsbench-s4", "--data", str(s4), "--run", str(run)]
    assert main([*args, "--out", str(out), "--workers", "0"]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["f_mode"] == "avsbench" and metrics["num_frames"] == 2 * 5
    predictions = load_predictions(out.parent / "predictions.npz")
    reference = PredEndecoder().eval()
    reference.load_state_dict(released, strict=True)
    items = load_index("avsbench-s4", s4, "test").items
    assert sorted(predictions) == sorted(item.id for item in items)
    for item in items:
        theirs = _authors_masks(reference, vgg, item)
        assert predictions[item.id].shape == theirs.shape == (5, 224, 224)
        assert ((theirs > 0.05) & (theirs < 0.95)).mean() > 0.2  # not saturated: the comparison bites
        assert np.abs(predictions[item.id] - theirs).max() <= 1e-5
    frames = [np.full((120, 160, 3), 40 + 6 * k, np.uint8) for k in range(30)]
    sound = (0.2 * np.sin(2 * np.pi * 440 * np.arange(3 * 16000) / 16000))[None].astype(np.float32)
    video = write_video(root / "mine.mp4", frames, 10, sound, 16000)
    capsys.readouterr()
    assert main(["segment", str(video), "--run", str(run), "--out", str(root / "seg"), "--no-overlay"]) == 0
    with np.load(root / "seg" / "mine" / "masks.npz") as z:
        assert z["masks"].shape == (3, 120, 160) and 0 <= z["masks"].min() <= z["masks"].max() <= 1


def _error_line(capsys, argv) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_missing_or_wrong_files_give_one_line(files, tmp_path, capsys):
    root, _, _, _ = files
    vggish = ["--vggish", str(root / "vggish-10086976.pth")]
    cmd = ["import-checkpoint", "avsbench-s4-r50", str(root / "S4_best.pth")]
    err = _error_line(capsys, [*cmd, "--out", str(tmp_path / "a")])
    assert "avsbench-s4-r50 needs --vggish FILE" in err and "vggish-10086976.pth" in err
    pvt = ["import-checkpoint", "avsbench-s4-r50", str(root / "S4_pvt_best.pth"), *vggish]
    err = _error_line(capsys, [*pvt, "--out", str(tmp_path / "b")])
    assert "S4_pvt_best.pth: not a 'avsbench-s4-r50' checkpoint" in err
    assert "'encoder_backbone." in err and "'avsbench-s4-pvt' checkpoint" in err  # what the file looks like
    swapped = ["import-checkpoint", "avsbench-ms3-r50", str(root / "S4_best.pth")]
    err = _error_line(capsys, [*swapped, "--vggish", str(root / "S4_best.pth"), "--out", str(tmp_path / "c")])
    assert "S4_best.pth" in err and "not part of a torchvggish VGGish checkpoint" in err
    err = _error_line(capsys, [*cmd, *vggish, "--ogl-weights", "x", "--out", str(tmp_path / "d")])
    assert "avsbench-s4-r50 takes no --ogl-weights file" in err
    assert not any((tmp_path / name).exists() for name in "abcd")
