"""Recipe end to end: runs on synthetic media, checkpoints, is killed (SIGKILL), resumes, and its later
losses equal the uninterrupted run's; the run directory serves `avssl eval retrieval`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avssl.cli import main as cli
from avssl.testing import finish, kill_after_step, launch_recipe, logged_losses

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "av_contrastive.py"


def _args(data, out, steps=8):
    return [
        f"data.root={data}",
        "data.layout=vggsound",
        f"output_dir={out}",
        f"train.max_steps={steps}",
        "train.batch_size=8",
        "data.size=48",
        "data.fps=2",
        "train.checkpoint_every=4",
        "train.log_every=1",
        "train.progress_bar=false",
        "data.num_workers=1",
        "optim.lr=0.001",
    ]


def _run(args):
    config = ROOT / "recipes/configs/av_contrastive.yaml"
    return launch_recipe("python", RECIPE, ["--config", config, *args], cwd=ROOT)


def test_kill_and_resume_continues_the_same_run(vggsound_synth, tmp_path):
    finish(_run(_args(vggsound_synth, tmp_path / "full")), timeout=300)
    kill_after_step(_run(_args(vggsound_synth, tmp_path / "cut")), tmp_path / "cut", 6, timeout=300)
    assert (tmp_path / "cut" / "checkpoints" / "step_4").is_dir()
    assert not (tmp_path / "cut" / "model").exists()
    finish(_run(_args(vggsound_synth, tmp_path / "cut")), timeout=300)
    a, b = logged_losses(tmp_path / "full"), logged_losses(tmp_path / "cut")
    assert sorted(b) == list(range(1, 9))
    for step in range(5, 9):
        assert b[step] == pytest.approx(a[step], abs=1e-6), (step, a, b)
    assert (tmp_path / "cut" / "model" / "model.safetensors").is_file()
    config = (tmp_path / "cut" / "model" / "config.yaml").read_text()
    assert "task: av_contrastive" in config and "max_steps: 8" in config

    assert (
        cli(
            [
                "eval",
                "retrieval",
                "--run",
                str(tmp_path / "cut"),
                "--split",
                "test",
                "--workers",
                "0",
                "--out",
                str(tmp_path / "m.json"),
            ]
        )
        == 0
    )
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["num_items"] == 12 and set(metrics["video_to_audio"]) == {
        "R@1",
        "R@5",
        "R@10",
        "MedR",
        "MeanR",
    }


def test_bad_override_is_one_clear_error(tmp_path):
    proc = _run([f"output_dir={tmp_path}", "train.max_stepz=3"])
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "unknown config key 'train.max_stepz'" in out


def test_training_reads_shards_through_the_same_code(vggsound_synth, tmp_path):
    from avssl.data.datasets import load_index
    from avssl.data.datasets.shards import write_shards
    from recipes.av_contrastive import main as recipe_main

    write_shards(load_index("vggsound", vggsound_synth, "train"), tmp_path / "shards", items_per_shard=8)
    result = recipe_main(
        [
            f"data.root={tmp_path / 'shards'}",
            "data.layout=shards",
            f"output_dir={tmp_path / 'run'}",
            "train.max_steps=3",
            "train.batch_size=4",
            "data.size=32",
            "data.fps=1",
            "train.progress_bar=false",
            "data.num_workers=2",
            "model.visual.name=small",
            "model.audio.name=audio_small",
            "train.log_every=1",
        ]
    )
    last = result["train"][-1]
    assert last["step"] == 3 and last["loss"] == last["loss"]
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
