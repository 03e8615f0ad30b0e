"""`avssl import-checkpoint` → `avssl eval localization --run` → `avssl localize`, all from the command line,
on a released-format file with seeded random weights, a Flickr-layout test set and a small mp4; bad files
give one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from avssl.cli import main
from avssl.data.media_writer import write_video
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic
from avssl.evaluation.localization import load_predictions
from avssl.published.localization import KINDS

sys.path.insert(0, str(Path(__file__).parent))  # tests are imported with importlib (pyproject addopts)
import reference_models as ref  # noqa: E402
from cli_errors import error_line as _error_line  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    flickr = write_synthetic("flickr", root / "flickr", SynthSpec(n=3, seed=2))
    frames = [np.full((96, 128, 3), 30 + 8 * k, np.uint8) for k in range(24)]
    sound = (0.2 * np.sin(2 * np.pi * 330 * np.arange(2 * 16000) / 16000))[None].astype(np.float32)
    write_video(root / "clip.mp4", frames, 12, sound, 16000)
    models = {}
    for kind in ("lvs", "ssl-tie", "ezvsl"):
        models[kind] = ref.reference_model(kind, seed=11)
        torch.save(ref.released_file(kind, models[kind]), root / f"{kind}.pth")
    torch.save(ref.randomize(torchvision.models.resnet18(), seed=4).state_dict(), root / "resnet18.pth")
    return root, flickr, models


AUDIO = {"lvs": ref.lvs_audio, "ssl-tie": ref.ssl_tie_audio}


@torch.no_grad()
@pytest.mark.parametrize("kind", ["lvs", "ssl-tie"])
def test_import_eval_localize_from_the_command_line(kind, files, capsys):
    root, flickr, models = files
    run = root / f"run_{kind}"
    assert main(["import-checkpoint", kind, str(root / f"{kind}.pth"), "--out", str(run)]) == 0
    assert f"{kind} imported into" in capsys.readouterr().out
    out = root / f"eval_{kind}"
    args = ["eval", "localization", "--benchmark", "flickr", "--data", str(flickr), "--run", str(run)]
    assert main([*args, "--out", str(out), "--workers", "0", "--batch-size", "2"]) == 0
    metrics = json.loads((out / "M.json").read_text())
    assert metrics["rule"] == "gt" and metrics["num_samples"] == 3
    predictions = load_predictions(out / "predictions.npz")
    for item_id, heatmap in predictions.items():  # the authors' test pipeline on the same files
        image = ref.frame_transform(kind)(ref.Image.open(flickr / "frames" / f"{item_id}.jpg").convert("RGB"))
        spec = AUDIO[kind](flickr / "audio" / f"{item_id}.wav")
        theirs = models[kind](image[None], spec[None])[0, 0].numpy()
        assert np.abs(heatmap - theirs).max() <= 1e-5
    capsys.readouterr()
    maps = root / f"maps_{kind}"
    assert main(["localize", str(root / "clip.mp4"), "--run", str(run), "--out", str(maps)]) == 0
    peaks = json.loads((maps / "clip" / "peaks.json").read_text())["peaks"]
    assert (
        len(peaks) == 1 and peaks[0]["time"] == 1.0
    )  # one 10 s window (the clip of the run) over a 2 s video
    assert (maps / "clip" / "overlay.mp4").is_file()


def test_ezvsl_with_ogl_evaluates_with_its_own_rule_and_alpha(files, capsys):
    root, flickr, _ = files
    run = root / "run_ezvsl"
    cmd = ["import-checkpoint", "ezvsl", str(root / "ezvsl.pth"), "--out", str(run)]
    assert main([*cmd, "--ogl-weights", str(root / "resnet18.pth")]) == 0
    out = root / "eval_ezvsl.json"
    args = ["eval", "localization", "--benchmark", "flickr", "--data", str(flickr), "--run", str(run)]
    assert main([*args, "--out", str(out), "--workers", "0"]) == 0
    assert json.loads(out.read_text())["rule"] == "ge"
    maps = load_predictions(root / "predictions.npz")
    assert all(m.shape == (224, 224) and m.min() == 0 and m.max() == 1 for m in maps.values())  # OGL blend
    assert (
        main(
            ["localize", str(root / "clip.mp4"), "--run", str(run), "--out", str(root / "ez"), "--no-overlay"]
        )
        == 0
    )
    assert len(json.loads((root / "ez" / "clip" / "peaks.json").read_text())["peaks"]) == 1  # a 3 s window


def test_bad_files_give_one_line(files, tmp_path, capsys):
    root, _, _ = files
    data = (root / "lvs.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    err = _error_line(
        capsys, ["import-checkpoint", "lvs", str(tmp_path / "cut.pth"), "--out", str(tmp_path / "a")]
    )
    assert (
        err.startswith("avssl import-checkpoint: error:")
        and "truncated or corrupt" in err
        and "cut.pth" in err
    )
    err = _error_line(
        capsys, ["import-checkpoint", "lvs", str(root / "ezvsl.pth"), "--out", str(tmp_path / "b")]
    )
    assert "not a 'lvs' checkpoint" in err and "ezvsl.pth" in err and "'ezvsl' checkpoint" in err
    released = torch.load(root / "lvs.pth", weights_only=True)
    del released["model_state_dict"]["module.imgnet.layer1.0.conv1.weight"]
    torch.save(released, tmp_path / "missing.pth")
    err = _error_line(
        capsys, ["import-checkpoint", "lvs", str(tmp_path / "missing.pth"), "--out", str(tmp_path / "c")]
    )
    assert "missing key 'imgnet.layer1.0.conv1.weight'" in err and "missing.pth" in err
    err = _error_line(
        capsys,
        [
            "import-checkpoint",
            "lvs",
            str(root / "lvs.pth"),
            "--out",
            str(tmp_path / "d"),
            "--ogl-weights",
            "x",
        ],
    )
    assert "lvs takes no --ogl-weights file" in err
    assert not any((tmp_path / name).exists() for name in "abcd")


def test_every_kind_states_its_paper_and_source():
    for kind, published in KINDS.items():
        assert published.kind == kind and "20" in published.paper and "github.com/" in published.source
