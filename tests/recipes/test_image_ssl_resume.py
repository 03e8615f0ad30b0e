"""image_ssl resumes exactly and trains under 2 processes: with BG_Swaps (donor derangements from the global
RNG, restored with the checkpoint) on TOBIAS's saliency-grid masks (computed in the data workers), a run
killed (SIGKILL) after step 12 resumes from its step-10 checkpoint and ends with the uninterrupted run's
losses and weights, queue included; under `torchrun` with 2 gloo processes the same recipe trains (the
MoCo queue takes both ranks' keys) and the background augmentation changes views on every rank."""

from __future__ import annotations

from pathlib import Path

import pytest

from avssl.data.synthetic.images import ImageSynthSpec, write_image_folder
from avssl.testing import assert_resume_is_exact, finish, launch_recipe
from avssl.train.logging import read_metrics

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "image_ssl.py"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    spec = ImageSynthSpec(size=32, objects=(1, 2), background="stripes", background_p=0.8)
    return write_image_folder(tmp_path_factory.mktemp("imgs"), {"train": 48, "val": 16}, spec=spec)


def _args(data, out, steps: int = 16) -> list[str]:
    return [
        "--config", str(ROOT / "recipes" / "configs" / "image_ssl.yaml"), f"data.root={data}",
        f"output_dir={out}", f"train.max_steps={steps}", "train.batch_size=8", "data.size=32",
        "model.queue_size=32", "views=bg_swaps", "data.masks=saliency_grid", "train.checkpoint_every=10",
        "train.log_every=1", "train.progress_bar=false", "data.num_workers=1", "eval.evaluators=[]",
    ]  # fmt: skip


def test_kill_and_resume_gives_the_uninterrupted_run(images, tmp_path) -> None:
    x, y = assert_resume_is_exact(RECIPE, lambda run: _args(images, run), tmp_path, ROOT)
    assert "queue.keys" in x


def test_two_processes_train_with_background_swaps(images, tmp_path) -> None:
    run = tmp_path / "ddp"
    finish(launch_recipe("torchrun", RECIPE, _args(images, run, steps=6), cwd=ROOT))
    rows = [row for row in read_metrics(run) if "loss" in row]
    assert [row["step"] for row in rows] == list(range(1, 7))
    assert all(row["bg/changed"] > 0 for row in rows) and all(row["loss"] == row["loss"] for row in rows)


@pytest.mark.parametrize(
    "extra,log",
    [
        (("method=swav", "model.swav_queue_size=32", "model.prototypes=16"), "swav/queue"),
        (("views=multicrop_nn", "model.nn_positives=4"), "loss/nn"),
        (("views=insloc_robust",), "loss/moco"),
        (("method=swav", "model.prototypes=16", "model.cross_attention=true"), "loss/cross"),
    ],
)
def test_two_processes_swav_queue_and_nearest_neighbours(images, tmp_path, extra, log) -> None:
    """SwAV's queue (global batch 16: full after 2 steps, then used), MoCo's NN support set (the queue,
    filled with both ranks' keys), InsLoc's robust views (RoIAlign on key feature maps shuffled across
    the ranks and back) and SwAV's spatial cross-attention add-on under 2 processes."""
    run = tmp_path / "ddp"
    args = [a for a in _args(images, run, steps=6) if a not in ("views=bg_swaps", "data.masks=saliency_grid")]
    finish(launch_recipe("torchrun", RECIPE, [*args, *extra], cwd=ROOT))
    rows = [row for row in read_metrics(run) if "loss" in row]
    assert [row["step"] for row in rows] == list(range(1, 7)) and all(
        row["loss"] == row["loss"] for row in rows
    )
    if log == "swav/queue":
        assert [row[log] for row in rows] == [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    else:
        assert all(row[log] > 0 for row in rows)
    if "views=insloc_robust" in extra:  # the queue took both ranks' keys: 6 steps × 16 = 96 ≥ 32 slots
        assert all(row["acc/moco"] == row["acc/moco"] for row in rows)
