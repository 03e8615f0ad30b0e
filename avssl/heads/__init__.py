"""Heads on top of encoders: projection / prediction MLPs, localization and segmentation heads."""

from avssl.heads.projection import MLPHead

__all__ = ["MLPHead"]
