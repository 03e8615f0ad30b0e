"""Clip decoding benchmark: avssl `read_clip` vs a hand-written PyAV path vs pytorchvideo `EncodedVideo`.

    python benchmarks/decode.py [--quick] [--windows N] [--seed S] [--json out.json] [--workdir DIR]

The script writes its own media (synthetic timing clips whose frames show their index and whose audio
clicks at known times), then decodes the same random 1 s windows with each method: 8 frames at 112x112
and 16 kHz mono audio. Sets:
  (a) 10 s 320x240 25 fps h264, GOP 250 (as YouTube-sourced datasets have) + 48 kHz stereo AAC
  (b) the same with GOP 12
  (c) the same as (a) at 1280x720 (GOP 250)
  (d) extra line: avssl on (a)'s mp4 with audio from a 16 kHz mono wav sidecar (avssl's fast path; not
      comparable 1:1 with the AAC rows, its ratio is against the hand-written AAC path of set (a))

Measured per method and set, in one process with torch.set_num_threads(1): CPU time per clip
(time.process_time() around each call, so decoder threads count too; methods interleaved window by window
so machine load affects all alike) and clips/s (wall). Then a DataLoader with 2 workers
(worker_init_fn sets torch.set_num_threads(1)): clips/s (wall, after the first clip so worker start-up is
excluded), worker CPU per clip (getrusage(RUSAGE_CHILDREN) of the joined workers) and peak memory of
main + workers (psutil sums the process tree: RSS every 20 ms, which counts pages shared between the forked
processes once per process; PSS, which splits them, every 0.25 s).

Correctness per method and set:
- exact frames: the 8 returned frames are pixel-equal to a whole-file PyAV decode (converted to 112x112
  with the same swscale call) at the frame whose PTS is nearest to t_k = start + k/8. pytorchvideo resizes
  with torch, so for it only the decoded frame indices are compared.
- max frame error: |index shown in a returned frame - index of the nearest-PTS frame|, in frames.
- audio lag: cross-correlation of the returned audio with the ideal click train of the window (clicks from
  `click_times(spec)`); positive = returned audio late. Max |lag| over the clips that contain a click.
- level: returned click peak / 0.9 (the written click amplitude), mean over clips.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import psutil
import torch
import torchaudio.functional as AF
from torch.utils.data import DataLoader, Dataset

from avssl.data.decoding import read_clip
from avssl.data.media_writer import VideoEncoding, write_wav

try:  # the timing clips moved into the avssl.data.synthetic package
    from avssl.data.synthetic.timing import (
        TimingClipSpec,
        click_times,
        decode_index,
        frame_times_for,
        timing_audio,
        write_timing_clip,
    )
except ImportError:
    from avssl.data.synthetic import (
        TimingClipSpec,
        click_times,
        decode_index,
        frame_times_for,
        timing_audio,
        write_timing_clip,
    )

WINDOW_S = 1.0
NUM_FRAMES = 8
SIZE = 112
SAMPLE_RATE = 16000
CLICK_AMPLITUDE = 0.9
CLICK_S = 0.002
MAX_LAG_S = 0.06


# ------------------------------------------------------------------------------------------------ media


@dataclass
class MediaSet:
    """One benchmark set: the mp4, its spec, an optional wav sidecar and a whole-file reference decode."""

    key: str
    label: str
    path: Path
    spec: TimingClipSpec
    gop: int
    wav: Path | None = None
    ref_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ref_area: np.ndarray | None = None  # (N, 112, 112, 3) converted as avssl does (AREA)
    ref_default: np.ndarray | None = None  # (N, 112, 112, 3) PyAV's default to_ndarray scaling
    index_errors: int = 0  # reference frames whose shown index decode_index cannot read back


def make_media(workdir: Path) -> list[MediaSet]:
    sets = [
        ("a", "(a) 320x240 GOP 250", TimingClipSpec(width=320, height=240), 250),
        ("b", "(b) 320x240 GOP 12", TimingClipSpec(width=320, height=240), 12),
        ("c", "(c) 1280x720 GOP 250", TimingClipSpec(width=1280, height=720), 250),
    ]
    out = []
    for key, label, spec, gop in sets:
        path = workdir / f"set_{key}.mp4"
        write_timing_clip(path, spec, VideoEncoding(gop=gop))
        media = MediaSet(key=key, label=label, path=path, spec=spec, gop=gop)
        reference_decode(media)
        out.append(media)
    # (d): a 16 kHz mono wav sidecar next to (a)'s mp4, with the same click times (only the sidecar method
    # reads it; it runs interleaved with set (a)'s methods and is reported as its own line).
    a = out[0]
    wav_spec = TimingClipSpec(
        duration_s=a.spec.duration_s,
        fps=a.spec.fps,
        width=a.spec.width,
        height=a.spec.height,
        audio_rate=SAMPLE_RATE,
        audio_channels=1,
    )
    a.wav = write_wav(a.path.with_suffix(".wav"), timing_audio(wav_spec), SAMPLE_RATE)
    return out


def reference_decode(media: MediaSet) -> None:
    """Decode every frame of the file from the start (no seek) and convert both ways to 112x112."""
    times, area, default = [], [], []
    with av.open(str(media.path)) as container:
        for frame in container.decode(video=0):
            times.append(frame.time)
            area.append(frame.to_ndarray(width=SIZE, height=SIZE, format="rgb24", interpolation="AREA"))
            default.append(frame.to_ndarray(width=SIZE, height=SIZE, format="rgb24"))
    media.ref_times = np.asarray(times, dtype=np.float64)
    media.ref_area = np.stack(area)
    media.ref_default = np.stack(default)
    media.index_errors = sum(decode_index(f) != i for i, f in enumerate(media.ref_default))
    expected = frame_times_for(media.spec)
    if len(expected) != len(times) or np.max(np.abs(expected - media.ref_times)) > 1e-3:
        raise RuntimeError(f"{media.path}: decoded frame times differ from the written ones")


def nearest_indices(times: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Index of the frame whose time is nearest to each target (ties go to the later frame)."""
    after = np.clip(np.searchsorted(times, targets, side="left"), 0, len(times) - 1)
    before = np.clip(after - 1, 0, len(times) - 1)
    use_before = (targets - times[before]) < (times[after] - targets)
    return np.where(use_before, before, after)


