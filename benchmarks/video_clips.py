"""Video clip-pair loading benchmark: avssl's data pipeline for the video MoCo / MaCLR recipes vs the PyAV +
OpenCV loader a user would otherwise write, in the same run.

    python benchmarks/video_clips.py [--quick] [--data DIR] [--workers 2] [--batch 8] [--json out.json]

Data: `avssl synth --layout ucf101` (UCF101's layout and codec: MPEG-4 Part 2 AVI, 25 fps, a key frame every
25 frames; here 128 × 128, 4 s, 48 videos, split 1 = 36 training videos) written into a temp dir, or --data
(a UCF101-layout folder). One sample = two 1 s clips of 8 frames of one training video, each cropped and
resized to --size (112) with its own draw (random resized crop of 30-100 % of the area, colour jitter
p 0.8, grayscale p 0.2), normalised; plus, per clip, the motion input of `--motion`:
  none              video MoCo's sample (`avssl.runner.specs.action_data`, recipes/configs/video_moco.yaml)
  frame_difference  MaCLR's default (`motion_action_data`): frame t+1 − frame t, 3 × 7 frames
  optical_flow      MaCLR with flow: OpenCV Farnebäck between consecutive decoded frames (no cache), 2 × 7,
                    computed before the crop and cropped / resized / rescaled with the clip

avssl: the recipe's `DataConfig` → `build_dataset` → `build_loader` with the endless `ResumableBatchSampler`,
exactly as the training loop builds them. Hand-written: a torch `Dataset` that opens the file with PyAV,
seeks and decodes each window (the decoded frame nearest to each of the 8 times), `to_ndarray` + cv2.resize
to a shorter side of 1.15 × size, `cv2.calcOpticalFlowFarneback` on the gray frames (avssl's parameters),
the same random resized crop in numpy / cv2 (flow rescaled), colour jitter and grayscale with
torchvision.transforms.v2.functional, frame differences after the crop; `default_collate`, a random sampler
over as many items as the run needs (one loader iterator: no worker restarts), the same workers, batch,
and one torch / OpenCV thread per worker.

Measured per motion and loader (the two loaders alternate, so load changes hit both):
  CPU ms/video `Dataset.__getitem__` (decode + transforms of both clips) in this process with one torch and
               OpenCV thread, as a worker runs it: median of 3 interleaved passes over 12 videos (process
               time: the figure least moved by other jobs on the machine)
  clips/s      the DataLoader alone, 2 clips per video, after its first batch (worker start-up excluded)
  wait ms      the same loader feeding training steps of the recipe's task (video_moco for none, maclr for
               the motion rows; small_3d encoders and heads of recipes/configs/*.yaml) in this process:
               mean time per step spent in next(loader), after the first step; wait % = its share of the
               step time
Timings are noisy on a shared 2-core machine; compare the two loaders within a row.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torch.utils.data import DataLoader, Dataset, RandomSampler, default_collate

from avssl.data.datasets import load_index
from avssl.data.loader import ResumableBatchSampler, build_dataset, build_loader
from avssl.encoders import Video3dConfig
from avssl.runner.specs import action_data, motion_action_data
from avssl.tasks.maclr import MaCLR, MaCLRConfig
from avssl.tasks.video_moco import VideoMoCo, VideoMoCoConfig

MOTIONS = ("none", "frame_difference", "optical_flow")
FPS, DURATION_S, FRAMES = 8.0, 1.0, 8
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet, as avssl's `normalize`


# ---------------------------------------------------------------------------------------------------------
# avssl


def avssl_loader(root: Path, motion: str, size: int, workers: int, batch: int) -> DataLoader:
    """The recipe's training loader (`recipes/configs/video_moco.yaml` / `maclr.yaml` data sections)."""
    cfg = action_data() if motion == "none" else motion_action_data()
    if motion == "optical_flow":
        cfg.transforms = [{"name": "optical_flow", "method": "farneback"}, *cfg.transforms[1:]]
    cfg.root, cfg.size, cfg.num_workers = str(root), size, workers
    dataset = build_dataset(cfg, train=True, seed=0)
    sampler = ResumableBatchSampler(len(dataset), batch, seed=0, epoch_keys=True, endless=True)
    return build_loader(dataset, batch, workers, sampler)


