"""Can a network learn the synthetic action classes from motion, and from RGB at this data size? One table.

    .venv/bin/python tools/compare_action_input.py --out runs/action_input [--clips-per-class 32,128]
        [--size 32] [--steps 300] [--background-p 0.0]

The synthetic action set's classes differ only by motion (`avssl.data.synthetic.action`). This study trains
the video encoder the learning tests use (`small_3d`, width 16) *with labels* — cross-entropy, AdamW 1e-3,
batches of 32 clips, no augmentation — on the decoded clips of split 1's training videos (4 uniformly
spaced 1 s clips of 8 frames per video, through the evaluation transforms: the clips `avssl eval action`
embeds), once on the RGB frames and once on their frame differences (`avssl.transforms.motion`), and scores
the test videos' clips. A third row needs no network: a linear probe on a hand-made motion descriptor (the
trajectory of the centroid and the mass of |frame difference|). It tells whether the set is learnable from
motion as decoded (frame differences, descriptor), and how many training videos an RGB encoder needs before
it stops memorising each video's appearance (the shortcut the self-supervised video methods fight).

Writes OUT/table.md and OUT/results.json; sets live under OUT/sets/ and a rerun reuses the settings it has
finished, so an interrupted study loses nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from avssl.data.loader import DataConfig, build_dataset  # noqa: E402
from avssl.data.synthetic.action import ActionSynthSpec, write_action_synthetic  # noqa: E402
from avssl.encoders.small import SmallVideoEncoder  # noqa: E402
from avssl.evaluation.action import MultiClipDataset  # noqa: E402
from avssl.evaluation.probe import linear_probe_scores  # noqa: E402
from avssl.outputs import write_json  # noqa: E402

NUM_CLASSES, CLIPS = 6, 4
ROWS = ("rgb", "frame_difference", "descriptor")


def load_clips(root: Path, size: int, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, 8, size, size) normalised clips (4 per video, the evaluation transforms) and their labels."""
    cfg = DataConfig(root=str(root), layout="ucf101", split=split, duration_s=1.0, fps=8.0, size=size)
    clips = MultiClipDataset(build_dataset(cfg, train=False, seed=0), CLIPS)
    video = torch.stack([clips[i]["video"] for i in range(len(clips))])
    labels = torch.tensor([item.label for item in clips.items]).repeat_interleave(CLIPS)
    return video, labels


def frame_difference(video: torch.Tensor) -> torch.Tensor:
    """(N, C, T, H, W) → (N, C, T - 1, H, W): frame t + 1 − frame t."""
    return video[:, :, 1:] - video[:, :, :-1]


def motion_descriptor(video: torch.Tensor) -> torch.Tensor:
    """(N, C, T, H, W) → (N, 5T - 7): per step, the centroid (x, y, centred over time) and the relative mass
    of |frame difference| (mean over colour), and the centroid's step-to-step displacement."""
    diff = frame_difference(video).abs().mean(1)  # (N, T-1, H, W)
    H, W = diff.shape[-2:]
    ys, xs = torch.meshgrid(
        torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij"
    )
    mass = diff.sum((-1, -2)) + 1e-6
    cx, cy = (diff * xs).sum((-1, -2)) / mass, (diff * ys).sum((-1, -2)) / mass
    parts = [cx - cx.mean(1, keepdim=True), cy - cy.mean(1, keepdim=True), mass / mass.mean(1, keepdim=True)]
    parts += [cx[:, 1:] - cx[:, :-1], cy[:, 1:] - cy[:, :-1]]
    return torch.cat(parts, 1)


def supervised(
    train: torch.Tensor, train_labels: torch.Tensor, test: torch.Tensor, steps: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train `small_3d` + a linear classifier with labels; its (train, test) class predictions (eval mode)."""
    torch.manual_seed(seed)
    encoder, head = SmallVideoEncoder(train.shape[1], 16), torch.nn.Linear(128, NUM_CLASSES)
    params = [*encoder.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, 1e-3, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)

    def logits(x: torch.Tensor) -> torch.Tensor:
        return head(encoder(x).mean((2, 3, 4)))

    for _ in range(steps):
        batch = torch.randint(0, len(train), (32,), generator=generator)
        loss = F.cross_entropy(logits(train[batch]), train_labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    encoder.eval()
    with torch.no_grad():
        return logits(train).argmax(1), logits(test).argmax(1)


def study(root: Path, size: int, steps: int, seed: int) -> dict:
    """{row: {"train_top1", "test_top1"}} for one synthetic set (percent, per clip)."""
    train, train_labels = load_clips(root, size, "train")
    test, test_labels = load_clips(root, size, "test")

    def percent(pred: torch.Tensor, labels: torch.Tensor) -> float:
        return round(100.0 * float((pred == labels).float().mean()), 1)

    out = {}
    for row, (a, b) in {
        "rgb": (train, test),
        "frame_difference": (frame_difference(train), frame_difference(test)),
    }.items():
        pred_train, pred_test = supervised(a, train_labels, b, steps, seed)
        out[row] = {
            "train_top1": percent(pred_train, train_labels),
            "test_top1": percent(pred_test, test_labels),
        }
    d_train, d_test = motion_descriptor(train), motion_descriptor(test)
    mean, std = d_train.mean(0), d_train.std(0) + 1e-6
    d_train, d_test = (d_train - mean) / std, (d_test - mean) / std
    scores = {
        "train_top1": linear_probe_scores(d_train, train_labels, d_train, NUM_CLASSES).argmax(1),
        "test_top1": linear_probe_scores(d_train, train_labels, d_test, NUM_CLASSES).argmax(1),
    }
    out["descriptor"] = {
        "train_top1": percent(scores["train_top1"], train_labels),
        "test_top1": percent(scores["test_top1"], test_labels),
    }
    out["train_videos"], out["test_videos"] = len(train) // CLIPS, len(test) // CLIPS
    return out


def table(results: dict) -> str:
    lines = [
        "| setting | train / test videos | RGB supervised train / test | frame differences supervised "
        "train / test | motion descriptor (linear) train / test |",
        "|---|--:|--:|--:|--:|",
    ]
    for key, r in results.items():
        cells = [f"{r[row]['train_top1']:.1f} / {r[row]['test_top1']:.1f}" for row in ROWS]
        lines.append(f"| {key} | {r['train_videos']} / {r['test_videos']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\nclip top-1, percent; chance {100 / NUM_CLASSES:.1f}\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--clips-per-class", default="32", help="comma-separated: one set per value")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--background-p", type=float, default=0.0, help="the background trap (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    done = args.out / "results.json"
    results = json.loads(done.read_text()) if done.exists() else {}
    for clips in [int(c) for c in args.clips_per_class.split(",")]:
        key = f"{clips} clips/class, {args.size} px, trap {args.background_p:g}, {args.steps} steps, seed {args.seed}"
        if key in results:
            continue
        root = args.out / "sets" / f"c{clips}_s{args.size}_b{args.background_p:g}_seed{args.seed}"
        if not (root / "synth_gt.json").exists():
            spec = ActionSynthSpec(
                num_classes=NUM_CLASSES,
                clips_per_class=clips,
                size=args.size,
                frames=16,
                fps=8.0,
                background_p=args.background_p,
                seed=args.seed,
            )
            write_action_synthetic("ucf101", root, spec)
        start = time.time()
        results[key] = study(root, args.size, args.steps, args.seed)
        print(f"{key}: {results[key]} ({time.time() - start:.0f} s)", flush=True)
        write_json(done, results)
    text = table(results)
    (args.out / "table.md").write_text(text)
    print(text)
    return results


if __name__ == "__main__":
    main()
