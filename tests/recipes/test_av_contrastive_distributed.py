"""Two real processes on CPU (gloo): torchrun and `accelerate launch --multi_gpu` run the recipe unchanged;
a run killed after step 12 (under either launcher) resumes from its step-10 checkpoint and finishes with
the same losses as an uninterrupted two-process run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from avssl.train.logging import read_metrics

ROOT = Path(__file__).resolve().parents[2]
RECIPE = str(ROOT / "recipes" / "av_contrastive.py")
BIN = Path(sys.executable).parent
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


def _launch(launcher, data, out):
    """The recipe in 2 gloo processes, started by `torchrun` or by `accelerate launch --multi_gpu`."""
    port = str((29500 if launcher == "torchrun" else 30500) + os.getpid() % 1000)
    if launcher == "torchrun":
        prefix = [str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", port]
    else:
        prefix = [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2"]
        prefix += ["--main_process_port", port]
    return subprocess.Popen(
        [*prefix, RECIPE, *_args(data, out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _finish(proc):
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]


def _kill_after_step_12_and_resume(launcher, data, run):
    """Start, SIGKILL the whole process group once step 12 is logged, rerun the same command."""
    cut = _launch(launcher, data, run)
    deadline = time.time() + 600
    while time.time() < deadline and not any(m["step"] >= 12 for m in read_metrics(run)):
        assert cut.poll() is None, cut.stdout.read()[-3000:]
        time.sleep(0.05)
    os.killpg(cut.pid, signal.SIGKILL)
    cut.wait()
    assert (run / "checkpoints" / "step_10").is_dir()
    assert not (run / "checkpoints" / "step_20").exists()
    _finish(_launch(launcher, data, run))


def _losses(run):
    return {m["step"]: m["loss"] for m in read_metrics(run)}


@pytest.fixture(scope="module")
def uninterrupted(vggsound_synth, tmp_path_factory):
    """Losses of an uninterrupted 2-process torchrun run."""
    run = tmp_path_factory.mktemp("full")
    _finish(_launch("torchrun", vggsound_synth, run))
    return _losses(run)


@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_kill_and_resume_gives_the_uninterrupted_losses(launcher, uninterrupted, vggsound_synth, tmp_path):
    """Also shows the two launchers run the same computation: both match the torchrun run."""
    _kill_after_step_12_and_resume(launcher, vggsound_synth, tmp_path / "cut")
    a, b = uninterrupted, _losses(tmp_path / "cut")
    assert sorted(b) == list(range(1, 21))
    # steps 11-12 ran twice (before the kill and after the resume): the log keeps the resumed values
    for step in range(1, 21):
        assert b[step] == pytest.approx(a[step], abs=1e-5), step
    assert (tmp_path / "cut" / "model" / "model.safetensors").is_file()