# ---------------------------------------------------------------------------------------------------------
# hand-written PyAV + OpenCV


def decode_window(container: av.container.InputContainer, start: float, short: int) -> list[np.ndarray]:
    """The decoded frames nearest to start + k / FPS (k < FRAMES), RGB, resized to a shorter side `short`."""
    stream = container.streams.video[0]
    targets = start + np.arange(FRAMES) / FPS
    container.seek(int(start / stream.time_base), stream=stream, backward=True)
    times, frames = [], []
    for frame in container.decode(stream):
        t = float(frame.pts * stream.time_base)
        times.append(t)
        frames.append(frame)
        if t >= targets[-1]:
            break
    picked = [frames[int(np.argmin(np.abs(np.asarray(times) - t)))] for t in targets]
    h, w = picked[0].height, picked[0].width
    scale = short / min(h, w)
    out_size = (round(w * scale), round(h * scale))
    return [cv2.resize(f.to_ndarray(format="rgb24"), out_size, interpolation=cv2.INTER_AREA) for f in picked]


def crop_box(h: int, w: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop draw: 30-100 % of the area, aspect 3/4-4/3; top, left, height, width."""
    for _ in range(10):
        area = h * w * rng.uniform(0.3, 1.0)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
        if 0 < cw <= w and 0 < ch <= h:
            return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
    side = min(h, w)
    return (h - side) // 2, (w - side) // 2, side, side


def jitter(video: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Colour jitter (p 0.8; brightness, contrast, saturation 0.4, hue 0.1, random order), grayscale p 0.2."""
    if rng.random() < 0.8:
        ops = [
            lambda v: TF.adjust_brightness(v, rng.uniform(0.6, 1.4)),
            lambda v: TF.adjust_contrast(v, rng.uniform(0.6, 1.4)),
            lambda v: TF.adjust_saturation(v, rng.uniform(0.6, 1.4)),
            lambda v: TF.adjust_hue(v, rng.uniform(-0.1, 0.1)),
        ]
        for i in rng.permutation(4):
            video = ops[i](video)
    if rng.random() < 0.2:
        video = TF.rgb_to_grayscale(video, num_output_channels=3)
    return video


def clip_tensors(frames: list[np.ndarray], motion: str, size: int, rng: np.random.Generator) -> dict:
    """One clip: flow of the decoded frames, crop + resize (flow rescaled), frame differences of the cropped
    frames, colour jitter, normalise."""
    top, left, ch, cw = crop_box(*frames[0].shape[:2], rng)
    out = {}
    if motion == "optical_flow":
        gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
        flow = [
            cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0) for a, b in zip(gray, gray[1:])
        ]
        scale = np.array([size / cw, size / ch], np.float32)
        crops = [cv2.resize(f[top : top + ch, left : left + cw], (size, size)) * scale for f in flow]
        out["motion"] = torch.from_numpy(np.stack(crops)).permute(3, 0, 1, 2).contiguous()  # (2, T-1, H, W)
    crops = [
        cv2.resize(f[top : top + ch, left : left + cw], (size, size), interpolation=cv2.INTER_AREA)
        for f in frames
    ]
    clip = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2)  # (T, 3, H, W) uint8
    if motion == "frame_difference":
        unit = clip.float() / 255
        out["motion"] = (unit[1:] - unit[:-1]).permute(1, 0, 2, 3).contiguous()  # (3, T-1, H, W)
    video = jitter(clip, rng).float() / 255
    out["video"] = TF.normalize(video, MEAN, STD).permute(1, 0, 2, 3).contiguous()  # (3, T, H, W)
    return out


