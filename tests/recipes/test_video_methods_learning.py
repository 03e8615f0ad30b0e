"""MaCLR, FAME and MCL against the untrained encoder and video MoCo at CPU scale: what of each paper's claim
holds after 150 steps on the video learning tests' synthetic action set (6 motion classes × 32 clips at
32 px, split 1: 144 training / 48 test videos, background trap 0.8, seed 0; `video_bench` in
tests/recipes/conftest.py: `tools/compare_video.py`'s harness, the untrained and MoCo runs shared with
test_video_moco_learning.py).

Measured here (2 shared cores, one thread; percent; attention IoU of the top-20 % activation region with the
moving object's mask; swap→orig: a background-swapped test video finds its original among the 48):

| model | linear top-1 / swapped / drop | clip-pair R@5 | swap→orig R@5 / gap | attention IoU |
|---|--:|--:|--:|--:|
| untrained | 22.9 / 14.6 / 8.3 | 20.8 | 6.2 / 0.002 | 0.128 |
| video MoCo | 27.1 / 16.7 / 10.4 | 37.5 | 16.7 / -0.055 | 0.114 |
| MaCLR | 20.8 / 16.7 / 4.2 | 50.0 | 12.5 / -0.068 | 0.143 |
| FAME | 18.8 / 18.8 / 0.0 | 18.8 | 4.2 / -0.051 | 0.140 |
| MCL | 18.8 / 12.5 / 6.2 | 41.7 | 4.2 / -0.044 | 0.152 |

Not reproduced at this scale, so not asserted: any method's linear top-1 15 points above the untrained
encoder's (all near chance, 16.7 %; see test_video_moco_learning.py for why), hence the background-swapped
drop (MaCLR 6.3 points less than MoCo's, FAME 10.4 less, but from probes at chance: no evidence), and FAME's
background invariance (no encoder's swapped copy finds its original: R@1 0 for all, mean rank ≈ 25 of 48, the
similarity gap FAME -0.051 vs MoCo -0.055; FAME's pretext stays at chance, loss 3.47 ≈ ln 33; with the
paper's foreground ratio 0.5: R@1 0, gap -0.054, clip-pair R@5 27.1; rule `difference`: R@1 0, gap -0.048),
and MCL's attention above MoCo's: 0.152 vs 0.114 at seed 0 but 0.122 vs 0.125 at training seed 1 (its own
synthetic set; `tools/compare_video.py --seeds 0,1`), so that margin is not asserted.

Seed 1 (`compare_video --seeds 0,1`), for how much of this is seed: clip-pair R@5 untrained 12.5, MoCo 45.8,
MaCLR 43.8, FAME 33.3, MCL 45.8; attention IoU untrained 0.151, MoCo 0.125, MaCLR 0.133, FAME 0.136, MCL
0.122. The two pretext margins below hold on both seeds (MaCLR +29.2 / +31.3, MCL +20.8 / +33.3); FAME's
attention over MoCo's holds on both by 2.6 / 1.1 points (weak).

Two runs of this file gave the same figures to the last digit. Time per test, each training its own method
once (one thread, load average ≈ 10 on the 2 shared cores): MaCLR 88 s, MCL 88 s, FAME 75 s; the shared
untrained + MoCo runs go to whichever test asks first (133 s with test_video_moco_learning.py).
"""

from __future__ import annotations

import pytest

PRETEXT_BAR = 8.3  # points of clip-pair R@5 over the untrained encoder: 4 of 48 test videos


@pytest.mark.slow
def test_maclr_learns_the_pretext_on_held_out_videos(video_bench) -> None:
    """MaCLR's clip-pair R@5 50.0 vs untrained 20.8 (+29.2)."""
    untrained, maclr = video_bench.train("untrained"), video_bench.train("maclr")
    assert maclr["pairs R@5"] >= untrained["pairs R@5"] + PRETEXT_BAR


