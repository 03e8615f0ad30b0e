"""Wrappers: determinism, no mutation, one parameter draw per clip, registry and Compose rules."""

import pytest
import torch

from avssl.transforms import TRANSFORMS, Compose, build_transform, build_transforms
from avssl.transforms.functional import appearance as FA
from avssl.transforms.video import (
    CenterCrop,
    ColorJitter,
    GaussianBlur,
    Normalize,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRotation,
    Resize,
)

# minimal constructor arguments for the registry entries that need some
REQUIRED_ARGS = {
    "random_resized_crop": {"size": 24},
    "clip_augment": {"size": 24},
    "track_crop": {"size": 24},
    "random_rotation": {"max_deg": 10},
    "resize": {"size": 24},
    "center_crop": {"size": 16},
    "audio_time_shift": {"max_s": 0.01},
}


def _sample(t=3, h=32, w=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    frame = torch.randint(0, 256, (1, 3, h, w), dtype=torch.uint8, generator=g)
    video = torch.cat([frame, torch.randint(0, 256, (t - 1, 3, h, w), dtype=torch.uint8, generator=g)])
    return {
        "video": video,
        "mask": (torch.rand(t, h, w, generator=g) > 0.5).to(torch.uint8),
        "boxes": torch.tensor([[4.0, 5.0, 20.0, 25.0]]),
        "audio": torch.randn(2, 800, generator=g),
        "sample_rate": 16000,
        "geometry": [],
        "index": 7,
    }


def _pipeline():
    return [
        RandomResizedCrop(24, scale=(0.3, 1.0)),
        RandomHorizontalFlip(),
        RandomRotation(20.0),
        ColorJitter(0.4, 0.4, 0.4, 0.1),
        RandomGrayscale(0.5),
        GaussianBlur(5, p=0.5),
    ]


def _equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        same = torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k]
        assert same, k


def test_seeded_generator_is_deterministic():
    sample = _sample()
    runs = [Compose(_pipeline())(sample, torch.Generator().manual_seed(5)) for _ in range(2)]
    _equal(*runs)
    _equal(Compose(_pipeline(), seed=5)(sample), runs[0])  # constructor seed == call-time generator
    other = Compose(_pipeline())(sample, torch.Generator().manual_seed(6))
    assert not torch.equal(other["video"], runs[0]["video"])


def test_call_time_generator_overrides_constructor_seed():
    sample = _sample()
    a = RandomRotation(30.0, seed=1)(sample, torch.Generator().manual_seed(2))
    b = RandomRotation(30.0, seed=2)(sample)
    assert a["geometry"] == b["geometry"]


def test_input_dict_is_not_mutated():
    sample = _sample()
    snapshot = {
        k: (v.clone() if isinstance(v, torch.Tensor) else list(v) if isinstance(v, list) else v)
        for k, v in sample.items()
    }
    out = Compose([*_pipeline(), Normalize()])(sample, torch.Generator().manual_seed(0))
    _equal(sample, snapshot)
    assert out is not sample and len(out["geometry"]) >= 2 and sample["geometry"] == []
    assert out["index"] == 7 and out["audio"] is sample["audio"]  # untouched keys pass through


@pytest.mark.parametrize(
    "make", [lambda: CenterCrop(32), lambda: Resize((32, 40)), lambda: CenterCrop((20, 30))]
)
def test_crop_outputs_do_not_alias_inputs(make):
    sample = _sample()
    out = make()(sample)
    for key in ("video", "mask"):
        before = sample[key].clone()
        out[key].zero_()  # a later in-place op on the output must not reach the input
        assert torch.equal(sample[key], before)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ColorJitter(0.5, 0.5, 0.5, 0.2),
        lambda: GaussianBlur(5, (0.5, 2.0)),
        lambda: RandomGrayscale(1.0),
    ],
    ids=["jitter", "blur", "gray"],
)
def test_appearance_wrappers_are_temporally_consistent(make):
    sample = _sample()
    sample["video"] = sample["video"][:1].expand(3, -1, -1, -1).clone()  # three identical frames
    out = make()(sample, torch.Generator().manual_seed(3))["video"]
    assert not torch.equal(out[0], sample["video"][0])
    assert torch.equal(out[1], out[0]) and torch.equal(out[2], out[0])


def test_jitter_applies_one_draw_to_every_frame():
    sample = _sample()
    jitter = ColorJitter(0.5, 0.5, 0.5, 0.2)
    out = jitter(sample, torch.Generator().manual_seed(4))["video"]
    g = torch.Generator().manual_seed(4)
    torch.rand((), generator=g)  # replay the wrapper's draws: first its p coin, then the factors
    params = jitter.sample_params(g)
    for t in range(3):
        assert torch.equal(out[t : t + 1], FA.color_jitter(sample["video"][t : t + 1], params))


def test_normalize_must_come_last_and_changes_layout():
    with pytest.raises(ValueError):
        Compose([Normalize(), RandomHorizontalFlip()])
    out = Compose([RandomHorizontalFlip(), Normalize()])(_sample())
    assert out["video"].shape == (3, 3, 32, 40) and out["video"].dtype == torch.float32


# transforms that read what an earlier one writes (flow_tubes follows sample['motion'], track_crop keeps
# sample['track'])
PREREQUISITES = {"flow_tubes": {"name": "frame_difference"}, "track_crop": {"name": "object_track"}}


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_every_registry_entry_builds_and_runs(name):
    transform = build_transform({"name": name, **REQUIRED_ARGS.get(name, {})})
    assert isinstance(transform, TRANSFORMS[name])
    sample = _sample()
    if name in PREREQUISITES:
        sample = build_transform(PREREQUISITES[name])(sample, torch.Generator().manual_seed(1))
    out = transform(sample, torch.Generator().manual_seed(0))
    assert out["video"].dtype in (torch.uint8, torch.float32)
    assert out["audio"].shape == (2, 800)


def test_build_transforms_from_config_lists():
    specs = [
        {"name": "random_resized_crop", "size": [20, 24], "scale": [0.5, 1.0]},
        {"name": "random_horizontal_flip", "p": 1.0},
        {"name": "audio_gain", "min_db": -3, "max_db": 3},
        {"name": "normalize", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
    ]
    out = build_transforms(specs, seed=0)(_sample())
    assert out["video"].shape == (3, 3, 20, 24)
    assert out["mask"].shape == (3, 20, 24) and out["boxes"].shape == (1, 4)
    with pytest.raises(ValueError, match="unknown transform"):
        build_transforms([{"name": "random_crop_of_doom"}])
    with pytest.raises(ValueError, match="bad arguments"):
        build_transforms([{"name": "random_horizontal_flip", "probability": 0.5}])
