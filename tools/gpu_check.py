"""Every recipe on a GPU in fp32, bf16 and fp16, checked against fp32, from one command.

    .venv/bin/python tools/gpu_check.py [--out runs/gpu_check] [--steps 3] [--recipes ssl_tie,avs_s4]

For each recipe config (recipes/configs/*.yaml, at toy scale: small encoders, 32–64 px, batch 4, tiny
synthetic data written once and shared by every run) it trains `--steps` steps in each precision through
the runner (so Accelerate's autocast, and GradScaler for fp16), runs the final evaluation, and for the
methods that localize / segment runs `avssl localize` / `avssl segment` (`--device cuda`) on one synthetic
video. Each precision is compared with the fp32 run of the same recipe (same seed, same data):

- the first logged loss (same weights, same batch: only the precision differs): relative difference ≤ 5 %;
- every numeric evaluation metric: |Δ| ≤ 10 points or 25 % of the fp32 value, whichever is larger
  (a few training steps in another precision move a thresholded metric on a handful of items);
- heatmaps / masks (values in [0, 1]): mean |Δ| ≤ 0.1.

It prints one table row per (recipe, precision) and exits 1 when any check fails. About 2–4 minutes on one
GPU. Without a CUDA device it prints one line and exits 0. `--device cpu` runs the same checks on the CPU
(fp32 and bf16; Accelerate trains fp16 on a CPU in fp32) to test the tool itself.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

CONFIGS = ROOT / "recipes" / "configs"
LOSS_RTOL, METRIC_ATOL, METRIC_RTOL, MAP_ATOL = 0.05, 10.0, 0.25, 0.1
COMMON = ["data.num_workers=0", "train.batch_size=4", "train.log_every=1", "train.checkpoint_every=100000",
          "train.progress_bar=false"]  # fmt: skip
SMALL_AV = ["model.visual.name=small", "model.audio.name=audio_small", "data.size=32"]
SMALL_LOC = ["model.visual.name=small_context", "model.visual.output_stride=8", "model.audio.name=audio_small",
             "model.audio.output_stride=8", "data.size=32", "eval.every=0"]  # fmt: skip
SMALL_AVS = ["model.visual.name=small", "model.visual.output_stride=32", "model.visual.weights_source=encoder",
             "model.audio.name=audio_small", "model.channels=16", "data.size=32", "eval.every=0"]  # fmt: skip
SMALL_IMG = ["data.synthetic.train=16", "data.synthetic.val=8", "data.size=32", "model.queue_size=8",
             "model.dense_queue_size=8"]  # fmt: skip
SMALL_IMG_SSL = ["data.synthetic.train=16", "data.synthetic.val=8", "data.size=32", "model.queue_size=8",
                 "views=bg_swaps", "data.masks=annotations"]  # fmt: skip
# recipe → (config, data layout written for it ("" = the recipe's own synthetic data), toy overrides, verb)
RECIPES: dict[str, tuple[str, str, list[str], str | None]] = {
    "av_contrastive": ("av_contrastive.yaml", "vggsound", SMALL_AV, None),
    "ssl_tie": ("ssl_tie.yaml", "vggsound", SMALL_LOC, "localize"),
    "lvs": ("lvs.yaml", "vggsound", SMALL_LOC, "localize"),
    "ezvsl": ("ezvsl.yaml", "vggsound", SMALL_LOC, "localize"),
    "avs_s4": ("avs_s4.yaml", "avsbench-s4", SMALL_AVS, "segment"),
    "avs_ms3": ("avs_ms3.yaml", "avsbench-ms3", SMALL_AVS, "segment"),
    "binaural_single": ("binaural_multissl_single.yaml", "fairplay", [], None),
    "binaural_joint": ("binaural_multissl_joint.yaml", "fairplay", [], None),
    "binaural_incremental": ("binaural_multissl_incremental.yaml", "fairplay", [], None),
    "image_joint": ("multissl_image_joint.yaml", "", SMALL_IMG, None),
    "image_incremental": ("multissl_image_incremental.yaml", "", SMALL_IMG, None),
    "image_ssl": ("image_ssl.yaml", "", SMALL_IMG_SSL, None),
}
PRECISIONS = {"fp32": "'no'", "bf16": "bf16", "fp16": "fp16"}  # quoted: YAML reads a bare no as false


def _data(out: Path) -> dict[str, Path]:
    """Tiny synthetic sets (written once): every training layout, a Flickr test set, one probe video."""
    from avssl.data.synthetic.layouts import SynthSpec, write_synthetic

    sets = {"vggsound": 16, "avsbench-s4": 12, "avsbench-ms3": 12, "fairplay": 12, "flickr": 4, "folder": 1}
    roots = {}
    for layout, n in sets.items():
        roots[layout] = root = out / "data" / layout
        if not (root / "synth_gt.json").is_file():
            duration = 6.0 if layout == "folder" else 5.0 if layout.startswith("avsbench") else 4.0
            write_synthetic(
                layout, root, SynthSpec(n=n, seed=len(roots), size=64, num_classes=4, duration_s=duration)
            )
    return roots


def _flatten(metrics: dict, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of nested metrics, keyed by their path."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[f"{prefix}{key}"] = float(value)
    return flat


def _train(recipe: str, precision: str, out: Path, roots: dict[str, Path], steps: int) -> dict:
    """One run: {"loss": first logged loss, "metrics": flat final metrics, "run": its directory}."""
    from avssl.runner.run import run_recipe

    config, layout, small, _ = RECIPES[recipe]
    run = out / "runs" / recipe / precision
    args = ["--config", str(CONFIGS / config), f"output_dir={run}", f"train.max_steps={steps}",
            f"train.mixed_precision={PRECISIONS[precision]}", *COMMON, *small]  # fmt: skip
    if layout:
        args.append(f"data.root={roots[layout]}")
    if small is SMALL_LOC:
        args.append(f"eval.root={roots['flickr']}")
    result = run_recipe(args, default_task="ssl_tie")
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    first = next(row["loss"] for row in rows if "loss" in row)
    metrics: dict[str, float] = {}
    for run_dir, values in result["eval"].items():
        stage = (
            Path(run_dir).relative_to(run).as_posix()
        )  # "." or a stage's folder: the same in every precision
        metrics.update(_flatten(values, f"{stage}/"))
    return {"loss": first, "metrics": metrics, "run": run}


def _infer(verb: str, run: Path, video: Path, out: Path, device: str) -> np.ndarray:
    """`avssl localize|segment VIDEO --run RUN --device DEVICE`: the heatmaps / masks it wrote."""
    from avssl.cli import main as cli

    if cli([verb, str(video), "--run", str(run), "--out", str(out), "--no-overlay", "--device", device]) != 0:
        raise RuntimeError(f"avssl {verb} failed on {run}")
    name = "heatmaps" if verb == "localize" else "masks"
    with np.load(next(out.glob(f"*/{name}.npz"))) as data:
        return data[name]


def _compare(ref: dict, got: dict) -> tuple[float, float, float | None, list[str]]:
    """(relative loss Δ, max metric Δ, map Δ, failures) of one precision against fp32."""
    failures = []
    loss = abs(got["loss"] - ref["loss"]) / max(abs(ref["loss"]), 1e-8)
    if not math.isfinite(got["loss"]) or loss > LOSS_RTOL:
        failures.append(f"loss {got['loss']:.4g} vs {ref['loss']:.4g}")
    worst = 0.0
    for key, value in ref["metrics"].items():
        delta = abs(got["metrics"].get(key, math.nan) - value)
        worst = max(worst, delta) if math.isfinite(delta) else math.inf
        if not delta <= max(METRIC_ATOL, METRIC_RTOL * abs(value)):
            failures.append(f"{key} {got['metrics'].get(key)} vs {value:.4g}")
    maps = None
    if "maps" in ref:
        maps = (
            float(np.abs(got["maps"] - ref["maps"]).mean())
            if got["maps"].shape == ref["maps"].shape
            else math.inf
        )
        if not maps <= MAP_ATOL:
            failures.append(f"maps mean |Δ| {maps:.3g}")
    return loss, worst, maps, failures


def check_recipe(
    recipe: str, precisions: list[str], out: Path, roots: dict, steps: int, device: str
) -> list[dict]:
    """Rows of the table for `recipe`: each precision trained, evaluated, inferred and compared with fp32."""
    verb, results, rows = RECIPES[recipe][3], {}, []
    for precision in ["fp32", *[p for p in precisions if p != "fp32"]]:
        started = time.time()
        try:
            results[precision] = got = _train(recipe, precision, out, roots, steps)
            if verb:
                video = next(roots["folder"].glob("*/clip_0000.mp4"))
                got["maps"] = _infer(verb, got["run"], video, out / "infer" / recipe / precision, device)
            deltas = (
                _compare(results["fp32"], got)
                if precision != "fp32"
                else (0.0, 0.0, 0.0 if verb else None, [])
            )
        except Exception as err:  # noqa: BLE001  (a crash in one precision is a failed row, not the end)
            results.pop(precision, None)
            got, deltas = {"loss": math.nan}, (math.nan, math.nan, None, [f"{type(err).__name__}: {err}"])
            if precision == "fp32":
                rows.append(_row(recipe, precision, got, deltas, started))
                break
        rows.append(_row(recipe, precision, got, deltas, started))
    return rows


def _row(recipe: str, precision: str, got: dict, deltas: tuple, started: float) -> dict:
    loss, metric, maps, failures = deltas
    return {"recipe": recipe, "precision": precision, "loss": got["loss"], "loss Δ%": 100 * loss,
            "metric Δmax": metric, "map Δ": maps, "s": time.time() - started, "failures": failures}  # fmt: skip


def print_table(rows: list[dict]) -> None:
    """The checks as a fixed-width table, failures spelled out under it."""
    print(f"{'recipe':<22}{'prec':<6}{'loss':>9}{'loss Δ%':>9}{'metric Δmax':>13}{'map Δ':>8}{'s':>6}  ok")
    for r in rows:
        maps = "–" if r["map Δ"] is None else f"{r['map Δ']:.3f}"
        print(f"{r['recipe']:<22}{r['precision']:<6}{r['loss']:>9.4f}{r['loss Δ%']:>9.2f}{r['metric Δmax']:>13.2f}"
              f"{maps:>8}{r['s']:>6.0f}  {'FAIL' if r['failures'] else 'ok'}")  # fmt: skip
    for r in rows:
        for failure in r["failures"]:
            print(f"  {r['recipe']} {r['precision']}: {failure}")
    print(f"tolerances vs fp32: first loss ≤ {100 * LOSS_RTOL:.0f} % rel.; metrics ≤ max({METRIC_ATOL:.0f}, "
          f"{100 * METRIC_RTOL:.0f} %); maps/masks mean |Δ| ≤ {MAP_ATOL}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the checks; 0 when every row agrees with fp32 (or there is no CUDA device), else 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/gpu_check")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument(
        "--recipes", default=",".join(RECIPES), help="comma-separated subset of: " + ", ".join(RECIPES)
    )
    parser.add_argument("--precisions", default=None, help="default: fp32,bf16,fp16 (cuda) / fp32,bf16 (cpu)")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="cpu: test the tool itself")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device on this machine; nothing to check")
        return 0
    if args.device == "cpu":
        os.environ["ACCELERATE_USE_CPU"] = "true"
    precisions = (args.precisions or ("fp32,bf16,fp16" if args.device == "cuda" else "fp32,bf16")).split(",")
    unknown = [r for r in args.recipes.split(",") if r not in RECIPES] + [
        p for p in precisions if p not in PRECISIONS
    ]
    if unknown:
        parser.error(f"unknown recipe / precision {unknown}")
    out = Path(args.out)
    roots, rows = _data(out), []
    for recipe in args.recipes.split(","):
        rows += check_recipe(recipe, precisions, out, roots, args.steps, args.device)
    print_table(rows)
    return 1 if any(r["failures"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