def window_targets(start: float) -> np.ndarray:
    return start + np.arange(NUM_FRAMES) * (WINDOW_S / NUM_FRAMES)


# ---------------------------------------------------------------------------------------------- methods
# Each method takes (media, start) and returns (video, audio): video uint8 (T, H, W, 3) or, for pytorchvideo,
# what it gives (float (C, T, H, W)); audio float32 (samples,) at 16 kHz mono.


def avssl_method(media: MediaSet, start: float):
    clip = read_clip(
        media.path,
        start,
        WINDOW_S,
        fps=NUM_FRAMES / WINDOW_S,
        size=(SIZE, SIZE),
        sample_rate=SAMPLE_RATE,
        channels=1,
    )
    return clip.frames, clip.audio[0]


def avssl_sidecar_method(media: MediaSet, start: float):
    clip = read_clip(
        media.path,
        start,
        WINDOW_S,
        fps=NUM_FRAMES / WINDOW_S,
        size=(SIZE, SIZE),
        sample_rate=SAMPLE_RATE,
        channels=1,
        audio_path=media.wav,
    )
    return clip.frames, clip.audio[0]


def handwritten_method(media: MediaSet, start: float):
    """What a competent user writes with PyAV: seek, decode forward, nearest frames; second seek for audio."""
    targets = window_targets(start)
    with av.open(str(media.path)) as container:
        vstream = container.streams.video[0]
        seek_s = max(start - 0.1, 0.0)
        container.seek(int(seek_s / vstream.time_base), stream=vstream, backward=True, any_frame=False)
        chosen = []
        prev = None
        k = 0
        for frame in container.decode(vstream):
            t = frame.time
            while k < NUM_FRAMES and t >= targets[k]:
                if prev is not None and targets[k] - prev.time < t - targets[k]:
                    chosen.append(prev)
                else:
                    chosen.append(frame)
                k += 1
            if k == NUM_FRAMES:
                break
            prev = frame
        while len(chosen) < NUM_FRAMES:  # stream ended: repeat the last frame
            chosen.append(prev)
        frames = np.stack([f.to_ndarray(width=SIZE, height=SIZE, format="rgb24") for f in chosen])

        astream = container.streams.audio[0]
        rate = astream.codec_context.sample_rate
        seek_s = max(start - 0.2, 0.0)
        container.seek(int(seek_s / astream.time_base), stream=astream, backward=True, any_frame=False)
        first_sample = round(start * rate)
        end_sample = first_sample + round(WINDOW_S * rate)
        pieces = []
        begin = None
        for frame in container.decode(astream):
            if begin is None:
                begin = round(frame.time * rate)
            pieces.append(frame.to_ndarray())  # fltp: (channels, n)
            if round(frame.time * rate) + frame.samples >= end_sample:
                break
        data = np.concatenate(pieces, axis=1)
        if begin > first_sample:
            data = np.concatenate([np.zeros((data.shape[0], begin - first_sample), data.dtype), data], axis=1)
            begin = first_sample
        window = data[:, first_sample - begin : end_sample - begin].mean(axis=0)
    audio = AF.resample(torch.from_numpy(np.ascontiguousarray(window, dtype=np.float32)), rate, SAMPLE_RATE)
    return torch.from_numpy(frames), audio