@pytest.mark.slow
def test_mcl_learns_the_pretext_on_held_out_videos(video_bench) -> None:
    """MCL's clip-pair R@5 41.7 vs untrained 20.8 (+20.8)."""
    untrained, mcl = video_bench.train("untrained"), video_bench.train("mcl")
    assert mcl["pairs R@5"] >= untrained["pairs R@5"] + PRETEXT_BAR


@pytest.mark.slow
def test_fame_attends_to_the_object_more_than_moco(video_bench) -> None:
    """FAME's attention IoU 0.140 vs MoCo 0.114 (+2.6 points; seed 1: +1.1). The paper's maps on the moving
    foreground; not its background-robustness claim, which does not reproduce here (module docstring)."""
    moco, fame = video_bench.train("video_moco"), video_bench.train("fame")
    assert fame["iou"] > moco["iou"] + 0.01


@pytest.mark.slow
def test_previts_attends_to_the_object_more_than_moco(video_bench) -> None:
    """PreViTS' attention IoU 0.227 vs MoCo 0.114 (+11.3 points; seed 1: 0.163 vs 0.125, +3.8), above the
    untrained encoder's 0.128 too (`tools/compare_video.py --methods untrained,video_moco,previts --seeds 0,1`;
    PreViTS' run: 143 s wall for 150 steps on the loaded 2 cores)."""
    moco, previts = video_bench.train("video_moco"), video_bench.train("previts")
    assert previts["iou"] > moco["iou"] + 0.05


@pytest.mark.slow
def test_cvrl_learns_the_pretext_on_held_out_videos(video_bench) -> None:
    """CVRL's clip-pair R@5 66.7 vs untrained 20.8 (+45.8; video MoCo 39.6) after 150 steps. Its linear top-1
    stays within two test videos of the untrained encoder's (27.1 vs 22.9: the RGB regime of
    test_video_moco_learning.py), so the paper's class-probe gain and its ablations are measured by
    `tools/compare_video.py`, not asserted. 274 s wall with the untrained run, on 2 cores shared with a
    training job."""
    untrained, cvrl = video_bench.train("untrained"), video_bench.train("cvrl")
    assert cvrl["pairs R@5"] >= untrained["pairs R@5"] + 3 * PRETEXT_BAR


@pytest.mark.slow
def test_concur_learns_the_pretext_on_held_out_videos(video_bench) -> None:
    """ConCur's clip-pair R@5 77.1 vs untrained 20.8 after 150 steps (without the curriculum 70.8, without
    the distance head 62.5, CVRL 66.7: one seed, within three test videos of each other, so the ablation
    order is measured by `tools/compare_video.py`, not asserted). Its linear top-1 (14.6) is no better than
    the untrained encoder's, the RGB regime of test_video_moco_learning.py."""
    untrained, concur = video_bench.train("untrained"), video_bench.train("concur")
    assert concur["pairs R@5"] >= untrained["pairs R@5"] + 3 * PRETEXT_BAR


@pytest.mark.slow
def test_constcl_tracks_better_than_the_untrained_encoder(video_bench, tmp_path) -> None:
    """ConST-CL's local features on `avssl eval tracking` (12 synthetic OTB-layout sequences of 24 frames at
    128 px, a textured target and a distractor): success AUC 49.7 vs the untrained encoder's 36.7 (MoCo 46.2,
    CVRL 49.5; without the region term 49.5, with it at weight 1: 49.5) after 150 steps. Asserted: ≥ untrained
    + 8. Not reproduced: the region term's own gain (ConST-CL ≈ CVRL here)."""
    from avssl.data.synthetic.tracking import TrackSynthSpec, write_tracking_synthetic
    from avssl.evaluation.tracking import tracking_report
    from avssl.inference.load import load_run

    otb = write_tracking_synthetic(tmp_path / "otb", TrackSynthSpec(n=12, size=128, frames=24, seed=0))
    video_bench.train("untrained")
    video_bench.train("constcl")
    scores = {}
    for name in ("untrained", "constcl"):
        task, _ = load_run(video_bench.run_dir(name))
        scores[name] = tracking_report(task.encoder.eval(), str(otb), 128)["success_auc"]
    assert scores["constcl"] >= scores["untrained"] + 8, scores
