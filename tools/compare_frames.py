"""Frame-wise representations on one synthetic Penn Action-layout set: CARL against its untrained model and a
frame-independent baseline, scored by the frame-level protocols. One table.

    .venv/bin/python tools/compare_frames.py --out runs/compare_frames [--steps 300] [--seeds 0] \\
        [--methods untrained,carl,moco_frames] [key=value ...]

The set (`avssl synth --layout pennaction`: 60 videos of 3 actions, 20–60 frames of 40 px, 3 phases each
with random lengths; 39 training / 21 validation videos) is written once under OUT/data. Methods:

* `untrained`: CARL's model after one step at learning rate 0 (random weights; its transformer sees the
  sine-cosine positions of the frames, so it aligns videos by frame index);
* `carl`: CARL (`recipes/configs/carl.yaml`) with 0.6 s views at 30 fps (18 frames, inside every video) whose
  starts differ by at most 0.3 s;
* `carl_subset`: CARL with its release's sampling: each view 20 random frames (kept in order) of the whole
  video (`frame_subset` on a 2 s window at 30 fps);
* `moco_frames`: video MoCo (`recipes/configs/video_moco.yaml`) trained on the same videos and scored frame by
  frame (one-frame clips: a frame-independent baseline).

Each finished run is scored by `avssl eval frames` (per action, then averaged): phase classification (%),
phase progression (R²), Kendall's τ, frame retrieval AP@5. Runs live under OUT/runs/METHOD_sSEED; a rerun
reads finished runs back (RUN/frames.json) and resumes interrupted ones. Writes OUT/table.md and
OUT/results.json. Extra `key=value` arguments go to every run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from avssl.outputs import write_json  # noqa: E402
from avssl.runner.run import run_recipe  # noqa: E402

CONFIGS = ROOT / "recipes" / "configs"


class Method(NamedTuple):
    config: str
    task: str
    overrides: tuple[str, ...] = ()


VIEWS = ("data.fps=30", "data.duration_s=0.6", "data.views.1.timing.max_gap_s=0.3")
# the release's sampling: both views random sorted 20-frame subsets of one 2 s window (the whole video)
SUBSET = (
    "data.fps=30",
    "data.duration_s=2.0",
    "data.views=[{audio: false}, {audio: false}]",
    "data.transforms=[{name: frame_subset, count: 20}, {name: clip_augment, scale: [0.5, 1.0], flip_p: 0.5, "
    "jitter_p: 0.8, grayscale_p: 0.2}, {name: normalize}]",
)
METHODS: dict[str, Method] = {
    "untrained": Method("carl.yaml", "carl", (*VIEWS, "train.max_steps=1", "optim.lr=0")),
    "carl": Method("carl.yaml", "carl", (*VIEWS, "optim.lr=0.001")),
    "carl_subset": Method("carl.yaml", "carl", (*SUBSET, "optim.lr=0.001")),
    "moco_frames": Method(
        "video_moco.yaml", "video_moco", ("data.fps=8", "data.duration_s=0.6", "model.queue_size=256")
    ),
}
COMMON = (
    "data.layout=pennaction",
    "data.size=32",
    "data.num_workers=1",
    "train.progress_bar=false",
    "train.log_every=50",
    "train.checkpoint_every=100",
    "eval.clips=2",
    "eval.background_swapped=false",
)


def write_data(out: Path, seed: int) -> Path:
    """The synthetic Penn Action-layout set of `seed`, once; its root."""
    from avssl.data.synthetic.phases import PhaseSynthSpec, write_phase_synthetic

    root = out / "data" / f"pennaction_seed{seed}"
    if not (root / "synth_gt.json").is_file():
        write_phase_synthetic(root, PhaseSynthSpec(n=60, num_classes=3, size=40, seed=seed))
    return root


def train_and_score(name: str, run: Path, data: Path, steps: int, seed: int, extra=()) -> dict:
    """Train (or resume) `name` in `run`, then `avssl eval frames`; read back when already scored."""
    from avssl.evaluation.embed import eval_data_config
    from avssl.evaluation.frames import frame_features, frame_report
    from avssl.inference.load import load_run

    done = run / "frames.json"
    if done.is_file():
        return json.loads(done.read_text())
    config, task, own = METHODS[name]
    args = ["--config", str(CONFIGS / config), *COMMON, f"data.root={data}", f"output_dir={run}"]
    args += [f"train.seed={seed}", f"train.max_steps={steps}", *extra, *own]
    print(f"== {name} seed {seed}: → {run}", flush=True)
    run_recipe(args, default_task=task)
    model, cfg = load_run(run)
    data_cfg = eval_data_config(cfg, None, None, None)
    report = frame_report(frame_features(model, data_cfg, "train"), frame_features(model, data_cfg, "val"))
    write_json(done, report)
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--methods", default=",".join(METHODS))
    args, extra = parser.parse_known_args(argv)
    names = args.methods.split(",")
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    out = Path(args.out)
    results: dict[str, dict[str, dict]] = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        data = write_data(out, seed)
        for name in names:
            report = train_and_score(name, out / "runs" / f"{name}_s{seed}", data, args.steps, seed, extra)
            results.setdefault(name, {})[str(seed)] = report
    lines = [
        f"{args.steps} steps, seeds {args.seeds}; per action, then averaged over 3 actions (3 phases: chance 33.3 %)",
        "",
        "| method | phase classification | phase progression R² | Kendall's τ | AP@5 |",
        "|---|--:|--:|--:|--:|",
    ]

    def cell(values: list) -> str:
        values = [v for v in values if v is not None]
        return " / ".join(f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}" for v in values) if values else "–"

    for name, per_seed in results.items():
        reports = list(per_seed.values())
        row = [
            cell([r["classification"] for r in reports]),
            cell([r["progression"] for r in reports]),
            cell([r["kendalls_tau"] for r in reports]),
            cell([r["retrieval"].get("AP@5") for r in reports]),
        ]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    table = "\n".join(lines) + "\n"
    (out / "table.md").write_text(table)
    write_json(out / "results.json", results)
    print(table)
    return results


if __name__ == "__main__":
    main()