_PTV_IMPORT_ERROR = None
try:
    from pytorchvideo.data.encoded_video import EncodedVideo
except Exception as err:  # noqa: BLE001 - report in the table instead of failing
    EncodedVideo = None
    _PTV_IMPORT_ERROR = f"{type(err).__name__}: {err}"


def pytorchvideo_method(media: MediaSet, start: float):
    """pytorchvideo as its users call it: get_clip, uniform temporal subsample, resize, resample."""
    if EncodedVideo is None:
        raise RuntimeError(f"pytorchvideo unavailable ({_PTV_IMPORT_ERROR})")
    video = EncodedVideo.from_path(str(media.path), decode_audio=True, decoder="pyav")
    try:
        clip = video.get_clip(start, start + WINDOW_S)
    finally:
        video.close()
    frames, audio = clip["video"], clip["audio"]
    if frames is None or audio is None:
        raise RuntimeError("get_clip returned no video or no audio")
    t = frames.shape[1]
    picks = torch.linspace(0, t - 1, NUM_FRAMES).clamp(0, t - 1).long()
    frames = frames.index_select(1, picks)  # (C, 8, H, W)
    frames = torch.nn.functional.interpolate(
        frames.permute(1, 0, 2, 3), size=(SIZE, SIZE), mode="bilinear", align_corners=False
    ).permute(1, 0, 2, 3)
    audio = AF.resample(audio, media.spec.audio_rate, SAMPLE_RATE)
    return frames, audio


@dataclass
class Method:
    name: str
    fn: Callable
    pixel_ref: str  # "area", "default" or "index" (compare decoded indices only)


METHODS = [
    Method("avssl read_clip", avssl_method, "area"),
    Method("hand-written PyAV", handwritten_method, "default"),
    Method("pytorchvideo", pytorchvideo_method, "index"),
]
SIDECAR = Method("avssl + wav sidecar", avssl_sidecar_method, "area")
SIDECAR_LABEL = "(d) = (a) + 16 kHz wav sidecar"


