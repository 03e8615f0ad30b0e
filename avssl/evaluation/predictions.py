"""Prediction files (P.npz): one array per sample / video id, shared by every `avssl eval … --predictions`.

Written atomically (temp file + rename) as an uncompressed zip of `.npy` members — what `np.savez` writes,
without its in-memory copy of the whole set; read without pickles. `check(array, id, path)` validates (and
may return a converted) array; any problem raises `PredictionError` naming the file and the id.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from avssl.data.annotations import AnnotationError
from avssl.outputs import atomic_target

Check = Callable[[np.ndarray, str, "str | os.PathLike"], np.ndarray]


class PredictionError(AnnotationError):
    """A prediction file (P.npz) or set is missing or malformed; the message names the file and the id.

    A subclass of AnnotationError so that the CLI reports it as one line, like any bad input file."""


def save_arrays(path: str | os.PathLike, predictions: Mapping[str, np.ndarray], check: Check) -> None:
    """Write {id: array} to `path` after `check`ing every array (atomically)."""
    path = Path(path)
    with atomic_target(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
        for key, value in predictions.items():
            array = check(np.asarray(value), str(key), path)
            with archive.open(f"{key}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)


def load_arrays(path: str | os.PathLike, check: Check, what: str) -> dict[str, np.ndarray]:
    """Read {id: array} from `path` (`what` names the arrays in messages, e.g. "maps")."""
    if not Path(path).is_file():
        raise PredictionError(path, "prediction file not found")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise PredictionError(path, f"not a readable .npz of {what} ({err})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise PredictionError(path, f"expected an .npz archive of per-id {what}, got a single array")
    with archive:
        try:
            return {key: check(archive[key], key, path) for key in archive.files}
        except (zipfile.BadZipFile, ValueError, OSError) as err:
            raise PredictionError(path, f"not a readable .npz of {what} ({err})") from None
