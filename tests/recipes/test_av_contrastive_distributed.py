"""Two real processes on CPU (gloo): torchrun and `accelerate launch --multi_gpu` run the recipe unchanged;
a run killed after step 12 (under either launcher) resumes from its step-10 checkpoint and finishes with
the same losses as an uninterrupted two-process run."""

from __future__ import annotations

from pathlib import Path

import pytest

from avssl.testing import finish, kill_after_step, launch_recipe, logged_losses

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "av_contrastive.py"
pytestmark = pytest.mark.slow


def _args(data, out):
    return [
        "--config",
        str(ROOT / "recipes/configs/av_contrastive.yaml"),
        f"data.root={data}",
        f"output_dir={out}",
        "train.max_steps=20",
        "train.batch_size=4",
        "data.size=48",
        "data.fps=2",
        "train.checkpoint_every=10",
        "train.log_every=1",
        "train.progress_bar=false",
        "data.num_workers=1",
        "model.visual.name=small",
        "model.audio.name=audio_small",
        "optim.lr=0.001",
    ]


@pytest.fixture(scope="module")
def uninterrupted(vggsound_synth, tmp_path_factory):
    """Losses of an uninterrupted 2-process torchrun run."""
    run = tmp_path_factory.mktemp("full")
    finish(launch_recipe("torchrun", RECIPE, _args(vggsound_synth, run), cwd=ROOT))
    return logged_losses(run)


@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_kill_and_resume_gives_the_uninterrupted_losses(launcher, uninterrupted, vggsound_synth, tmp_path):
    """Also shows the two launchers run the same computation: both match the torchrun run."""
    run = tmp_path / "cut"
    kill_after_step(launch_recipe(launcher, RECIPE, _args(vggsound_synth, run), cwd=ROOT), run, 12)
    assert (run / "checkpoints" / "step_10").is_dir()
    assert not (run / "checkpoints" / "step_20").exists()
    finish(launch_recipe(launcher, RECIPE, _args(vggsound_synth, run), cwd=ROOT))
    a, b = uninterrupted, logged_losses(run)
    assert sorted(b) == list(range(1, 21))
    # steps 11-12 ran twice (before the kill and after the resume): the log keeps the resumed values
    for step in range(1, 21):
        assert b[step] == pytest.approx(a[step], abs=1e-5), step
    assert (run / "model" / "model.safetensors").is_file()
