"""MoCo v2 fidelity of the image multi-SSL task: the view augmentation includes the Gaussian blur of MoCo v2's
released code (sigma U[0.1, 2.0], p 0.5), and under DDP the key encoder's BatchNorm sees the global batch
shuffled across ranks (shuffling BN), its outputs handed back to each rank in the original order."""

from __future__ import annotations

import torch
from torch import Tensor

from avssl import distributed
from avssl.data.loader import sized_transforms
from avssl.runner.image_data import ImageDataConfig
from avssl.tasks.image_multissl import ImageMultiSSL, ImageMultiSSLConfig
from avssl.testing import run_gloo_ranks

WORLD, LOCAL = 2, 4


def test_moco_v2_augmentation_has_the_blur() -> None:
    names = [t["name"] for t in ImageDataConfig().transforms]
    assert names == [
        "random_resized_crop",
        "color_jitter",
        "random_grayscale",
        "gaussian_blur",
        "random_horizontal_flip",
        "normalize",
    ]
    blur = ImageDataConfig().transforms[3]
    assert blur["sigma"] == [0.1, 2.0] and blur["p"] == 0.5
    sized_transforms(ImageDataConfig().transforms, 32)  # builds


def test_blur_transform_blurs_about_half_the_time() -> None:
    """Only the blur of the pipeline on a checkerboard: ~half of the seeds soften the edges."""
    blur = sized_transforms([ImageDataConfig().transforms[3]], 32)
    board = ((torch.arange(32)[:, None] + torch.arange(32)[None]) % 2 * 255).to(torch.uint8)
    video = board.expand(1, 3, 32, 32).contiguous()
    changed = 0
    for seed in range(40):
        out = blur({"video": video.clone()}, generator=torch.Generator().manual_seed(seed))["video"]
        changed += int(not torch.equal(out, video))
    assert 10 <= changed <= 30


def _views(rank: int) -> dict:
    """Global sample i is an image filled with i; this rank holds samples [rank*B, (rank+1)*B)."""
    ids = torch.arange(rank * LOCAL, (rank + 1) * LOCAL, dtype=torch.float32)
    image = ids.view(-1, 1, 1, 1, 1).expand(LOCAL, 3, 1, 16, 16).contiguous()
    return {"views": [{"video": image + 0.5}, {"video": image}]}


def _scenario(rank: int, world: int, shuffle_bn: bool = True) -> dict[str, Tensor]:
    torch.manual_seed(0)
    cfg = ImageMultiSSLConfig(queue_size=16, dense_queue_size=16, shuffle_bn=shuffle_bn)
    task = ImageMultiSSL(cfg).train()
    calls: list[tuple[Tensor, Tensor]] = []
    task.key_backbone.register_forward_hook(
        lambda module, args, out: calls.append((args[0][:, 0, 0, 0].clone(), out.clone()))
    )
    keys = task._keys(_views(rank)["views"][1]["video"][:, :, 0])
    loss = task(_views(rank)).loss
    seen = {"ids": calls[0][0], "out": calls[0][1]}
    assert torch.isfinite(loss)
    return {"seen_ids": seen["ids"], "seen_out": seen["out"], "maps": keys["maps"], "loss": loss.detach()}


def _no_shuffle(rank: int, world: int) -> dict[str, Tensor]:
    return _scenario(rank, world, shuffle_bn=False)


def test_shuffle_bn_key_encoder_sees_a_shuffled_batch(tmp_path) -> None:
    ranks = run_gloo_ranks(_scenario, tmp_path / "shuffle", world=WORLD)
    seen = torch.cat([r["seen_ids"] for r in ranks])
    assert sorted(seen.tolist()) == list(range(WORLD * LOCAL))  # every sample once, over the ranks
    own = [set(range(r * LOCAL, (r + 1) * LOCAL)) for r in range(WORLD)]
    assert any(set(r["seen_ids"].tolist()) != own[k] for k, r in enumerate(ranks))
    outputs = torch.cat([r["seen_out"] for r in ranks])  # key backbone outputs in shuffled order
    for k, r in enumerate(ranks):  # unshuffled: each rank's own samples, in order
        for i, sample in enumerate(range(k * LOCAL, (k + 1) * LOCAL)):
            assert torch.equal(r["maps"][i], outputs[int((seen == sample).nonzero())])


def test_without_shuffle_bn_each_rank_sees_its_own_batch(tmp_path) -> None:
    ranks = run_gloo_ranks(_no_shuffle, tmp_path / "plain", world=WORLD)
    for k, r in enumerate(ranks):
        assert r["seen_ids"].tolist() == list(range(k * LOCAL, (k + 1) * LOCAL))


def test_shuffle_is_the_identity_in_one_process() -> None:
    x = torch.randn(5, 3)
    shuffled, inverse = distributed.shuffle_across_ranks(x)
    assert torch.equal(shuffled, x) and torch.equal(distributed.unshuffle_across_ranks(shuffled, inverse), x)
