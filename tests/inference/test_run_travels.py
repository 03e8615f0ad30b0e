"""A run travels: a run directory, or its `model/` folder alone, copied elsewhere loads without the files its
encoders were initialised from (their `weights:` paths are not re-read: the trained weights replace them)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from avssl.config import read_yaml
from avssl.encoders import AudioCNNConfig, build_encoder
from avssl.inference.load import RunError, load_run, without_initial_weights


def _initialised_run(tmp_path: Path, write_run) -> tuple[Path, torch.nn.Module, Path]:
    """A run whose audio encoder starts from a weights file (then deleted) — as an AudioSet/ImageNet init."""
    torch.manual_seed(7)
    init = tmp_path / "init" / "audio_small.safetensors"
    init.parent.mkdir()
    save_file(build_encoder(AudioCNNConfig(name="audio_small")).state_dict(), str(init))
    overrides = [
        "model.visual.name=small",
        "model.audio.name=audio_small",
        f"model.audio.weights={init}",
        "model.embed_dim=16",
    ]
    run = tmp_path / "machine_a" / "run"
    task = write_run(run, "av_contrastive", overrides)
    initial = load_file(str(init))
    assert all(torch.equal(v, initial[k]) for k, v in task.audio_encoder.state_dict().items())
    return run, task, init


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def test_copied_run_loads_without_its_initial_weights_file(tmp_path: Path, make_run) -> None:
    run, task, init = _initialised_run(tmp_path, make_run)
    shutil.rmtree(init.parent)  # the ImageNet/AudioSet file stays behind on the training machine
    moved = tmp_path / "machine_b" / "run"
    shutil.copytree(run, moved)
    shutil.rmtree(tmp_path / "machine_a")
    loaded, config = load_run(moved)
    _same_weights(loaded, task)
    assert config["model"]["audio"]["weights"] == str(init)  # the config still says how it was initialised


def test_model_folder_alone_loads(tmp_path: Path, make_run) -> None:
    run, task, init = _initialised_run(tmp_path, make_run)
    init.unlink()
    alone = tmp_path / "elsewhere" / "model"
    shutil.copytree(run / "model", alone)
    assert sorted(p.name for p in alone.iterdir()) == ["config.yaml", "model.safetensors"]
    loaded, config = load_run(alone)
    _same_weights(loaded, task)
    assert config == read_yaml(run / "config.yaml")


def test_load_run_errors_keep_their_messages(tmp_path: Path, make_run) -> None:
    with pytest.raises(RunError, match="run directory not found"):
        load_run(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match=r"no config.yaml \(is this a run directory\?\)"):
        load_run(tmp_path / "empty")
    run, _, _ = _initialised_run(tmp_path, make_run)
    (run / "model" / "model.safetensors").unlink()
    with pytest.raises(RunError, match="no model/model.safetensors and no checkpoint with weights"):
        load_run(run)


def test_only_encoder_sections_lose_their_initial_files() -> None:
    model = {
        "visual": {"name": "resnet18", "weights": "/imagenet/resnet18.pth", "weights_source": "classifier"},
        "audio": {"name": "vggish", "weights": "/audioset/vggish.pth", "pca_params": "/audioset/pca.pth"},
        "strategy": {"weights": {"moco": 0.5}},  # not an encoder: loss weights, kept
        "embed_dim": 128,
    }
    out = without_initial_weights(model)
    assert out["visual"] == {"name": "resnet18", "weights": None, "weights_source": "classifier"}
    assert out["audio"] == {"name": "vggish", "weights": None, "pca_params": None}
    assert out["strategy"] == {"weights": {"moco": 0.5}} and out["embed_dim"] == 128
    assert model["visual"]["weights"] == "/imagenet/resnet18.pth"  # a copy: the run's config is untouched
