"""Localization metrics against NAIVE per-pixel references written from docs/evaluation.md (localization).

The naive versions loop over pixels with numpy float32 scalars (normalisation, thresholding by sorting a
Python list, the 'gt' rule's p[p > thr] = 1; p[p < 1] = 0 steps literally), count cIoU with loops and
sum the AUC trapezoids explicitly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from avssl.evaluation.localization import (
    AUC_THRESHOLDS,
    binarise,
    centre_prior_map,
    ciou,
    flickr_gt_map,
    localization_scores,
    random_map,
    resize_to_224,
    vggss_gt_map,
)

F32 = np.float32


# ------------------------------------------------------------------------------------------- naive references


def naive_normalize(rows):
    """min-max normalisation with explicit loops in float32 scalars; a constant map is left as it is."""
    vmin = vmax = rows[0][0]
    for row in rows:
        for v in row:
            vmin = v if v < vmin else vmin
            vmax = v if v > vmax else vmax
    if vmax - vmin == 0:
        return [list(row) for row in rows]
    return [[(v - vmin) / (vmax - vmin) for v in row] for row in rows]


def naive_binarise(h, rule):
    rows = [[F32(v) for v in row] for row in np.asarray(h, dtype=F32)]
    if rule == "ge":
        p = naive_normalize(rows)
    else:
        q = naive_normalize([[-v for v in row] for row in rows])
        p = [[F32(1) - v for v in row] for row in q]
    flat = sorted(v for row in p for v in row)
    thr = flat[len(flat) // 2]
    out = np.zeros(np.asarray(h).shape, dtype=np.uint8)
    for y, row in enumerate(p):
        for x, v in enumerate(row):
            if rule == "ge":
                out[y, x] = v >= thr
            else:  # LVS: pred[pred > thr] = 1; pred[pred < 1] = 0; cal_CIOU(pred, gt, 0.5)
                if v > thr:
                    v = F32(1)
                if v < 1:
                    v = F32(0)
                out[y, x] = v >= 0.5
    return out


def naive_ciou(pred, gt):
    inter = total_gt = outside = 0.0
    for y in range(pred.shape[0]):
        for x in range(pred.shape[1]):
            inter += pred[y, x] * gt[y, x]
            total_gt += gt[y, x]
            outside += pred[y, x] if gt[y, x] == 0 else 0
    return inter / (total_gt + outside)


def naive_scores(cious):
    xs = [0.05 * i for i in range(21)]
    ys = [sum(1 for c in cious if c >= t) / len(cious) for t in xs]
    area = sum((xs[i + 1] - xs[i]) * (ys[i + 1] + ys[i]) / 2 for i in range(20))
    return {
        "cIoU": 100 * (sum(1 for c in cious if c >= 0.5) / len(cious)),  # the fraction, in percent
        "AUC": 100 * area,
        "mean_cIoU": sum(cious) / len(cious),
    }


def naive_resize_cv2(h, size=224):
    """OpenCV INTER_LINEAR per output pixel: fx = float((d + 0.5)·in/out − 0.5), split into floor and
    fraction; columns clamped into the image with fraction 0, rows clipped (fraction kept)."""
    h = np.asarray(h, dtype=F32)
    height, width = h.shape

    def axis(n_in, d):
        pos = F32((d + 0.5) * (1.0 / (size / n_in)) - 0.5)
        i = math.floor(pos)
        return i, F32(pos - F32(i))

    out = np.zeros((size, size), dtype=F32)
    for dy in range(size):
        sy, fy = axis(height, dy)
        ys = (min(max(sy, 0), height - 1), min(max(sy + 1, 0), height - 1))
        rows = []
        for y in ys:
            row = []
            for dx in range(size):
                sx, fx = axis(width, dx)
                if sx < 0 or sx >= width - 1:
                    sx, fx = min(max(sx, 0), width - 1), F32(0)
                right = h[y, min(sx + 1, width - 1)]
                row.append(h[y, sx] * (F32(1) - fx) + right * fx)
            rows.append(row)
        for dx in range(size):
            out[dy, dx] = rows[0][dx] * (F32(1) - fy) + rows[1][dx] * fy
    return out


def naive_gt(boxes, convert, halve):
    """Per pixel: number of boxes (converted to 224 space) containing it; halved and capped, or binarised."""
    boxes = [[convert(v) for v in box] for box in boxes]
    gt = np.zeros((224, 224))
    for y in range(224):
        for x in range(224):
            n = sum(1 for x0, y0, x1, y1 in boxes if x0 <= x < x1 and y0 <= y < y1)
            gt[y, x] = min(n / 2, 1) if halve else float(n > 0)
    return gt


def maps(shape, seed):
    """Random, few-level and binary maps of one shape."""
    rng = np.random.default_rng(seed)
    normal = rng.standard_normal(shape).astype(F32)
    return {
        "normal": normal,
        "levels": np.round(normal * 1.5).astype(F32) / 3,
        "binary": (normal > 0.3).astype(F32),
        "positive": np.abs(normal) * 7 + 3,
    }


# ------------------------------------------------------------------------------------------- binarisation


@pytest.mark.parametrize("shape", [(7, 7), (14, 14), (20, 30), (224, 224)])
@pytest.mark.parametrize("rule", ["gt", "ge"])
def test_binarise_matches_naive(shape, rule):
    for name, h in maps(shape, seed=sum(shape)).items():
        got = binarise(h, rule)
        assert got.dtype == np.uint8 and set(np.unique(got)) <= {0, 1}, name
        np.testing.assert_array_equal(got, naive_binarise(h, rule), err_msg=name)


def test_gt_rule_keeps_ties_at_the_maximum():
    # exactly half of the pixels at the max: the threshold IS the max; 'gt' keeps them, a plain '>' none
    h = np.zeros((224, 224), dtype=F32)
    h[:112] = 1
    p = (h - h.min()) / (h.max() - h.min())
    threshold = np.sort(p, axis=None)[25088]
    assert threshold == 1 and not np.any(p > threshold)  # the naive `normalize(h) > thr`
    np.testing.assert_array_equal(binarise(h, "gt"), h.astype(np.uint8))
    np.testing.assert_array_equal(binarise(h, "ge"), h.astype(np.uint8))
    # three quarters at the max: all of them survive
    h[:168] = 1
    assert binarise(h, "gt").sum() == 168 * 224
    # a quarter at the max: threshold is the min; 'gt' keeps the quarter, 'ge' takes every pixel
    h[56:] = 0
    assert binarise(h, "gt").sum() == 56 * 224
    assert binarise(h, "ge").sum() == 224 * 224


def test_few_level_map_median_in_the_middle_level():
    h = np.zeros((10, 10), dtype=F32)
    h.flat[:40] = 0.5
    h.flat[:20] = 1.0  # 60 zeros, 20 halves, 20 ones: the median (index 50) is 0
    assert binarise(h, "gt").sum() == 40 and binarise(h, "ge").sum() == 100
    h.flat[:60] = 0.5
    h.flat[:20] = 1.0  # 40 zeros, 40 halves, 20 ones: the median is 0.5
    assert binarise(h, "gt").sum() == 20  # strictly above 0.5, plus the maxima
    assert binarise(h, "ge").sum() == 60
    for rule in ("gt", "ge"):
        np.testing.assert_array_equal(binarise(h, rule), naive_binarise(h, rule))


@pytest.mark.parametrize("value", [2.5, 0.0, 1e-9, -1e-9, -0.25, -3.0])
def test_constant_maps(value):
    h = np.full((14, 14), value, dtype=F32)
    gt_positive = 1 + F32(value) >= 1  # not normalised: p = 1 + h; -1e-9 rounds to 1 in float32
    assert binarise(h, "gt").all() == gt_positive and binarise(h, "gt").any() == gt_positive
    assert gt_positive == (value >= 0 or value == -1e-9)
    assert binarise(h, "ge").all()
    for rule in ("gt", "ge"):
        np.testing.assert_array_equal(binarise(h, rule), naive_binarise(h, rule))


def test_gt_rule_is_computed_from_one_minus_normalised_negation():
    h = np.array([[0.0, 0.1], [0.3, 1.0]], dtype=F32)
    neg = -h
    p = F32(1) - (neg - neg.min()) / (neg.max() - neg.min())
    assert not np.array_equal(p, (h - h.min()) / (h.max() - h.min()))  # not bit-identical
    np.testing.assert_array_equal(binarise(h, "gt"), naive_binarise(h, "gt"))


def test_unknown_rule():
    with pytest.raises(ValueError, match="threshold rule"):
        binarise(np.zeros((3, 3)), ">")


# ------------------------------------------------------------------------------------------- resize


@pytest.mark.parametrize("shape", [(7, 7), (20, 30), (300, 250)])
def test_resize_matches_naive_cv2_definition(shape):
    for name, h in maps(shape, seed=3).items():
        if name in ("normal", "binary"):
            np.testing.assert_array_equal(resize_to_224(h), naive_resize_cv2(h), err_msg=name)


def test_resize_identity_and_dtype():
    h = np.random.default_rng(0).standard_normal((224, 224))
    out = resize_to_224(h)
    assert out.dtype == np.float32 and out is not h
    np.testing.assert_array_equal(out, h.astype(np.float32))
    np.testing.assert_array_equal(resize_to_224(h, "align_corners"), h.astype(np.float32))
    const = resize_to_224(np.full((7, 7), 0.3, dtype=F32))
    assert np.all(const == F32(0.3))
    with pytest.raises(ValueError, match="resize mode"):
        resize_to_224(np.zeros((7, 7)), "nearest")
    with pytest.raises(ValueError, match="shape"):
        resize_to_224(np.zeros((2, 7, 7)))


def test_align_corners_matches_its_definition():
    h = np.random.default_rng(1).standard_normal((7, 9)).astype(F32)
    out = resize_to_224(h, "align_corners")
    ys, xs = np.arange(224) * 6 / 223, np.arange(224) * 8 / 223  # corners on corners
    expected = np.empty((224, 224))
    for i, sy in enumerate(ys):
        y0 = min(int(sy), 5)
        for j, sx in enumerate(xs):
            x0 = min(int(sx), 7)
            fy, fx = sy - y0, sx - x0
            top = h[y0, x0] * (1 - fx) + h[y0, x0 + 1] * fx
            bottom = h[y0 + 1, x0] * (1 - fx) + h[y0 + 1, x0 + 1] * fx
            expected[i, j] = top * (1 - fy) + bottom * fy
    np.testing.assert_allclose(out, expected, atol=2e-6)
    assert out[0, 0] == h[0, 0] and out[-1, -1] == h[-1, -1]


@pytest.mark.parametrize("shape", [(7, 7), (14, 14), (20, 30), (448, 448), (500, 300), (1, 5)])
def test_resize_is_bit_exact_against_opencv_without_ipp(shape):
    cv2 = pytest.importorskip("cv2")
    use_ipp = cv2.ipp.useIPP()
    cv2.ipp.setUseIPP(False)  # the portable code path; IPP (x86 wheels) differs by ~1 float32 ulp
    try:
        for name, h in maps(shape, seed=5).items():
            expected = cv2.resize(h, dsize=(224, 224), interpolation=cv2.INTER_LINEAR)
            np.testing.assert_array_equal(resize_to_224(h), expected, err_msg=name)
    finally:
        cv2.ipp.setUseIPP(use_ipp)


# ------------------------------------------------------------------------------------------- ground truth


def test_flickr_coordinates_and_consensus():
    assert int(224 * 83 / 256) == 72
    one = flickr_gt_map([[83, 83, 100, 100]])
    assert np.argwhere(one).min(0).tolist() == [72, 72] and set(np.unique(one)) == {0, 0.5}
    two = [[0, 0, 128, 128], [64, 64, 192, 192]]  # disagreeing annotators → 0.5 where only one agrees
    gt = flickr_gt_map(two)
    assert gt[10, 10] == 0.5 and gt[80, 80] == 1 and gt[150, 150] == 0.5 and gt[200, 200] == 0
    assert gt.sum() == 0.5 * (2 * 112**2 - 2 * 56**2) + 56**2
    three = flickr_gt_map([[10, 20, 200, 210]] * 3)  # 3/2 capped at 1
    assert three.max() == 1
    boxes = [[83, 17, 200, 255], [0, 0, 256, 100], [30, 40, 31, 250]]
    np.testing.assert_array_equal(
        flickr_gt_map(boxes), naive_gt(boxes, lambda v: int(224 * int(v) / 256), True)
    )


def test_vggss_coordinates_clamp():
    gt = vggss_gt_map([[-0.2, 0.5, 1.3, 1.1]])  # x 0…291 (sliced to 224), y 112…246
    assert gt[112:].all() and not gt[:112].any()
    boxes = [[0.1, 0.2, 0.5, 0.6], [0.4, -0.05, 0.9, 0.3], [0.0, 0.9, 1.7, 1.0]]
    np.testing.assert_array_equal(vggss_gt_map(boxes), naive_gt(boxes, lambda v: int(224 * max(v, 0)), False))
    assert set(np.unique(vggss_gt_map(boxes))) == {0, 1}


# ------------------------------------------------------------------------------------------- cIoU and scores


def test_ciou_hand_computed():
    gt = flickr_gt_map([[0, 0, 128, 128], [64, 64, 192, 192]])
    overlap = np.zeros((224, 224))
    overlap[56:112, 56:112] = 1
    assert ciou(overlap, gt) == 56**2 / 112**2
    assert ciou(gt > 0, gt) == 1.0
    union = 2 * 112**2 - 56**2
    assert ciou(np.ones((224, 224)), gt) == 112**2 / (112**2 + 224**2 - union)
    assert math.isnan(ciou(np.zeros((224, 224)), np.zeros((224, 224))))
    with pytest.raises(ValueError, match="shape"):
        ciou(np.zeros((7, 7)), gt)


@pytest.mark.parametrize("shape", [(7, 7), (20, 30), (224, 224)])
def test_ciou_matches_naive(shape):
    rng = np.random.default_rng(shape[1])
    for _ in range(3):
        pred = (rng.random(shape) > 0.5).astype(np.uint8)
        gt = rng.integers(0, 3, shape) / 2
        assert ciou(pred, gt) == pytest.approx(naive_ciou(pred, gt), rel=1e-15)


def test_scores_match_naive_and_threshold_float_quirk():
    assert AUC_THRESHOLDS[3] == 0.15000000000000002
    single = localization_scores([0.15])  # fails at t = 0.15000000000000002: y = 1, 1, 1, 0, …
    assert single["AUC"] == pytest.approx(12.5, abs=1e-12) and single["cIoU"] == 0
    assert localization_scores([1.0, 1.0])["AUC"] == pytest.approx(100.0)
    rng = np.random.default_rng(0)
    for n in (1, 7, 250):
        cious = list(rng.random(n)) + [0.5, 0.05, 0.3, 0.35000000000000003]
        got, expected = localization_scores(cious), naive_scores(cious)
        assert got["cIoU"] == expected["cIoU"]
        assert got["AUC"] == pytest.approx(expected["AUC"], abs=1e-12)
        assert got["mean_cIoU"] == pytest.approx(expected["mean_cIoU"], rel=1e-12)
    trapezoid = getattr(np, "trapezoid", None) or np.trapz
    ys = [np.sum(np.array(cious) >= 0.05 * i) / len(cious) for i in range(21)]  # the reference's own lines
    assert got["AUC"] == 100 * trapezoid(ys, [0.05 * i for i in range(21)])
    with pytest.raises(ValueError):
        localization_scores([])


@pytest.mark.parametrize("rule", ["gt", "ge"])
@pytest.mark.parametrize("shape", [(7, 7), (20, 30)])
def test_full_pipeline_matches_naive(rule, shape):
    rng = np.random.default_rng(11)
    gt = flickr_gt_map([[40, 40, 180, 200], [60, 30, 220, 150]])
    h = rng.standard_normal(shape).astype(F32)
    naive = naive_ciou(naive_binarise(naive_resize_cv2(h), rule), gt)
    assert ciou(binarise(resize_to_224(h), rule), gt) == pytest.approx(naive, rel=1e-15)


# ------------------------------------------------------------------------------------------- baselines


def test_baseline_maps():
    prior = centre_prior_map()
    assert prior.shape == (224, 224) and prior.dtype == np.float32
    assert (
        prior[111, 111] == prior.max()
        and np.array_equal(prior, prior.T)
        and np.array_equal(prior, prior[::-1])
    )
    assert abs(int(binarise(prior, "ge").sum()) - 25088) < 400  # the central disc of half the pixels
    assert np.array_equal(random_map(3), random_map(3)) and not np.array_equal(random_map(3), random_map(4))
    assert random_map(0).shape == (7, 7) and random_map(0).dtype == np.float32
