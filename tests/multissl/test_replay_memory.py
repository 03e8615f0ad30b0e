"""Replay buffer of incremental multi-SSL: the memory's per-stage shares, its file round trip, rehearsal on
stored clips (not on the current batch), and an incremental run killed in the middle of a stage that
resumes to the uninterrupted run's losses and weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from avssl.data.datasets.base import BadItem
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic
from avssl.stages.replay import MEMORY_FILE, ReplayMemory, fill_memory
from avssl.stages.teacher import load_teacher
from avssl.tasks.binaural_multissl import BinauralMultiSSL, BinauralMultiSSLConfig
from avssl.tasks.multissl_common import DistillConfig, StrategyConfig
from avssl.train.logging import read_metrics

ROOT = Path(__file__).resolve().parents[2]


class Clips:
    """A training-set stand-in: item i has video filled with i; item 3 is unreadable."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, key):
        index, _epoch = key
        if index == 3:
            return BadItem(index=3, path="clip3.mp4", reason="broken")
        return {
            "video": torch.full((3, 2, 4, 4), float(index)),
            "audio": torch.zeros(2, 80),
            "sample_rate": 16000,
            "meta": {"id": str(index)},
        }


def _ids(memory: ReplayMemory) -> list[int]:
    return [int(v) for v in memory.tensors["video"][:, 0, 0, 0, 0]]


def test_memory_shares_per_stage_skip_bad_clips_and_round_trip(tmp_path) -> None:
    first = fill_memory(Clips(), capacity=6, stage=1, previous=None, seed=0)
    assert len(first) == 6 and first.stage.tolist() == [0] * 6 and 3 not in _ids(first)
    assert len(set(_ids(first))) == 6 and first.extras == {"sample_rate": 16000}
    assert set(first.tensors) == {"video", "audio"}
    second = fill_memory(Clips(), capacity=6, stage=2, previous=first, seed=0)
    assert second.stage.tolist() == [0, 0, 0, 1, 1, 1]  # capacity // 2 for each earlier stage
    assert _ids(second)[:3] == _ids(first)[:3]  # stage 0's clips are kept, not redrawn
    second.save(tmp_path / MEMORY_FILE)
    assert [p.name for p in tmp_path.iterdir()] == [MEMORY_FILE]  # no temp file left
    loaded = ReplayMemory.load(tmp_path / MEMORY_FILE)
    assert torch.equal(loaded.tensors["video"], second.tensors["video"]) and loaded.extras == second.extras
    torch.manual_seed(0)
    batch = loaded.sample(5)
    assert batch["video"].shape == (5, 3, 2, 4, 4) and batch["sample_rate"] == 16000
    with pytest.raises(ValueError, match="too small"):
        fill_memory(Clips(), capacity=1, stage=2, previous=first)
    with pytest.raises(FileNotFoundError, match="no replay memory"):
        ReplayMemory.load(tmp_path / "missing.safetensors")


def _batch(seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "video": torch.randn(4, 3, 16, 32, 32, generator=g),
        "audio": 0.1 * torch.randn(4, 2, 64000, generator=g),
        "sample_rate": 16000,
    }


def _two_stage_model(stage: tuple[Path, BinauralMultiSSL], memory: str | None) -> BinauralMultiSSL:
    """Stage 2 (gap) after the finished spatial stage, rehearsing spatial on `memory` (None: the batch)."""
    stage_dir, first = stage
    distill = DistillConfig(replay_weight=1.0, replay_buffer=8, replay_batch=3)
    second = BinauralMultiSSL(
        BinauralMultiSSLConfig(strategy=StrategyConfig(pretexts=["gap"]), distill=distill)
    )
    second.attach_teacher(load_teacher(stage_dir))
    if memory is not None:
        second.attach_replay(ReplayMemory.load(memory))
    second.load_state_dict(first.state_dict())
    return second.eval()


def test_rehearsal_uses_the_stored_clips_not_the_current_batch(spatial_stage, tmp_path) -> None:
    stored = _batch(7)
    ReplayMemory(
        {"video": stored["video"], "audio": stored["audio"]}, torch.zeros(4), {"sample_rate": 16000}
    ).save(tmp_path / MEMORY_FILE)
    with_memory = _two_stage_model(spatial_stage, str(tmp_path / MEMORY_FILE))
    without = _two_stage_model(spatial_stage, None)
    replay = {}
    for name, model in (("memory", with_memory), ("batch", without)):
        for seed in (1, 2):  # two different current batches, the same random stream
            torch.manual_seed(0)
            replay[name, seed] = float(model(_batch(seed)).logs["loss/replay"])
    assert replay["memory", 1] == pytest.approx(replay["memory", 2], abs=1e-6)
    assert abs(replay["batch", 1] - replay["batch", 2]) > 1e-4
    # the naive reference: the spatial loss on memory clips drawn in forward's order of the random stream
    # (memory draw, the current task's plan, the rehearsed task's plan on the current batch, its plan on the clips)
    reference = _two_stage_model(spatial_stage, None)
    torch.manual_seed(0)
    drawn = with_memory.memory.sample(3)
    reference.pretexts["gap"].plan(_batch(1))
    reference.pretexts["spatial"].plan(_batch(1))
    logits, labels = reference.pretext_logits("spatial", drawn)
    assert replay["memory", 1] == pytest.approx(
        float(torch.nn.functional.cross_entropy(logits, labels).detach()), abs=1e-5
    )
    out = with_memory.train()(_batch(1))
    out.loss.backward()
    assert with_memory.pretexts["spatial"].head.net[0].weight.grad is not None


