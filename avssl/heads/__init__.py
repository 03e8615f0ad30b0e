"""Heads on top of encoders: projection / prediction MLPs, localization and segmentation heads."""

from avssl.heads.projection import MLPHead
from avssl.heads.segmentation import AVSegmentationHead
from avssl.heads.tpavi import TPAVI

__all__ = ["TPAVI", "AVSegmentationHead", "MLPHead"]
