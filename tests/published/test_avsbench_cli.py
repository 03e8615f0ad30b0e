"""`avssl import-checkpoint avsbench-s4-r50 S4_best.pth --vggish vggish.pth` → `avssl eval segmentation
--run` → `avssl segment`, all from the command line, on released-format files with seeded random weights
(saved from ``nn.DataParallel``, as the authors' train.py does) and an AVSBench-S4-layout test set; the
masks equal the authors' pipeline on the same files (PNG frames, ImageNet normalisation, VGGish log-mel
examples of the wav), for the four kinds (S4 / MS3 × ResNet-50 / PVT-v2-b5, the MS3 ones on an
AVSBench-MS3-layout set); bad or missing files give one line."""

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
from avsbench_reference import PredEndecoder, reference_forward, reference_model, released_pair  # noqa: E402
from cli_errors import error_line as _error_line  # noqa: E402

MEAN, STD = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("avsbench_cli")
    write_synthetic("avsbench-s4", root / "avsbench-s4", SynthSpec(n=8, seed=3, num_classes=4))
    write_synthetic("avsbench-ms3", root / "avsbench-ms3", SynthSpec(n=4, seed=4, num_classes=4))
    released = {backbone: released_pair(seed=2, pvt=backbone == "pvt")[0] for backbone in ("r50", "pvt")}
    torch.save({f"module.{k}": v for k, v in released["r50"].items()}, root / "S4_best.pth")
    torch.save(released["pvt"], root / "S4_pvt_best.pth")
    vgg = released_pair(seed=2)[1]
    torch.save(vgg, root / "vggish-10086976.pth")
    return root, released, vgg


FILES = {"r50": "S4_best.pth", "pvt": "S4_pvt_best.pth"}  # MS3 models have the same parameters


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
@pytest.mark.parametrize(
    "kind", ["avsbench-s4-r50", "avsbench-ms3-r50", "avsbench-s4-pvt", "avsbench-ms3-pvt"]
)
def test_import_eval_segment_from_the_command_line(kind, files, capsys):
    torch.set_num_threads(2)
    root, released, vgg = files
    backbone, benchmark = kind.rsplit("-", 1)[1], kind.rsplit("-", 1)[0]
    run = root / f"run_{kind}"
    cmd = ["import-checkpoint", kind, str(root / FILES[backbone]), "--out", str(run)]
    assert main([*cmd, "--vggish", str(root / "vggish-10086976.pth")]) == 0
    assert f"{kind} imported into" in capsys.readouterr().out
    source = (run / "SOURCE.md").read_text()
    assert "vggish-10086976.pth" in source and "path4.resConfUnit1" in source  # both files, the unused block
    out = root / f"eval_{kind}" / "M.json"
    data = root / benchmark
    args = ["eval", "segmentation", "--benchmark", benchmark, "--data", str(data), "--run", str(run)]
    assert main([*args, "--out", str(out), "--workers", "0"]) == 0
    metrics = json.loads(out.read_text())
    items = load_index(benchmark, data, "test").items
    assert metrics["f_mode"] == "avsbench" and metrics["num_frames"] == len(items) * 5
    predictions = load_predictions(out.parent / "predictions.npz")
    reference = reference_model(released[backbone], pvt=backbone == "pvt").eval()
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
    seg = root / f"seg_{kind}"
    assert main(["segment", str(video), "--run", str(run), "--out", str(seg), "--no-overlay"]) == 0
    with np.load(seg / "mine" / "masks.npz") as z:
        assert z["masks"].shape == (3, 120, 160) and 0 <= z["masks"].min() <= z["masks"].max() <= 1


def test_missing_or_wrong_files_give_one_line(files, tmp_path, capsys):
    root, _, _ = files
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
