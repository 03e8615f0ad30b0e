"""Reading annotation files (XML boxes, JSON, CSV) with errors that name the file and what is wrong.

Benchmark loaders (`avssl.data.datasets.*`) build on these; their exact coordinate conventions live there.
"""

from __future__ import annotations

import json
import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

_COORD_TAGS = ("xmin", "ymin", "xmax", "ymax")


class AnnotationError(Exception):
    """An annotation file is missing or malformed. The message names the file (and row) and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(path, "annotation file not found")
    return path


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; a missing or malformed file raises AnnotationError with the line and column."""
    path = _existing(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise AnnotationError(
            path, f"malformed JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from None
    except UnicodeDecodeError:
        raise AnnotationError(path, "not a UTF-8 text file") from None


def read_xml(path: str | os.PathLike) -> ET.Element:
    """Parse an XML file and return its root; malformed XML raises AnnotationError with the position."""
    path = _existing(path)
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as err:
        line, column = err.position
        raise AnnotationError(path, f"malformed XML at line {line} column {column}") from None


def check_box(box: list[float], where: str, path: str | os.PathLike) -> list[float]:
    """A box (xmin, ymin, xmax, ymax) must be finite with xmax > xmin and ymax > ymin."""
    if len(box) != 4 or not all(math.isfinite(v) for v in box):
        raise AnnotationError(path, f"{where}: box {box} has non-finite or missing coordinates")
    if box[2] <= box[0] or box[3] <= box[1]:
        raise AnnotationError(
            path, f"{where}: box {box} is empty or inverted (need xmax > xmin, ymax > ymin)"
        )
    return box


def _number(text: str | None, where: str, path: Path) -> float:
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise AnnotationError(path, f"{where}: coordinate {text!r} is not a number") from None


def read_xml_boxes(path: str | os.PathLike) -> list[list[float]]:
    """All boxes of a VOC-style XML file as [xmin, ymin, xmax, ymax] in the file's pixel units.

    A box element is `<bndbox>` or `<bbox>` (Flickr-SoundNet); coordinates are read by tag name when the
    children are named xmin/ymin/xmax/ymax, else as the last four numeric children in that order.
    """
    root = read_xml(path)
    path = Path(path)
    boxes = []
    for n, element in enumerate(e for e in root.iter() if e.tag in ("bndbox", "bbox")):
        where = f"box {n + 1}"
        named = {child.tag: child.text for child in element}
        if all(tag in named for tag in _COORD_TAGS):
            box = [_number(named[tag], where, path) for tag in _COORD_TAGS]
        else:
            children = list(element)
            if len(children) < 4:
                raise AnnotationError(path, f"{where}: expected 4 coordinates, found {len(children)}")
            box = [_number(child.text, where, path) for child in children[-4:]]
        boxes.append(check_box(box, where, path))
    if not boxes:
        raise AnnotationError(path, "no <bndbox>/<bbox> element found")
    return boxes
