"""Learning tests on synthetic AVSBench data: the model beats the all-foreground and centre-blob baselines
(S4), and on MS3 (two sounding objects and a silent distractor) beats its own audio-zeroed variant."""

from __future__ import annotations

import pytest
import torch

from avssl.data.synthetic.layouts import SynthSpec, write_synthetic
from avssl.evaluation.segmentation import baseline_predictions, benchmark_test_items, evaluate_segmentation
from recipes.avs_segmentation import main as recipe_main

CPU_MODEL = [
    "data.size=64",
    "data.num_workers=1",
    "model.visual.name=small",
    "model.visual.output_stride=32",
    "model.visual.weights_source=encoder",
    "model.audio.name=audio_small",
    "model.freeze_audio=false",  # a from-scratch audio encoder (the release freezes a pretrained VGGish)
    "model.channels=32",
    "train.batch_size=8",
    "train.checkpoint_every=100000",
    "train.progress_bar=false",
    "optim.lr=0.001",
    "eval.every=0",
]


def _baselines(benchmark: str, root) -> dict[str, float]:
    items = benchmark_test_items(benchmark, root)
    return {
        kind: evaluate_segmentation(benchmark, root, baseline_predictions(kind, items))["mIoU"]
        for kind in ("all-foreground", "centre-blob")
    }


def _train(tmp_path, config: str, root, steps: int, *extra: str) -> dict:
    torch.set_num_threads(1)
    args = ["--config", config, f"output_dir={tmp_path}", f"data.root={root}", f"train.max_steps={steps}"]
    return recipe_main([*args, *CPU_MODEL, *extra])["eval"][str(tmp_path)]


def test_s4_quick_beats_the_baselines(tmp_path) -> None:
    root = tmp_path / "data"
    write_synthetic("avsbench-s4", root, SynthSpec(n=24, seed=21, num_classes=4))
    metrics = _train(
        tmp_path / "run",
        "recipes/configs/avs_s4.yaml",
        root,
        30,
        "data.size=48",
        "data.num_workers=0",
        "optim.lr=0.003",  # the released start (reduction N(0, 0.01), TPAVI's W_z norm at zero) is slower
    )
    baselines = _baselines("avsbench-s4", root)
    print("S4 quick", metrics, baselines)
    assert metrics["mIoU"] > max(baselines.values()) + 15


@pytest.mark.slow
def test_s4_beats_all_foreground_and_centre_blob_by_20_points(tmp_path) -> None:
    root = tmp_path / "data"
    write_synthetic("avsbench-s4", root, SynthSpec(n=128, seed=11, num_classes=4))
    metrics = _train(tmp_path / "run", "recipes/configs/avs_s4.yaml", root, 150)  # 300 steps: 57.1 / 0.675
    baselines = _baselines("avsbench-s4", root)
    print("S4", metrics, baselines)
    assert metrics["mIoU"] >= baselines["all-foreground"] + 20
    assert metrics["mIoU"] >= baselines["centre-blob"] + 20


@pytest.mark.slow
def test_ms3_model_beats_its_audio_zeroed_variant(tmp_path) -> None:
    root = tmp_path / "data"
    write_synthetic("avsbench-ms3", root, SynthSpec(n=128, seed=12, num_classes=4))
    config = "recipes/configs/avs_ms3.yaml"
    # without L_AVM: the released mapping loss (a KL summed over the batch's frames, weight 0.5) dominates the
    # loss of a from-scratch model at this scale (docs/results.md: 32.0 vs 32.4 mIoU with it)
    no_avm = "model.avm_weight=0"
    # 120 steps: 48.0 vs 34.6 (200 steps: 54.2 vs 38.3)
    with_audio = _train(tmp_path / "audio", config, root, 120, no_avm)
    zeroed = _train(tmp_path / "zero", config, root, 120, no_avm, "model.zero_audio=true")
    print("MS3", with_audio, "audio zeroed", zeroed)
    assert with_audio["mIoU"] >= zeroed["mIoU"] + 10
