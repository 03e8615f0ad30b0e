"""AVSBench Jaccard / F-score against naive per-pixel references (conftest) and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from avssl.evaluation.segmentation_metrics import frame_f_curves, frame_iou, score_videos, thresholds


def test_hand_computed_iou() -> None:
    p = np.array([[[0.6, 0.5], [0.2, 0.9]]], dtype=np.float32)  # 0.5 is NOT foreground (p > 0.5 strict)
    g = np.array([[[1, 1], [0, 0]]])
    assert frame_iou(p, g)[0] == pytest.approx(1 / 3, abs=1e-6)  # inter 1, union 3


def test_hand_computed_empty_ground_truth_scores_true_negatives() -> None:
    p = np.array([[[0.6, 0.4], [0.1, 0.5]]], dtype=np.float32)
    g = np.zeros((1, 2, 2))
    assert frame_iou(p, g)[0] == pytest.approx(3 / 4, abs=1e-6)
    curves, nonempty = frame_f_curves(p, g)
    assert not nonempty[0] and not curves[0].any()


def test_hand_computed_f_curve() -> None:
    p = np.array([[[0.9, 0.1], [0.1, 0.1]]], dtype=np.float32)
    g = np.array([[[1, 0], [0, 0]]])
    curve = frame_f_curves(p, g)[0][0]
    theta = thresholds().numpy()
    low = theta <= np.float32(0.1)  # all 4 pixels predicted: precision 1/4, recall 1
    assert curve[low] == pytest.approx(1.3 * 0.25 / (0.3 * 0.25 + 1), abs=1e-6)
    mid = (theta > np.float32(0.1)) & (theta <= np.float32(0.9))
    assert np.all(curve[mid] == np.float32(1.0))
    assert np.all(curve[theta > np.float32(0.9)] == 0)  # nothing predicted: 0/0 → 0
    assert curve[-1] == 0 and theta[-1] == np.float32(1.0)


def test_threshold_ties_count_as_predicted() -> None:
    theta = thresholds().numpy()
    p = np.full((1, 3, 3), theta[100], dtype=np.float32)  # exactly a threshold: p ≥ θ at k ≤ 100
    g = np.ones((1, 3, 3))
    curve = frame_f_curves(p, g)[0][0]
    assert np.all(curve[:101] == np.float32(1.0)) and np.all(curve[101:] == 0)


def _random_videos(rng, n, shape=(5, 6, 7), empty=()):
    videos = []
    for k in range(n):
        g = (rng.random(shape) < 0.3).astype(np.uint8)
        g[:, 0, 0] = 1
        if k in empty:
            g[:] = 0
        p = np.clip(0.5 * g + rng.random(shape) * 0.7, 0, 1).astype(np.float32)
        p[0, 0, :3] = [0.5, 0.0, 1.0]  # ties at the Jaccard threshold and at both ends of the θ range
        videos.append((p, g))
    return videos


def test_frames_against_pixel_loops(naive) -> None:
    rng = np.random.default_rng(0)
    for p, g in _random_videos(rng, 3, empty=(1,)):
        np.testing.assert_allclose(
            frame_iou(p, g), [naive.iou_loop(a, b) for a, b in zip(p, g)], rtol=0, atol=0
        )
        curves, nonempty = frame_f_curves(p, g)
        for k in range(len(p)):
            if g[k].any():
                np.testing.assert_array_equal(curves[k], naive.f_curve_loop(p[k], g[k]))
            else:
                assert not nonempty[k]


@pytest.mark.parametrize("f_mode", ["per-frame", "avsbench"])
@pytest.mark.parametrize("batch_size", [1, 2, 4])
def test_scores_against_naive_loop(naive, f_mode, batch_size) -> None:
    # 5 videos, the 2nd without any ground truth: with B = 1 that batch's frames are all empty (F = 0)
    rng = np.random.default_rng(1)
    videos = _random_videos(rng, 5, empty=(1,))
    got = score_videos([p for p, _ in videos], [g for _, g in videos], f_mode, batch_size)
    miou, f = naive.scores(videos, f_mode, batch_size)
    assert got["mIoU"] == pytest.approx(miou, abs=1e-5)
    assert got["F"] == pytest.approx(f, abs=1e-6)
    assert got["num_frames"] == 25 and got["f_mode"] == f_mode


def test_all_empty_batch_scores_zero_f_and_makes_f_batch_dependent() -> None:
    rng = np.random.default_rng(2)
    videos = _random_videos(rng, 2, empty=(1,))
    probs, masks = [p for p, _ in videos], [g for _, g in videos]
    alone = score_videos(probs[:1], masks[:1], "avsbench", 1)["F"]
    assert alone > 0
    assert score_videos(probs, masks, "avsbench", 1)["F"] == pytest.approx(alone / 2, abs=1e-6)
    assert score_videos(probs, masks, "avsbench", 2)["F"] == pytest.approx(alone, abs=1e-6)
    assert score_videos(probs, masks, "per-frame")["F"] == pytest.approx(alone, abs=1e-6)
    # only empty frames at all: F = 0, Jaccard = true-negative share
    assert score_videos(probs[1:], masks[1:], "per-frame")["F"] == 0.0


def test_short_last_batch_weighs_as_much_as_a_full_one() -> None:
    rng = np.random.default_rng(3)
    videos = _random_videos(rng, 3)
    probs, masks = [p for p, _ in videos], [g for _, g in videos]
    ious = [frame_iou(p, g).mean() for p, g in videos]
    released = score_videos(probs, masks, "avsbench", 2)["mIoU"]
    assert released == pytest.approx(100 * ((ious[0] + ious[1]) / 2 + ious[2]) / 2, abs=1e-4)
    assert score_videos(probs, masks, "per-frame")["mIoU"] == pytest.approx(100 * np.mean(ious), abs=1e-4)


def test_vectorised_reference_equals_pixel_loops(naive) -> None:
    rng = np.random.default_rng(4)
    p, g = _random_videos(rng, 1)[0]
    np.testing.assert_array_equal(naive.f_curve_vec(p[0], g[0]), naive.f_curve_loop(p[0], g[0]))
    assert naive.iou_vec(p[0], g[0]) == naive.iou_loop(p[0], g[0])


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="must both be"):
        frame_iou(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)))
