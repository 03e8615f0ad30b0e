"""OpenCV for code that runs in the training process itself (InsLoc's views in a task's `forward`, the
shift suite's corruptions in an evaluator), not in data workers.

OpenCV starts a thread pool the first time a parallel operation runs. A DataLoader worker forked after
that inherits the pool's locks without its threads, and the worker's `cv2.setNumThreads`
(`avssl.data.datasets.base.worker_init`) then waits forever — a run that built InsLoc views, evaluated,
and started new workers (a resumed or a second run in the same process) hung there. Per-sample operations
on small images gain nothing from threads, so this process's OpenCV is kept at one thread, which never
starts the pool.
"""

from __future__ import annotations

from types import ModuleType


def serial_cv2() -> ModuleType:
    """The cv2 module with its thread pool held at one thread (no pool started) in this process."""
    import cv2

    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)
    return cv2
