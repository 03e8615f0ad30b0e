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
evaluation is kept in RUN/dense_eval_*.json per settings (rerun: read back; other settings: computed).
"""

from __future__ import annotations

import copy
import hashlib
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
    """A recipe (recipes/configs/<recipe>.yaml) with overrides, trained on the scenes; None: untrained, the
    architecture of `like` reinitialised. `baselines`: the rows of the same architecture it is claimed
    against (untrained, plain MoCo v2)."""

    recipe: str | None
    overrides: tuple[str, ...] = ()
    like: str = "moco"
    baselines: tuple[str, ...] = ("random", "moco")


OS8 = ("model.backbone.output_stride=8",)  # CYBORGS' backbone: 8 × 8 maps of 64-px scenes
DENSE_METHODS: dict[str, DenseMethod] = {
    "random": DenseMethod(None, baselines=()),  # moco's architecture reinitialised: the floor to clear
    "moco": DenseMethod("image_ssl", ("views=none",), baselines=("random",)),
    "hcl": DenseMethod("hcl", ("data.objects=annotations",)),
    "hcl_saliency": DenseMethod("hcl", ("data.objects=saliency",)),
    "swav": DenseMethod("image_ssl", ("method=swav", "views=none"), baselines=("random", "moco")),
    "swav_cross": DenseMethod(
        "image_ssl", ("method=swav", "views=none", "model.cross_attention=true"), baselines=("random", "swav")
    ),
    "random_os8": DenseMethod(None, like="cyborgs", baselines=()),
    "moco_os8": DenseMethod("image_ssl", ("views=none", *OS8), baselines=("random_os8",)),
    "cyborgs": DenseMethod("cyborgs", baselines=("random_os8", "moco_os8")),
}


def trained_as(name: str) -> str:
    """The method whose run `name` is evaluated on (itself, or the architecture an untrained row copies)."""
    method = DENSE_METHODS[name]
    return name if method.recipe else method.like


COLUMNS = {  # figure → (title, higher is better)
    "knn": "kNN",
    "linear": "linear",
    "scene_object_map": "scene→object mAP",
    "scene_object_map_ball": "scene→object mAP (ball)",
    "dense_miou": "dense mIoU",
    "voc07_map": "VOC07 mAP",
    "det_ap": "det AP",
    "det_ap50": "det AP50",
    "det_ap_frozen": "det AP (frozen)",
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
    """Train (or find, or resume) `name` (a trained method: see `trained_as`) on the scenes in `run`."""
    method = DENSE_METHODS[trained_as(name)]
    recipe, overrides = method.recipe, method.overrides
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


def dense_figures(
    task, trees: dict[str, Path], detection_steps: int, change_steps: int, columns=tuple(COLUMNS)
) -> dict:
    """The `columns` (of `COLUMNS`) for `task`, each by its evaluator (`avssl.runner.evaluators`), and the raw
    reports: {"figures", "reports"}."""
    from avssl.runner.evaluators import EVALUATORS as E

    scenes = ImageDataConfig(root=str(trees["scenes"]), size=SIZE, num_workers=0)
    objects = HCLDataConfig(root=str(trees["scenes"]), size=SIZE, num_workers=0, objects="annotations")
    voc = ImageDataConfig(root=str(trees["voc"]), size=SIZE, num_workers=0)
    calls = {  # report key (+ "_frozen") → (evaluator, cfg, [(column, path in the report)])
        "probe": ("image_probe", _cfg(scenes), [("knn", "knn.top1"), ("linear", "linear.top1")]),
        "scene_objects": (
            "scene_object_retrieval",
            _cfg(objects),
            [("scene_object_map", "cosine.mAP"), ("scene_object_map_ball", "hyperbolic.mAP")],
        ),
        "dense_probe": ("dense_probe", _cfg(voc, trees["voc"]), [("dense_miou", "mIoU")]),
        "voc_classification": ("voc_classification", _cfg(voc, trees["voc"]), [("voc07_map", "mAP")]),
        "detection": (
            "detection",
            _cfg(scenes, trees["coco"], detection_steps=detection_steps),
            [("det_ap", "AP"), ("det_ap50", "AP50")],
        ),
        "detection_frozen": (
            "detection",
            _cfg(scenes, trees["coco"], detection_steps=detection_steps, detection_frozen=True),
            [("det_ap_frozen", "AP")],
        ),
        "change_detection": (
            "change_detection",
            _cfg(scenes, trees["levir"], split="test", change_steps=change_steps),
            [("cd_f1", "F1")],
        ),
    }
    figures: dict[str, float | None] = {}
    reports: dict[str, dict] = {}
    for key, (evaluator, cfg, picks) in calls.items():
        if not any(column in columns for column, _ in picks):
            continue
        report = E[evaluator](task, cfg, Path())
        if report is None:
            raise ValueError(
                f"dense suite: evaluator {evaluator!r} found nothing to score in {cfg.eval.root}"
            )
        reports[key] = report[key.removesuffix("_frozen")]
        for column, path in picks:
            value = reports[key]
            for part in path.split("."):
                value = value.get(part) if value is not None else None  # hyperbolic: ball tasks only
            figures[column] = value
    return {"figures": figures, "reports": reports}


def evaluate_dense(name: str, run: Path, trees: dict[str, Path], seed: int, settings: dict) -> dict:
    """The `settings["columns"]` figures of `name` (its run in `run`; an untrained row: that run's architecture
    reinitialised with `seed`), kept in RUN/dense_eval[_random]_<hash of the other settings and the run's
    training arguments>.json with the raw reports; a rerun computes only the columns not stored yet."""
    from avssl.inference.load import load_run

    columns = list(settings.get("columns", COLUMNS))
    shared = {k: v for k, v in settings.items() if k != "columns"}
    trained = run / "compare_args.json"  # a run trained again (other steps, overrides) is evaluated again
    shared["trained"] = json.loads(trained.read_text()) if trained.is_file() else None
    key = hashlib.sha1(json.dumps(shared, sort_keys=True).encode()).hexdigest()[:8]
    path = run / f"dense_eval{'_random' if DENSE_METHODS[name].recipe is None else ''}_{key}.json"
    stored = (
        json.loads(path.read_text()) if path.is_file() else {"settings": shared, "figures": {}, "reports": {}}
    )
    missing = [c for c in columns if c not in stored["figures"]]
    if missing:  # only the columns not computed before
        task, _ = load_run(str(run), "cpu")
        if DENSE_METHODS[name].recipe is None:
            task = copy.deepcopy(task)
            task.backbone = reinitialised(task.backbone, seed)
        result = dense_figures(task, trees, settings["detection_steps"], settings["change_steps"], missing)
        stored["figures"].update(result["figures"])
        stored["reports"].update(result["reports"])
        write_json(path, stored)
    return {c: stored["figures"][c] for c in columns}


def _best_scene_map(f: dict) -> float | None:
    """Scene → object mAP by the method's own best scoring (cosine, or hyperbolic for ball tasks)."""
    values = [v for v in (f.get("scene_object_map"), f.get("scene_object_map_ball")) if v is not None]
    return max(values) if values else None


def dense_claims(means: dict[str, dict]) -> list[str]:
    """Each method against its baselines (the same architecture untrained, plain MoCo v2 for the same steps),
    column by column (scene → object mAP by each method's best scoring)."""
    titles = {c: t for c, t in COLUMNS.items() if not c.startswith("scene_object")}
    lines = []
    for name, f in means.items():
        for base in DENSE_METHODS[name].baselines:
            if base not in means:
                continue
            b = means[base]
            pairs = {"scene→object mAP": (_best_scene_map(f), _best_scene_map(b))}
            pairs.update({t: (f[c], b[c]) for c, t in titles.items()})
            pairs = {t: p for t, p in pairs.items() if None not in p}
            better = [t for t, (x, y) in pairs.items() if x > y]
            worse = [t for t, (x, y) in pairs.items() if x <= y]
            if not worse:
                lines.append(f"- {name} vs {base}: higher on every column ({', '.join(better)})")
            else:
                lines.append(
                    f"- {name} vs {base}: higher on {', '.join(better) or 'nothing'}; not higher on {', '.join(worse)}"
                )
    return lines
