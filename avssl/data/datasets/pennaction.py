"""Penn Action as released, with the per-frame phase labels of the frame-wise literature.

Penn Action (Zhang, Zhu & Derpanis, "From Actemes to Action: A Strongly-supervised Representation for
Detailed Action Understanding", ICCV 2013): 2326 videos of 15 actions as JPEG frame folders::

    root/frames/<id>/000001.jpg, 000002.jpg, …      (<id> = 0001 … 2326)
    root/labels/<id>.mat                             MATLAB file: `action` (e.g. "baseball_pitch"), `train`
                                                     (1 = train, -1 = test), `nframes`, and pose / bbox
                                                     fields (not read)

Phase labels (Dwibedi et al., "Temporal Cycle-Consistency Learning", CVPR 2019; used by CARL, Chen et al.,
CVPR 2022), one integer per frame, for 13 of the 15 actions (not strum_guitar, jump_rope)::

    root/phases/{train,val}/<action>/<id>.npy        (T,) integer phase of every frame (-1: unlabelled)

The split of a video is its phase folder's (`val` is the official test split, `test` an alias) or, without
phase labels, the .mat's `train` flag. Frames are read at `FRAME_RATE` frames/s (the frame index is what the
protocols use; the rate only places windows). A video whose .mat is unreadable, whose frame folder is missing,
has a gap in its numbering or disagrees with `nframes`, or whose phase file is unreadable is skipped and
reported in `DatasetIndex.problems` (the file and what is wrong). A phase file whose length differs from the
frame count is resampled to it by nearest index (as the authors' preparation does).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from avssl.data.annotations import AnnotationError
from avssl.data.datasets.base import ClipItem, DatasetIndex

FRAME_RATE = 30.0
PHASE_ACTIONS = (
    "baseball_pitch",
    "baseball_swing",
    "bench_press",
    "bowl",
    "clean_and_jerk",
    "golf_swing",
    "jumping_jacks",
    "pushup",
    "pullup",
    "situp",
    "squat",
    "tennis_forehand",
    "tennis_serve",
)
_SPLITS = {"train": "train", "val": "val", "test": "val"}


def _mat_fields(path: Path) -> tuple[str, int, int]:
    """(action, train flag, nframes) of a Penn Action label file; AnnotationError naming it otherwise."""
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path), squeeze_me=True)
    except Exception as err:  # scipy raises ValueError, TypeError, MatReadError … for a damaged file
        raise AnnotationError(str(path), f"not a readable MATLAB label file ({err})") from None
    missing = [k for k in ("action", "train", "nframes") if k not in mat]
    if missing:
        raise AnnotationError(
            str(path), f"no {', '.join(missing)} field (a Penn Action labels/<id>.mat has them)"
        )
    return str(mat["action"]).strip(), int(mat["train"]), int(mat["nframes"])


def _frame_files(folder: Path) -> list[str]:
    """The folder's numbered JPEGs in order; AnnotationError on a gap or a stray name."""
    files = sorted(folder.glob("*.jpg"))
    if not files:
        raise AnnotationError(str(folder), "no .jpg frames")
    numbers = []
    for f in files:
        if not re.fullmatch(r"\d+", f.stem):
            raise AnnotationError(str(f), "frame file names must be numbers (000001.jpg …)")
        numbers.append(int(f.stem))
    expected = list(range(numbers[0], numbers[0] + len(numbers)))
    if numbers != expected or numbers[0] != 1:
        gap = next((n for n in range(1, numbers[-1] + 1) if n not in set(numbers)), numbers[0])
        raise AnnotationError(
            str(folder), f"frame {gap:06d}.jpg is missing (frames must run 000001 … without gaps)"
        )
    return [str(f) for f in files]


def nearest_indices(length: int, count: int) -> np.ndarray:
    """`count` indices into a sequence of `length`, spread evenly by nearest index (a sequence resampled to
    another length, as the authors' preparation matches labels to frames)."""
    return np.minimum(np.round(np.linspace(0, length - 1, count)).astype(int), length - 1)


def read_phases(path: str | Path, num_frames: int) -> np.ndarray:
    """(num_frames,) int64 phase labels of a phase file, resampled by nearest index when its length differs."""
    try:
        phases = np.load(str(path), allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise AnnotationError(str(path), f"not a readable .npy of phase labels ({err})") from None
    phases = np.asarray(phases).reshape(-1)
    if phases.size == 0 or not np.issubdtype(phases.dtype, np.number):
        raise AnnotationError(str(path), "phase labels must be a non-empty numeric array")
    if len(phases) != num_frames:
        phases = phases[nearest_indices(len(phases), num_frames)]
    return phases.astype(np.int64)


def pennaction_items(root: Path, split: str | None) -> DatasetIndex:
    """The Penn Action videos of `split` ("train", "val"/"test", None: all), label = action index."""
    root = Path(root)
    if split is not None and split not in _SPLITS:
        raise ValueError(f"Penn Action splits are train and val (alias test), got {split!r}")
    labels_dir, frames_dir = root / "labels", root / "frames"
    for folder in (labels_dir, frames_dir):
        if not folder.is_dir():
            raise AnnotationError(str(folder), "missing: a Penn Action root has frames/ and labels/")
    phase_files = {p.stem: (p, p.parts[-3]) for p in (root / "phases").glob("*/*/*.npy")}
    rows, problems = [], []
    for mat in sorted(labels_dir.glob("*.mat")):
        try:
            action, train_flag, nframes = _mat_fields(mat)
            frames = _frame_files(frames_dir / mat.stem)
            if len(frames) != nframes:
                raise AnnotationError(
                    str(frames_dir / mat.stem), f"{len(frames)} frames, the .mat says {nframes}"
                )
        except AnnotationError as err:
            problems.append(str(err))
            continue
        phase_path, phase_split = phase_files.get(mat.stem, (None, None))
        own_split = _SPLITS.get(phase_split or "", "train" if train_flag == 1 else "val")
        rows.append((mat.stem, action, own_split, frames, phase_path))
    for stem in sorted(set(phase_files) - {r[0] for r in rows}):
        if not (labels_dir / f"{stem}.mat").is_file():
            problems.append(f"{phase_files[stem][0]}: no labels/{stem}.mat for this phase file")
    classes = sorted({r[1] for r in rows})
    items = [
        ClipItem(
            id=stem,
            path=str(frames_dir / stem),
            kind="frames",
            end_s=len(frames) / FRAME_RATE,
            label=classes.index(action),
            frames=frames,
            video_only=True,
            meta={
                "split": own_split,
                "action": action,
                "frame_rate": FRAME_RATE,
                "phases": None if phase_path is None else str(phase_path),
            },
        )
        for stem, action, own_split, frames, phase_path in rows
        if split is None or own_split == _SPLITS[split]
    ]
    return DatasetIndex(items, classes, problems)
