"""Single-task ×3, joint and incremental binaural multi-SSL on one synthetic FAIR-Play set: one table.

    .venv/bin/python tools/compare_multissl.py --out runs/compare_multissl --steps 300

Every method gets the same number of optimizer steps (`--steps`; incremental: steps / 3 per stage, in the
order spatial → sync → gap, with output + feature distillation and replay), the same data, seed and model.
Columns: held-out accuracy (percent, `repeats` questions per clip) of each pretext task whose head the
method trained (chance: spatial 50, sync 50, gap 33.3), kNN / linear-probe top-1 and class-retrieval R@1
(held-out clips query the training clips) on pooled visual and audio features (synthetic class labels,
8 classes), and forgetting: task-1 (spatial) accuracy after every stage of the incremental runs
(`--replay-buffer N`, default 32, adds one that rehearses on a replay memory of N stored clips). A rerun
reads a finished run's evaluation back (same arguments) and resumes an unfinished one. The table is
written to OUT/table.md, OUT/table.json and OUT/table.png.
With `--superres-steps N` each final model's frozen visual encoder also feeds a spatial sound
super-resolution head trained for N steps (`avssl.evaluation.superres`): STFT / envelope distances on the
held-out clips, next to the mono baseline (lower is better).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avssl.data.synthetic.layouts import SynthSpec, write_synthetic  # noqa: E402
from avssl.figures import table_png  # noqa: E402
from avssl.runner.run import run_recipe  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "recipes" / "configs"
PRETEXTS = ("spatial", "sync", "gap")


def _run(config: str, out: Path, data: Path, steps: int, extra: list[str]) -> dict:
    """The run's evaluation; a finished run with the same arguments is read back, not run again."""
    args = [
        "--config",
        str(CONFIGS / config),
        f"data.root={data}",
        f"output_dir={out}",
        f"train.max_steps={steps}",
        "train.progress_bar=false",
        "train.checkpoint_every=100000",
        *extra,
    ]
    done = out / "compare_result.json"
    if done.is_file():
        previous = json.loads(done.read_text())
        if previous["args"] == args:
            return previous["eval"]
    evaluation = run_recipe(args, default_task="binaural_multissl")["eval"]
    tmp = done.with_suffix(".tmp")
    tmp.write_text(json.dumps({"args": args, "eval": evaluation}, indent=2))
    tmp.replace(done)
    return evaluation


def _superres(run_dir: str, steps: int) -> str:
    """ "STFT / envelope (mono: STFT / envelope)" of a super-resolution head on the run's frozen encoder."""
    from avssl.config import from_dict
    from avssl.data.loader import DataConfig
    from avssl.evaluation.multissl import eval_dataset
    from avssl.evaluation.superres import SuperResConfig, train_superres
    from avssl.inference.load import load_run

    task, config = load_run(run_dir)
    data = from_dict(DataConfig, config["data"])
    s = train_superres(
        task, eval_dataset(data, data.split), eval_dataset(data, "val"), SuperResConfig(steps=steps)
    )
    return f"{s['stft']:.3f} / {s['envelope']:.4f} (mono {s['mono_stft']:.3f} / {s['mono_envelope']:.4f})"


def _row(name: str, evaluation: dict) -> dict:
    pretext, probe = evaluation["pretext"], evaluation.get("probe", {})
    row = {"method": name}
    for task in PRETEXTS:
        row[task] = f"{pretext[task]['accuracy']:.1f}" if task in pretext else "–"
    for modality in ("visual", "audio"):
        p = probe.get(modality)
        row[f"{modality} knn / lin / R@1"] = (
            f"{p['knn']['top1']:.1f} / {p['linear']['top1']:.1f} / {p['retrieval']['R@1']:.1f}" if p else "–"
        )
    return row


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/compare_multissl")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--items", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument(
        "--replay-buffer",
        type=int,
        default=32,
        help="adds an incremental run rehearsing on a replay memory of N clips (0: skip)",
    )
    parser.add_argument("--superres-steps", type=int, default=0, help="0: skip the super-resolution column")
    parser.add_argument("--extra", nargs="*", default=[], help="key=value overrides for every run")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # modest on shared machines; the data loader adds one worker per run
    out = Path(args.out)
    data = out / "data"
    if not (data / "synth_gt.json").is_file():
        write_synthetic(
            "fairplay", data, SynthSpec(n=args.items, seed=1, size=64, fps=8, duration_s=4.0, num_classes=8)
        )
    common = [f"train.batch_size={args.batch_size}", f"eval.repeats={args.repeats}", *args.extra]
    rows = []
    for task in PRETEXTS:
        evaluation = _run(
            "binaural_multissl_single.yaml",
            out / f"single_{task}",
            data,
            args.steps,
            [f"model.strategy.pretexts=[{task}]", *common],
        )
        rows.append(_row(f"single: {task}", next(iter(evaluation.values()))))
    evaluation = _run("binaural_multissl_joint.yaml", out / "joint", data, args.steps, common)
    rows.append(_row("joint (sum)", next(iter(evaluation.values()))))
    per_stage = args.steps // 3
    stages = ", ".join(f"{{name: {t}, pretexts: [{t}], max_steps: {per_stage}}}" for t in PRETEXTS)
    incremental = {"incremental": (out / "incremental", [])}
    if args.replay_buffer > 0:
        incremental[f"incremental + memory {args.replay_buffer}"] = (
            out / "incremental_memory",
            [f"model.distill.replay_buffer={args.replay_buffer}"],
        )
    forgetting, final_dirs = {}, []
    for name, (run_out, extra) in incremental.items():
        evaluation = _run(
            "binaural_multissl_incremental.yaml",
            run_out,
            data,
            per_stage,
            [f"stages=[{stages}]", *common, *extra],
        )
        results = list(evaluation.values())
        rows.append(_row(name, results[-1]))
        forgetting[name] = [r["pretext"]["spatial"]["accuracy"] for r in results]
        final_dirs.append(Path(next(reversed(evaluation))))
    if args.superres_steps > 0:
        run_dirs = [out / f"single_{t}" for t in PRETEXTS] + [out / "joint", *final_dirs]
        for row, run_dir in zip(rows, run_dirs):
            row["superres STFT / env"] = _superres(str(run_dir), args.superres_steps)
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(r[c] for c in columns) + " |" for r in rows]
    notes = [
        f"forgetting ({name}): spatial accuracy after each stage " + " → ".join(f"{a:.1f}" for a in acc)
        for name, acc in forgetting.items()
    ]
    lines += ["", *notes]
    print("\n".join(lines))
    (out / "table.md").write_text("\n".join(lines) + "\n")
    (out / "table.json").write_text(json.dumps({"rows": rows, "forgetting": forgetting}, indent=2))
    table_png([[r[c] for c in columns] for r in rows], columns, out / "table.png", "\n".join(notes) or None)
    return rows


if __name__ == "__main__":
    main()
