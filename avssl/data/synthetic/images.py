"""Synthetic images in the ImageFolder layout from the scene renderer (`avssl.data.synthetic.scene`):
one still scene per image, its object's class = the folder; a textured background, objects of the
class's shape and colour at random positions and sizes (no silent distractors: one object, one label).
"""

from __future__ import annotations

from pathlib import Path

from avssl.data.media_writer import write_image
from avssl.data.synthetic.layouts import CLASS_NAMES
from avssl.data.synthetic.scene import SceneSpec, make_scene, render_frame


def write_image_folder(
    out: str | Path, n_per_split: dict[str, int], size: int = 64, num_classes: int = 4, seed: int = 0
) -> Path:
    """Write `out/<split>/<class>/img_NNNN.png` for every split ({"train": 96, "val": 32}); returns `out`."""
    out = Path(out)
    spec = SceneSpec(
        width=size,
        height=size,
        num_classes=num_classes,
        num_silent=(0, 0),
        size_range=(0.3, 0.6),
        moving=False,
    )
    for s, (split, n) in enumerate(sorted(n_per_split.items())):
        for i in range(n):
            scene = make_scene(spec, seed * 1_000_003 + s * 100_003 + i)
            name = CLASS_NAMES[scene.labels[0]].split(",")[0].replace(" ", "_")
            frame, _, _ = render_frame(scene, 0.0)
            write_image(out / split / name / f"img_{i:04d}.png", frame)
    return out
