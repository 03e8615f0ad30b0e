"""Timing clips for the decoding tests: constant / variable frame rate, long / short GOP."""

from __future__ import annotations

import pytest

from avssl.data.media_writer import VideoEncoding
from avssl.data.synthetic.timing import TimingClipSpec, write_timing_clip

CLIPS = {
    "cfr_long_gop": (TimingClipSpec(duration_s=6.0), VideoEncoding(gop=250)),
    "cfr_short_gop": (TimingClipSpec(duration_s=6.0), VideoEncoding(gop=12)),
    "vfr_long_gop": (TimingClipSpec(duration_s=6.0, vfr_jitter=0.9, seed=3), VideoEncoding(gop=250)),
    "vfr_short_gop_30fps_44k": (
        TimingClipSpec(duration_s=5.0, fps=30.0, vfr_jitter=0.6, audio_rate=44100, audio_channels=1, seed=5),
        VideoEncoding(gop=15),
    ),
}


@pytest.fixture(scope="session")
def timing_clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("timing")
    return {
        name: (write_timing_clip(root / f"{name}.mp4", spec, enc), spec)
        for name, (spec, enc) in CLIPS.items()
    }
