"""`avssl selfcheck`: is media decoding exact on this machine (this PyAV / FFmpeg build)?

It writes real h264+AAC clips (constant and variable
frame rate, long GOP) whose frames show their own index and whose audio clicks at each flash, decodes
random windows with `read_clip`, checks every frame against its target time and the audio against the
clicks, and writes a summary JSON and a contact sheet of one decoded window.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from avssl.data.decoding import read_clip, target_times
from avssl.data.media_writer import VideoEncoding, write_image
from avssl.data.synthetic.timing import (
    TimingClipSpec,
    click_times,
    decode_index,
    frame_times_for,
    write_timing_clip,
)


def _audio_lag_ms(audio: np.ndarray, start: float, clicks: np.ndarray, rate: int) -> float | None:
    """Offset (ms) of the loudest onset near each expected click, averaged; None without a click."""
    envelope = np.abs(audio).mean(axis=0)
    lags = []
    for c in clicks:
        pos = int(round((c - start) * rate))
        lo, hi = max(0, pos - int(0.03 * rate)), min(len(envelope), pos + int(0.03 * rate))
        if pos < 0 or hi - lo < int(0.03 * rate):
            continue
        onset = lo + int(np.argmax(envelope[lo:hi] > 0.3))
        lags.append(1000.0 * (onset - pos) / rate)
    return float(np.mean(lags)) if lags else None


def _check_windows(path: Path, spec: TimingClipSpec, num_windows: int, rng: np.random.Generator) -> dict:
    times, clicks = frame_times_for(spec), click_times(spec)
    errors_ms, lags_ms, cpu = [], [], 0.0
    sheet = None
    for _ in range(num_windows):
        start = float(rng.uniform(0, spec.duration_s - 1.0))
        t0 = time.process_time()
        clip = read_clip(path, start, 1.0, fps=8, size=(112, 112), sample_rate=16000)
        cpu += time.process_time() - t0
        frames = clip.frames.numpy()
        for k, target in enumerate(target_times(start, 1.0, 8)):
            errors_ms.append(1000.0 * abs(times[decode_index(frames[k])] - target))
        lag = _audio_lag_ms(clip.audio.numpy(), start, clicks, 16000)
        if lag is not None:
            lags_ms.append(lag)
        if sheet is None:
            sheet = np.concatenate(list(frames), axis=1)
    return {
        "windows": num_windows,
        "max_frame_error_ms": round(max(errors_ms), 2),
        "half_frame_ms": round(500.0 / spec.fps, 2),
        "max_abs_audio_lag_ms": round(max(abs(x) for x in lags_ms), 2) if lags_ms else None,
        "cpu_ms_per_clip": round(1000.0 * cpu / num_windows, 2),
        "sheet": sheet,
    }


def run_selfcheck(out: str | Path, num_windows: int = 40, seed: int = 0) -> int:
    """Write the clips into `out`, decode `num_windows` random windows of each, print and save a summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cases = {
        "cfr_gop250": (TimingClipSpec(seed=seed), VideoEncoding(gop=250)),
        "vfr_gop12": (TimingClipSpec(vfr_jitter=0.8, seed=seed + 1), VideoEncoding(gop=12)),
    }
    results = {}
    print(
        f"avssl demo: writing synthetic h264+aac clips to {out}/ and decoding {num_windows} random windows each"
    )
    print(
        f"{'clip':<12} {'max frame err (ms)':>19} {'half frame (ms)':>16} {'max |audio lag| (ms)':>21} {'CPU ms/clip':>12}"
    )
    for name, (spec, encoding) in cases.items():
        path = write_timing_clip(out / f"{name}.mp4", spec, encoding)
        res = _check_windows(path, spec, num_windows, rng)
        sheet = res.pop("sheet")
        write_image(out / f"{name}_window.jpg", sheet)
        results[name] = res
        print(
            f"{name:<12} {res['max_frame_error_ms']:>19} {res['half_frame_ms']:>16} "
            f"{res['max_abs_audio_lag_ms']!s:>21} {res['cpu_ms_per_clip']:>12}"
        )
    (out / "summary.json").write_text(json.dumps(results, indent=2))
    ok = all(
        r["max_frame_error_ms"] <= r["half_frame_ms"] * 2 and (r["max_abs_audio_lag_ms"] or 0) < 10
        for r in results.values()
    )
    print(f"summary: {out / 'summary.json'}; decoded windows: {out}/*_window.jpg")
    print("result: frames and audio aligned" if ok else "result: MISALIGNED (see summary.json)")
    return 0 if ok else 1