# ------------------------------------------------------------------------------------------ correctness


def as_thwc_uint8(video) -> np.ndarray:
    video = torch.as_tensor(video)
    if video.dtype != torch.uint8:  # pytorchvideo: float (C, T, H, W) in [0, 255]
        video = video.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 3, 0)
    return video.numpy()


def audio_check(audio: np.ndarray, start: float, clicks: np.ndarray) -> tuple[float, float] | None:
    """(lag ms, level) of the returned 16 kHz audio against the ideal click train, or None if no click."""
    inside = clicks[(clicks >= start + MAX_LAG_S) & (clicks + CLICK_S <= start + WINDOW_S - MAX_LAG_S)]
    if len(inside) == 0:
        return None
    n = max(len(audio), round(WINDOW_S * SAMPLE_RATE))
    width = round(CLICK_S * SAMPLE_RATE)
    ideal = np.zeros(n)
    positions = [round((c - start) * SAMPLE_RATE) for c in inside]
    for p in positions:
        ideal[p : p + width] = CLICK_AMPLITUDE
    signal = np.zeros(n)
    signal[: len(audio)] = audio
    size = 1 << math.ceil(math.log2(2 * n))
    corr = np.fft.irfft(np.fft.rfft(signal, size) * np.conj(np.fft.rfft(ideal, size)), size)
    max_lag = round(MAX_LAG_S * SAMPLE_RATE)
    lags = np.concatenate([corr[size - max_lag :], corr[: max_lag + 1]])  # lags -max_lag .. max_lag
    k = int(np.argmax(lags))
    lag = float(k - max_lag)
    if 0 < k < len(lags) - 1:  # parabolic refinement of the peak
        y0, y1, y2 = lags[k - 1], lags[k], lags[k + 1]
        denom = y0 - 2 * y1 + y2
        if denom != 0:
            lag += 0.5 * (y0 - y2) / denom
    shift = k - max_lag
    guard = round(0.002 * SAMPLE_RATE)
    peaks = []
    for p in positions:
        lo, hi = max(0, p + shift - guard), min(n, p + shift + width + guard)
        peaks.append(np.max(np.abs(signal[lo:hi])) if hi > lo else 0.0)
    return 1000.0 * lag / SAMPLE_RATE, float(np.mean(peaks)) / CLICK_AMPLITUDE


@dataclass
class Stats:
    method: str
    set_label: str
    cpu_s: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    exact: int = 0
    checked: int = 0
    max_frame_err: int = 0
    lags_ms: list[float] = field(default_factory=list)
    levels: list[float] = field(default_factory=list)
    short_audio: int = 0
    error: str | None = None
    dl_clips_per_s: float | None = None
    dl_worker_cpu_ms: float | None = None
    dl_peak_rss_mb: float | None = None
    dl_peak_pss_mb: float | None = None
    dl_error: str | None = None

    def check(self, media: MediaSet, method: Method, start: float, video, audio) -> None:
        frames = as_thwc_uint8(video)
        expected = nearest_indices(media.ref_times, window_targets(start))
        shown = np.array([decode_index(f) for f in frames])
        self.max_frame_err = max(self.max_frame_err, int(np.max(np.abs(shown - expected))))
        if method.pixel_ref == "index":
            ok = len(shown) == NUM_FRAMES and bool(np.all(shown == expected))
        else:
            ref = media.ref_area if method.pixel_ref == "area" else media.ref_default
            ok = frames.shape == ref[expected].shape and bool(np.array_equal(frames, ref[expected]))
        self.exact += ok
        self.checked += 1
        audio = torch.as_tensor(audio).numpy().astype(np.float64).reshape(-1)
        if len(audio) != round(WINDOW_S * SAMPLE_RATE):
            self.short_audio += 1
        result = audio_check(audio, start, click_times(media.spec))
        if result is not None:
            self.lags_ms.append(result[0])
            self.levels.append(result[1])

    @property
    def cpu_ms(self) -> float:
        return 1000.0 * float(np.mean(self.cpu_s)) if self.cpu_s else float("nan")

    @property
    def clips_per_s(self) -> float:
        return len(self.wall_s) / sum(self.wall_s) if self.wall_s else float("nan")

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "set": self.set_label,
            "cpu_ms_per_clip": self.cpu_ms,
            "clips_per_s": self.clips_per_s,
            "clips": len(self.cpu_s),
            "exact_frames_pct": 100.0 * self.exact / self.checked if self.checked else None,
            "max_frame_error": self.max_frame_err,
            "max_abs_audio_lag_ms": max(map(abs, self.lags_ms)) if self.lags_ms else None,
            "mean_audio_lag_ms": float(np.mean(self.lags_ms)) if self.lags_ms else None,
            "clips_with_click": len(self.lags_ms),
            "mean_level": float(np.mean(self.levels)) if self.levels else None,
            "audio_not_16000_samples": self.short_audio,
            "error": self.error,
            "dataloader_clips_per_s": self.dl_clips_per_s,
            "dataloader_worker_cpu_ms_per_clip": self.dl_worker_cpu_ms,
            "dataloader_peak_rss_mb": self.dl_peak_rss_mb,
            "dataloader_peak_pss_mb": self.dl_peak_pss_mb,
            "dataloader_error": self.dl_error,
        }


