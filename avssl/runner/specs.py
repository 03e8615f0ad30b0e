"""What a task kind needs from the runner, declared once per task: its data defaults, its eval section and
default evaluators, how synthetic data is written when `data.root` is empty, how its training set is built,
and whether it accepts incremental `stages`. `recipe_schema(task)` assembles the recipe config dataclass
from it (train / optim / schedule are the engine's, shared by every recipe).

A task without an entry in `RECIPES` gets `DEFAULT`: video clips (`DataConfig`), a synthetic VGG-Sound
layout, evaluators only when `eval.evaluators` names them — adding a method needs no line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any, Literal

from avssl import distributed
from avssl.data.loader import DataConfig, ViewConfig, build_dataset
from avssl.data.sampling import ViewCheck, ViewTiming
from avssl.runner.image_recipes import IMAGE_RECIPES, ImageEvalConfig  # noqa: F401 (re-exported)
from avssl.runner.keep_best import KeepBest
from avssl.stages.incremental import StageConfig
from avssl.tasks import TASKS
from avssl.train.config import OptimConfig, ScheduleConfig, TrainConfig

# Synthetic training videos for localization show objects of 0.4–0.65 of the frame, the scale of the
# synthetic Flickr / VGG-SS test images (0.45–0.65, see STILL_SIZES) and of real Flickr-SoundNet boxes;
# trained on the default 0.25–0.4 the demo scored 16.7 cIoU against 41.7 (measured here, 200 steps).
SYNTHETIC_TRAIN_SIZES = (0.4, 0.65)


@dataclass
class EvalConfig(KeepBest):
    """Evaluators (None: the task's defaults) on the `split` of `root` (empty: data.root), run every
    `every` steps during training (0: only at the end)."""

    evaluators: list[str] | None = None
    every: int = 0
    root: str = ""
    split: str | None = "test"


@dataclass
class LocalizationEvalConfig(KeepBest):
    """Where to evaluate: a Flickr-SoundNet or VGG-SS folder (empty with empty data.root: synthetic)."""

    root: str = ""
    benchmark: Literal["flickr", "vggss"] = "flickr"
    rule: Literal["gt", "ge"] = "gt"
    ogl_alpha: float | None = None  # EZ-VSL only: object-guided localization with this alpha (paper: 0.4)
    every: int = 0  # steps between evaluations during training (0: only at the end)
    evaluators: list[str] | None = None


@dataclass
class SegmentationEvalConfig(KeepBest):
    """Where and how to score: the test split of `root` (empty: data.root), AVSBench metrics."""

    root: str = ""
    f_mode: Literal["per-frame", "avsbench"] = "per-frame"
    batch_size: int = 4  # videos per evaluation batch (the released F depends on it in "avsbench" mode)
    every: int = 0  # steps between evaluations during training (0: only at the end)
    evaluators: list[str] | None = None


@dataclass
class MultiSSLEvalConfig(KeepBest):
    """Held-out evaluation after training: split (None = skip), questions per clip, probes on/off."""

    split: str | None = "val"
    repeats: int = 4
    seed: int = 0
    probe: bool = True
    every: int = 0
    evaluators: list[str] | None = None


@dataclass
class ActionEvalConfig(KeepBest):
    """After training (and every `every` steps), on `split` (None = skip) of `root` (empty: data.root):
    linear probe / kNN fit on the clips of the training split, the multi-clip test (`clips` clips per
    video, probabilities averaged), top-1 / top-5 per video; the background-swapped copy when the data
    has one; clip retrieval R@1…50 (`avssl.evaluation.action`); `clip_pairs`: held-out clip-pair retrieval
    (the pretext on unseen videos)."""

    evaluators: list[str] | None = None
    every: int = 0
    root: str = ""
    split: str | None = "test"
    protocols: list[Literal["linear", "knn"]] = field(default_factory=lambda: ["linear", "knn"])
    clips: int = 4
    background_swapped: bool = True
    view_seed: int = 12345  # `clip_pairs`: the seed of the held-out pairs' sampling and augmentation


def _write_once(layout: str, root: Path, spec) -> None:
    """Write a synthetic set (main process, once) and let every process wait for it."""
    from avssl.data.synthetic.layouts import write_synthetic

    if distributed.rank() == 0 and not (root / "synth_gt.json").is_file():
        write_synthetic(layout, root, spec)
    distributed.barrier()


def synthesize_clips(
    cfg: Any, run: Path, layout: str, n: int, sizes: tuple[float, float] | None = None
) -> None:
    """With `data.root` empty, a synthetic `layout` set of `n` videos under RUN/synthetic becomes the data."""
    from avssl.data.synthetic.layouts import SynthSpec

    if cfg.data.root:
        return
    _write_once(layout, run / "synthetic", SynthSpec(n=n, num_classes=8, sizes=sizes))
    cfg.data.root, cfg.data.layout = str(run / "synthetic"), layout


def _synth_default(cfg: Any, run: Path) -> None:
    synthesize_clips(cfg, run, "vggsound", 64)


def _synth_localization(cfg: Any, run: Path) -> None:
    """Training videos, and (eval.root empty with data.root empty) a Flickr-layout test set, another seed."""
    from avssl.data.synthetic.layouts import SynthSpec

    synthetic = not cfg.data.root
    synthesize_clips(cfg, run, "vggsound", 96, SYNTHETIC_TRAIN_SIZES)
    if not cfg.eval.root and synthetic:
        _write_once("flickr", run / "synthetic_flickr", SynthSpec(n=48, seed=1000, num_classes=8))
        cfg.eval.root = str(run / "synthetic_flickr")


def segmentation_benchmark(cfg: Any) -> str:
    """The AVSBench subset of `data.layout` (avsbench-s4 / avsbench-ms3)."""
    if cfg.data.layout not in ("avsbench-s4", "avsbench-ms3"):
        raise SystemExit(
            f"avs_segmentation: data.layout must be avsbench-s4 or avsbench-ms3, got {cfg.data.layout!r}"
        )
    return cfg.data.layout


def _synth_segmentation(cfg: Any, run: Path) -> None:
    synthesize_clips(cfg, run, segmentation_benchmark(cfg), 64)


def _synth_binaural(cfg: Any, run: Path) -> None:
    synthesize_clips(cfg, run, "fairplay", cfg.synthetic_items)


def _synth_action(cfg: Any, run: Path) -> None:
    """With `data.root` empty, a synthetic action set (`avssl.data.synthetic.action`) in `data.layout`
    (ucf101 / hmdb51 / kinetics) with its background trap and swapped test copy: `synthetic_classes`
    motions × `synthetic_clips_per_class` clips of 2 s at `data.fps`, frames of 1.15 × `data.size`."""
    from avssl.data.synthetic.action import ACTION_SYNTH_LAYOUTS, ActionSynthSpec, write_action_synthetic

    if cfg.data.root:
        return
    if cfg.data.layout not in ACTION_SYNTH_LAYOUTS:
        raise SystemExit(
            f"{cfg.task}: a synthetic set (data.root empty) needs data.layout in {', '.join(ACTION_SYNTH_LAYOUTS)}"
        )
    root = run / "synthetic"
    size = 2 * round(0.575 * cfg.data.size)  # even, room for the training crops
    spec = ActionSynthSpec(
        num_classes=cfg.synthetic_classes,
        clips_per_class=cfg.synthetic_clips_per_class,
        size=size,
        frames=max(2, round(2 * cfg.data.fps)),
        fps=cfg.data.fps,
        background_p=cfg.synthetic_background_p,
        seed=cfg.train.seed,
    )
    if distributed.rank() == 0 and not (root / "synth_gt.json").is_file():
        write_action_synthetic(cfg.data.layout, root, spec)
    distributed.barrier()
    cfg.data.root = str(root)


def clip_dataset(cfg: Any):
    """The training clips of `cfg.data`, this process's shard."""
    return build_dataset(
        cfg.data,
        train=True,
        seed=cfg.train.seed,
        rank=distributed.rank(),
        world_size=distributed.world_size(),
    )


def localization_data() -> DataConfig:
    """One frame at the centre of a 1 s audio window, 224 px, flips and crops kept mild (equivariance
    transforms are applied inside the task)."""
    return DataConfig(
        duration_s=1.0,
        fps=1.0,
        video_offset_s=0.5,
        size=224,
        transforms=[{"name": "random_resized_crop", "scale": [0.6, 1.0]}, {"name": "normalize"}],
        eval_transforms=[{"name": "resize"}, {"name": "center_crop"}, {"name": "normalize"}],
    )


def ssl_tie_view1_augmentation() -> list[dict]:
    """SSL-TIE's view 1 as its released training code ("moco_v2" images, Liu et al., ACM MM 2022): crop
    scale 0.3-1, colour jitter 0.4/0.4/0.4/0.1 (p 0.8), grayscale (p 0.2), Gaussian blur sigma U[0.1, 2]
    (p 0.5), horizontal flip."""
    return [
        {"name": "random_resized_crop", "scale": [0.3, 1.0]},
        {"name": "color_jitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1, "p": 0.8},
        {"name": "random_grayscale", "p": 0.2},
        {"name": "gaussian_blur", "sigma": [0.1, 2.0], "p": 0.5},
        {"name": "random_horizontal_flip", "p": 0.5},
        {"name": "normalize"},
    ]


def ssl_tie_data() -> DataConfig:
    """`localization_data` with SSL-TIE's view-1 augmentation (`ssl_tie_view1_augmentation`)."""
    data = localization_data()
    data.transforms = ssl_tie_view1_augmentation()
    return data


def segmentation_data() -> DataConfig:
    """A whole AVSBench video per sample: 5 frames (one per second) and 5 s of audio, 224 px, no cropping
    (the masks must stay aligned with the frames)."""
    return DataConfig(
        layout="avsbench-s4",
        duration_s=5.0,
        fps=1.0,
        size=224,
        transforms=[{"name": "resize"}, {"name": "center_crop"}, {"name": "normalize"}],
        eval_transforms=[{"name": "resize"}, {"name": "center_crop"}, {"name": "normalize"}],
    )


def binaural_data() -> DataConfig:
    """4 s windows of 2-channel audio with 16 frames at 64 px; no flips or crops (they would change which
    side a source is on, the very thing the spatial pretext asks)."""
    return DataConfig(
        layout="fairplay",
        duration_s=4.0,
        fps=4.0,
        size=64,
        channels=2,
        transforms=[{"name": "resize"}, {"name": "center_crop"}, {"name": "normalize"}],
    )


def action_data() -> DataConfig:
    """Two 1 s clips of 8 frames per video (UCF101 layout, split 1) at a sampled start-to-start distance
    (CVRL's decreasing law), each with its own temporally consistent crop and colour draw (`clip_augment`).
    No flips by default: on the synthetic action sets a flip turns `left` into `right` (add `flip_p: 0.5`
    for real data)."""
    augment = {
        "name": "clip_augment",
        "scale": [0.3, 1.0],
        "flip_p": 0.0,
        "jitter_p": 0.8,
        "grayscale_p": 0.2,
    }
    return DataConfig(
        layout="ucf101",
        duration_s=1.0,
        fps=8.0,
        size=112,
        transforms=[augment, {"name": "normalize"}],
        views=[
            ViewConfig(audio=False),
            ViewConfig(audio=False, timing=ViewTiming(rule="distance", distance="power", power=1.0)),
        ],
    )


def motion_action_data() -> DataConfig:
    """`action_data` with the clip's frame differences first (`frame_difference`, cropped with the clip by
    `clip_augment`): MaCLR's motion pathway input. For flow put `{name: optical_flow}` there instead."""
    data = action_data()
    data.transforms = [{"name": "frame_difference"}, *data.transforms]
    return data


def tracking_action_data() -> DataConfig:
    """`action_data` for PreViTS: the clip's dominant moving object tracked first (`object_track`, motion saliency), then
    `clip_augment`'s draws with a crop that keeps the tracked boxes (`track_crop`, which writes each view's
    `track_mask`); both clips drawn again (up to 4 windows) until at least half of their frames hold a tracked
    box (`accept: {name: tracked}`: the paper's clip pairs that both contain the tracked object)."""
    data = action_data()
    augment = {**data.transforms[0], "name": "track_crop"}
    data.transforms = [{"name": "object_track", "tracker": "motion"}, augment, *data.transforms[1:]]
    for view in data.views:
        view.accept = ViewCheck(name="tracked", min_fraction=0.5, tries=4)
    return data


@dataclass(frozen=True)
class TaskRecipe:
    """A task kind's recipe defaults (see the module docstring). `extras`: additional top-level keys
    (name, type, default) of its recipe config."""

    data: Callable[[], Any] = DataConfig
    eval: type = EvalConfig
    evaluators: tuple[str, ...] = ()
    synthesize: Callable[[Any, Path], None] = _synth_default
    dataset: Callable[[Any], Any] = clip_dataset
    stages: bool = False
    output_dir: str | None = None  # default run directory (None: runs/<task>)
    extras: tuple[tuple[str, type, Any], ...] = ()
    resolve: Callable[[Any], None] = lambda cfg: None  # named presets (extras) written into the config


DEFAULT = TaskRecipe()
LOCALIZATION = TaskRecipe(
    data=localization_data,
    eval=LocalizationEvalConfig,
    evaluators=("localization",),
    synthesize=_synth_localization,
)
ACTION = TaskRecipe(
    data=action_data,
    eval=ActionEvalConfig,
    evaluators=("action", "clip_pairs"),
    synthesize=_synth_action,
    extras=(
        ("synthetic_classes", int, 6),
        ("synthetic_clips_per_class", int, 8),
        ("synthetic_background_p", float, 0.8),
    ),
)
RECIPES: dict[str, TaskRecipe] = {
    "ssl_tie": TaskRecipe(
        data=ssl_tie_data,
        eval=LocalizationEvalConfig,
        evaluators=("localization",),
        synthesize=_synth_localization,
    ),
    "lvs": LOCALIZATION,
    "ezvsl": LOCALIZATION,
    "avs": TaskRecipe(
        data=segmentation_data,
        eval=SegmentationEvalConfig,
        evaluators=("segmentation",),
        synthesize=_synth_segmentation,
        output_dir="runs/avs_s4",
    ),
    "binaural_multissl": TaskRecipe(
        data=binaural_data,
        eval=MultiSSLEvalConfig,
        evaluators=("pretext", "probe"),
        synthesize=_synth_binaural,
        stages=True,
        extras=(("synthetic_items", int, 96),),
    ),
    **{task: TaskRecipe(**parts) for task, parts in IMAGE_RECIPES.items()},
    "video_moco": ACTION,
    "maclr": TaskRecipe(
        data=motion_action_data,
        eval=ActionEvalConfig,
        evaluators=("action", "clip_pairs"),
        synthesize=_synth_action,
        extras=ACTION.extras,
    ),
    "fame": ACTION,
    "mcl": TaskRecipe(
        data=motion_action_data,
        eval=ActionEvalConfig,
        evaluators=("action", "clip_pairs", "attention"),
        synthesize=_synth_action,
        extras=ACTION.extras,
    ),
    "previts": TaskRecipe(
        data=tracking_action_data,
        eval=ActionEvalConfig,
        evaluators=("action", "clip_pairs", "attention"),
        synthesize=_synth_action,
        extras=ACTION.extras,
    ),
    "cvrl": ACTION,
    "concur": ACTION,
    "carl": ACTION,
    "iboot": ACTION,
    "constcl": ACTION,
}


def recipe_of(task: str) -> TaskRecipe:
    """The recipe defaults of a registered task (DEFAULT when it declares none)."""
    if task not in TASKS:
        raise SystemExit(f"unknown task {task!r}; registered: {', '.join(sorted(TASKS))}")
    return RECIPES.get(task, DEFAULT)


def recipe_schema(task: str) -> type:
    """The recipe config dataclass of `task`: its `model` section is the task's own config, `data` and
    `eval` come from its `TaskRecipe`, train / optim / schedule from the engine; YAML mirrors it."""
    spec, model_cls = recipe_of(task), TASKS[task][0]
    fields: list[tuple[str, Any, Any]] = [
        ("task", str, field(default=task)),
        ("output_dir", str, field(default=spec.output_dir or f"runs/{task}")),
        *((name, kind, field(default=value)) for name, kind, value in spec.extras),
        ("data", type(spec.data()), field(default_factory=spec.data)),
        ("model", model_cls, field(default_factory=model_cls)),
    ]
    if spec.stages:
        fields.append(("stages", list[StageConfig], field(default_factory=list)))
    fields += [
        ("eval", spec.eval, field(default_factory=spec.eval)),
        ("train", TrainConfig, field(default_factory=TrainConfig)),
        ("optim", OptimConfig, field(default_factory=OptimConfig)),
        ("schedule", ScheduleConfig, field(default_factory=ScheduleConfig)),
    ]
    return make_dataclass(f"{task}_recipe", fields)
