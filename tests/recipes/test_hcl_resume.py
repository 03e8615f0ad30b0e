"""hcl resumes exactly, trains under 2 processes and survives bad images:

* a run killed (SIGKILL) after step 12 resumes from its step-10 checkpoint and ends with the uninterrupted
  run's losses and weights, the queue of object keys included;
* under `torchrun` with 2 gloo processes the scene–object term sees both ranks' objects (gathered with
  gradients, padding slots masked) and the queue takes both ranks' keys;
* a corrupt training image is replaced and counted (`bad_items`); scene → object retrieval names the file.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from avssl.data.decoding import MediaError
from avssl.data.synthetic.images import ImageSynthSpec, write_image_folder
from avssl.modules.momentum import MemoryQueue
from avssl.runner.evaluators import EVALUATORS
from avssl.runner.hcl_data import HCLDataConfig
from avssl.runner.image_recipes import ImageEvalConfig
from avssl.tasks.hcl import HCL, HCLConfig
from avssl.testing import assert_resume_is_exact, finish, launch_recipe
from avssl.train.logging import read_metrics

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "hcl.py"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    spec = ImageSynthSpec(size=32, objects=(1, 3))
    return write_image_folder(tmp_path_factory.mktemp("imgs"), {"train": 48, "val": 8}, spec=spec)


def _args(data, out, steps: int = 16) -> list[str]:
    return [
        "--config", str(ROOT / "recipes" / "configs" / "hcl.yaml"), f"data.root={data}", f"output_dir={out}",
        f"train.max_steps={steps}", "train.batch_size=8", "data.size=32", "data.object_size=16",
        "data.objects=annotations", "model.queue_size=32", "train.checkpoint_every=10", "train.log_every=1",
        "train.progress_bar=false", "data.num_workers=1", "eval.evaluators=[]",
    ]  # fmt: skip


def test_kill_and_resume_gives_the_uninterrupted_run(images, tmp_path) -> None:
    x, y = assert_resume_is_exact(RECIPE, lambda run: _args(images, run), tmp_path, ROOT)
    assert "queue.keys" in x


def test_two_processes_gather_objects_and_keys(images, tmp_path) -> None:
    run = tmp_path / "ddp"
    finish(launch_recipe("torchrun", RECIPE, _args(images, run, steps=3), cwd=ROOT))
    rows = [row for row in read_metrics(run) if "loss" in row]
    assert [row["step"] for row in rows] == list(range(1, 4))
    assert all(
        row["loss/hyperbolic"] == row["loss/hyperbolic"] and row["loss/hyperbolic"] > 0 for row in rows
    )
    saved = load_file(run / "model" / "model.safetensors")
    initial = MemoryQueue(128, 32, seed=1).keys  # the task's queue before any key
    # 3 steps × 2 ranks × 8 keys = 48: every one of the 32 slots rewritten (one rank alone: 24), pointer at 48 mod 32
    assert int(saved["queue.ptr"]) == 16
    assert not torch.isclose(saved["queue.keys"], initial).all(dim=1).any()


def test_a_corrupt_image_is_counted_in_training_and_named_in_retrieval(images, tmp_path) -> None:
    from recipes.hcl import main

    data = tmp_path / "data"
    shutil.copytree(images, data)
    sorted((data / "train").rglob("*.png"))[3].write_bytes(b"not a png")
    torch.set_num_threads(1)
    out = main([*_args(data, tmp_path / "run", steps=8), "data.num_workers=0"])
    assert out["train"][-1]["bad_items"] == 1 and out["train"][-1]["skipped_steps"] == 0
    broken = sorted((data / "val").rglob("*.png"))[2]
    broken.write_bytes(b"broken")
    cfg = SimpleNamespace(
        data=HCLDataConfig(root=str(data), size=32, object_size=16, objects="annotations", num_workers=0),
        eval=ImageEvalConfig(split="val"),
    )
    with pytest.raises(MediaError, match=str(broken)):
        EVALUATORS["scene_object_retrieval"](HCL(HCLConfig(queue_size=16)), cfg, tmp_path)
