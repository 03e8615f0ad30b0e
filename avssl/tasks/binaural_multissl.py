"""Binaural multi-task self-supervision: a visual and a binaural encoder shared by three pretext tasks
(spatial alignment, temporal synchronisation, temporal gap; `avssl.tasks.binaural_pretext`), trained
jointly (weighted sum or uncertainty weighting) or incrementally (one stage after another, with a frozen
teacher from the previous stage; `avssl.tasks.multissl_common`, `avssl.stages.incremental`).

Paper: Vasudevan, Dai & Van Gool, "Sound and Visual Representation Learning with Multiple Pretraining Tasks",
CVPR 2022 (binaural STFT n_fft 512, hop 160, window 400 — the
`binaural_*` encoders' front end). Heads of every pretext are always built, so every stage of an
incremental run has the same parameters (a stage starts from the previous one's weights); the heads a
stage does not use are frozen.

`forward(batch)` → TaskOutput(loss, {"loss/<task>", …, "acc/<task>"}); `embed(batch, "video" | "audio")`
gives pooled, L2-normalised encoder features of the window's centre clip (probe and retrieval downstream);
`pretext_logits(name, batch, generator)` answers one pretext's questions (held-out accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl.encoders import AnyEncoderConfig, BinauralConfig, Visual2dConfig, build_encoder
from avssl.tasks.base import TaskOutput, check_modality
from avssl.tasks.binaural_pretext import (
    PRETEXT_CLASSES,
    PRETEXTS,
    ClipGeometry,
    PretextConfig,
    audio_at,
    frames_at,
)
from avssl.tasks.multissl_common import DistillConfig, MultiSSLObjective, StrategyConfig, freeze


@dataclass
class BinauralMultiSSLConfig:
    """Encoders, pretext geometry, the strategy (which tasks, how combined) and forgetting control (the
    teacher and the replay memory are attached by the stage runner: `attach_teacher`, `attach_replay`)."""

    visual: AnyEncoderConfig = field(default_factory=lambda: Visual2dConfig(name="small", output_stride=16))
    audio: AnyEncoderConfig = field(
        default_factory=lambda: BinauralConfig(name="binaural_small", output_stride=16)
    )
    pretext: PretextConfig = field(default_factory=PretextConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)


class BinauralMultiSSL(nn.Module):
    """Shared encoders + one head per pretext; see the module docstring."""

    embeds = frozenset({"video", "audio"})

    def __init__(self, cfg: BinauralMultiSSLConfig):
        super().__init__()
        self.cfg = cfg
        self.encoders = nn.ModuleDict(
            {"visual": build_encoder(cfg.visual), "audio": build_encoder(cfg.audio)}
        )
        if getattr(self.encoders["audio"], "in_channels", 2) != 2:
            raise ValueError(f"the audio encoder must take binaural input; {cfg.audio.name!r} does not")
        dims = (self.encoders["visual"].out_dim, self.encoders["audio"].out_dim)
        self.pretexts = nn.ModuleDict({n: PRETEXT_CLASSES[n](cfg.pretext, *dims) for n in PRETEXTS})
        self.objective = MultiSSLObjective(list(PRETEXTS), cfg.strategy, cfg.distill)
        self.active_pretexts = self.objective.active_pretexts  # trained now (strategy.pretexts, empty = all)
        # a plain list: the teacher is attached by the stage runner, never saved with this model
        self._teacher: list[BinauralMultiSSL] = []
        self.memory = None  # stored clips of earlier stages (not part of the weights)
        for name in set(PRETEXTS) - set(self.active_pretexts):
            freeze(self.pretexts[name]).train()  # frozen weights, but the module follows train()/eval()

    def attach_teacher(self, teacher: BinauralMultiSSL) -> None:
        """Distil from / rehearse against `teacher` (the previous stage's frozen model): the heads of its
        tasks that this stage rehearses become trainable again."""
        self._teacher[:] = [teacher]
        for name in self.rehearsed:
            for p in self.pretexts[name].parameters():
                p.requires_grad_(True)

    def attach_replay(self, memory) -> None:
        """Rehearse the earlier tasks on clips drawn from `memory` (anything with `sample(n, device)` →
        batch, e.g. `avssl.stages.replay.ReplayMemory`) instead of the current batch, when replay is on."""
        self.memory = memory if self.cfg.distill.replay_weight > 0 else None

    @property
    def teacher(self) -> BinauralMultiSSL | None:
        return self._teacher[0] if self._teacher else None

    @property
    def rehearsed(self) -> list[str]:
        """Earlier stages' tasks whose heads are replayed or distilled in this stage."""
        if self.teacher is None or (
            self.cfg.distill.output_weight <= 0 and self.cfg.distill.replay_weight <= 0
        ):
            return []
        return [n for n in self.teacher.active_pretexts if n not in self.active_pretexts]

    def pretext_logits(
        self, name: str, batch: dict, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """(logits (B, C), labels (B,)) of pretext `name` on a freshly drawn plan."""
        plan = self.pretexts[name].plan(batch, generator)
        logits = self.pretexts[name](self.encoders, batch, plan)
        return logits, plan["label"].to(logits.device)

    def _centre_clip(self, batch: dict) -> tuple[Tensor, Tensor]:
        geo = ClipGeometry(batch, self.cfg.pretext)
        frame = torch.full(
            (geo.batch_size,), (geo.frames - geo.clip_frames) // 2, device=batch["video"].device
        )
        return frames_at(batch["video"], frame, geo.clip_frames), audio_at(
            batch["audio"], geo.audio_start(frame), geo.audio_len
        )

    def features(self, batch: dict) -> dict[str, Tensor]:
        """Pooled (B, D) visual and audio features of the window's centre clip."""
        frames, audio = self._centre_clip(batch)
        return {
            "visual": self.encoders["visual"](frames).flatten(2).mean(2),
            "audio": self.encoders["audio"](audio).flatten(2).mean(2),
        }

    def embed(self, batch: dict, modality: str) -> Tensor:
        """(B, D) unit-norm features of the centre clip: visual for "video", binaural for "audio"."""
        check_modality(self, modality)
        frames, audio = self._centre_clip(batch)
        if modality == "video":
            return F.normalize(self.encoders["visual"](frames).flatten(2).mean(2), dim=1)
        return F.normalize(self.encoders["audio"](audio).flatten(2).mean(2), dim=1)

    def forward(self, batch: dict) -> TaskOutput:
        teacher = self.teacher
        if teacher is not None:
            teacher.to(batch["video"].device).eval()
        losses, replayed, outputs, accuracy = {}, {}, [], {}
        d = self.cfg.distill
        memory = None
        if self.memory is not None and self.rehearsed:
            memory = self.memory.sample(d.replay_batch, batch["video"].device)
        for name in [*self.active_pretexts, *self.rehearsed]:
            plan = self.pretexts[name].plan(batch)
            logits = self.pretexts[name](self.encoders, batch, plan)
            labels = plan["label"].to(logits.device)
            ce = F.cross_entropy(logits, labels)
            accuracy[f"acc/{name}"] = (logits.argmax(1) == labels).float().mean().detach()
            if name in self.active_pretexts:
                losses[name] = ce
                continue
            if memory is not None:  # rehearsal on stored clips of the earlier stages
                replay_logits, replay_labels = self.pretext_logits(name, memory)
                replayed[name] = F.cross_entropy(replay_logits, replay_labels)
                accuracy[f"acc/replay_{name}"] = (
                    (replay_logits.argmax(1) == replay_labels).float().mean().detach()
                )
            elif d.replay_weight > 0:
                replayed[name] = ce
            if d.output_weight > 0:
                with torch.no_grad():
                    outputs.append((logits, teacher.pretexts[name](teacher.encoders, batch, plan)))
        features = []
        if teacher is not None and self.cfg.distill.feature_weight > 0:
            with torch.no_grad():
                target = teacher.features(batch)
            current = self.features(batch)
            features = [(current[k], target[k]) for k in ("visual", "audio")]
        out = self.objective(losses, replayed, outputs, features)
        return TaskOutput(out.loss, {**out.logs, **accuracy})
