"""`train.mixed_precision` through the runner on CPU: SSL-TIE (the demo's CPU-scale config) trains a few
steps under bf16 autocast — checked inside the task's forward, not assumed — with finite losses, and the
periodic and final localization evaluations run on the prepared model. fp16 (GradScaler) likewise where
Accelerate autocasts fp16 on the CPU; where it does not (Accelerate 1.x trains fp16 on a CPU in fp32), the
loop must warn and the test is skipped with that reason (fp16 is checked on CUDA by tools/gpu_check.py)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest
import torch

import avssl.runner.run as runner
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic

CONFIG = Path(runner.__file__).resolve().parents[1] / "configs" / "demo_ssl_tie.yaml"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("mp_data")
    write_synthetic("vggsound", root / "train", SynthSpec(n=8, seed=0, size=64, num_classes=4))
    write_synthetic("flickr", root / "test", SynthSpec(n=3, seed=1, num_classes=4))
    return root


def _autocast_recorder(monkeypatch) -> list:
    """build_task patched so that the task's forward records (autocast on?, autocast dtype) on the CPU."""
    seen, build = [], runner.build_task

    def recording_build(name, model_cfg):
        task = build(name, model_cfg)
        forward = task.forward

        def recorded(batch):
            seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
            return forward(batch)

        task.forward = recorded
        return task

    monkeypatch.setattr(runner, "build_task", recording_build)
    return seen


def _train(data: Path, run: Path, precision: str) -> dict:
    torch.set_num_threads(1)
    args = [
        "--config", str(CONFIG), f"output_dir={run}", f"data.root={data / 'train'}", f"eval.root={data / 'test'}",
        "data.size=32", "data.num_workers=0", "train.batch_size=4", "train.max_steps=3", "train.log_every=1",
        "train.progress_bar=false", "eval.every=2", f"train.mixed_precision={precision}",
    ]  # fmt: skip
    return runner.run_recipe(args, default_task="ssl_tie")


@pytest.mark.parametrize("precision,dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_mixed_precision_trains_and_evaluates(precision, dtype, data, tmp_path, monkeypatch):
    seen = _autocast_recorder(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = _train(data, tmp_path / precision, precision)
    assert seen
    if not any(enabled for enabled, _ in seen):
        # the loop must have said so (Accelerate runs fp16 on a CPU as fp32): a skip with the reason, not silence
        said = [str(w.message) for w in caught if f"mixed_precision={precision}" in str(w.message)]
        assert said, f"{precision} ran without autocast and without a warning"
        print(said[0])
        pytest.skip(f"{precision} autocast unsupported here: {said[0]}")
    assert all(enabled and got == dtype for enabled, got in seen), seen
    rows = [json.loads(line) for line in (tmp_path / precision / "metrics.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in rows if "loss" in row]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses), rows
    final = out["eval"][str(tmp_path / precision)]
    assert 0 <= final["cIoU"] <= 100 and (tmp_path / precision / "eval_step_2.json").is_file()
