"""End-to-end training benchmark: the av_contrastive recipe on real mp4s, and what bounds its throughput.

    python benchmarks/train_e2e.py [--quick] [--workers 2] [--models small,resnet18] [--json out.json]

The script writes a synthetic VGG-Sound-layout set (h264 + AAC mp4s, 128 px, 4 s; n=96, of which the
layout's train split is 72 items) into a tempdir and trains on it with `recipes/av_contrastive.py`'s
`main([...])`: data.size=112, data.fps=4 (1 s windows: 4 frames + 16000 audio samples), batch 16,
data.num_workers=2, train.log_every=1 (one metrics.jsonl line per step), for the small encoders
(small / audio_small) and for resnet18 / audio_resnet18.

Per run, from metrics.jsonl after the warm-up (the first epoch; the timed window is whole epochs):
  samples/s   = batch × timed steps / (time[last] - time[warm-up])   (the lines' `time` field)
  data wait   = Σ wait / Σ step time over the timed steps (per-step `data_wait_fraction` × step seconds,
                step seconds = batch / samples_per_s of that line); also split into the first step of each
                epoch (the loop builds a new DataLoader per epoch: workers start again) and the others.

What bounds it, measured in the same process:
  decode      `ClipDataset.__getitem__` (decode + transforms) alone, single process, one torch thread (as a
              DataLoader worker runs), for the first 48 training items: clips/s and CPU ms per clip, on
              first access (the item's duration is probed then) and on second access (probed; in training
              every access in a fresh worker is a first access).
  model       forward + backward + AdamW step on cached, already-decoded batches (same task, batch, torch
              threads): samples/s and CPU ms per sample.
  ceiling     with 2 cores shared by the decode workers and the training process:
              2 cores / (decode CPU per clip + model CPU per sample), and the serial ceiling
              1 / (1/decode clips/s + 1/model samples/s) (no overlap at all).
Timings are noisy on a shared 2-core machine; every number of a row comes from the same run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from avssl.data.datasets.base import collate
from avssl.data.loader import DataConfig, build_dataset
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic
from avssl.encoders import encoder_config_class
from avssl.tasks.av_contrastive import AVContrastive, AVContrastiveConfig
from avssl.train.logging import read_metrics

ROOT = Path(__file__).resolve().parents[1]
SIZE, FPS, BATCH = 112, 4.0, 16
CORES = 2


@dataclass(frozen=True)
class Model:
    name: str
    visual: str
    audio: str
    epochs: int  # timed epochs after the one warm-up epoch


def load_recipe():
    spec = importlib.util.spec_from_file_location(
        "avssl_recipe_av_contrastive", ROOT / "recipes/av_contrastive.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.main


def data_config(root: Path, workers: int) -> DataConfig:
    return DataConfig(root=str(root), layout="vggsound", size=SIZE, fps=FPS, num_workers=workers)


def bench_decode(root: Path, items: int) -> dict:
    """Single-process decode + transform of the first `items` training items, first and second access."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a DataLoader worker (avssl's worker_init)
    try:
        ds = build_dataset(data_config(root, 0), train=True, seed=0)
        n = min(items, len(ds))
        out = {}
        for label in ("first", "second"):
            w0, c0 = time.perf_counter(), time.process_time()
            samples = [ds[i] for i in range(n)]
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            out[label] = {"clips_per_s": n / wall, "cpu_ms_per_clip": 1000 * cpu / n}
        out["samples"] = samples
        out["n"] = n
        return out
    finally:
        torch.set_num_threads(threads)


