"""The avs_segmentation recipe end to end on synthetic AVSBench data, `avssl eval segmentation` and
`avssl segment` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from avssl.cli import main as cli
from avssl.data.datasets import load_index
from avssl.data.media_writer import write_video
from avssl.data.synthetic.scene import SceneSpec, make_scene, render_audio, render_frame
from avssl.evaluation.segmentation import save_predictions
from recipes.avs_segmentation import main as recipe_main

SMALL = [
    "data.size=64",
    "data.num_workers=0",
    "model.visual.name=small",
    "model.visual.output_stride=32",
    "model.visual.weights_source=encoder",
    "model.audio.name=audio_small",
    "model.freeze_audio=false",  # a from-scratch audio encoder (the release freezes a pretrained VGGish)
    "model.channels=16",
    "train.batch_size=2",
    "train.progress_bar=false",
]


@pytest.fixture(scope="module")
def s4_run(tmp_path_factory, s4_synth):
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("avs_run")
    args = ["--config", "recipes/configs/avs_s4.yaml", f"output_dir={run}", f"data.root={s4_synth}"]
    out = recipe_main([*args, *SMALL, "train.max_steps=3", "train.checkpoint_every=2"])
    return run, out["eval"][str(run)]


def test_recipe_trains_exports_and_evaluates(s4_run) -> None:
    run, metrics = s4_run
    assert set(metrics) == {"mIoU", "F", "num_frames", "f_mode"}
    assert metrics["num_frames"] == 2 * 5  # 2 test videos of the 8
    assert (run / "model" / "model.safetensors").is_file() and (run / "predictions.npz").is_file()
    assert json.loads((run / "eval_segmentation.json").read_text()) == metrics
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("loss/bce" in row for row in log)


def test_cpu_scale_s4_config_trains_with_dice_and_augmented_masks(tmp_path, s4_synth) -> None:
    torch.set_num_threads(1)
    args = [
        "--config",
        "recipes/configs/avs_s4_small.yaml",
        f"output_dir={tmp_path}",
        f"data.root={s4_synth}",
    ]
    small = ["data.num_workers=0", "train.batch_size=2", "train.progress_bar=false", "train.log_every=1"]
    metrics = recipe_main([*args, *small, "train.max_steps=2"])["eval"][str(tmp_path)]
    assert metrics["num_frames"] == 2 * 5
    config = (tmp_path / "config.yaml").read_text()
    assert "random_horizontal_flip" in config and "dice_weight: 1.0" in config
    log = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("loss/dice" in row and "loss/bce" in row for row in log)


def test_ms3_recipe_with_avm_loss_synthesizes_and_runs(tmp_path) -> None:
    torch.set_num_threads(1)
    metrics = recipe_main(
        ["--config", "recipes/configs/avs_ms3.yaml", f"output_dir={tmp_path}", *SMALL, "train.max_steps=2"]
    )["eval"][str(tmp_path)]
    assert metrics["num_frames"] == 16 * 5  # synthetic 64 videos, a quarter in test
    assert (tmp_path / "synthetic" / "ms3_meta_data.csv").is_file()
    log = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("loss/avm" in row for row in log)


def _gt(root: Path, benchmark: str) -> dict:
    out = {}
    for item in load_index(benchmark, root, "test").items:
        out[item.id] = np.stack([np.asarray(Image.open(m).convert("L")) > 0 for m in item.masks])
    return out


@pytest.mark.parametrize("benchmark", ["avsbench-s4", "avsbench-ms3"])
def test_eval_predictions_cli_equals_the_naive_reference(
    tmp_path, naive, s4_synth, ms3_synth, benchmark
) -> None:
    root = s4_synth if benchmark == "avsbench-s4" else ms3_synth
    gt = _gt(root, benchmark)
    rng = np.random.default_rng(0)
    preds = {k: np.clip(0.6 * g + 0.5 * rng.random(g.shape), 0, 1).astype(np.float32) for k, g in gt.items()}
    first = next(iter(preds))
    preds[first][2] = 0.0  # one frame predicted empty
    save_predictions(tmp_path / "P.npz", preds)
    videos = [(preds[k], gt[k]) for k in gt]  # meta-csv test order
    for f_mode, batch in (("per-frame", 4), ("avsbench", 1), ("avsbench", 4)):
        out = tmp_path / f"{f_mode}_{batch}.json"
        code = cli(
            ["eval", "segmentation", "--benchmark", benchmark, "--data", str(root), "--predictions",
             str(tmp_path / "P.npz"), "--f-mode", f_mode, "--batch-size", str(batch), "--out", str(out)]
        )  # fmt: skip
        assert code == 0
        metrics = json.loads(out.read_text())
        assert set(metrics) == {"mIoU", "F", "num_frames", "f_mode"} and metrics["f_mode"] == f_mode
        miou, f = naive.scores(videos, f_mode, batch, vectorised=True)
        assert metrics["mIoU"] == pytest.approx(miou, abs=1e-4)
        assert metrics["F"] == pytest.approx(f, abs=1e-6)
        assert metrics["num_frames"] == 5 * len(gt)


def test_eval_cli_baselines_run_and_errors_are_one_line(tmp_path, s4_synth, capsys) -> None:
    for baseline in ("all-foreground", "centre-blob"):
        out = tmp_path / f"{baseline}.json"
        args = [
            "--benchmark",
            "avsbench-s4",
            "--data",
            str(s4_synth),
            "--baseline",
            baseline,
            "--out",
            str(out),
        ]
        assert cli(["eval", "segmentation", *args]) == 0
        assert 0 <= json.loads(out.read_text())["mIoU"] <= 100
    save_predictions(tmp_path / "partial.npz", {"nobody": np.zeros((5, 4, 4), np.float32)})
    args = [
        "--benchmark",
        "avsbench-s4",
        "--data",
        str(s4_synth),
        "--predictions",
        str(tmp_path / "partial.npz"),
    ]
    assert cli(["eval", "segmentation", *args, "--out", str(tmp_path / "x.json")]) == 2
    assert "no prediction for 2 test videos" in capsys.readouterr().err
    np.savez(tmp_path / "bad.npz", a=np.full((5, 4, 4), 3.0))
    args[-1] = str(tmp_path / "bad.npz")
    assert cli(["eval", "segmentation", *args, "--out", str(tmp_path / "x.json")]) == 2
    assert "outside [0, 1]" in capsys.readouterr().err


def test_eval_cli_from_a_run(s4_run, s4_synth, tmp_path) -> None:
    run, metrics = s4_run
    out = tmp_path / "M.json"
    args = ["--benchmark", "avsbench-s4", "--data", str(s4_synth), "--run", str(run), "--workers", "0"]
    assert cli(["eval", "segmentation", *args, "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    assert (
        got["mIoU"] == pytest.approx(metrics["mIoU"], abs=1e-6) and (tmp_path / "predictions.npz").is_file()
    )


def _write_scene_video(path: Path, seconds: float, audio: bool = True) -> Path:
    scene = make_scene(SceneSpec(width=96, height=80, duration_s=seconds), seed=5)
    frames = [render_frame(scene, k / 10)[0] for k in range(int(seconds * 10))]
    sound = render_audio(scene, 48000) if audio else None
    return write_video(path, frames, 10.0, sound, 48000)


def test_segment_writes_masks_overlay_with_audio_and_stats(s4_run, tmp_path) -> None:
    run, _ = s4_run
    video = _write_scene_video(tmp_path / "mine.mp4", 7.0)
    assert cli(["segment", str(video), "--run", str(run), "--out", str(tmp_path / "out")]) == 0
    out = tmp_path / "out" / "mine"
    with np.load(out / "masks.npz") as z:
        masks, times = z["masks"], z["times"]
    assert masks.shape == (7, 80, 96) and masks.min() >= 0 and masks.max() <= 1
    np.testing.assert_allclose(times, np.arange(7) + 0.5)
    stats = json.loads((out / "frames.json").read_text())["frames"]
    assert [s["time"] for s in stats] == list(times)
    for s, m in zip(stats, masks):
        assert s["area"] == pytest.approx((m > 0.5).mean(), abs=1e-5)
        assert (s["centroid"] is None) == (not (m > 0.5).any())
    from avssl.data.decoding import probe

    info = probe(out / "overlay.mp4")
    assert info["has_audio"] and info["duration_s"] == pytest.approx(7.0, abs=0.15)


def test_segment_errors_are_one_line(s4_run, tmp_path, capsys) -> None:
    run, _ = s4_run
    silent = _write_scene_video(tmp_path / "silent.mp4", 2.0, audio=False)
    assert cli(["segment", str(silent), "--run", str(run), "--out", str(tmp_path)]) == 1
    assert "no audio stream" in capsys.readouterr().err
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    assert cli(["segment", str(tmp_path / "junk.mp4"), "--run", str(run), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "junk.mp4" in err
    assert cli(["segment", str(silent), "--run", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert "run directory not found" in capsys.readouterr().err


def test_segment_a_video_shorter_than_one_window(s4_run, tmp_path) -> None:
    run, _ = s4_run
    video = _write_scene_video(tmp_path / "short.mp4", 3.0)
    assert cli(["segment", str(video), "--run", str(run), "--out", str(tmp_path), "--no-overlay"]) == 0
    with np.load(tmp_path / "short" / "masks.npz") as z:
        assert z["masks"].shape == (3, 80, 96)
        np.testing.assert_allclose(z["times"], [0.5, 1.5, 2.5])
    assert not (tmp_path / "short" / "overlay.mp4").exists()
