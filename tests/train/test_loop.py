"""The training loop: resume continues the same run (equal losses), atomic checkpoints, pruning, the
non-finite guard, accumulation, bf16 on CPU, every log of the task's output recorded, the step hook."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from accelerate.tracking import GeneralTracker
from torch import nn
from torch.utils.data import Dataset

from avssl.rundir import list_checkpoints
from avssl.tasks.base import TaskOutput
from avssl.train.config import OptimConfig, ScheduleConfig, TrainConfig
from avssl.train.logging import read_metrics
from avssl.train.loop import LoopSetup, NonFiniteLoss, run_training


class Toy(Dataset):
    """Deterministic per index: a 'video' vector and a target."""

    def __init__(self, n=64):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 8, generator=g)
        self.y = self.x @ torch.randn(8, 1, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"video": self.x[i], "audio": self.y[i], "index": i}


class ToyTask(nn.Module):
    """Regression with dropout (exercises the RNG state on resume) and an EMA hook."""

    def __init__(self, poison_after: int | None = None):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.2), nn.Linear(16, 1))
        self.register_buffer("ema_steps", torch.zeros(()))
        self.poison_after = poison_after
        self.calls = 0

    def forward(self, batch):
        self.calls += 1
        loss = ((self.net(batch["video"]) - batch["audio"]) ** 2).mean()
        if self.poison_after is not None and self.calls > self.poison_after:
            loss = loss * float("nan")
        return TaskOutput(loss, {"loss/mse": loss.detach()})

    def on_step_end(self, step, max_steps):
        self.ema_steps += 1


def _setup(tmp_path, **train):
    cfg = TrainConfig(
        **{
            "max_steps": 20,
            "batch_size": 8,
            "checkpoint_every": 5,
            "keep_checkpoints": 2,
            "log_every": 1,
            "progress_bar": False,
            **train,
        }
    )
    return LoopSetup(cfg, OptimConfig(lr=1e-2), ScheduleConfig(warmup_steps=3), Path(tmp_path), num_workers=0)


def _losses(run):
    return {m["step"]: m["loss"] for m in read_metrics(run)}


class Interrupt(Exception):
    pass


def test_resume_continues_the_same_run(tmp_path):
    torch.manual_seed(0)
    run_training(ToyTask(), Toy(), _setup(tmp_path / "full"))
    full = _losses(tmp_path / "full")
    assert len(full) == 20

    def stop_at_12(step, metrics):
        if step == 12:
            raise Interrupt

    torch.manual_seed(0)
    with pytest.raises(Interrupt):
        run_training(ToyTask(), Toy(), _setup(tmp_path / "cut"), on_step=stop_at_12)
    assert [s for s, _ in list_checkpoints(tmp_path / "cut")] == [5, 10]
    torch.manual_seed(123)  # a different init: the checkpoint must overwrite it
    task = ToyTask()
    run_training(task, Toy(), _setup(tmp_path / "cut"))
    resumed = _losses(tmp_path / "cut")
    assert sorted(resumed) == list(range(1, 21))
    for step in range(11, 21):
        assert resumed[step] == pytest.approx(full[step], abs=1e-6), step
    assert task.ema_steps.item() == 20  # buffers restored from the step-10 checkpoint, then 10 more hooks
    assert [s for s, _ in list_checkpoints(tmp_path / "cut")] == [15, 20]


def test_without_resume_the_losses_differ(tmp_path):
    """The resume test can fail: a restart from scratch at step 10 does not reproduce the run."""
    torch.manual_seed(0)
    run_training(ToyTask(), Toy(), _setup(tmp_path / "a"))
    torch.manual_seed(0)
    run_training(ToyTask(), Toy(), _setup(tmp_path / "b", max_steps=10, resume=False))
    assert _losses(tmp_path / "a")[3] == pytest.approx(_losses(tmp_path / "b")[3], abs=1e-6)
    assert _losses(tmp_path / "a")[10] != pytest.approx(_losses(tmp_path / "b")[10], abs=1e-6)


def test_half_written_checkpoint_is_ignored(tmp_path):
    torch.manual_seed(0)
    run_training(ToyTask(), Toy(), _setup(tmp_path, max_steps=5))
    (tmp_path / "checkpoints" / ".tmp_step_10").mkdir()
    (tmp_path / "checkpoints" / "step_15").mkdir()  # no train_state.json: incomplete
    assert [s for s, _ in list_checkpoints(tmp_path)] == [5]


def test_nonfinite_loss_is_skipped_then_stops(tmp_path):
    torch.manual_seed(0)
    with pytest.raises(NonFiniteLoss, match="3 steps in a row"):
        run_training(ToyTask(poison_after=4), Toy(), _setup(tmp_path, max_nonfinite_in_a_row=3))
    logged = read_metrics(tmp_path)
    assert [m["step"] for m in logged if m.get("skipped")] == [5, 6]


def test_gradient_accumulation_and_bf16_run(tmp_path):
    torch.manual_seed(0)
    result = run_training(
        ToyTask(),
        Toy(),
        _setup(tmp_path / "acc", max_steps=4, gradient_accumulation_steps=2, mixed_precision="bf16"),
    )
    assert result["step"] == 4 and result["loss"] == result["loss"]
    assert (tmp_path / "acc" / "checkpoints" / "step_4" / "train_state.json").is_file()


class EpochKeyToy(Toy):
    """Toy data that takes (index, epoch) keys, as ClipDataset does; each item names the worker process."""

    accepts_epoch_keys = True

    def __getitem__(self, key):
        import os

        index, epoch = key
        return {**super().__getitem__(index), "epoch": epoch, "pid": os.getpid()}


class RecordingToyTask(ToyTask):
    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, batch):
        self.seen.append((batch["epoch"].tolist(), batch["index"].tolist(), set(batch["pid"].tolist())))
        return super().forward(batch)


def test_epoch_keyed_data_streams_across_epochs_from_the_same_workers(tmp_path):
    from avssl.data.loader import ResumableBatchSampler

    torch.manual_seed(0)
    task = RecordingToyTask()
    setup = _setup(tmp_path / "a", max_steps=20)
    setup.num_workers = 1
    run_training(task, EpochKeyToy(), setup)
    assert [epochs[0] for epochs, _, _ in task.seen] == [e for e in range(3) for _ in range(8)][:20]
    assert len(set().union(*(pids for _, _, pids in task.seen))) == 1  # one worker for the whole run
    sampler = ResumableBatchSampler(64, 8, seed=0, epoch_keys=True)  # the same order as epoch by epoch
    by_epoch = []
    for epoch in range(3):
        sampler.start_at(epoch, 0)
        by_epoch += [[i for i, _ in b] for b in sampler]
    assert [indices for _, indices, _ in task.seen] == by_epoch[:20]
    # and a run interrupted mid-epoch resumes to the same losses
    torch.manual_seed(0)
    with pytest.raises(Interrupt):
        run_training(RecordingToyTask(), EpochKeyToy(), _setup(tmp_path / "cut"), on_step=_stop_at(12))
    run_training(RecordingToyTask(), EpochKeyToy(), _setup(tmp_path / "cut"))
    full, resumed = _losses(tmp_path / "a"), _losses(tmp_path / "cut")
    assert all(resumed[s] == pytest.approx(full[s], abs=1e-6) for s in range(11, 21))
    with pytest.raises(ValueError, match="epoch keys"):
        ResumableBatchSampler(64, 8, seed=0, epoch_keys=False, endless=True)


def _stop_at(n):
    def stop(step, metrics):
        if step == n:
            raise Interrupt

    return stop


class StreamToy(torch.utils.data.IterableDataset):
    """A streaming dataset of `n` toy items (not a multiple of the batch size)."""

    def __init__(self, n):
        self.toy, self.n = Toy(), n

    def __iter__(self):
        return (self.toy[i] for i in range(self.n))


class SizeRecordingTask(ToyTask):
    def __init__(self):
        super().__init__()
        self.sizes = []

    def forward(self, batch):
        self.sizes.append(batch["video"].shape[0])
        return super().forward(batch)


def test_streaming_data_gives_full_batches_only(tmp_path):
    task = SizeRecordingTask()
    run_training(task, StreamToy(19), _setup(tmp_path / "a", max_steps=6))
    assert task.sizes == [8] * 6  # 19 items: 2 full batches per epoch, the 3 left over are dropped
    with pytest.raises(ValueError, match="no full batch of 8"):
        run_training(ToyTask(), StreamToy(5), _setup(tmp_path / "b", max_steps=2))


class Recorder(GeneralTracker):
    """A recording experiment tracker."""

    name = "recorder"
    requires_logging_directory = False

    def __init__(self):
        super().__init__()
        self.steps, self.values, self.config, self.finished = [], [], None, False

    @property
    def tracker(self):
        return self

    def store_init_configuration(self, values):
        self.config = values

    def log(self, values, step=None, **kwargs):
        self.steps.append(step)
        self.values.append(values)

    def finish(self):
        self.finished = True


def test_an_experiment_tracker_gets_hparams_metrics_and_evaluations_and_is_finished(tmp_path, monkeypatch):
    """`train.trackers=auto` with a tracker installed: it gets the hyperparameters, every step's metrics,
    what on_step / on_end return as `eval/…`, and is finished at the end; the process group is left alone
    (a later run of the process needs it)."""
    import avssl.train.loop as loop_module

    recorder = Recorder()
    monkeypatch.setattr(loop_module, "trackers_available", lambda: [recorder])
    torch.manual_seed(0)
    out = run_training(
        ToyTask(),
        Toy(),
        _setup(tmp_path, max_steps=3, trackers="auto"),
        on_step=lambda step, metrics: {"retrieval": {"R@1": 50.0, "name": "x"}} if step == 2 else None,
        on_end=lambda: {"cIoU": 0.25, "probe": {"visual": {"knn": 0.5}}},
    )
    assert recorder.finished and recorder.steps == [1, 2, 2, 3, 3]
    assert recorder.values[2] == {"eval/retrieval/R@1": 50.0}
    assert recorder.values[4] == {"eval/cIoU": 0.25, "eval/probe/visual/knn": 0.5}
    assert "loss" in recorder.values[0] and "lr" in recorder.values[0]
    assert recorder.config["train.max_steps"] == 3 and recorder.config["optim.lr"] == 1e-2
    assert recorder.config["optim.betas"] == "[0.9, 0.999]"  # non-scalars as JSON for TensorBoard's hparams
    assert out["bad_items"] == 0 and out["skipped_steps"] == 0


def test_no_tracker_is_used_unless_asked_even_when_installed(tmp_path, monkeypatch):
    import avssl.train.loop as loop_module

    recorder = Recorder()
    monkeypatch.setattr(loop_module, "trackers_available", lambda: [recorder])
    run_training(ToyTask(), Toy(), _setup(tmp_path, max_steps=2))
    assert recorder.steps == [] and recorder.config is None and TrainConfig().trackers == []


def test_mixed_precision_null_defers_to_the_launcher_and_a_value_wins(tmp_path, monkeypatch):
    from avssl.train.loop import make_accelerator

    monkeypatch.setenv(
        "ACCELERATE_MIXED_PRECISION", "bf16"
    )  # what `accelerate launch --mixed_precision bf16` sets
    assert TrainConfig().mixed_precision is None
    assert make_accelerator(TrainConfig(), tmp_path).mixed_precision == "bf16"
    assert make_accelerator(TrainConfig(mixed_precision="no"), tmp_path).mixed_precision == "no"
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION")
    assert make_accelerator(TrainConfig(), tmp_path).mixed_precision == "no"


class LoggingToyTask(ToyTask):
    """Logs a non-loss value (the forward call's number), a float log on odd calls only, and records the
    step hook's arguments."""

    def __init__(self):
        super().__init__()
        self.hooks: list[tuple[int, int]] = []

    def forward(self, batch):
        out = super().forward(batch)
        logs = {**out.logs, "acc/calls": torch.tensor(float(self.calls))}
        if self.calls % 2 == 1:
            logs["odd_calls"] = float(self.calls)
        return TaskOutput(out.loss, logs)

    def on_step_end(self, step, max_steps):
        super().on_step_end(step, max_steps)
        self.hooks.append((step, max_steps))


def test_every_log_is_recorded_and_averaged_over_micro_steps(tmp_path):
    """Non-loss logs reach metrics.jsonl; with 2 micro-steps per optimizer step a log is the mean of its
    micro-steps' values (calls 2k-1 and 2k at step k), and a log present in one micro-step only is that
    micro-step's value (odd call 2k-1), not halved."""
    torch.manual_seed(0)
    task = LoggingToyTask()
    run_training(task, Toy(), _setup(tmp_path, max_steps=4, gradient_accumulation_steps=2))
    logged = {m["step"]: m for m in read_metrics(tmp_path)}
    assert sorted(logged) == [1, 2, 3, 4]
    for step, m in logged.items():
        assert m["acc/calls"] == pytest.approx(2 * step - 0.5)
        assert m["odd_calls"] == pytest.approx(2 * step - 1)
        assert m["loss/mse"] == pytest.approx(m["loss"])


def test_the_step_hook_gets_step_and_max_steps(tmp_path):
    torch.manual_seed(0)
    task = LoggingToyTask()
    run_training(task, Toy(), _setup(tmp_path, max_steps=3))
    assert task.hooks == [(1, 3), (2, 3), (3, 3)]


class DictTask(ToyTask):
    def forward(self, batch):
        return {"loss": super().forward(batch).loss}


def test_a_task_returning_a_dict_is_an_error(tmp_path):
    with pytest.raises(TypeError, match="TaskOutput"):
        run_training(DictTask(), Toy(), _setup(tmp_path, max_steps=1))


def test_a_checkpoint_holds_no_pickle_and_resumes_without_unpickling(tmp_path, monkeypatch):
    """Resume state is JSON + safetensors only, and resuming never calls torch.load without
    weights_only=True nor pickle: a run directory from someone else cannot execute code."""
    import pickle

    torch.manual_seed(0)
    run_training(ToyTask(), Toy(), _setup(tmp_path, max_steps=10))
    files = [p for p in (tmp_path / "checkpoints").rglob("*") if p.is_file()]
    assert files and {p.suffix for p in files} <= {".json", ".safetensors"}
    for path in files:
        head = path.read_bytes()[:2]
        assert head[:1] != b"\x80" and head != b"PK", path  # a pickle's PROTO opcode / torch.save's zip

    real_load = torch.load

    def weights_only_load(*args, **kwargs):
        if kwargs.get("weights_only") is not True:
            raise AssertionError("torch.load without weights_only=True")
        return real_load(*args, **kwargs)

    def no_pickle(*args, **kwargs):
        raise AssertionError("unpickling during resume")

    monkeypatch.setattr(torch, "load", weights_only_load)
    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    run_training(ToyTask(), Toy(), _setup(tmp_path, max_steps=15))  # resumes from step 10
    assert sorted(_losses(tmp_path)) == list(range(1, 16))