class HandClipPairs(Dataset):
    """Two random 1 s windows of a video, each decoded with PyAV and augmented on its own."""

    def __init__(self, paths: list[str], motion: str, size: int):
        self.paths, self.motion, self.size = paths, motion, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng()
        with av.open(self.paths[index]) as container:
            stream = container.streams.video[0]
            length = (
                float(stream.duration * stream.time_base) if stream.duration else container.duration / 1e6
            )
            starts = rng.uniform(0.0, max(0.0, length - DURATION_S), size=2)
            windows = [decode_window(container, s, round(1.15 * self.size)) for s in starts]
        return {"views": [clip_tensors(w, self.motion, self.size, rng) for w in windows]}


def hand_worker_init(worker_id: int) -> None:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def hand_loader(root: Path, motion: str, size: int, workers: int, batch: int, items: int) -> DataLoader:
    paths = [item.path for item in load_index("ucf101", str(root), "train", 1).items]
    sampler = RandomSampler(range(len(paths)), replacement=False, num_samples=items)
    return DataLoader(
        HandClipPairs(paths, motion, size),
        batch_size=batch,
        sampler=sampler,
        num_workers=workers,
        collate_fn=default_collate,
        worker_init_fn=hand_worker_init,
        drop_last=True,
    )


# ---------------------------------------------------------------------------------------------------------
# measurements


def loader_rate(loader: DataLoader, batches: int, batch: int) -> float:
    """Clips per second (2 per video) over `batches` batches after the first."""
    it = iter(loader)
    next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    rate = 2 * batches * batch / (time.perf_counter() - start)
    del it
    return rate


def item_cpu_ms(loaders: dict[str, DataLoader], items: int, rounds: int = 3) -> dict[str, float]:
    """CPU ms per video (two clips) of each loader's `Dataset.__getitem__` in this process with one torch and
    OpenCV thread (as in a worker): the median over `rounds` interleaved passes over the first `items`."""
    threads, cv_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    spent: dict[str, list[float]] = {name: [] for name in loaders}
    try:
        for epoch in range(rounds):
            for name, loader in loaders.items():
                keyed = isinstance(loader.batch_sampler, ResumableBatchSampler)  # (index, epoch) keys
                start = time.process_time()
                for i in range(items):
                    loader.dataset[(i, epoch) if keyed else i]
                spent[name].append(1000 * (time.process_time() - start) / items)
    finally:
        torch.set_num_threads(threads)
        cv2.setNumThreads(cv_threads)
    return {name: statistics.median(values) for name, values in spent.items()}


def task_for(motion: str) -> torch.nn.Module:
    """The recipe's task with recipes/configs' model section (small_3d encoders)."""
    torch.manual_seed(0)
    enc = Video3dConfig(name="small_3d")
    common = {"embed_dim": 64, "hidden_dim": 128, "queue_size": 32, "momentum": 0.99}
    if motion == "none":
        return VideoMoCo(VideoMoCoConfig(encoder=enc, temperature=0.2, **common))
    kind = "flow" if motion == "optical_flow" else "frame_difference"
    return MaCLR(
        MaCLRConfig(encoder=enc, motion_encoder=Video3dConfig(name="small_3d"), motion=kind, **common)
    )


