"""Training-loop overhead benchmark: avssl `run_training` vs a bare hand-written PyTorch loop.

    python benchmarks/train_step.py [--steps N] [--warmup W] [--repeats R] [--resnet18] [--json out.json]

Both loops train the same task (`AVContrastive`, small encoders by default: 64 px, T=2 frames, 1 s of
16 kHz audio, batch 16), built from the same seed, with the same AdamW (lr 3e-4, weight decay 1e-4 on
weights, none on biases/norms, as avssl's `build_optimizer` groups them), on the same in-memory dataset of
fixed random tensors, through a DataLoader with avssl's `collate` and num_workers=0, for the same number of
steps. The bare loop is what a user would otherwise write:

    for batch in loader: loss = task(batch).loss; loss.backward(); opt.step(); opt.zero_grad()
    (+ loss.item() every `log_every` steps, as anyone logs)

avssl runs with num_workers=0, log_every=10, a constant lr schedule (so the lr equals the bare loop's),
checkpoint_every > max_steps, progress_bar=False, resume=False, a fresh output dir in a tempdir. Its last
step still writes the final checkpoint and exports the model: that is outside the timed window (see below)
and reported separately as "setup+teardown".

Timing method: the clock is read after optimizer step `warmup` and after the last step, with
`time.perf_counter()` (wall) and `time.process_time()` (CPU of this process, all threads). For avssl the
reads happen in the `on_step` callback of `run_training` (called after every optimizer step, after the
logger), for the bare loop at the same point of its loop. steps/s = (steps - warmup) / elapsed, so start-up
(model build, Accelerator, first iterations) and teardown (final checkpoint, export) are excluded from it.
As a cross-check the avssl wall time is also taken from the `time` field of metrics.jsonl (lines of step
`warmup` and of the last step; warmup must be a multiple of log_every). Runs alternate (A B, B A, A B, …),
each configuration is repeated `--repeats` times, and the median is reported; the overhead is
median(bare steps/s) / median(avssl steps/s) - 1, and also the median of the per-pair ratios (each pair ran
back to back, so machine load affects both alike). Timings are noisy on a shared 2-core machine: compare
the two columns of one run, never absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from avssl.data.datasets.base import collate
from avssl.encoders import encoder_config_class
from avssl.tasks.av_contrastive import AVContrastive, AVContrastiveConfig
from avssl.train.config import OptimConfig, ScheduleConfig, TrainConfig
from avssl.train.logging import read_metrics
from avssl.train.loop import LoopSetup, run_training
from avssl.train.optim import param_groups

SEED = 0
LR = 3e-4
WEIGHT_DECAY = 1e-4
LOG_EVERY = 10
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Config:
    name: str
    visual: str
    audio: str
    size: int
    frames: int
    batch: int
    steps: int
    warmup: int
    items: int


class RandomClips(Dataset):
    """Fixed random tensors in memory: video (3, T, H, W) float, audio (1, S) float."""

    def __init__(self, n: int, frames: int, size: int, audio_samples: int, seed: int = 1):
        g = torch.Generator().manual_seed(seed)
        self.video = torch.randn(n, 3, frames, size, size, generator=g)
        self.audio = torch.randn(n, 1, audio_samples, generator=g)

    def __len__(self) -> int:
        return len(self.video)

    def __getitem__(self, index: int) -> dict:
        return {"video": self.video[index], "audio": self.audio[index], "index": index}


def make_task(cfg: Config) -> AVContrastive:
    torch.manual_seed(SEED)
    return AVContrastive(
        AVContrastiveConfig(
            visual=encoder_config_class(cfg.visual)(name=cfg.visual),
            audio=encoder_config_class(cfg.audio)(name=cfg.audio),
        )
    )


class Clock:
    """Wall and CPU time at the end of step `warmup` and of the last step."""

    def __init__(self, warmup: int, last: int):
        self.warmup, self.last = warmup, last
        self.marks: dict[int, tuple[float, float]] = {}

    def __call__(self, step: int, _metrics: dict | None = None) -> None:
        if step in (self.warmup, self.last):
            self.marks[step] = (time.perf_counter(), time.process_time())

    def result(self) -> tuple[float, float]:
        (w0, c0), (w1, c1) = self.marks[self.warmup], self.marks[self.last]
        return w1 - w0, c1 - c0


def avssl_setup(cfg: Config, steps: int, output_dir: Path) -> LoopSetup:
    return LoopSetup(
        train=TrainConfig(
            max_steps=steps,
            batch_size=cfg.batch,
            seed=SEED,
            checkpoint_every=steps + 1000,
            log_every=LOG_EVERY,
            resume=False,
            progress_bar=False,
        ),
        optim=OptimConfig(name="adamw", lr=LR, weight_decay=WEIGHT_DECAY),
        schedule=ScheduleConfig(name="constant"),
        output_dir=output_dir,
        num_workers=0,
    )


def run_avssl(cfg: Config, data: Dataset, steps: int) -> dict:
    start = time.perf_counter()
    task = make_task(cfg)
    clock = Clock(cfg.warmup, steps)
    with tempfile.TemporaryDirectory(prefix="avssl_bench_step_") as tmp:
        setup = avssl_setup(cfg, steps, Path(tmp) / "run")
        last = run_training(task, data, setup, on_step=clock)
        lines = {m["step"]: m for m in read_metrics(setup.output_dir)}
    total = time.perf_counter() - start
    wall, cpu = clock.result()
    jsonl_wall = lines[steps]["time"] - lines[cfg.warmup]["time"] if cfg.warmup in lines else float("nan")
    return {
        "wall": wall,
        "cpu": cpu,
        "jsonl_wall": jsonl_wall,
        "total": total,
        "loss": last.get("loss", float("nan")),
    }


class BareLoop:
    """The hand-written loop, one step at a time (so it can also run interleaved with avssl's)."""

    def __init__(self, cfg: Config, data: Dataset):
        self.task = make_task(cfg)
        # same parameter groups as avssl's AdamW (decay on weights only): identical optimizer work
        self.opt = torch.optim.AdamW(param_groups(self.task, WEIGHT_DECAY), lr=LR)
        self.loader = DataLoader(
            data,
            batch_size=cfg.batch,
            shuffle=True,
            drop_last=True,
            num_workers=0,
            collate_fn=collate,
            generator=torch.Generator().manual_seed(SEED),
        )
        self.batches = iter(self.loader)
        self.step, self.losses = 0, []
        self.task.train()

    def __call__(self) -> None:
        batch = next(self.batches, None)
        if batch is None:  # next epoch
            self.batches = iter(self.loader)
            batch = next(self.batches)
        loss = self.task(batch).loss
        loss.backward()
        self.opt.step()
        self.opt.zero_grad()
        self.step += 1
        if self.step % LOG_EVERY == 0:
            self.losses.append(loss.item())


def run_bare(cfg: Config, data: Dataset, steps: int) -> dict:
    start = time.perf_counter()
    loop = BareLoop(cfg, data)
    clock = Clock(cfg.warmup, steps)
    while loop.step < steps:
        loop()
        clock(loop.step)
    total = time.perf_counter() - start
    wall, cpu = clock.result()
    return {
        "wall": wall,
        "cpu": cpu,
        "total": total,
        "loss": loop.losses[-1] if loop.losses else float("nan"),
    }


def run_interleaved(cfg: Config, data: Dataset, steps: int) -> dict:
    """One avssl run whose `on_step` callback runs one bare step after each avssl step: per-step wall
    times of the two loops alternate step by step, so load changes on the machine hit both alike."""
    task = make_task(cfg)
    bare = BareLoop(cfg, data)
    times: dict[str, list[float]] = {"avssl": [], "bare": []}
    last = [0.0]

    def on_step(step: int, _metrics: dict) -> None:
        now = time.perf_counter()
        if step > cfg.warmup:
            times["avssl"].append(now - last[0])
        t0 = time.perf_counter()
        bare()
        bare_s = time.perf_counter() - t0
        if step > cfg.warmup:
            times["bare"].append(bare_s)
        last[0] = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="avssl_bench_step_") as tmp:
        run_training(task, data, avssl_setup(cfg, steps, Path(tmp) / "run"), on_step=on_step)
    return times


