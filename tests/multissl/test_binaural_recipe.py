"""recipes/binaural_multissl.py end to end on a tiny synthetic FAIR-Play set: joint and incremental runs,
per-stage run directories and evaluation, and per-stage resume (finished stages skipped)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from avssl.data.synthetic.layouts import SynthSpec, write_synthetic
from recipes.binaural_multissl import main

CONFIGS = Path(__file__).resolve().parents[2] / "recipes" / "configs"
TINY = [
    "data.size=32",
    "data.num_workers=0",
    "train.batch_size=2",
    "train.progress_bar=false",
    "train.log_every=1",
    "eval.repeats=1",
]


@pytest.fixture(scope="module")
def fairplay(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fairplay")
    write_synthetic("fairplay", root, SynthSpec(n=8, seed=2, size=48, fps=8, duration_s=4.0, num_classes=4))
    return root


def test_joint_run_trains_evaluates_and_exports(fairplay, tmp_path) -> None:
    out = tmp_path / "joint"
    result = main(
        [
            "--config",
            str(CONFIGS / "binaural_multissl_joint.yaml"),
            f"data.root={fairplay}",
            f"output_dir={out}",
            "train.max_steps=2",
            "model.strategy.uncertainty=true",
            *TINY,
        ]
    )
    assert (out / "model" / "model.safetensors").is_file()
    evaluation = json.loads((out / "eval.json").read_text())
    assert set(evaluation["pretext"]) == {"spatial", "sync", "gap"}
    assert evaluation["pretext"]["gap"]["chance"] == pytest.approx(100 / 3)
    assert set(evaluation["probe"]) == {"visual", "audio"}  # synthetic labels from synth_gt.json
    assert result["train"][0]["loss/gap"] > 0


def test_incremental_stages_have_their_own_runs_and_resume_per_stage(fairplay, tmp_path) -> None:
    out = tmp_path / "incremental"
    args = [
        "--config",
        str(CONFIGS / "binaural_multissl_incremental.yaml"),
        f"data.root={fairplay}",
        f"output_dir={out}",
        "eval.probe=false",
        "train.checkpoint_every=2",
        *TINY,
        "stages=[{name: spatial, pretexts: [spatial], max_steps: 2}, {name: gap, pretexts: [gap], max_steps: 4}]",
    ]
    first = main(args)
    dirs = [out / "stages" / "00_spatial", out / "stages" / "01_gap"]
    assert [r["skipped"] for r in first["train"]] == [False, False]
    for d in dirs:
        assert (d / "model" / "model.safetensors").is_file() and (d / "checkpoints").is_dir()
    second_cfg = yaml.safe_load((dirs[1] / "config.yaml").read_text())
    assert second_cfg["stage"]["teacher"] == str(dirs[0]) and "teacher" not in second_cfg["model"]
    assert second_cfg["model"]["strategy"]["pretexts"] == ["gap"]
    assert "loss/distill_out" in first["train"][1] and "loss/replay" in first["train"][1]
    last_eval = json.loads((dirs[1] / "eval.json").read_text())
    assert list(last_eval["pretext"]) == ["spatial", "gap"]  # forgetting: task 1 scored after stage 2
    # the last stage "interrupted" after its final checkpoint: stage 1 is skipped, stage 2 resumes
    shutil.rmtree(dirs[1] / "model")
    again = main(args)
    assert [r["skipped"] for r in again["train"]] == [True, False]
    assert (dirs[1] / "model" / "model.safetensors").is_file()
    assert sorted(p.name for p in (dirs[1] / "checkpoints").iterdir()) == ["step_2", "step_4"]
