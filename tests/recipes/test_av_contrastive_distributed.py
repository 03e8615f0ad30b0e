"""Two real processes on CPU (gloo): torchrun and `accelerate launch --multi_gpu` run the recipe unchanged;
a torchrun run killed after step 12 resumes from its step-10 checkpoint and finishes with the same losses
as an uninterrupted two-process run."""

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


def _torchrun(data, out):
    cmd = [
        str(BIN / "torchrun"),
        "--nproc_per_node",
        "2",
        "--master_port",
        str(29500 + os.getpid() % 1000),
        RECIPE,
        *_args(data, out),
    ]
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _losses(run):
    return {m["step"]: m["loss"] for m in read_metrics(run)}


def test_torchrun_kill_resume_and_accelerate_launch(vggsound_synth, tmp_path):
    full = _torchrun(vggsound_synth, tmp_path / "full")
    out, _ = full.communicate(timeout=600)
    assert full.returncode == 0, out[-3000:]

    cut = _torchrun(vggsound_synth, tmp_path / "cut")
    deadline = time.time() + 600
    while time.time() < deadline and not any(m["step"] >= 12 for m in read_metrics(tmp_path / "cut")):
        assert cut.poll() is None, cut.stdout.read()[-3000:]
        time.sleep(0.05)
    os.killpg(cut.pid, signal.SIGKILL)
    cut.wait()
    assert (tmp_path / "cut" / "checkpoints" / "step_10").is_dir()
    again = _torchrun(vggsound_synth, tmp_path / "cut")
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out[-3000:]
    a, b = _losses(tmp_path / "full"), _losses(tmp_path / "cut")
    assert sorted(b) == list(range(1, 21))
    for step in range(11, 21):
        assert b[step] == pytest.approx(a[step], abs=1e-5), step

    launch = subprocess.run(
        [
            str(BIN / "accelerate"),
            "launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--main_process_port",
            str(30500 + os.getpid() % 1000),
            RECIPE,
            *_args(vggsound_synth, tmp_path / "acc"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert launch.returncode == 0, launch.stdout[-2000:] + launch.stderr[-3000:]
    c = _losses(tmp_path / "acc")
    assert sorted(c) == list(range(1, 21))
    for step in range(1, 21):
        assert c[step] == pytest.approx(a[step], abs=1e-5), step
