"""cyborgs resumes exactly, trains under 2 processes and survives bad images:

* a run killed (SIGKILL) after step 12 resumes from its step-10 checkpoint and ends with the uninterrupted
  run's losses and weights — the segment bank and its rounds included (the bank is module state, in the
  checkpoint; refresh round 2 starts at the 12th step, after the restore);
* under `torchrun` with 2 gloo processes the keys are gathered (`tests/losses/test_detcon.py` checks the
  loss itself) and each rank's new bank entries reach every rank: the saved bank holds every image;
* a corrupt training image is replaced and counted (`bad_items`); the segment evaluation names the file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from avssl.data.decoding import MediaError
from avssl.data.synthetic.images import ImageSynthSpec, write_image_folder
from avssl.runner.cyborgs_data import segment_report
from avssl.tasks.cyborgs import CYBORGS, CYBORGSConfig
from avssl.testing import assert_resume_is_exact, finish, launch_recipe
from avssl.train.logging import read_metrics

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "cyborgs.py"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    spec = ImageSynthSpec(size=32, objects=(1, 3))
    return write_image_folder(tmp_path_factory.mktemp("imgs"), {"train": 48, "val": 8}, spec=spec)


def _args(data, out, steps: int = 16) -> list[str]:
    return [
        "--config", str(ROOT / "recipes" / "configs" / "cyborgs.yaml"), f"data.root={data}",
        f"output_dir={out}", f"train.max_steps={steps}", "train.batch_size=8", "data.size=32",
        "model.mask_size=32", "model.bootstrap_start=6", "model.refresh_every=5", "train.checkpoint_every=10",
        "train.log_every=1", "train.progress_bar=false", "data.num_workers=1", "eval.evaluators=[]",
    ]  # fmt: skip


def test_kill_and_resume_gives_the_uninterrupted_run(images, tmp_path) -> None:
    x, y = assert_resume_is_exact(RECIPE, lambda run: _args(images, run), tmp_path, ROOT)
    assert x["bank_round"].max() == 2  # rounds 0 (superpixels), 1, 2
    assert torch.equal(x["bank"], y["bank"]) and torch.equal(x["bank_round"], y["bank_round"])


def test_two_processes_share_the_segment_bank(images, tmp_path) -> None:
    run = tmp_path / "ddp"
    finish(launch_recipe("torchrun", RECIPE, _args(images, run, steps=8), cwd=ROOT))
    rows = [row for row in read_metrics(run) if "loss" in row]
    assert [row["step"] for row in rows] == list(range(1, 9)) and all(
        row["loss"] == row["loss"] for row in rows
    )
    bank = load_file(run / "model" / "model.safetensors")
    # 8 steps × 2 ranks × 8 images > 2 epochs of 48: rank 1's entries are in rank 0's saved bank too
    assert bank["bank_round"].shape == (48,) and bool((bank["bank_round"] >= 0).all())
    assert int(bank["bank_round"].max()) == 1  # round 1 from the 7th step on both ranks


def test_a_corrupt_image_is_counted_in_training_and_named_in_evaluation(images, tmp_path) -> None:
    from recipes.cyborgs import main

    data = tmp_path / "data"
    shutil.copytree(images, data)
    sorted((data / "train").rglob("*.png"))[3].write_bytes(b"not a png")
    torch.set_num_threads(1)
    out = main([*_args(data, tmp_path / "run", steps=8), "data.num_workers=0"])
    assert out["train"][-1]["bad_items"] == 1 and out["train"][-1]["skipped_steps"] == 0
    # `avssl eval segments` on the trained run: the report of the run's own model
    from avssl.cli import main as cli
    from avssl.inference.load import load_run

    run, seg = tmp_path / "run", tmp_path / "seg.json"
    assert cli(["eval", "segments", "--run", str(run), "--data", str(data), "--out", str(seg)]) == 0
    written = json.loads(seg.read_text())
    assert written == pytest.approx(segment_report(load_run(str(run), "cpu")[0].eval(), str(data), "val"))
    assert written["images"] == 8 and written["bootstrapped"] > 0
    assert cli(["eval", "segments", "--run", str(run), "--data", str(tmp_path), "--out", str(seg)]) == 2
    assert cli(["eval", "segments", "--run", str(images), "--data", str(data), "--out", str(seg)]) == 2
    broken = sorted((data / "val").rglob("*.png"))[2]
    broken.write_bytes(b"broken")
    task = CYBORGS(CYBORGSConfig(mask_size=32, hidden_dim=16, embed_dim=8))
    with pytest.raises(MediaError, match=str(broken)):
        segment_report(task, str(data), "val")
    assert cli(["eval", "segments", "--run", str(run), "--data", str(data), "--out", str(seg)]) == 2
