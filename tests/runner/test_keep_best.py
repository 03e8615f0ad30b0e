"""`eval.keep_best`: RUN/best/ holds the model of the best evaluation so far, as a loadable run.

Unit level: the metric lookup (nested and dotted keys, clear errors), max/min, the history, the weights of
the kept step, resume from best.json. Through the runner: the demo's SSL-TIE config with periodic
localization evaluations; RUN/best loads with `load_run` and `avssl eval localization --run RUN/best` scores
exactly the value best.json records for its step."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import avssl.runner.run as runner
from avssl.cli import main as cli
from avssl.config import ConfigError
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic
from avssl.inference.load import load_run
from avssl.runner.best import metric_value, read_best, update_best

CONFIG = Path(runner.__file__).resolve().parents[1] / "configs" / "demo_ssl_tie.yaml"


def test_metric_lookup_nested_and_dotted_keys() -> None:
    metrics = {"cIoU": 41.5, "a2v": {"R@1": 7.5, "R@5": 20.0}, "probe": {"knn.top1": 55.0}, "flag": True}
    assert metric_value(metrics, "cIoU") == 41.5
    assert metric_value(metrics, "a2v.R@1") == 7.5
    assert metric_value(metrics, "probe.knn.top1") == 55.0
    for bad in ("ciou", "a2v", "a2v.R@2", "flag"):
        with pytest.raises(ConfigError, match=r"keep_best.*it has .*a2v\.R@1"):
            metric_value(metrics, bad)


def _cfg(tmp: Path, key: str | None, mode: str = "max") -> SimpleNamespace:
    (tmp / "config.yaml").write_text("task: ssl_tie\n")
    return SimpleNamespace(eval=SimpleNamespace(keep_best=key, best_mode=mode))


@pytest.mark.parametrize("mode, values, kept", [("max", [30.0, 50.0, 40.0], 2), ("min", [3.0, 1.0, 2.0], 2)])
def test_best_step_weights_and_history(tmp_path: Path, mode: str, values: list, kept: int) -> None:
    cfg, model = _cfg(tmp_path, "cIoU", mode), nn.Linear(3, 2)
    weights = {}
    for step, value in enumerate(values, start=1):
        with torch.no_grad():
            model.weight.fill_(float(step))
        weights[step] = model.weight.clone()
        update_best(model, cfg, tmp_path, {"cIoU": value}, step)
    best = read_best(tmp_path)
    assert best["step"] == kept and best["value"] == values[kept - 1] and best["mode"] == mode
    assert [h["value"] for h in best["history"]] == values
    state = load_file(str(tmp_path / "best" / "model" / "model.safetensors"))
    assert torch.equal(state["weight"], weights[kept])
    assert (tmp_path / "best" / "config.yaml").is_file() and not (tmp_path / ".tmp_best").exists()


def test_resume_keeps_comparing_with_the_file(tmp_path: Path) -> None:
    cfg, model = _cfg(tmp_path, "cIoU"), nn.Linear(2, 2)
    update_best(model, cfg, tmp_path, {"cIoU": 60.0}, 100)
    # a resumed run (new process, same run directory): a worse value must not replace the kept model
    assert not update_best(nn.Linear(2, 2), cfg, tmp_path, {"cIoU": 55.0}, 200)
    assert read_best(tmp_path)["step"] == 100 and len(read_best(tmp_path)["history"]) == 2
    assert update_best(model, cfg, tmp_path, {"cIoU": 61.0}, 300) and read_best(tmp_path)["step"] == 300


def test_off_or_empty_does_nothing(tmp_path: Path) -> None:
    assert not update_best(nn.Linear(2, 2), _cfg(tmp_path, None), tmp_path, {"cIoU": 1.0}, 1)
    assert not update_best(nn.Linear(2, 2), _cfg(tmp_path, "cIoU"), tmp_path, {}, 1)
    assert not (tmp_path / "best").exists()


def test_runner_keeps_the_best_localizer_as_a_run(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    data, run = tmp_path / "data", tmp_path / "run"
    write_synthetic("vggsound", data / "train", SynthSpec(n=8, seed=0, size=64, num_classes=4))
    write_synthetic("flickr", data / "test", SynthSpec(n=6, seed=1, num_classes=4))
    args = [
        "--config", str(CONFIG), f"output_dir={run}", f"data.root={data / 'train'}", f"eval.root={data / 'test'}",
        "data.size=32", "data.num_workers=0", "train.batch_size=4", "train.max_steps=4", "train.log_every=1",
        "train.progress_bar=false", "eval.every=1", "eval.keep_best=AUC",
    ]  # fmt: skip
    runner.run_recipe(args, default_task="ssl_tie")
    best = read_best(run)
    curve = {s: json.loads((run / f"eval_step_{s}.json").read_text())["AUC"] for s in (1, 2, 3)}
    curve[4] = json.loads((run / "eval.json").read_text())["AUC"]
    assert [h["value"] for h in best["history"]] == [curve[s] for s in (1, 2, 3, 4)]
    assert best["value"] == max(curve.values()) and curve[best["step"]] == best["value"]
    task, config = load_run(run / "best")
    assert config["task"] == "ssl_tie"
    out = tmp_path / "best_eval.json"
    argv = ["eval", "localization", "--benchmark", "flickr", "--data", str(data / "test"),
            "--run", str(run / "best"), "--workers", "0", "--out", str(out)]  # fmt: skip
    assert cli(argv) == 0
    assert json.loads(out.read_text())["AUC"] == pytest.approx(best["value"], abs=1e-9)
