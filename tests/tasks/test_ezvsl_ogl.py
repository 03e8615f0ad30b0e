"""EZ-VSL's object-guided localization (OGL) against a naive per-item reimplementation of the released test
script's formula, and its reach: the recipe's evaluation (`eval.ogl_alpha`, `eval.rule: ge`),
`avssl eval localization --run … --ogl ALPHA`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from avssl.cli import main as cli
from avssl.config import load_config, save_config
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic
from avssl.encoders import AudioCNNConfig, Visual2dConfig
from avssl.evaluation.localization_predict import localization_predictor
from avssl.heads.localization import reduce_time
from avssl.runner.specs import recipe_schema
from avssl.tasks import build_task
from avssl.tasks.ezvsl import EZVSL, EZVSLConfig, minmax
from avssl.tasks.lvs import LVS, LVSConfig
from avssl.train.checkpoint import export_model

EZVSL_YAML = Path(__file__).resolve().parents[2] / "recipes" / "configs" / "ezvsl.yaml"
SMALL = ["model.visual.name=small", "model.audio.name=audio_small", "model.embed_dim=32", "data.size=64"]


def _task(ogl_encoder: Visual2dConfig | None = None) -> EZVSL:
    torch.manual_seed(0)
    cfg = EZVSLConfig(
        visual=Visual2dConfig(name="small", output_stride=16),
        audio=AudioCNNConfig(name="audio_small", output_stride=16),
        embed_dim=32,
        ogl_encoder=ogl_encoder,
    )
    return EZVSL(cfg).eval()


def _batch(b: int = 3, size: int = 64) -> dict:
    gen = torch.Generator().manual_seed(1)
    return {
        "video": torch.randn(b, 3, 1, size, size, generator=gen),
        "audio": torch.randn(b, 1, 8000, generator=gen),
    }


def _normalize_img(value: np.ndarray) -> np.ndarray:
    """The released `normalize_img`: min-max, a constant map left unchanged."""
    vmin, vmax = value.min(), value.max()
    return (value - vmin) / (vmax - vmin) if vmax - vmin != 0 else value


def _reference_ogl(av_map: torch.Tensor, features: torch.Tensor, alpha: float) -> np.ndarray:
    """Per item, as the released test script: both maps resized to 224 (align_corners), normalised, blended,
    normalised again; the objectness map = mean over channels of |features|."""
    heat_av = F.interpolate(av_map[:, None], size=(224, 224), mode="bilinear", align_corners=True).numpy()
    obj = features.abs().mean(dim=1, keepdim=True)
    heat_obj = F.interpolate(obj, size=(224, 224), mode="bilinear", align_corners=True).numpy()
    out = []
    for i in range(av_map.shape[0]):
        pred_av, pred_obj = _normalize_img(heat_av[i, 0]), _normalize_img(heat_obj[i, 0])
        out.append(_normalize_img(pred_av * alpha + pred_obj * (1 - alpha)))
    return np.stack(out)


@pytest.mark.parametrize("alpha", [0.4, 0.0, 1.0, 0.75])
def test_ogl_matches_the_reference_formula(alpha: float) -> None:
    task, batch = _task(), _batch()
    with torch.no_grad():
        av_map = task.localize(batch)
        features = task.visual_features(task.frames(batch))
        ours = task.localize_ogl(batch, alpha)
    assert ours.shape == (3, 224, 224)
    np.testing.assert_allclose(ours.numpy(), _reference_ogl(av_map, features, alpha), atol=1e-5)


def test_ogl_with_a_separate_objectness_encoder_at_another_resolution() -> None:
    task, batch = _task(Visual2dConfig(name="small", output_stride=8)), _batch()
    with torch.no_grad():
        av_map = task.localize(batch)  # 4x4
        features = reduce_time(task.ogl_encoder(task.frames(batch)), "mean")  # (B, D, 8, 8)
        assert features.shape[-1] == 2 * av_map.shape[-1]
        ours = task.localize(batch, ogl=True)  # the configured alpha, 0.4
    np.testing.assert_allclose(ours.numpy(), _reference_ogl(av_map, features, 0.4), atol=1e-5)


def test_normalisation_leaves_a_constant_map_as_the_reference() -> None:
    maps = torch.stack([torch.full((3, 3), 0.3), torch.arange(9.0).view(3, 3)])
    np.testing.assert_allclose(minmax(maps)[0].numpy(), np.full((3, 3), 0.3, np.float32))
    np.testing.assert_allclose(
        minmax(maps)[1].numpy(), _normalize_img(np.arange(9.0).reshape(3, 3)), atol=1e-7
    )


def test_predictor_refuses_ogl_for_other_tasks_and_bad_alpha() -> None:
    lvs = LVS(LVSConfig(visual=Visual2dConfig(name="small"), audio=AudioCNNConfig(name="audio_small")))
    assert localization_predictor(lvs) == lvs.localize
    with pytest.raises(ValueError, match="EZ-VSL"):
        localization_predictor(lvs, 0.4)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        localization_predictor(_task(), 1.5)
    task, batch = _task(), _batch()
    with torch.no_grad():
        assert torch.equal(localization_predictor(task, 0.4)(batch), task.localize_ogl(batch, 0.4))


def test_ezvsl_recipe_scores_with_ezvsls_rule() -> None:
    cfg = load_config(recipe_schema("ezvsl"), EZVSL_YAML, ["eval.ogl_alpha=0.4"])
    assert cfg.eval.rule == "ge" and cfg.eval.ogl_alpha == 0.4


def _ezvsl_run(run: Path) -> None:
    cfg = load_config(recipe_schema("ezvsl"), EZVSL_YAML, [f"output_dir={run}", *SMALL])
    save_config(cfg, run / "config.yaml")
    torch.manual_seed(0)
    export_model(build_task("ezvsl", cfg.model), run)


def test_eval_localization_run_with_ogl(tmp_path, capsys) -> None:
    flickr = write_synthetic("flickr", tmp_path / "flickr", SynthSpec(n=4, seed=0))
    run = tmp_path / "run"
    _ezvsl_run(run)
    base = ["eval", "localization", "--benchmark", "flickr", "--data", str(flickr), "--run", str(run)]
    args = [*base, "--threshold-rule", "ge", "--workers", "0"]
    assert cli([*args, "--out", str(tmp_path / "plain")]) == 0
    assert cli([*args, "--ogl", "0.4", "--out", str(tmp_path / "ogl")]) == 0
    plain = np.load(tmp_path / "plain" / "predictions.npz")
    ogl = np.load(tmp_path / "ogl" / "predictions.npz")
    key = sorted(plain.files)[0]
    assert plain[key].shape == (2, 2) and ogl[key].shape == (224, 224)
    metrics = json.loads((tmp_path / "ogl" / "M.json").read_text())
    assert metrics["rule"] == "ge"
    capsys.readouterr()


def test_recipe_evaluation_uses_eval_ogl_alpha(tmp_path) -> None:
    from avssl.evaluation.localization import evaluate_localization
    from avssl.evaluation.localization_predict import benchmark_dataset, predict_localization
    from avssl.runner import evaluators

    flickr = write_synthetic("flickr", tmp_path / "flickr", SynthSpec(n=4, seed=0))
    overrides = [*SMALL, f"eval.root={flickr}", "eval.ogl_alpha=0.4", "data.num_workers=0"]
    cfg = load_config(recipe_schema("ezvsl"), EZVSL_YAML, overrides)
    task = build_task("ezvsl", cfg.model)
    metrics = evaluators.localization(task, cfg, tmp_path)
    dataset = benchmark_dataset("flickr", str(flickr), dict(vars(cfg.data)))
    expected = predict_localization(task, dataset, num_workers=0, ogl_alpha=0.4)
    assert metrics == evaluate_localization("flickr", str(flickr), expected, "ge")
    plain = evaluate_localization(
        "flickr", str(flickr), predict_localization(task, dataset, num_workers=0), "ge"
    )
    assert metrics["mean_cIoU"] != plain["mean_cIoU"]


def test_localize_ogl_on_a_run_without_ogl_is_a_one_line_error(tmp_path, capsys) -> None:
    from avssl.runner.specs import recipe_schema as schema

    run = tmp_path / "lvs_run"
    cfg = load_config(
        schema("lvs"), None, [f"output_dir={run}", "model.visual.name=small", "model.audio.name=audio_small"]
    )
    save_config(cfg, run / "config.yaml")
    export_model(build_task("lvs", cfg.model), run)
    code = cli(
        [
            "localize",
            str(tmp_path / "any.mp4"),
            "--run",
            str(run),
            "--out",
            str(tmp_path / "o"),
            "--ogl",
            "0.4",
        ]
    )
    assert code != 0 and "EZ-VSL" in capsys.readouterr().err


def test_localize_with_ogl_writes_object_guided_heatmaps(tmp_path, capsys) -> None:
    videos = write_synthetic("folder", tmp_path / "videos", SynthSpec(n=1, seed=3, size=64, duration_s=2.0))
    video = next(videos.rglob("*.mp4"))
    run = tmp_path / "run"
    _ezvsl_run(run)
    base = ["localize", str(video), "--run", str(run), "--no-overlay"]
    assert cli([*base, "--out", str(tmp_path / "plain")]) == 0
    assert cli([*base, "--out", str(tmp_path / "ogl"), "--ogl", "0.4"]) == 0
    plain = np.load(tmp_path / "plain" / video.stem / "heatmaps.npz")["heatmaps"]
    ogl = np.load(tmp_path / "ogl" / video.stem / "heatmaps.npz")["heatmaps"]
    assert plain.shape == ogl.shape and not np.allclose(plain, ogl)
    capsys.readouterr()