def bench_model(model: Model, samples: list[dict], steps: int) -> dict:
    """Train steps on cached batches (no decoding): median step wall time and CPU per step."""
    torch.manual_seed(0)
    task = AVContrastive(
        AVContrastiveConfig(
            visual=encoder_config_class(model.visual)(name=model.visual),
            audio=encoder_config_class(model.audio)(name=model.audio),
        )
    )
    opt = torch.optim.AdamW(task.parameters(), lr=3e-4)
    batches = [collate(samples[i : i + BATCH]) for i in range(0, len(samples) - BATCH + 1, BATCH)]
    task.train()
    walls, cpus = [], []
    for k in range(steps + 1):  # the first step is warm-up
        batch = batches[k % len(batches)]
        w0, c0 = time.perf_counter(), time.process_time()
        loss = task(batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if k:
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
    step = statistics.median(walls)
    return {
        "step_s": step,
        "samples_per_s": BATCH / step,
        "cpu_ms_per_sample": 1000 * statistics.median(cpus) / BATCH,
    }


def run_e2e(recipe_main, root: Path, out: Path, model: Model, workers: int, per_epoch: int) -> dict:
    steps = per_epoch * (1 + model.epochs)
    argv = [
        f"data.root={root}",
        "data.layout=vggsound",
        f"output_dir={out}",
        f"train.max_steps={steps}",
        f"train.batch_size={BATCH}",
        f"data.size={SIZE}",
        f"data.fps={FPS:g}",
        f"data.num_workers={workers}",
        f"model.visual.name={model.visual}",
        f"model.audio.name={model.audio}",
        "train.log_every=1",
        "train.progress_bar=false",
        "train.checkpoint_every=100000",
    ]
    start = time.perf_counter()
    recipe_main(argv)
    total = time.perf_counter() - start
    lines = {m["step"]: m for m in read_metrics(out)}
    warm = per_epoch
    timed = [lines[s] for s in range(warm + 1, steps + 1)]
    seconds = [BATCH / m["samples_per_s"] for m in timed]
    waits = [m["data_wait_fraction"] * s for m, s in zip(timed, seconds)]
    first = [i for i, m in enumerate(timed) if (m["step"] - 1) % per_epoch == 0]
    rest = [i for i in range(len(timed)) if i not in first]
    return {
        "steps": steps,
        "timed_steps": len(timed),
        "samples_per_s": BATCH * len(timed) / (lines[steps]["time"] - lines[warm]["time"]),
        "data_wait": sum(waits) / sum(seconds),
        "wait_epoch_start_s": statistics.mean(waits[i] for i in first),
        "wait_other_s": statistics.mean(waits[i] for i in rest) if rest else 0.0,
        "step_s": statistics.median(seconds),
        "compute_s": statistics.median(s - w for s, w in zip(seconds, waits)),
        "total_s": total,
        "loss_first": lines[1]["loss"],
        "loss_last": lines[steps]["loss"],
    }


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="n=48, small encoders only, fewer epochs")
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--models", default="small,resnet18", help="comma list of: small, resnet18")
    parser.add_argument("--n", type=int, default=None, help="synthetic items (default 96; --quick 48)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    catalogue = {
        "small": Model("small/audio_small", "small", "audio_small", 4),
        "resnet18": Model("resnet18/audio_resnet18", "resnet18", "audio_resnet18", 1),
    }
    names = ["small"] if args.quick else args.models.split(",")
    models = [catalogue[n] for n in names]
    if args.quick:
        models = [Model(m.name, m.visual, m.audio, 2) for m in models]
    n = args.n or (48 if args.quick else 96)
    recipe_main = load_recipe()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads, {CORES} cores, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    results = []
    with tempfile.TemporaryDirectory(prefix="avssl_bench_e2e_") as tmp:
        root = Path(tmp) / "vggsound"
        t0 = time.perf_counter()
        write_synthetic("vggsound", root, SynthSpec(n=n, size=128, duration_s=4.0, num_classes=8))
        train_items = len(build_dataset(data_config(root, 0), train=True, seed=0))
        per_epoch = train_items // BATCH
        print(
            f"synthetic vggsound: {n} clips ({train_items} train, {per_epoch} batches of {BATCH} per epoch) "
            f"written in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        for model in models:
            model_steps = 5 if model.visual == "small" else 2
            for workers in args.workers:
                # the bounds are measured right before and right after the run (load changes)
                decodes = [bench_decode(root, 48)]
                samples = decodes[0].pop("samples")
                models_only = [bench_model(model, samples, model_steps)]
                out = Path(tmp) / f"run_{model.visual}_w{workers}"
                e2e = run_e2e(recipe_main, root, out, model, workers, per_epoch)
                models_only.append(bench_model(model, samples, model_steps))
                decodes.append(bench_decode(root, 48))
                decodes[-1].pop("samples")
                decode = {
                    "clips_per_s": statistics.median(d["first"]["clips_per_s"] for d in decodes),
                    "clips_per_s_second": statistics.median(d["second"]["clips_per_s"] for d in decodes),
                    "cpu_ms_per_clip": statistics.median(d["first"]["cpu_ms_per_clip"] for d in decodes),
                    "n": decodes[0]["n"],
                }
                mo = {k: median_of(models_only, k) for k in models_only[0]}
                print(
                    f"[{model.name}] workers={workers}: e2e {e2e['samples_per_s']:.1f} samples/s, data wait "
                    f"{100 * e2e['data_wait']:.0f}% (run {e2e['total_s']:.0f} s, loss {e2e['loss_first']:.3f} -> "
                    f"{e2e['loss_last']:.3f}); model only {mo['samples_per_s']:.1f} samples/s (before/after: "
                    f"{models_only[0]['samples_per_s']:.1f}, {models_only[1]['samples_per_s']:.1f}); decode "
                    f"{decode['clips_per_s']:.1f} clips/s",
                    flush=True,
                )
                results.append(
                    {"model": model.name, "workers": workers, "e2e": e2e, "model_only": mo, "decode": decode}
                )

    print()
    print(
        f"End-to-end training from mp4 ({SIZE} px, {FPS:g} fps x 1 s, 16 kHz, batch {BATCH}, {CORES} cores), "
        f"after a warm-up epoch; load average at the end {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'model':24s} {'wrk':>3s} {'e2e smp/s':>9s} {'data wait':>9s} {'wait@epoch-start':>16s} "
        f"{'compute s/step':>14s} {'model-only s/step':>17s} {'decode clips/s':>14s} {'2-core bound':>12s}"
    )
    for r in results:
        e, mo, d = r["e2e"], r["model_only"], r["decode"]
        # the model uses both cores for 1/model_sps per sample, a worker one core for 1/decode per clip:
        # sharing the 2 cores perfectly, a sample costs 1/model_sps + 1/(2 decode) seconds
        r["bound_2cores"] = 1 / (1 / mo["samples_per_s"] + 1 / (CORES * d["clips_per_s"]))
        print(
            f"{r['model']:24s} {r['workers']:3d} {e['samples_per_s']:9.1f} {100 * e['data_wait']:8.0f}% "
            f"{e['wait_epoch_start_s']:15.2f}s {e['compute_s']:14.2f} {mo['step_s']:17.2f} "
            f"{d['clips_per_s']:14.1f} {r['bound_2cores']:12.1f}"
        )
    print(
        "data wait = share of step time waiting for the loader (mean over timed steps, weighted by step time); "
        "wait@epoch-start = mean wait\nof an epoch's first step (workers restart each epoch; other steps "
        "wait {other}); compute = median(step - wait) inside the run;\nmodel-only = same step on cached "
        "batches (median before/after the run); decode = ClipDataset.__getitem__ alone, 1 process, 1 thread "
        "(first access,\nwith the probe; second access {second}); 2-core bound = 1/(1/model-only smp/s + "
        "1/(2 x decode clips/s)).".format(
            other=", ".join(f"{r['e2e']['wait_other_s']:.2f}s" for r in results),
            second=", ".join(f"{r['decode']['clips_per_s_second']:.0f}" for r in results),
        )
    )
    for r in results:
        e, mo, d = r["e2e"], r["model_only"], r["decode"]
        per_sample_model, per_sample_decode = 1 / mo["samples_per_s"], 1 / (CORES * d["clips_per_s"])
        bound = "model compute" if per_sample_model > per_sample_decode else "decoding"
        print(
            f"{r['model']} (workers={r['workers']}): per sample, model {1000 * per_sample_model:.0f} ms (2 cores) "
            f"vs decode {1000 / d['clips_per_s']:.0f} ms (1 core) -> {bound}-bound; e2e = "
            f"{100 * e['samples_per_s'] / r['bound_2cores']:.0f}% of the 2-core bound, "
            f"{100 * e['samples_per_s'] / mo['samples_per_s']:.0f}% of model-only; in-run compute is "
            f"{e['compute_s'] / mo['step_s']:.2f}x the model-only step"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
