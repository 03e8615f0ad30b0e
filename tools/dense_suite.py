"""The dense / structured suite of `tools/compare_image.py --suite dense`: image SSL methods pretrained on
one set of synthetic multi-object scenes, then scored on the structure-level protocols — the dense linear
probe (VOC tree, mIoU), VOC07 linear classification (mAP), Faster R-CNN fine-tuning (COCO tree, AP / AP50),
Siamese change-detection fine-tuning (LEVIR-CD tree, F1), zero-shot scene → object retrieval (mAP) — next
to kNN / linear top-1, and against the same backbone untrained (`random`: the architecture reinitialised,
`avssl.evaluation.detection.reinitialised`).

Data, once per seed under OUT/data/dense_seedS: `scenes/` (ImageFolder, annotated boxes and masks: the
pretraining images; 1–3 objects of 4 shape classes on textured backgrounds, 64 px), `voc/`, `coco/` and
`levir/` (the evaluation trees, each drawn from its own seed). Every figure is computed by the evaluator a
run uses (`avssl.runner.evaluators`), so the table measures what `eval.evaluators` would report. A run's
evaluation is kept in RUN/dense_eval.json (rerun: read back; a changed setting: recomputed).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

from avssl.data.synthetic.change import ChangeSynthSpec, write_change_detection
from avssl.data.synthetic.coco import write_coco
from avssl.data.synthetic.images import ImageSynthSpec, write_image_folder
from avssl.data.synthetic.voc import write_voc
from avssl.evaluation.detection import reinitialised
from avssl.outputs import write_json
from avssl.runner.hcl_data import HCLDataConfig
from avssl.runner.image_data import ImageDataConfig
from avssl.runner.image_recipes import ImageEvalConfig
from avssl.runner.run import run_recipe

ROOT = Path(__file__).resolve().parents[1]
SIZE = 64


class DenseMethod(NamedTuple):
    """A recipe (recipes/configs/<recipe>.yaml) with overrides, trained on the scenes; None: untrained."""

    recipe: str | None
    overrides: tuple[str, ...] = ()


DENSE_METHODS: dict[str, DenseMethod] = {
    "random": DenseMethod(None),  # moco's architecture, reinitialised: the floor every method must clear
    "moco": DenseMethod("image_ssl", ("views=none",)),
    "hcl": DenseMethod("hcl", ("data.objects=annotations",)),
    "hcl_saliency": DenseMethod("hcl", ("data.objects=saliency",)),
}
BASE = "moco"
COLUMNS = {  # figure → (title, higher is better)
    "knn": "kNN",
    "linear": "linear",
    "scene_object_map": "scene→object mAP",
    "dense_miou": "dense mIoU",
    "voc07_map": "VOC07 mAP",
    "det_ap": "det AP",
    "det_ap50": "det AP50",
    "cd_f1": "CD F1",
}


def _spec(seed: int) -> ImageSynthSpec:
    return ImageSynthSpec(size=SIZE, objects=(1, 3), background="texture", size_range=(0.3, 0.6), seed=seed)


def write_dense_data(out: Path, seed: int, images: tuple[int, int] = (256, 96)) -> dict[str, Path]:
    """The suite's four trees for `seed`, each written once: scenes with `images` train / val images, the
    evaluation trees in proportion (at the default 256 / 96: VOC 96 / 48, COCO 64 / 32, LEVIR-CD 64 / 8 / 32)."""
    n_train, n_val = images
    root = out / "data" / f"dense_seed{seed}_{n_train}_{n_val}"
    trees = {name: root / name for name in ("scenes", "voc", "coco", "levir")}
    if not (trees["scenes"] / "annotations" / "val.json").is_file():
        write_image_folder(trees["scenes"], {"train": n_train, "val": n_val}, spec=_spec(seed))
    if not (trees["voc"] / "ImageSets").is_dir():
        write_voc(
            trees["voc"],
            {"train": max(2, n_train * 3 // 8), "val": max(2, n_val // 2)},
            spec=_spec(seed + 101),
        )
    if not (trees["coco"] / "annotations").is_dir():
        write_coco(
            trees["coco"], {"train": max(2, n_train // 4), "val": max(2, n_val // 3)}, spec=_spec(seed + 202)
        )
    if not (trees["levir"] / "test").is_dir():
        splits = {"train": max(2, n_train // 4), "val": max(2, n_val // 12), "test": max(2, n_val // 3)}
        write_change_detection(trees["levir"], splits, ChangeSynthSpec(size=SIZE, seed=seed + 303))
    return trees


def train_dense(name: str, run: Path, scenes: Path, steps: int, seed: int, extra=()) -> Path:
    """Train (or find, or resume) `name` on the scenes in `run`; the run directory (of `moco` for `random`)."""
    method = DENSE_METHODS[name]
    recipe = method.recipe or "image_ssl"
    overrides = method.overrides if method.recipe else DENSE_METHODS[BASE].overrides
    args = [
        "--config",
        str(ROOT / "recipes" / "configs" / f"{recipe}.yaml"),
        "optim.lr=0.002",
        "train.checkpoint_every=50",
        "train.progress_bar=false",
        "data.num_workers=1",
        f"data.size={SIZE}",
        f"data.root={scenes}",
        f"output_dir={run}",
        f"train.seed={seed}",
        f"train.max_steps={steps}",
        "eval.evaluators=[]",
        *extra,
        *overrides,
    ]
    done = run / "compare_args.json"
    if not (done.is_file() and json.loads(done.read_text()) == args):
        print(f"== {name} seed {seed}: → {run}", flush=True)
        run_recipe(args, default_task=recipe)
        write_json(done, args)
    return run


def _cfg(data, root: Path | str = "", **eval_keys) -> SimpleNamespace:
    return SimpleNamespace(data=data, eval=ImageEvalConfig(root=str(root), **eval_keys))


def dense_figures(task, trees: dict[str, Path], detection_steps: int, change_steps: int) -> dict:
    """Every column of `COLUMNS` for `task` (evaluators of `avssl.runner.evaluators`), and the raw reports."""
    from avssl.runner.evaluators import EVALUATORS as E

    scenes = ImageDataConfig(root=str(trees["scenes"]), size=SIZE, num_workers=0)
    objects = HCLDataConfig(root=str(trees["scenes"]), size=SIZE, num_workers=0, objects="annotations")
    voc = ImageDataConfig(root=str(trees["voc"]), size=SIZE, num_workers=0)
    reports = {
        **E["image_probe"](task, _cfg(scenes), Path()),
        **E["scene_object_retrieval"](task, _cfg(objects), Path()),
        **E["dense_probe"](task, _cfg(voc, trees["voc"]), Path()),
        **E["voc_classification"](task, _cfg(voc, trees["voc"]), Path()),
        **E["detection"](task, _cfg(scenes, trees["coco"], detection_steps=detection_steps), Path()),
        **E["change_detection"](
            task, _cfg(scenes, trees["levir"], split="test", change_steps=change_steps), Path()
        ),
    }
    figures = {
        "knn": reports["probe"]["knn"]["top1"],
        "linear": reports["probe"]["linear"]["top1"],
        "scene_object_map": reports["scene_objects"]["cosine"]["mAP"],
        "dense_miou": reports["dense_probe"]["mIoU"],
        "voc07_map": reports["voc_classification"]["mAP"],
        "det_ap": reports["detection"]["AP"],
        "det_ap50": reports["detection"]["AP50"],
        "cd_f1": reports["change_detection"]["F1"],
    }
    return {"figures": figures, "reports": reports}


def evaluate_dense(name: str, run: Path, trees: dict[str, Path], seed: int, settings: dict) -> dict:
    """The figures of `name` (its run in `run`; `random`: that run's architecture reinitialised with `seed`),
    kept in RUN/dense_eval[_random].json next to the settings they were computed with."""
    from avssl.inference.load import load_run

    path = run / ("dense_eval_random.json" if DENSE_METHODS[name].recipe is None else "dense_eval.json")
    if path.is_file() and json.loads(path.read_text())["settings"] == settings:
        return json.loads(path.read_text())["figures"]
    task, _ = load_run(str(run), "cpu")
    if DENSE_METHODS[name].recipe is None:
        task = copy.deepcopy(task)
        task.backbone = reinitialised(task.backbone, seed)
    result = dense_figures(task, trees, settings["detection_steps"], settings["change_steps"])
    write_json(path, {"settings": settings, **result})
    return result["figures"]


def dense_claims(means: dict[str, dict]) -> list[str]:
    """Each method against the untrained architecture and against plain MoCo v2 (same steps), column by column."""
    lines = []
    for name, f in means.items():
        for base in ("random", BASE):
            if name in ("random", base) or base not in means:
                continue
            b = means[base]
            better = [COLUMNS[c] for c in COLUMNS if f[c] is not None and b[c] is not None and f[c] > b[c]]
            worse = [COLUMNS[c] for c in COLUMNS if f[c] is not None and b[c] is not None and f[c] <= b[c]]
            lines.append(
                f"- {name} vs {base}: higher on {', '.join(better) or 'nothing'}; "
                f"not higher on {', '.join(worse) or 'nothing'}"
            )
    return lines