# ------------------------------------------------------------------------------------------- measuring


def run_single_process(media: MediaSet, methods: list[Method], starts: np.ndarray) -> list[Stats]:
    stats = [Stats(m.name, SIDECAR_LABEL if m is SIDECAR else media.label) for m in methods]
    for method, st in zip(methods, stats):  # warm-up (imports, page cache), not counted
        try:
            method.fn(media, float(starts[0]))
        except Exception as err:  # noqa: BLE001 - the row shows the error
            st.error = f"{type(err).__name__}: {err}"
    for i, start in enumerate(starts):
        start = float(start)
        for j in range(len(methods)):  # rotate the order so no method always runs first
            index = (i + j) % len(methods)
            method, st = methods[index], stats[index]
            if st.error is not None:
                continue
            c0, w0 = time.process_time(), time.perf_counter()
            try:
                video, audio = method.fn(media, start)
            except Exception as err:  # noqa: BLE001
                st.error = f"{type(err).__name__} at start={start:.3f}: {err}"
                continue
            st.cpu_s.append(time.process_time() - c0)
            st.wall_s.append(time.perf_counter() - w0)
            st.check(media, method, start, video, audio)
    return stats


class WindowDataset(Dataset):
    def __init__(self, method: Method, media: MediaSet, starts: np.ndarray):
        self.method, self.media, self.starts = method, media, starts

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int):
        video, audio = self.method.fn(self.media, float(self.starts[index]))
        return torch.as_tensor(video), torch.as_tensor(audio)


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)