def bench(cfg: Config, repeats: int, interleaved_steps: int) -> dict:
    data = RandomClips(cfg.items, cfg.frames, cfg.size, SAMPLE_RATE)
    timed = cfg.steps - cfg.warmup
    # untimed warm-up of both paths (imports, allocator, first-call costs)
    run_avssl(cfg, data, cfg.warmup + 1)
    run_bare(cfg, data, cfg.warmup + 1)
    runs: dict[str, list[dict]] = {"avssl": [], "bare": []}
    for r in range(repeats):
        order = ("avssl", "bare") if r % 2 == 0 else ("bare", "avssl")
        for method in order:
            fn = run_avssl if method == "avssl" else run_bare
            res = fn(cfg, data, cfg.steps)
            runs[method].append(res)
            print(
                f"  [{cfg.name}] repeat {r + 1}/{repeats} {method:5s}: "
                f"{timed / res['wall']:.3f} steps/s (cpu {res['cpu'] / timed * 1000:.0f} ms/step, "
                f"total {res['total']:.1f} s, loss {res['loss']:.4f})",
                flush=True,
            )
    sps = {m: [timed / r["wall"] for r in rs] for m, rs in runs.items()}
    cpu = {m: [r["cpu"] / timed for r in rs] for m, rs in runs.items()}
    pair_ratios = [b / a for a, b in zip(sps["avssl"], sps["bare"])]
    med = {m: statistics.median(v) for m, v in sps.items()}
    result = {
        "config": cfg.__dict__,
        "steps_per_s": sps,
        "cpu_s_per_step": cpu,
        "median_steps_per_s": med,
        "median_cpu_s_per_step": {m: statistics.median(v) for m, v in cpu.items()},
        "overhead": med["bare"] / med["avssl"] - 1,
        "overhead_paired": statistics.median(pair_ratios) - 1,
        "overhead_cpu": statistics.median(cpu["avssl"]) / statistics.median(cpu["bare"]) - 1,
        "avssl_jsonl_steps_per_s": statistics.median(timed / r["jsonl_wall"] for r in runs["avssl"]),
        "setup_teardown_s": {
            m: statistics.median(r["total"] - r["wall"] for r in rs) for m, rs in runs.items()
        },
    }
    if interleaved_steps > cfg.warmup:
        times = run_interleaved(cfg, data, interleaved_steps)
        a, b = statistics.median(times["avssl"]), statistics.median(times["bare"])
        result["interleaved"] = {
            "steps": len(times["avssl"]),
            "median_step_s": {"avssl": a, "bare": b},
            "overhead_median": a / b - 1,
            "overhead_mean": sum(times["avssl"]) / sum(times["bare"]) - 1,
        }
        print(
            f"  [{cfg.name}] interleaved: avssl {1000 * a:.1f} ms/step, bare {1000 * b:.1f} ms/step",
            flush=True,
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=60, help="steps per run (small encoders)")
    parser.add_argument("--warmup", type=int, default=LOG_EVERY, help="untimed first steps (multiple of 10)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--interleaved-steps",
        type=int,
        default=160,
        help="steps of the step-by-step interleaved check (0: off)",
    )
    parser.add_argument("--resnet18", action="store_true", help="also resnet18/audio_resnet18 at 112 px")
    parser.add_argument("--resnet18-steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.warmup % LOG_EVERY or args.steps <= args.warmup:
        parser.error(f"--warmup must be a multiple of {LOG_EVERY} and below --steps")
    if args.threads:
        torch.set_num_threads(args.threads)

    configs = [Config("small 64px T=2 B=16", "small", "audio_small", 64, 2, 16, args.steps, args.warmup, 256)]
    if args.resnet18:
        configs.append(
            Config(
                "resnet18 112px T=2 B=16",
                "resnet18",
                "audio_resnet18",
                112,
                2,
                16,
                args.resnet18_steps,
                args.warmup,
                128,
            )
        )
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads", flush=True)
    results = []
    for cfg in configs:
        inter = args.interleaved_steps if cfg.visual == "small" else cfg.steps
        results.append(bench(cfg, args.repeats, inter))

    print()
    print(
        f"Training-step throughput: median of {args.repeats} alternating runs (steady state, warm-up excluded)"
    )
    print(
        f"{'config':24s} {'steps':>5s} {'avssl st/s':>10s} {'bare st/s':>10s} {'overhead':>9s} {'paired':>8s} "
        f"{'cpu ovh':>8s} {'jsonl st/s':>10s} {'setup+teardown s':>17s}"
    )
    for cfg, res in zip(configs, results):
        m, st = res["median_steps_per_s"], res["setup_teardown_s"]
        print(
            f"{cfg.name:24s} {cfg.steps - cfg.warmup:5d} {m['avssl']:10.3f} {m['bare']:10.3f} "
            f"{100 * res['overhead']:+8.1f}% {100 * res['overhead_paired']:+7.1f}% "
            f"{100 * res['overhead_cpu']:+7.1f}% {res['avssl_jsonl_steps_per_s']:10.3f} "
            f"{st['avssl']:8.1f} / {st['bare']:.1f}"
        )
    print(
        "overhead = bare/avssl steps/s - 1 (goal <= 5%); paired = median of back-to-back pair ratios; "
        "cpu ovh = CPU s/step ratio - 1;\njsonl = avssl steps/s from metrics.jsonl `time` (cross-check); "
        "setup+teardown = wall outside the timed window (avssl / bare)."
    )
    if any("interleaved" in r for r in results):
        print()
        print(
            "Step-by-step interleaved check (one avssl step, then one bare step, in avssl's on_step callback)"
        )
        print(
            f"{'config':24s} {'steps':>5s} {'avssl ms':>9s} {'bare ms':>8s} {'ovh(median)':>11s} {'ovh(mean)':>10s}"
        )
        for cfg, res in zip(configs, results):
            if "interleaved" not in res:
                continue
            it = res["interleaved"]
            print(
                f"{cfg.name:24s} {it['steps']:5d} {1000 * it['median_step_s']['avssl']:9.1f} "
                f"{1000 * it['median_step_s']['bare']:8.1f} {100 * it['overhead_median']:+10.1f}% "
                f"{100 * it['overhead_mean']:+9.1f}%"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