RECIPE = ROOT / "recipes" / "binaural_multissl.py"
STAGES = (
    "stages=[{name: spatial, pretexts: [spatial], max_steps: 2}, {name: sync, pretexts: [sync], max_steps: 16},"
    " {name: gap, pretexts: [gap], max_steps: 2}]"
)


def _run(data: Path, out: Path) -> subprocess.Popen:
    args = [
        sys.executable,
        str(RECIPE),
        "--config",
        str(ROOT / "recipes/configs/binaural_multissl_incremental.yaml"),
        f"data.root={data}",
        f"output_dir={out}",
        STAGES,
        "data.size=32",
        "data.num_workers=0",
        "train.batch_size=2",
        "train.progress_bar=false",
        "train.log_every=1",
        "train.checkpoint_every=2",
        "eval.split=null",
        "model.distill.replay_buffer=4",
        "model.distill.replay_batch=2",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


def _losses(run_dir: Path) -> dict[int, float]:
    return {m["step"]: m["loss"] for m in read_metrics(run_dir) if "loss" in m}


def test_incremental_run_killed_mid_stage_resumes_to_the_same_result(tmp_path) -> None:
    data = tmp_path / "data"
    write_synthetic("fairplay", data, SynthSpec(n=6, seed=2, size=32, fps=8, duration_s=4.0, num_classes=2))
    full = _run(data, tmp_path / "full")
    log, _ = full.communicate(timeout=600)
    assert full.returncode == 0, log
    cut = _run(data, tmp_path / "cut")
    middle = tmp_path / "cut" / "stages" / "01_sync"
    deadline = time.time() + 600
    while not any(m.get("step", 0) >= 3 for m in read_metrics(middle)):
        assert cut.poll() is None, cut.stdout.read()
        assert time.time() < deadline, "the run never reached step 3 of stage 2"
        time.sleep(0.05)
    os.kill(cut.pid, signal.SIGKILL)
    cut.wait()
    assert (middle / "checkpoints" / "step_2").is_dir() and not (middle / "model").exists()
    again = _run(data, tmp_path / "cut")
    log, _ = again.communicate(timeout=600)
    assert again.returncode == 0, log
    for stage in ("01_sync", "02_gap"):
        a, b = _losses(tmp_path / "full" / "stages" / stage), _losses(tmp_path / "cut" / "stages" / stage)
        assert sorted(b) == sorted(a) and len(a) >= 2
        for step in a:
            assert b[step] == pytest.approx(a[step], abs=1e-5), (stage, step, a, b)
        assert "loss/replay" in read_metrics(tmp_path / "full" / "stages" / stage)[-1]
        wa = load_file(str(tmp_path / "full" / "stages" / stage / "model" / "model.safetensors"))
        wb = load_file(str(tmp_path / "cut" / "stages" / stage / "model" / "model.safetensors"))
        assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-5
    last = ReplayMemory.load(tmp_path / "cut" / "stages" / "02_gap" / MEMORY_FILE)
    assert last.stage.tolist() == [0, 0, 1, 1]  # an equal share for each earlier stage
    assert not (tmp_path / "cut" / "stages" / "00_spatial" / MEMORY_FILE).exists()


def test_image_stages_refuse_a_replay_memory(tmp_path) -> None:
    from types import SimpleNamespace

    from avssl.stages.incremental import ensure_memory
    from avssl.tasks.image_multissl import ImageMultiSSL, ImageMultiSSLConfig

    cfg = SimpleNamespace(
        model=ImageMultiSSLConfig(distill=DistillConfig(replay_weight=1.0, replay_buffer=4))
    )
    task = ImageMultiSSL(ImageMultiSSLConfig(queue_size=8, dense_queue_size=8))
    with pytest.raises(ValueError, match="no replay memory: set distill.replay_buffer to 0"):
        ensure_memory(task, cfg, 1, tmp_path, tmp_path, dataset=None)
    cfg.model.distill.replay_buffer = 0  # off: nothing to check or write
    assert ensure_memory(task, cfg, 1, tmp_path, tmp_path, dataset=None) is None
    assert not any(tmp_path.iterdir())
