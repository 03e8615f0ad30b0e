"""An incremental run with a replay memory under torchrun, 2 gloo processes: rank 0 fills the memory
between stages while rank 1 waits at the barrier, both load it, and every stage finishes and exports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from avssl.data.synthetic.layouts import SynthSpec, write_synthetic
from avssl.stages.replay import MEMORY_FILE, ReplayMemory
from avssl.testing import free_port
from avssl.train.logging import read_metrics

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.slow
def test_two_process_incremental_run_with_replay_memory(tmp_path) -> None:
    data, out = tmp_path / "data", tmp_path / "run"
    write_synthetic("fairplay", data, SynthSpec(n=10, seed=3, size=32, fps=8, duration_s=4.0, num_classes=2))
    stages = "stages=[{name: spatial, pretexts: [spatial], max_steps: 2}, {name: gap, pretexts: [gap], max_steps: 3}]"
    command = [
        str(BIN / "torchrun"),
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
        str(ROOT / "recipes" / "binaural_multissl.py"),
        "--config",
        str(ROOT / "recipes/configs/binaural_multissl_incremental.yaml"),
        f"data.root={data}",
        f"output_dir={out}",
        stages,
        "data.size=32",
        "data.num_workers=0",
        "train.batch_size=2",
        "train.progress_bar=false",
        "train.log_every=1",
        "eval.split=null",
        "model.distill.replay_buffer=4",
        "model.distill.replay_batch=2",
    ]
    proc = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    second = out / "stages" / "01_gap"
    for stage in (out / "stages" / "00_spatial", second):
        assert (stage / "model" / "model.safetensors").is_file()
    memory = ReplayMemory.load(second / MEMORY_FILE)
    assert memory.stage.tolist() == [0, 0, 0, 0] and memory.tensors["audio"].shape[1] == 2
    logged = [m for m in read_metrics(second) if "loss" in m]
    assert [m["step"] for m in logged] == [1, 2, 3] and all("loss/replay" in m for m in logged)
