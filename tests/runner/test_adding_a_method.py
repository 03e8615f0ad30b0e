"""What docs/adding-a-method.md shows, done for real: a new method (audio-visual correspondence, L3-Net)
as one task module (defined here), one registry line, one YAML and this test; the runner trains it 3 steps
on the embedded synthetic data and evaluates it by name."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

from avssl.config import read_yaml
from avssl.encoders import AnyEncoderConfig, AudioCNNConfig, Visual2dConfig, build_encoder
from avssl.runner.run import run_recipe
from avssl.tasks import TASKS
from avssl.tasks.base import TaskOutput, check_modality
from avssl.train.logging import read_metrics


# --- the task module (avssl/tasks/avc.py in the doc) ----------------------------------------------------
@dataclass
class AVCConfig:
    """Encoders and the classifier's hidden width."""

    visual: AnyEncoderConfig = field(default_factory=lambda: Visual2dConfig(name="small"))
    audio: AnyEncoderConfig = field(default_factory=lambda: AudioCNNConfig(name="audio_small"))
    hidden: int = 64


class AVC(nn.Module):
    """Audio-visual correspondence (Arandjelović & Zisserman, "Look, Listen and Learn", ICCV 2017): does
    this audio belong to these frames? Positives: a clip's own audio; negatives: the next clip's audio
    (batch rolled by one). Cross-entropy over {mismatch, match} of an MLP on the concatenated pooled features."""

    embeds = frozenset({"video", "audio"})  # what embed(batch, modality) answers: retrieval, probes

    def __init__(self, cfg: AVCConfig):
        super().__init__()
        self.visual, self.audio = build_encoder(cfg.visual), build_encoder(cfg.audio)
        dims = self.visual.out_dim + self.audio.out_dim
        self.classifier = nn.Sequential(nn.Linear(dims, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, 2))

    def embed(self, batch: dict, modality: str) -> Tensor:
        """(B, D) unit-norm pooled features of the batch's "video" or "audio"."""
        check_modality(self, modality)
        encoder = self.visual if modality == "video" else self.audio
        return F.normalize(encoder(batch[modality]).flatten(2).mean(2), dim=1)

    def logits(self, video: Tensor, audio: Tensor) -> Tensor:
        """(2B, 2): the B matching pairs, then the B mismatched ones (audio rolled by one)."""
        pairs = torch.cat([torch.cat([video, audio], 1), torch.cat([video, audio.roll(1, 0)], 1)])
        return self.classifier(pairs)

    def forward(self, batch: dict) -> TaskOutput:
        video, audio = self.embed(batch, "video"), self.embed(batch, "audio")
        logits = self.logits(video, audio)
        labels = torch.cat([torch.ones(len(video)), torch.zeros(len(video))]).long().to(logits.device)
        loss = F.cross_entropy(logits, labels)
        return TaskOutput(loss, {"loss/avc": loss.detach()})


# --- the YAML (recipes/configs/avc.yaml in the doc) ------------------------------------------------------
YAML = """\
task: avc
output_dir: runs/avc
data:
  root: ""              # empty: a synthetic VGG-Sound-layout set is written into output_dir/synthetic
  layout: vggsound
  duration_s: 1.0
  fps: 1.0
  size: 32
  num_workers: 0
model:
  visual: {name: small}
  audio: {name: audio_small}
eval:
  evaluators: [retrieval, probe]   # audio<->visual retrieval, kNN / linear probes: held-out split
train:
  max_steps: 3
  batch_size: 4
  log_every: 1
  progress_bar: false
optim:
  name: adamw
  lr: 0.001
"""


@pytest.fixture
def registered(monkeypatch):
    """The registry line (`"avc": (AVCConfig, AVC),` in avssl/tasks/__init__.py)."""
    monkeypatch.setitem(TASKS, "avc", (AVCConfig, AVC))


def test_the_loss_is_cross_entropy_over_matching_and_rolled_pairs() -> None:
    torch.manual_seed(0)
    task = AVC(AVCConfig())
    batch = {"video": torch.randn(3, 3, 1, 32, 32), "audio": torch.randn(3, 1, 16000)}
    out = task(batch)
    v, a = task.embed(batch, "video"), task.embed(batch, "audio")
    naive = 0.0
    for i in range(3):  # the pair's own audio is a match, the previous clip's audio a mismatch
        for audio, label in ((a[i], 1), (a[i - 1], 0)):
            logits = task.classifier(torch.cat([v[i], audio])).detach()
            naive -= float(torch.log_softmax(logits, 0)[label]) / 6
    assert float(out.loss.detach()) == pytest.approx(naive, abs=1e-5)


def test_a_new_method_trains_and_evaluates_through_the_runner(registered, tmp_path) -> None:
    torch.set_num_threads(1)
    config, run = tmp_path / "avc.yaml", tmp_path / "run"
    config.write_text(YAML)
    out = run_recipe(["--config", str(config), f"output_dir={run}"], default_task="av_contrastive")
    saved = read_yaml(run / "config.yaml")
    assert saved["task"] == "avc" and saved["model"]["hidden"] == 64 and saved["train"]["max_steps"] == 3
    logged = [m for m in read_metrics(run) if "loss" in m]
    assert [m["step"] for m in logged] == [1, 2, 3] and all("loss/avc" in m for m in logged)
    weights = load_file(str(run / "model" / "model.safetensors"))
    assert any(k.startswith("classifier.") for k in weights) and (run / "model" / "config.yaml").is_file()
    assert out["train"][0]["step"] == 3
    retrieval = json.loads((run / "eval_retrieval.json").read_text())
    assert (
        retrieval["num_items"] == 16 and 0 <= retrieval["video_to_audio"]["R@1"] <= 100
    )  # synthetic test split
    probe = json.loads((run / "eval_probe.json").read_text())["probe"]
    assert set(probe) == {"visual", "audio"} and {"knn", "linear"} <= set(probe["visual"])
    assert (
        json.loads((run / "eval.json").read_text()) == out["eval"][str(run)] == {**retrieval, "probe": probe}
    )


def test_a_misspelt_evaluator_fails_before_training(registered, tmp_path) -> None:
    config = tmp_path / "avc.yaml"
    config.write_text(YAML)
    with pytest.raises(SystemExit, match="unknown evaluator"):
        run_recipe(
            ["--config", str(config), f"output_dir={tmp_path / 'run'}", "eval.evaluators=[retrievl]"],
            default_task="avc",
        )
    assert not (tmp_path / "run").exists()
