"""Exact, fast media decoding: the frames and the audio of one time window, aligned.

This package is the only place that reads media (PyAV for containers, soundfile for wav/flac, Pillow for
images). Every dataset goes through `read_clip` (videos, optional wav sidecar), `read_image_audio`
(Flickr-SoundNet / VGG-SS style image + wav) or `read_frames` + `read_audio` (AVSBench frame folders).

Timing contract of `read_clip(path, start_s, duration_s, fps=...)`:
- T = max(1, round(duration_s * fps)) target times t_k = start_s + k / fps; for each, the decoded frame
  whose presentation time (PTS) is nearest to t_k (ties go to the later frame), so constant and variable
  frame rates are handled alike and every returned frame lies within half a source frame of its target.
- audio sample n is the signal at start_s + n / sample_rate, n < round(duration_s * sample_rate).
- parts of the window outside the media are padded (video: nearest frame; audio: zeros) and reported
  in `Clip.padded`, `num_valid_frames`, `num_valid_samples`; a window entirely outside is an error.

Speed: seek to the keyframe before the window, decode forward only as far as needed, skip decoding
non-reference frames long before the window (their pixels are never used), convert only the chosen
frames to RGB with in-decoder scaling. Audio is read from a wav sidecar when one is given (exact seek,
~30x cheaper than AAC), else from the container with a second, earlier seek (the first AAC frame after
a seek decodes wrong, so it is never used).

Containers: whatever FFmpeg reads, tested on mp4, mov, mkv, webm, AVI and MPEG-TS. AVI has no timestamps
(frame and block counts) and refuses a seek before its first index entry: such a seek falls back to the
stream's start, as does any seek a container refuses. MPEG-TS/PS run on a clock that starts anywhere: their
time 0 is the first video frame. MP3 in AVI starts with the encoder + decoder delay (1105 samples) that AVI
cannot record: it is skipped. Every FFmpeg / PyAV error (av.error.*, OSError from a demuxer) is a
`MediaError` naming the file, which training datasets count as a bad item.
"""

from avssl.data.decoding.audio import read_audio
from avssl.data.decoding.common import (
    Clip,
    MediaError,
    MemoryFile,
    Size,
    Source,
    num_frames_for,
    output_size,
    target_times,
)
from avssl.data.decoding.images import (
    read_frame_sequence,
    read_frames,
    read_image,
    read_image_audio,
    read_masks,
)
from avssl.data.decoding.probe import probe
from avssl.data.decoding.video import read_clip

__all__ = [
    "Clip",
    "MediaError",
    "MemoryFile",
    "Size",
    "Source",
    "num_frames_for",
    "output_size",
    "probe",
    "read_audio",
    "read_clip",
    "read_frame_sequence",
    "read_frames",
    "read_image",
    "read_image_audio",
    "read_masks",
    "target_times",
]