class TreeMemory(threading.Thread):
    """Peak summed RSS (every `interval` s) and PSS (every `pss_interval` s) of this process and its children.

    RSS comes from /proc/<pid>/statm (cheap); PSS needs /proc/<pid>/smaps_rollup, which costs ~7 ms per
    process with torch loaded, so it is sampled rarely to keep the sampler off the workers' CPUs.
    """

    def __init__(self, interval: float = 0.02, pss_interval: float = 0.25):
        super().__init__(daemon=True)
        self.interval = interval
        self.pss_interval = pss_interval
        self.peak_rss = 0
        self.peak_pss = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        next_pss = 0.0
        while not self._stop_event.is_set():
            procs = [me, *me.children(recursive=True)]
            self.peak_rss = max(
                self.peak_rss, sum(_safe(lambda p: p.memory_info().rss, proc) for proc in procs)
            )
            if time.perf_counter() >= next_pss:
                pss = sum(_safe(lambda p: p.memory_full_info().pss, proc) for proc in procs)
                self.peak_pss = max(self.peak_pss, pss)
                next_pss = time.perf_counter() + self.pss_interval
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _safe(get: Callable, proc: psutil.Process) -> int:
    try:
        return int(get(proc))
    except (psutil.Error, AttributeError):
        return 0


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_dataloader(media: MediaSet, method: Method, starts: np.ndarray, st: Stats) -> None:
    loader = DataLoader(
        WindowDataset(method, media, starts),
        batch_size=None,
        shuffle=False,
        num_workers=2,
        worker_init_fn=_worker_init,
    )
    memory = TreeMemory()
    memory.start()
    cpu0 = _children_cpu_s()
    try:
        iterator = iter(loader)
        next(iterator)  # the first clip includes the workers' start-up: not in clips/s
        w0 = time.perf_counter()
        count = sum(1 for _ in iterator)
        st.dl_clips_per_s = count / (time.perf_counter() - w0)
        del iterator  # exhausted: the workers have been joined, so RUSAGE_CHILDREN includes them
        st.dl_worker_cpu_ms = 1000.0 * (_children_cpu_s() - cpu0) / len(starts)
    except Exception as err:  # noqa: BLE001
        st.dl_error = f"{type(err).__name__}: {str(err).splitlines()[-1] if str(err) else ''}"
    finally:
        memory.stop()
    st.dl_peak_rss_mb = memory.peak_rss / 2**20
    st.dl_peak_pss_mb = memory.peak_pss / 2**20


# ---------------------------------------------------------------------------------------------- report


def _fmt(value, spec: str, none: str = "–") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return none
    return format(value, spec)