def train_wait(loader: DataLoader, motion: str, steps: int) -> dict:
    """Training steps fed by `loader`: mean wait for data per step and its share, after the first step."""
    task = task_for(motion).train()
    opt = torch.optim.AdamW(task.parameters(), lr=1e-3)
    it = iter(loader)
    waits, totals = [], []
    for k in range(steps + 1):
        t0 = time.perf_counter()
        batch = next(it)
        t1 = time.perf_counter()
        loss = task(batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        task.on_step_end(k + 1, steps + 1)
        if k:
            waits.append(t1 - t0)
            totals.append(time.perf_counter() - t0)
    del it
    return {"wait_ms": 1000 * statistics.mean(waits), "wait_share": sum(waits) / sum(totals)}


def synthesize(root: Path, n: int) -> None:
    cmd = [sys.executable, "-m", "avssl.cli", "synth", "--layout", "ucf101", "--out", str(root)]
    cmd += ["--n", str(n), "--size", "128", "--duration", "4", "--fps", "25", "--classes", "6"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="24 videos, 3 batches, 2 steps, 64 px (smoke run)"
    )
    parser.add_argument("--data", type=Path, default=None, help="a UCF101-layout folder (default: synthetic)")
    parser.add_argument("--n", type=int, default=48, help="synthetic videos (all splits)")
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--batches", type=int, default=8, help="timed loader batches per row")
    parser.add_argument("--steps", type=int, default=4, help="timed training steps per row")
    parser.add_argument("--cpu-items", type=int, default=12, help="videos per CPU-time pass")
    parser.add_argument("--motion", nargs="+", choices=MOTIONS, default=list(MOTIONS))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.n, args.batches, args.steps, args.size, args.batch, args.cpu_items = 24, 3, 2, 64, 4, 4

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    print(
        f"torch {torch.__version__}, av {av.__version__}, cv2 {cv2.__version__}, {args.workers} workers, "
        f"batch {args.batch}, {args.size} px, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="avssl_bench_video_") as tmp:
        root = args.data
        if root is None:
            root = Path(tmp) / "ucf101"
            t0 = time.perf_counter()
            synthesize(root, args.n)
            print(
                f"avssl synth --layout ucf101: {args.n} videos in {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
        items = (args.batches + 1) * args.batch
        need = max(items, (args.steps + 1) * args.batch)
        for motion in args.motion:
            row = {"motion": motion}
            cpu = item_cpu_ms(
                {
                    "avssl": avssl_loader(root, motion, args.size, 0, args.batch),
                    "hand": hand_loader(root, motion, args.size, 0, args.batch, items),
                },
                args.cpu_items,
            )
            row["avssl_cpu_ms"], row["hand_cpu_ms"] = cpu["avssl"], cpu["hand"]
            for name in ("avssl", "hand"):  # clips/s, loaders alternating
                loader = (
                    avssl_loader(root, motion, args.size, args.workers, args.batch)
                    if name == "avssl"
                    else hand_loader(root, motion, args.size, args.workers, args.batch, items)
                )
                row[f"{name}_clips_s"] = loader_rate(loader, args.batches, args.batch)
            for name in ("hand", "avssl"):  # data wait in training, the other order
                loader = (
                    avssl_loader(root, motion, args.size, args.workers, args.batch)
                    if name == "avssl"
                    else hand_loader(root, motion, args.size, args.workers, args.batch, need)
                )
                wait = train_wait(loader, motion, args.steps)
                row[f"{name}_wait_ms"], row[f"{name}_wait_share"] = wait["wait_ms"], wait["wait_share"]
            print(
                json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}),
                flush=True,
            )
            results.append(row)

    print()
    print(
        f"Clip pairs ({FRAMES} frames × 2 clips per video, {args.size} px, batch {args.batch}, {args.workers} "
        f"workers); load average at the end {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'motion':18s} {'CPU ms/video avssl':>18s} {'hand':>6s} {'clips/s avssl':>13s} {'hand':>6s} "
        f"{'ratio':>6s} {'wait ms (%) avssl':>17s} {'hand':>10s}"
    )
    for r in results:
        print(
            f"{r['motion']:18s} {r['avssl_cpu_ms']:18.1f} {r['hand_cpu_ms']:6.1f} {r['avssl_clips_s']:13.1f} "
            f"{r['hand_clips_s']:6.1f} {r['avssl_clips_s'] / r['hand_clips_s']:6.2f} "
            f"{r['avssl_wait_ms']:9.0f} ({100 * r['avssl_wait_share']:3.0f}%) "
            f"{r['hand_wait_ms']:4.0f} ({100 * r['hand_wait_share']:3.0f}%)"
        )
    print(
        "CPU ms/video: Dataset.__getitem__ (two clips) in one process, one thread; clips/s: the DataLoader alone; "
        "ratio: avssl / hand clips/s;\nwait: time per training step spent waiting for the next batch (share of "
        "the step) with the recipe's task training in this process."
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
