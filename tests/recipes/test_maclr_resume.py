"""MaCLR's recipe — two MoCo pathways, so two momentum key encoders and two queues of keys: the resume state
the video methods add — runs unchanged as `python`, under `torchrun` and under `accelerate launch
--multi_gpu` (2 gloo processes on CPU). A run killed (SIGKILL) after step 12 resumes from its step-10
checkpoint and ends with the uninterrupted run's losses and final weights, queues (keys and write pointer)
and key encoders included (on the video learning tests' synthetic set, `video_bench`). Under 2 processes
the key encoders see the global batch shuffled across ranks (shuffling BN,
`avssl.distributed.shuffle_across_ranks`): switching it off changes the first loss.

Measured here (2 cores shared with other jobs, load average 4-6): 93 s in all — the set 2 s, the
single-process test 19 s, the 2-process ones 19 s (the torchrun run) + 36 s (accelerate, killed and
resumed) + 17 s (without shuffling). Can fail: with the queues' write pointer left out of the checkpoint,
the resumed single-process run's loss differs from step 12 on (9.954 vs 9.990).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from avssl.testing import finish, kill_after_step, launch_recipe, logged_losses
from avssl.train.logging import read_metrics
from recipes.maclr import main

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "maclr.py"
pytestmark = pytest.mark.slow
STATE = ("visual.queue.keys", "visual.queue.ptr", "motion.queue.keys", "motion.queue.ptr")


def _args(data, out, *extra):
    return [
        "--config",
        ROOT / "recipes/configs/maclr.yaml",
        f"data.root={data}",
        f"output_dir={out}",
        "train.max_steps=24",
        "train.batch_size=4",
        "data.size=32",
        "train.checkpoint_every=10",
        "train.log_every=1",
        "train.progress_bar=false",
        "data.num_workers=1",
        "eval.evaluators=[]",
        *extra,
    ]


def _cut_and_resume(launcher, data, run):
    kill_after_step(launch_recipe(launcher, RECIPE, _args(data, run), cwd=ROOT), run, 12)
    assert (run / "checkpoints" / "step_10").is_dir()
    assert not (run / "checkpoints" / "step_20").exists()
    finish(launch_recipe(launcher, RECIPE, _args(data, run), cwd=ROOT))


def _assert_same_run(full, cut):
    a, b = logged_losses(full), logged_losses(cut)
    assert sorted(b) == list(range(1, 25))
    for step in range(1, 25):  # steps 11-12 ran twice: the log keeps the resumed values
        assert b[step] == pytest.approx(a[step], abs=1e-5), step
    x, y = load_file(full / "model" / "model.safetensors"), load_file(cut / "model" / "model.safetensors")
    assert set(STATE) <= set(x) and any(k.startswith("motion.key_encoder.") for k in x)
    assert x.keys() == y.keys()
    for key in x:
        assert (x[key].double() - y[key].double()).abs().max() <= 1e-5, key


def test_python_kill_and_resume_gives_the_uninterrupted_run(video_bench, tmp_path):
    """The uninterrupted run in this process (one thread, as the launched ones), the cut one launched."""
    torch.set_num_threads(1)
    main([str(a) for a in _args(video_bench.data, tmp_path / "full")])
    _cut_and_resume("python", video_bench.data, tmp_path / "cut")
    _assert_same_run(tmp_path / "full", tmp_path / "cut")


@pytest.fixture(scope="module")
def torchrun_run(video_bench, tmp_path_factory):
    """An uninterrupted 2-process torchrun run."""
    run = tmp_path_factory.mktemp("maclr_full")
    finish(launch_recipe("torchrun", RECIPE, _args(video_bench.data, run), cwd=ROOT))
    return run


def test_accelerate_kill_and_resume_gives_the_torchrun_run(torchrun_run, video_bench, tmp_path):
    """Also shows the two launchers run the same computation."""
    _cut_and_resume("accelerate", video_bench.data, tmp_path / "cut")
    _assert_same_run(torchrun_run, tmp_path / "cut")


def test_two_processes_shuffle_the_key_encoders_batch(torchrun_run, video_bench, tmp_path):
    """At step 1 the key encoders are copies of the query encoders: with the keys handed back in each
    rank's order the positives still win (intra-modal terms near 0, far below ln 33 ≈ 3.5 for a key that
    is another video's), while the key encoders' BatchNorm statistics came from other samples than without
    the shuffle, so the loss differs."""
    args = _args(video_bench.data, tmp_path / "plain", "train.max_steps=1", "model.shuffle_bn=false")
    finish(launch_recipe("torchrun", RECIPE, args, cwd=ROOT))
    shuffled, plain = read_metrics(torchrun_run)[0], read_metrics(tmp_path / "plain")[0]
    assert shuffled["step"] == plain["step"] == 1
    for term in ("loss/visual", "loss/motion"):
        assert shuffled[term] < 1.0 and plain[term] < 1.0, term
    assert abs(shuffled["loss"] - plain["loss"]) > 1e-4
