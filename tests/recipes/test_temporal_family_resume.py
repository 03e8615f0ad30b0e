"""The temporal family's recipes resume exactly: a run killed (SIGKILL) after step 12 resumes from its step-10
checkpoint and ends with the uninterrupted run's losses and weights — ConST-CL (its random boxes come from
the global RNG, restored with the checkpoint; region term at weight 1 so it matters) and CARL (frame
timestamps from the views' recorded times), on the video learning tests' synthetic set."""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors.torch import load_file

from avssl.testing import finish, kill_after_step, launch_recipe, logged_losses
from avssl.train.logging import read_metrics

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
RECIPES = {"constcl": ("model.local_weight=1",), "carl": ()}


def _args(recipe: str, data, out) -> list[str]:
    return [
        "--config", str(ROOT / "recipes" / "configs" / f"{recipe}.yaml"), f"data.root={data}",
        f"output_dir={out}", "train.max_steps=16", "train.batch_size=4", "data.size=32",
        "train.checkpoint_every=10", "train.log_every=1", "train.progress_bar=false", "data.num_workers=1",
        "eval.evaluators=[]", *RECIPES[recipe],
    ]  # fmt: skip


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_kill_and_resume_gives_the_uninterrupted_run(recipe, video_bench, tmp_path) -> None:
    script = ROOT / "recipes" / f"{recipe}.py"
    full, cut = tmp_path / "full", tmp_path / "cut"
    finish(launch_recipe("python", script, _args(recipe, video_bench.data, full), cwd=ROOT))
    kill_after_step(launch_recipe("python", script, _args(recipe, video_bench.data, cut), cwd=ROOT), cut, 12)
    assert (cut / "checkpoints" / "step_10").is_dir()
    finish(launch_recipe("python", script, _args(recipe, video_bench.data, cut), cwd=ROOT))
    a, b = logged_losses(full), logged_losses(cut)
    assert sorted(b) == list(range(1, 17))
    for step in range(1, 17):
        assert b[step] == pytest.approx(a[step], abs=1e-5), step
    if recipe == "constcl":  # the region term was trained
        assert all("loss/local" in row for row in read_metrics(full) if "loss" in row)
    x, y = load_file(full / "model" / "model.safetensors"), load_file(cut / "model" / "model.safetensors")
    assert x.keys() == y.keys()
    for key in x:
        assert (x[key].double() - y[key].double()).abs().max() <= 1e-5, key
