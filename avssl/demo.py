"""`avssl demo`: the main job on embedded synthetic data, no downloads, a few minutes on 2 CPU cores.

1. writes a synthetic VGG-Sound-layout training set, a Flickr-SoundNet-layout test set (another seed) and a
   held-out video, all as real encoded media;
2. trains SSL-TIE (small CPU encoders) with the recipe runner (`avssl.runner.run`) — the same code as the
   recipe;
3. scores cIoU / AUC on the test set exactly as the reference code does, next to the centre-prior and
   random baselines;
4. runs `avssl localize` on the held-out video (heatmaps, overlay video with its audio, peaks JSON).

`avssl demo --quick` shrinks everything (used by the test suite); `--steps` sets the training length.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from avssl.data.synthetic.layouts import SynthSpec, write_synthetic
from avssl.evaluation.localization import baseline_predictions, evaluate_localization


def _baselines(test_root: Path) -> dict[str, dict]:
    from avssl.data.datasets import load_index

    ids = [item.id for item in load_index("flickr", test_root).items]
    return {
        kind: evaluate_localization("flickr", test_root, baseline_predictions(kind, ids, seed=0), "gt")
        for kind in ("centre", "random")
    }


def run_demo(out: str | Path, steps: int = 200, quick: bool = False, seed: int = 0) -> int:
    """Synthesize, train, evaluate, localize; print a table and where the outputs are. Returns 0."""
    from avssl.inference.load import load_run
    from avssl.inference.localize import LocalizeOptions, localize_video
    from avssl.runner.run import run_recipe
    from avssl.runner.specs import SYNTHETIC_TRAIN_SIZES

    out = Path(out)
    started = time.time()
    n_train, n_test = (32, 12) if quick else (160, 48)
    print(
        f"avssl demo: synthetic data → {out}/data (VGG-Sound layout for training, Flickr-SoundNet layout for test)"
    )
    write_synthetic(
        "vggsound",
        out / "data" / "vggsound",
        SynthSpec(n=n_train, seed=seed, size=128, num_classes=8, sizes=SYNTHETIC_TRAIN_SIZES),
    )
    write_synthetic("flickr", out / "data" / "flickr", SynthSpec(n=n_test, seed=seed + 1000, num_classes=8))
    write_synthetic(
        "folder",
        out / "data" / "heldout",
        SynthSpec(
            n=1, seed=seed + 2000, size=192, num_classes=8, duration_s=6.0, sizes=SYNTHETIC_TRAIN_SIZES
        ),
    )
    run = out / "run"
    print(f"training SSL-TIE for {steps} steps on CPU-sized encoders → {run}")
    out_runner = run_recipe(
        [
            "--config",
            str(Path(__file__).resolve().parent / "configs" / "demo_ssl_tie.yaml"),
            f"output_dir={run}",
            f"data.root={out / 'data' / 'vggsound'}",
            f"eval.root={out / 'data' / 'flickr'}",
            f"train.max_steps={steps}",
            f"train.seed={seed}",
            "train.progress_bar=true",
        ],
        default_task="ssl_tie",
    )
    result = out_runner["eval"][str(run)]
    rows = {
        "ssl_tie (trained)": result,
        **{f"{k} prior" if k == "centre" else k: v for k, v in _baselines(out / "data" / "flickr").items()},
    }
    print(f"\nFlickr-layout synthetic test set ({result['num_samples']} images), 'gt' rule (LVS/SSL-TIE):")
    print(f"{'method':<20} {'cIoU (%)':>9} {'AUC (%)':>9}")
    for name, metrics in rows.items():
        print(f"{name:<20} {metrics['cIoU']:>9.1f} {metrics['AUC']:>9.1f}")
    (out / "metrics.json").write_text(
        json.dumps({k: {m: v[m] for m in ("cIoU", "AUC", "mean_cIoU")} for k, v in rows.items()}, indent=1)
    )
    task, config = load_run(run)
    video = next((out / "data" / "heldout").rglob("*.mp4"))
    localized = localize_video(
        task, config, video, out / "localize", LocalizeOptions(window_s=1.0, stride_s=0.5)
    )
    print(f"\nmetrics: {out / 'metrics.json'}")
    print(f"overlay video: {localized / 'overlay.mp4'}  (heatmaps.npz, peaks.json beside it)")
    print(f"trained run: {run}  (try: avssl localize YOUR_VIDEO.mp4 --run {run} --out {out / 'mine'})")
    print(f"done in {time.time() - started:.0f} s")
    return 0
