"""SaDL-CD's recipe resumes exactly, trains under 2 processes and skips bad input: a run killed (SIGKILL)
after step 12 resumes from its step-10 checkpoint and ends with the uninterrupted run's losses and weights;
under `torchrun` with 2 gloo processes it trains (finite losses, valid points on every step); a missing B/
image and a semantic mask of another size are counted bad items of the training run (a stand-in is
loaded, the run ends), and a tree without mask folders is one clear error naming the folder and the fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from avssl.data.annotations import AnnotationError
from avssl.data.synthetic.change import ChangeSynthSpec, write_change_detection
from avssl.testing import assert_resume_is_exact, finish, launch_recipe
from avssl.train.logging import read_metrics
from recipes.sadl import main

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "sadl.py"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("levir")
    return write_change_detection(out, {"train": 24, "test": 8}, ChangeSynthSpec(size=32, seed=3))


def _args(data, out, steps: int = 16) -> list[str]:
    return [
        "--config", str(ROOT / "recipes" / "configs" / "sadl.yaml"), f"data.root={data}", f"output_dir={out}",
        f"train.max_steps={steps}", "train.batch_size=8", "data.size=32", "data.points_per_class=8",
        "train.checkpoint_every=10", "train.log_every=1", "train.progress_bar=false", "data.num_workers=1",
        "eval.evaluators=[]",
    ]  # fmt: skip


def test_kill_and_resume_gives_the_uninterrupted_run(tree, tmp_path) -> None:
    x, y = assert_resume_is_exact(RECIPE, lambda run: _args(tree, run), tmp_path, ROOT)
    assert any(k.startswith("projector.") for k in x)


def test_two_processes_train(tree, tmp_path) -> None:
    run = tmp_path / "ddp"
    finish(launch_recipe("torchrun", RECIPE, _args(tree, run, steps=6), cwd=ROOT))
    rows = [row for row in read_metrics(run) if "loss" in row]
    assert [row["step"] for row in rows] == list(range(1, 7))
    assert all(row["loss"] == row["loss"] and row["points/valid"] > 0.5 for row in rows)


def test_bad_input_is_counted_in_training_and_missing_masks_are_named(tree, tmp_path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(tree, bad)
    (bad / "train" / "B" / "train_3.png").unlink()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(bad / "train" / "semantic" / "A" / "train_5.png")
    args = [*_args(bad, tmp_path / "run", steps=6), "data.max_bad_fraction=0.5"]  # one epoch
    torch.set_num_threads(1)
    assert main(args[2:] + ["--config", args[1]])["train"][0]["bad_items"] == 2
    shutil.rmtree(bad / "train" / "semantic" / "B")  # one date's masks missing: named before training
    with pytest.raises(AnnotationError, match="semantic/B: no semantic mask folder for date B"):
        main(["--config", args[1], *args[2:], f"output_dir={tmp_path / 'no_b'}"])
    shutil.rmtree(bad / "train" / "semantic")
    proc = launch_recipe("python", RECIPE, _args(bad, tmp_path / "none", steps=2), cwd=ROOT)
    text, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert "semantic/A" in text and "data.semantic_masks=saliency" in text
