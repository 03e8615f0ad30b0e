"""Batch keys and shapes (after `collate`; B = batch size). See DESIGN.md "Contracts".

- `video`  float (B, C, T, H, W), normalised; a single frame is T = 1. (uint8 (T, 3, H, W) per sample
  inside data code before the transform.)
- `audio`  float (B, channels, samples) waveform at `sample_rate` (default 16 kHz); binaural keeps 2.
- `motion` optional float (B, C, T, H, W).
- `mask`   optional (B, T, H, W) in {0, 1}; `boxes` optional list of (N_i, 4) xyxy pixels of the frame.
- `index`  (B,) long; `label` optional (B,) long; `meta` list of dicts (path, start_s, …).
- `geometry` optional list (per sample) of the geometric ops applied, in order (for equivariance).
- `bad_items`, `num_items`: the items a training loader skipped, and how many it produced.
- `views`  optional list (one per view, `DataConfig.views`) of dicts with that view's `video`
  (B, C, T, H_k, W_k) (stacked per view: views of different sizes are never stacked together), `audio`
  (B, channels, samples) when the view keeps it, and its recorded params: `geometry` (list per sample), and
  for clips `start_s` (B,) float64 and `padded` (B,) bool of the view's window. The batch's own `video` / `audio` / `geometry` are
  view 0's. Images are one-frame clips: `video` (B, C, 1, H, W). Window rules: `avssl.data.sampling`.
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
VIEWS = "views"
