"""Batch keys and shapes (after `collate`; B = batch size). See docs/architecture.md.

- `video`  float (B, C, T, H, W), normalised; a single frame is T = 1. (uint8 (T, 3, H, W) per sample
  inside data code before the transform.)
- `audio`  float (B, channels, samples) waveform at `sample_rate` (default 16 kHz); binaural keeps 2.
- `motion` optional float (B, C, T, H, W).
- `mask`   optional (B, T, H, W) in {0, 1}; `boxes` optional list of (N_i, 4) xyxy pixels of the frame.
- `index`  (B,) long; `label` optional (B,) long; `meta` list of dicts (path, start_s, …).
- `geometry` optional list (per sample) of the geometric ops applied, in order (for equivariance).
- `bad_items`, `num_items`: the items a training loader skipped, and how many it produced.
"""

VIDEO = "video"
AUDIO = "audio"
MOTION = "motion"
MASK = "mask"
BOXES = "boxes"
INDEX = "index"
LABEL = "label"
META = "meta"
GEOMETRY = "geometry"
SAMPLE_RATE = "sample_rate"
