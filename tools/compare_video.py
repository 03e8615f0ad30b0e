"""The video methods on one synthetic action set, same seed and steps: one table.

    .venv/bin/python tools/compare_video.py --out runs/compare_video [--steps 150] [--size 32] \\
        [--methods untrained,video_moco,cvrl,concur,...] [--seeds 0] [key=value ...]

Every method in `METHODS` (its recipe config in recipes/configs/) trains `--steps` steps on the same
synthetic UCF101-layout action set (`avssl synth`'s action set with its background trap and swapped test
copy: 6 motions × 32 clips, split 1 = 144 training / 48 test videos, written once per size and seed under
OUT/data/), at `data.size=--size`, with `train.seed` = each of `--seeds`; `untrained` is video MoCo trained
one step at learning rate 0 (random weights, BatchNorm statistics from one batch). Each finished model is
scored by the recipe's evaluators (`eval.evaluators`, `EVALUATORS` below) on the 48 test videos:

* linear top-1 / background-swapped top-1 / drop (points) of the linear probe (multi-clip, `action`);
* video retrieval R@1: test clips querying the training clips by class (`action`);
* clip-pair R@5: a test video's first clip finds its second among the test videos (`clip_pairs`);
* swap→orig R@1 and similarity gap: a background-swapped test video finds its original among the test
  videos (`background_invariance`);
* attention IoU: the encoder's top-20 % activation region against the moving object's mask (`attention`).

Below the table, the claims of the methods at this scale: top-1 over the untrained encoder (≥ 15 points),
the drop on the swapped set against MoCo's (MaCLR, FAME: ≥ 10 points smaller), attention IoU against
MoCo's (MCL, PreViTS). Runs live under OUT/runs/METHOD_sSEED; a rerun with the same arguments reads a finished
run's evaluation back and resumes an interrupted one (the recipes resume from their last checkpoint).
Writes OUT/table.md and OUT/results.json. Extra `key=value` arguments go to every run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from avssl.outputs import write_json  # noqa: E402
from avssl.runner.args import parse_recipe  # noqa: E402
from avssl.runner.run import run_recipe  # noqa: E402
from avssl.runner.specs import recipe_of, recipe_schema  # noqa: E402

CONFIGS = ROOT / "recipes" / "configs"


class Method(NamedTuple):
    """A compared method: its recipe config (recipes/configs/), overrides of its own, and the claims its
    paper makes that the table checks against video MoCo ("drop": a smaller background-swapped drop,
    "attention": a higher attention IoU) or against its own ablation ("over:<method>": a higher linear
    top-1 than that table row, e.g. CVRL over its temporally inconsistent variant)."""

    config: str
    overrides: tuple[str, ...] = ()
    claims: tuple[str, ...] = ()


IBOOT_TEACHER = (
    "model.teacher.name=small",
    "model.teacher.weights={runs}/carl_s{seed}",
    "model.teacher.weights_source=run",
    "model.teacher.weights_prefix=encoder.",
)
# A new video method is one entry here; overrides may name {runs} (OUT/runs), {seed} and {half} (--steps / 2).
METHODS: dict[str, Method] = {
    "untrained": Method("video_moco.yaml", ("train.max_steps=1", "optim.lr=0")),
    "video_moco": Method("video_moco.yaml"),
    "maclr": Method("maclr.yaml", claims=("drop",)),
    "fame": Method("fame.yaml", claims=("drop",)),
    "mcl": Method("mcl.yaml", claims=("attention",)),
    "previts": Method("previts.yaml", claims=("attention",)),
    "cvrl": Method("cvrl.yaml", claims=("over:cvrl_per_frame", "over:cvrl_uniform")),
    "cvrl_per_frame": Method("cvrl.yaml", ("data.transforms.0.per_frame=true",)),
    "cvrl_uniform": Method("cvrl.yaml", ("data.views.1.timing.distance=uniform",)),
    "concur": Method("concur.yaml", claims=("over:concur_no_curriculum", "over:concur_no_distance")),
    "concur_no_curriculum": Method("concur.yaml", ("data.views.1.timing.curriculum_epochs=0",)),
    "concur_no_distance": Method("concur.yaml", ("model.distance_weight=0",)),
    "carl": Method("carl.yaml"),
    # iBoot's frozen teacher: the 2D frame encoder of this table's `carl` run (list carl before iboot)
    "cvrl_half": Method("cvrl.yaml", ("train.max_steps={half}",)),
    "iboot": Method("iboot.yaml", IBOOT_TEACHER),
    "iboot_half": Method("iboot.yaml", (*IBOOT_TEACHER, "train.max_steps={half}")),
    "constcl": Method("constcl.yaml"),
    "constcl_local1": Method("constcl.yaml", ("model.local_weight=1",)),
    "constcl_no_local": Method("constcl.yaml", ("model.local_weight=0",)),
}
BASELINE, UNTRAINED = "video_moco", "untrained"
EVALUATORS = "[action,clip_pairs,background_invariance,attention]"
# the learning tests' scale (tests/recipes/): 6 classes × 32 clips, 2 clips per test video, 1 loader worker
COMMON = (
    "synthetic_clips_per_class=32",
    "data.num_workers=1",
    "eval.clips=2",
    "eval.protocols=[linear,knn]",
    f"eval.evaluators={EVALUATORS}",
    "train.checkpoint_every=50",
    "train.progress_bar=false",
)
COLUMNS = (
    ("linear top-1", lambda f: f["top1"]),
    ("swapped top-1", lambda f: f["swapped"]),
    ("drop", lambda f: f["drop"]),
    ("video R@1", lambda f: f["video R@1"]),
    ("clip-pair R@5", lambda f: f["pairs R@5"]),
    ("swap→orig R@1", lambda f: f["swap R@1"]),
    ("similarity gap", lambda f: f["gap"]),
    ("attention IoU", lambda f: f["iou"]),
)


def write_data(out: Path, size: int, seed: int, extra: list[str], method: str = UNTRAINED) -> Path:
    """The synthetic action set of `size` and `seed` (the recipes' own `synthesize`, read with `method`'s
    config and `extra`), once, under OUT/data; its root."""
    root = out / "data" / f"size{size}_seed{seed}"
    config, own, _ = METHODS[method]
    argv = ["--config", str(CONFIGS / config), *COMMON, f"data.size={size}", f"train.seed={seed}", *extra]
    cfg = parse_recipe([*argv, *own], "video_moco", recipe_schema)
    recipe_of(cfg.task).synthesize(cfg, root)
    return Path(cfg.data.root)


def train_method(name: str, run: Path, data: Path, steps: int, size: int, seed: int, extra=()) -> dict:
    """Train (or read back, or resume) `name` in `run` on `data`; its evaluation (the recipe's eval dict).
    A finished run is read back from RUN/compare_result.json when its arguments are the same."""
    config, own, _ = METHODS[name]
    own = tuple(o.format(runs=run.parent, seed=seed, half=max(1, steps // 2)) for o in own)
    args = [
        "--config",
        str(CONFIGS / config),
        *COMMON,
        f"data.root={data}",
        f"output_dir={run}",
        f"data.size={size}",
        f"train.seed={seed}",
        f"train.max_steps={steps}",
        *extra,
        *own,
    ]
    done = run / "compare_result.json"
    if done.is_file():
        previous = json.loads(done.read_text())
        if previous["args"] == args:
            return previous["eval"]
    print(f"== {name} seed {seed}: → {run}", flush=True)
    evaluation = next(iter(run_recipe(args, default_task="video_moco")["eval"].values()))
    write_json(done, {"args": args, "eval": evaluation})
    return evaluation


def figures(evaluation: dict) -> dict:
    """The table's figures of one run's evaluation (None where an evaluator had nothing to score)."""
    linear = evaluation["action"]["linear"]
    invariance = evaluation.get("background_invariance") or {}
    return {
        "top1": linear["top1"],
        "swapped": linear.get("background_swapped", {}).get("top1"),
        "drop": linear.get("drop", {}).get("top1"),
        "video R@1": evaluation["video_retrieval"]["R@1"],
        "pairs R@1": evaluation["clip_pairs"]["R@1"],
        "pairs R@5": evaluation["clip_pairs"]["R@5"],
        "swap R@1": invariance.get("R@1"),
        "gap": invariance.get("similarity_gap"),
        "iou": (evaluation.get("attention") or {}).get("iou"),
    }


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def _number(value: float | None, digits: int) -> str:
    """`value` to `digits` decimals ("–" for None; no "-0.0")."""
    if value is None:
        return "–"
    text = f"{value:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text


def _cell(values: list, digits: int) -> str:
    """One seed: the value; several: their mean and the values (mean (a / b))."""
    text = [_number(v, digits) for v in values]
    mean = _mean(values)
    if len(values) == 1 or mean is None:
        return " / ".join(text)
    return f"{_number(mean, digits)} ({' / '.join(text)})"


def claims(means: dict[str, dict]) -> list[str]:
    """The methods' claims at this scale, each with its measured figures and whether it holds."""

    def say(ok: bool) -> str:
        return "holds" if ok else "NOT reproduced"

    lines, base, moco = [], means.get(UNTRAINED), means.get(BASELINE)
    for name, f in means.items():
        if name == UNTRAINED:
            continue
        if base is not None:
            gain = f["top1"] - base["top1"]
            lines.append(
                f"- {name}: linear top-1 {f['top1']:.1f} vs untrained {base['top1']:.1f} "
                f"({gain:+.1f}; claim ≥ +15): {say(gain >= 15)}"
            )
        claimed = METHODS[name].claims if moco is not None else ()
        if "drop" in claimed and None not in (f["drop"], moco["drop"]):
            less = moco["drop"] - f["drop"]
            chance = base is not None and f["top1"] - base["top1"] < 15
            lines.append(
                f"- {name}: swapped drop {f['drop']:.1f} vs MoCo {moco['drop']:.1f} "
                f"({less:.1f} points less; claim ≥ 10): {say(less >= 10)}"
                + (
                    " (its top-1 is not 15 points above the untrained one's: the drop is no evidence)"
                    if chance
                    else ""
                )
            )
        for claim in METHODS[name].claims:
            other = claim.removeprefix("over:")
            if claim.startswith("over:") and other in means:
                o = means[other]
                noise = base is not None and max(f["top1"], o["top1"]) - base["top1"] < 15
                lines.append(
                    f"- {name}: linear top-1 {f['top1']:.1f} vs {other} {o['top1']:.1f}, clip-pair R@5 "
                    f"{f['pairs R@5']:.1f} vs {o['pairs R@5']:.1f} (claim: higher top-1): {say(f['top1'] > o['top1'])}"
                    + (
                        " (neither top-1 is 15 points above the untrained one's: no evidence)"
                        if noise
                        else ""
                    )
                )
        if "attention" in claimed and None not in (f["iou"], moco["iou"]):
            lines.append(
                f"- {name}: attention IoU {f['iou']:.3f} vs MoCo {moco['iou']:.3f} "
                f"(claim: higher): {say(f['iou'] > moco['iou'])}"
            )
    return lines


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/compare_video")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--size", type=int, default=32, help="data.size (frames are 1.15 × this)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma list of {', '.join(METHODS)}")
    parser.add_argument("--seeds", default="0", help="comma list of train.seed (each: its own data too)")
    parser.add_argument("overrides", nargs="*", help="key=value for every run")
    args = parser.parse_args(argv)
    names = args.methods.split(",")
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    for name in ("iboot", "iboot_half"):
        if name in names and ("carl" not in names or names.index("carl") > names.index(name)):
            parser.error(f"{name}'s teacher is the carl run: list carl before {name}")
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    results: dict[str, dict] = {name: {} for name in names}
    for seed in seeds:
        data = write_data(out, args.size, seed, args.overrides, names[0])
        for name in names:
            run = out / "runs" / f"{name}_s{seed}"
            steps = args.steps
            results[name][seed] = train_method(name, run, data, steps, args.size, seed, args.overrides)
    per_seed = {n: [figures(results[n][s]) for s in seeds] for n in names}
    means = {n: {k: _mean([f[k] for f in fs]) for k in fs[0]} for n, fs in per_seed.items()}
    videos = results[names[0]][seeds[0]]["action"]["linear"]["num_videos"]
    header = [
        f"{args.steps} steps, data.size={args.size}, seeds {args.seeds}, {videos} test videos (6 classes: "
        f"chance 16.7 %); overrides: {' '.join(args.overrides) or 'none'}",
        "",
        "| method | " + " | ".join(c for c, _ in COLUMNS) + " |",
        "|---|" + "--:|" * len(COLUMNS),
    ]
    rows = [
        f"| {n} | "
        + " | ".join(
            _cell([get(f) for f in per_seed[n]], 3 if c in ("attention IoU", "similarity gap") else 1)
            for c, get in COLUMNS
        )
        + " |"
        for n in names
    ]
    return write_results(out, args, header + rows, claims(means), per_seed, means, results)


def write_results(out: Path, args, lines: list[str], verdicts: list[str], per_seed, means, results) -> dict:
    """Print the table (`lines`, then the claim lines) and write OUT/table.md and OUT/results.json (shared
    by the compare tools); {"figures", "mean", "claims"}."""
    table = "\n".join(lines + ([""] + verdicts if verdicts else []))
    print("\n" + table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(table + "\n")
    write_json(
        out / "results.json", {"args": vars(args), "figures": per_seed, "mean": means, "eval": results}
    )
    return {"figures": per_seed, "mean": means, "claims": verdicts}


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
