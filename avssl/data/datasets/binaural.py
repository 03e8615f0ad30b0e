"""FAIR-Play-style binaural video: 2-channel wav per clip, its video, and split files.

Gao & Grauman, "2.5D Visual Sound", CVPR 2019 (FAIR-Play). Layout::

    root/videos/{id}.mp4            root/binaural_audios/{id}.wav  (2 channels)
    root/splits/split{K}/{train,val,test}.h5   dataset `audio`: absolute wav paths of the split
                                                (the release's paths point elsewhere: only the file
                                                name is used), or {train,val,test}.txt: one name per line

Frames are decoded from the videos (no pre-extracted frames needed); samples keep both audio channels.
"""

from __future__ import annotations

from pathlib import Path

from avssl.data.annotations import AnnotationError
from avssl.data.datasets.base import ClipItem, DatasetIndex


def _split_names(root: Path, split: str, split_id: int) -> list[str]:
    folder = root / "splits" / f"split{split_id}"
    h5_file, txt_file = folder / f"{split}.h5", folder / f"{split}.txt"
    if h5_file.is_file():
        import h5py

        try:
            with h5py.File(h5_file, "r") as f:
                paths = [p.decode() if isinstance(p, bytes) else str(p) for p in f["audio"][:]]
        except (OSError, KeyError) as err:
            raise AnnotationError(h5_file, f"cannot read dataset 'audio' ({err})") from None
        return [Path(p).stem for p in paths]
    if txt_file.is_file():
        return [Path(line.strip()).stem for line in txt_file.read_text().splitlines() if line.strip()]
    raise AnnotationError(folder, f"no {split}.h5 or {split}.txt split file")


def fairplay_items(root: str | Path, split: str | None = "train", split_id: int = 1) -> DatasetIndex:
    """Index of the binaural clips of `split` (None = every clip in videos/)."""
    root = Path(root)
    if split is None:
        names = sorted(p.stem for p in (root / "videos").glob("*.mp4"))
    else:
        names = _split_names(root, split, split_id)
    items, problems = [], []
    for name in names:
        video, wav = root / "videos" / f"{name}.mp4", root / "binaural_audios" / f"{name}.wav"
        missing = [str(p) for p in (video, wav) if not p.is_file()]
        if missing:
            problems.append(f"{root}: clip {name}: missing {', '.join(missing)}")
            continue
        items.append(ClipItem(id=name, path=str(video), audio_path=str(wav), meta={"split": split}))
    return DatasetIndex(items, [], problems)