def print_report(results: dict[str, list[Stats]], hand_by_set: dict[str, Stats]) -> None:
    print("\n## Single process (torch.set_num_threads(1)); CPU = time.process_time() per clip\n")
    print(
        "| set | method | CPU ms/clip | clips/s | CPU ratio vs hand-written | exact frames % "
        "| max frame err | max abs audio lag ms | level |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for key in sorted(results):  # (d), the extra sidecar line, last
        hand = hand_by_set[key]
        for st in results[key]:
            if st.error is not None and not st.cpu_s:
                print(f"| {st.set_label} | {st.method} | error: {st.error} | | | | | | |")
                continue
            d = st.as_dict()
            ratio = st.cpu_ms / hand.cpu_ms if hand.cpu_s else None
            extra = f" (error after {len(st.cpu_s)} clips: {st.error})" if st.error else ""
            print(
                f"| {st.set_label} | {st.method}{extra} | {st.cpu_ms:.2f} | {st.clips_per_s:.1f} "
                f"| {_fmt(ratio, '.2f')} | {_fmt(d['exact_frames_pct'], '.0f')} | {st.max_frame_err} "
                f"| {_fmt(d['max_abs_audio_lag_ms'], '.2f')} | {_fmt(d['mean_level'], '.2f')} |"
            )
    print("\nGoals per set: avssl CPU <= 1.1x hand-written, < pytorchvideo, exact frames, |audio lag| < 5 ms")
    for key in sorted(results):
        by_name = {st.method: st for st in results[key]}
        if key == "d":
            st = by_name[SIDECAR.name]
            print(
                f"- {st.set_label}: avssl+wav / hand-written (a, AAC) = "
                f"{st.cpu_ms / hand_by_set[key].cpu_ms:.2f} (extra line: moonshot path, not 1:1 with AAC rows)"
            )
            continue
        ours, hand, ptv = (by_name[m.name] for m in METHODS)
        r_hand = ours.cpu_ms / hand.cpu_ms
        r_ptv = ours.cpu_ms / ptv.cpu_ms if ptv.cpu_s else float("nan")
        lag = ours.as_dict()["max_abs_audio_lag_ms"]
        ok = (
            r_hand <= 1.1
            and (r_ptv < 1 or math.isnan(r_ptv))
            and ours.exact == ours.checked
            and lag is not None
            and lag < 5
        )
        print(
            f"- {ours.set_label}: avssl/hand-written = {r_hand:.2f}, avssl/pytorchvideo = {r_ptv:.2f}, "
            f"exact {ours.exact}/{ours.checked}, max |lag| {_fmt(lag, '.2f')} ms -> {'PASS' if ok else 'FAIL'}"
        )
    print("\n## DataLoader, 2 workers, batch_size=None, worker_init_fn: torch.set_num_threads(1)\n")
    print(
        "clips/s: wall after the first clip (excludes worker start-up); worker CPU: RUSAGE_CHILDREN of the "
        "joined workers / clips (includes start-up);\npeak RSS: sum over main + workers every 20 ms (shared "
        "pages counted in each process); peak PSS: same sum every 0.25 s (shared pages split).\n"
    )
    print("| set | method | clips/s | worker CPU ms/clip | peak RSS sum MB | peak PSS sum MB |")
    print("|---|---|---:|---:|---:|---:|")
    for key in sorted(results):
        for st in results[key]:
            if st.dl_clips_per_s is None and st.dl_error is None:
                continue
            if st.dl_error:
                print(
                    f"| {st.set_label} | {st.method} | error: {st.dl_error} | | "
                    f"{_fmt(st.dl_peak_rss_mb, '.0f')} | {_fmt(st.dl_peak_pss_mb, '.0f')} |"
                )
            else:
                print(
                    f"| {st.set_label} | {st.method} | {st.dl_clips_per_s:.1f} | {_fmt(st.dl_worker_cpu_ms, '.2f')} "
                    f"| {st.dl_peak_rss_mb:.0f} | {st.dl_peak_pss_mb:.0f} |"
                )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=None, help="random 1 s windows per set (default 100)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="20 windows, DataLoader only for avssl and hand-written on set (a)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    parser.add_argument("--workdir", type=Path, default=None, help="where to write the media (default: temp)")
    args = parser.parse_args(argv)
    windows = args.windows or (20 if args.quick else 100)
    torch.set_num_threads(1)

    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="avssl_bench_decode_") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        sets = make_media(workdir)
        print(
            f"media in {workdir} ({time.perf_counter() - began:.1f} s to write + reference-decode); "
            f"{windows} windows/set, seed {args.seed}; av {av.__version__}, torch {torch.__version__}"
        )
        for media in sets[:3]:
            if media.index_errors:
                print(
                    f"warning: decode_index misreads {media.index_errors} reference frames of {media.label}"
                )
        results: dict[str, list[Stats]] = {}
        hand_by_set: dict[str, Stats] = {}
        for media in sets:
            rng = np.random.default_rng([args.seed, ord(media.key)])
            starts = rng.uniform(0.0, media.spec.duration_s - WINDOW_S, size=windows)
            # The sidecar method runs interleaved with set (a)'s methods (same windows, same machine load).
            methods = METHODS + [SIDECAR] if media.wav is not None else METHODS
            stats = run_single_process(media, methods, starts)
            for method, st in zip(methods, stats):
                if args.quick and (media.key != "a" or method.name not in (METHODS[0].name, METHODS[1].name)):
                    continue
                run_dataloader(media, method, starts, st)
            results[media.key] = stats[: len(METHODS)]
            hand_by_set[media.key] = stats[1]
            if media.wav is not None:
                results["d"] = stats[len(METHODS) :]
                hand_by_set["d"] = stats[1]
            print(f"  {media.label}: done ({time.perf_counter() - began:.0f} s)", flush=True)
        print_report(results, hand_by_set)
    print(f"\ntotal {time.perf_counter() - began:.0f} s")
    out = {
        "windows": windows,
        "seed": args.seed,
        "results": [st.as_dict() for stats in results.values() for st in stats],
    }
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
