"""TPAVI against the explicit N×N non-local computation, shapes of the head, that audio matters, the frozen
audio extractor, and the audio-visual mapping loss against a loop written from the released loss."""

from __future__ import annotations

import math

import pytest
import torch
from einops import rearrange

from avssl.encoders import AudioCNNConfig, Visual2dConfig
from avssl.heads.segmentation import AVSegmentationHead
from avssl.heads.tpavi import TPAVI
from avssl.losses.avs import AudioVisualMappingLoss, frame_bce, frame_dice, masked_mean
from avssl.losses.dice import soft_dice
from avssl.tasks.avs import AVSConfig, AVSegmenter, per_frame_audio


def _randomise_norms(module: torch.nn.Module, seed: int = 0) -> None:
    """Random scale/shift and running statistics for every BatchNorm (TPAVI's W_z norm starts at zero, which
    would hide the interaction term)."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))


def _naive_tpavi(block: TPAVI, visual: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
    """Z = LN(V + BN(W_z(Σ_j f_ij g(V_j)))) with the full (B, N, N) matrix f."""
    b, c, t, h, w = visual.shape
    f = block.attention(visual, audio)  # (B, N, N)
    g = block.g(visual).flatten(2)  # (B, C', N)
    y = torch.einsum("bij,bkj->bki", f, g).reshape(b, -1, t, h, w)
    z = visual + block.w_z(y)
    return rearrange(block.norm(rearrange(z, "b c t h w -> b t h w c")), "b t h w c -> b c t h w")


def test_tpavi_equals_the_full_non_local_attention() -> None:
    torch.manual_seed(0)
    block = TPAVI(channels=16, audio_dim=12).double()
    _randomise_norms(block)
    visual, audio = torch.randn(2, 16, 3, 4, 5).double(), torch.randn(2, 3, 12).double()
    for mode in (True, False):  # BatchNorm on batch statistics and on running statistics
        block.train(mode)
        fused, audio_c = block(visual, audio)
        assert fused.shape == visual.shape and audio_c.shape == (2, 3, 16)
        torch.testing.assert_close(fused, _naive_tpavi(block, visual, audio))
    plain = rearrange(block.norm(rearrange(visual, "b c t h w -> b t h w c")), "b t h w c -> b c t h w")
    assert (fused - plain).abs().max() > 1e-3  # the interaction term is not negligible


def test_an_untrained_tpavi_passes_the_normalised_visual_on() -> None:
    torch.manual_seed(7)
    block = TPAVI(channels=8, audio_dim=4)  # W_z's BatchNorm starts at zero, as released
    visual = torch.randn(2, 8, 3, 4, 4)
    fused, _ = block(visual, torch.randn(2, 3, 4))
    torch.testing.assert_close(
        fused, rearrange(block.norm(rearrange(visual, "b c t h w -> b t h w c")), "b t h w c -> b c t h w")
    )


def test_attention_is_constant_over_each_frame_of_the_audio_axis() -> None:
    torch.manual_seed(1)
    block = TPAVI(channels=8, audio_dim=4)
    f = block.attention(torch.randn(1, 8, 2, 3, 3), torch.randn(1, 2, 4))  # positions (t, h, w), N = 18
    assert f.shape == (1, 18, 18)
    per_frame = f.reshape(1, 18, 2, 9)
    torch.testing.assert_close(per_frame, per_frame[..., :1].expand_as(per_frame))  # audio broadcast


def test_tpavi_output_depends_on_the_audio_of_every_frame() -> None:
    torch.manual_seed(2)
    block = TPAVI(channels=8, audio_dim=4).eval()
    _randomise_norms(block)
    visual, audio = torch.randn(1, 8, 3, 4, 4), torch.randn(1, 3, 4)
    base, _ = block(visual, audio)
    changed = audio.clone()
    changed[:, 2] += 1.0  # only frame 2's audio: every frame's output moves (temporal interaction)
    other, _ = block(visual, changed)
    assert ((base - other).abs().amax(dim=(0, 1, 3, 4)) > 1e-4).all()


def test_head_shapes_and_stage_outputs() -> None:
    torch.manual_seed(3)
    head = AVSegmentationHead((8, 16, 32, 32), audio_dim=6, channels=16, tpavi_stages=(1, 3))
    stages = [torch.randn(2, d, 3, s, s) for d, s in zip((8, 16, 32, 32), (16, 8, 4, 2))]
    logits, fused = head(stages, torch.randn(2, 3, 6), (64, 64))
    assert logits.shape == (2, 3, 64, 64)
    assert [v.shape for v, _ in fused] == [(6, 16, 8, 8), (6, 16, 2, 2)]
    assert [a.shape for _, a in fused] == [(6, 16), (6, 16)]
    assert all(v.min() >= 0 for v, _ in fused)  # the maps as the decoder's in-place ReLU leaves them
    with pytest.raises(ValueError, match="tpavi_stages"):
        AVSegmentationHead((8, 16, 32, 32), 6, 16, (4,))


def _small_model(**changes) -> AVSegmenter:
    cfg = AVSConfig(
        visual=Visual2dConfig(name="small", output_stride=32),
        audio=AudioCNNConfig(name="audio_small"),
        channels=16,
        **changes,
    )
    return AVSegmenter(cfg)


def test_a_backbone_with_3_levels_is_refused_by_name() -> None:
    cfg = AVSConfig(
        visual=Visual2dConfig(name="small", output_stride=8), audio=AudioCNNConfig(name="audio_small")
    )
    with pytest.raises(ValueError, match="'small' gives 3 feature levels; the AVS head needs 4"):
        AVSegmenter(cfg)


def _batch(frames: int = 5, size: int = 64) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "video": torch.randn(2, 3, frames, size, size, generator=g),
        "audio": 0.1 * torch.randn(2, 1, 16000 * frames, generator=g),
        "mask": (torch.rand(2, frames, size, size, generator=g) > 0.5).to(torch.uint8),
        "mask_valid": torch.tensor([[True] + [False] * (frames - 1), [True] * frames]),
    }


def test_task_trains_and_the_audio_changes_the_masks() -> None:
    torch.manual_seed(4)
    model = _small_model(supervise="all", avm_weight=0.5, freeze_audio=False)
    batch = _batch()
    out = model(batch)
    assert set(out.logs) == {"loss/bce", "loss/avm"} and torch.isfinite(out.loss)
    out.loss.backward()
    assert all(p.grad is not None for p in model.head.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.audio_encoder.parameters())
    # as released, an untrained TPAVI passes LayerNorm(V) on (W_z's norm starts at zero): train a few steps
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(5):
        optim.zero_grad()
        model(batch).loss.backward()
        optim.step()
    model.eval()
    probs = model.segment(batch)
    assert probs.shape == (2, 5, 64, 64) and probs.min() >= 0 and probs.max() <= 1
    swapped = model.segment({**batch, "audio": batch["audio"].flip(0)})
    assert (probs - swapped).abs().max() > 1e-5


def test_the_audio_extractor_is_frozen_by_default() -> None:
    torch.manual_seed(8)
    model = _small_model(avm_weight=0.5)
    assert model.cfg.freeze_audio and not any(p.requires_grad for p in model.audio_encoder.parameters())
    model.train()
    assert not model.audio_encoder.training and model.head.training
    model(_batch()).loss.backward()
    assert all(p.grad is None for p in model.audio_encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.head.tpavi.parameters())


def test_zero_audio_variant_ignores_the_audio() -> None:
    torch.manual_seed(5)
    model = _small_model(zero_audio=True).eval()
    batch = _batch()
    a = model.segment(batch)
    b = model.segment({**batch, "audio": torch.randn_like(batch["audio"])})
    torch.testing.assert_close(a, b)


def test_first_frame_supervision_ignores_other_frames() -> None:
    torch.manual_seed(6)
    model = _small_model(supervise="first")
    batch = _batch()
    flipped = {**batch, "mask": batch["mask"].clone()}
    flipped["mask"][:, 1:] = 1 - flipped["mask"][:, 1:]
    torch.testing.assert_close(model(batch).loss, model(flipped).loss)


def test_frame_bce_and_masked_mean_by_hand() -> None:
    logits = torch.zeros(1, 2, 2, 2)
    masks = torch.ones(1, 2, 2, 2)
    loss = frame_bce(logits, masks, torch.tensor([[True, False]]))
    assert loss.item() == pytest.approx(torch.log(torch.tensor(2.0)).item())
    features = torch.arange(8.0).reshape(1, 2, 2, 2)
    big = 40.0  # sigmoid → 1 or 0
    logits = torch.tensor([[[big, big, -big, -big], [big, big, -big, -big], [-big] * 4, [-big] * 4]])
    # logits pooled to 2×2: only the top-left cell is foreground; the mean runs over all 4 cells
    torch.testing.assert_close(masked_mean(features, logits), torch.tensor([[0.0, 1.0]]), atol=1e-6, rtol=0)


def _naive_dice(logits: torch.Tensor, masks: torch.Tensor, supervised: torch.Tensor) -> float:
    """Milletari et al.'s soft Dice, pixel by pixel: 1 − (2 Σ p g + 1) / (Σ p + Σ g + 1) per supervised frame,
    the mean over those frames."""
    losses = []
    for b in range(logits.shape[0]):
        for t in range(logits.shape[1]):
            if not supervised[b, t]:
                continue
            inter = total_p = total_g = 0.0
            for i in range(logits.shape[2]):
                for j in range(logits.shape[3]):
                    p = 1.0 / (1.0 + math.exp(-float(logits[b, t, i, j])))
                    g = float(masks[b, t, i, j])
                    inter, total_p, total_g = inter + p * g, total_p + p, total_g + g
            losses.append(1.0 - (2.0 * inter + 1.0) / (total_p + total_g + 1.0))
    return sum(losses) / len(losses)


def test_dice_loss_equals_a_pixel_loop_and_counts_supervised_frames_only() -> None:
    g = torch.Generator().manual_seed(3)
    logits = 3 * torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)
    masks = (torch.rand(2, 3, 5, 6, generator=g) > 0.7).double()
    masks[1, 2] = 0.0  # an empty mask
    supervised = torch.tensor([[True, False, True], [False, True, True]])
    loss = frame_dice(logits, masks, supervised)
    assert loss.item() == pytest.approx(_naive_dice(logits, masks, supervised), rel=1e-6)
    # a perfect confident prediction costs ~0, its complement ~1; no supervised frame: zero with a gradient
    perfect = 60 * (2 * masks - 1)
    assert frame_dice(perfect, masks, supervised).item() < 1e-6
    assert frame_dice(-perfect[:, :2], masks[:, :2], supervised[:, :2]).item() > 0.95
    none = frame_dice(logits.requires_grad_(), masks, torch.zeros_like(supervised))
    assert none.item() == 0.0 and none.requires_grad
    with pytest.raises(ValueError, match="differ"):
        frame_dice(logits, masks[:, :2], supervised)
    # over every element (change-detection fine-tuning's batch-pooled form): one frame holding all pixels
    pooled = _naive_dice(
        logits.reshape(1, 1, -1, 1), masks.reshape(1, 1, -1, 1), torch.ones(1, 1, dtype=torch.bool)
    )
    assert soft_dice(logits, masks).item() == pytest.approx(pooled, rel=1e-6)


def test_dice_weight_adds_the_dice_term_to_the_task_loss() -> None:
    torch.manual_seed(10)
    batch = _batch()
    plain, dice = _small_model(), _small_model(dice_weight=0.5)
    dice.load_state_dict(plain.state_dict())
    out, out_dice = plain(batch), dice(batch)
    assert "loss/dice" not in out.logs and set(out_dice.logs) == {"loss/bce", "loss/dice"}
    torch.testing.assert_close(out_dice.loss, out.loss + 0.5 * out_dice.logs["loss/dice"])
    assert 0.0 < out_dice.logs["loss/dice"].item() < 1.0


def _naive_avm(stages, logits: torch.Tensor) -> torch.Tensor:
    """The released Loss_AVM_AV (MS3: kl_flag, no threshold, no feature normalisation), frame by frame: the
    logits block-averaged to the map's size, sigmoid, the weighted map's mean over all pixels, then
    Σ_frames KL(softmax(audio) ‖ softmax(visual)); averaged over stages."""
    total = 0.0
    for visual, audio in stages:
        n, c, h, w = visual.shape
        sh, sw = logits.shape[1] // h, logits.shape[2] // w
        loss = 0.0
        for i in range(n):
            weight = torch.sigmoid(logits[i].reshape(h, sh, w, sw).mean(dim=(1, 3)))
            v = [(visual[i, k] * weight).sum() / (h * w) for k in range(c)]
            p = torch.softmax(torch.stack(v), dim=0)
            q = torch.softmax(audio[i], dim=0)
            loss = loss + sum(q[k] * (torch.log(q[k]) - torch.log(p[k])) for k in range(c))
        total = total + loss
    return total / len(stages)


def test_avm_loss_equals_the_released_loss_written_as_loops() -> None:
    torch.manual_seed(9)
    logits = 2 * torch.randn(6, 16, 16, dtype=torch.float64)
    stages = [
        (torch.rand(6, 5, s, s, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64))
        for s in (8, 4, 2)
    ]
    torch.testing.assert_close(AudioVisualMappingLoss()(stages, logits), _naive_avm(stages, logits))
    # summed over frames (the released reduction="sum"): twice the frames, twice the loss
    doubled = [(torch.cat([v, v]), torch.cat([a, a])) for v, a in stages]
    torch.testing.assert_close(
        AudioVisualMappingLoss()(doubled, torch.cat([logits, logits])), 2 * _naive_avm(stages, logits)
    )


def test_avm_loss_is_zero_when_masked_visual_matches_audio() -> None:
    visual = torch.randn(3, 8, 1, 1).expand(3, 8, 4, 4)
    logits = torch.full((3, 16, 16), 50.0)
    loss = AudioVisualMappingLoss()([(visual, visual[:, :, 0, 0])], logits)
    assert loss.abs().item() < 1e-5
    assert AudioVisualMappingLoss()([(visual, -visual[:, :, 0, 0])], logits) > 1e-3


def test_per_frame_audio_bins_time() -> None:
    feats = torch.arange(10.0).reshape(1, 1, 1, 10).expand(1, 2, 3, 10)
    out = per_frame_audio(feats, 5)
    assert out.shape == (1, 5, 2)
    torch.testing.assert_close(out[0, :, 0], torch.tensor([0.5, 2.5, 4.5, 6.5, 8.5]))
