"""Tasks: one module per method, composing encoders, heads and losses into one nn.Module.

`TASKS` maps a task name to (config dataclass, builder); a run directory's config.yaml names its task,
so `avssl` commands rebuild the model from it. Every task follows the contract of `avssl.tasks.base`:
`forward(batch) -> TaskOutput(loss, logs)` and declared capabilities (`embeds` + `embed`, `localize`,
`segment`, `on_step_end(step, max_steps)`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from avssl.tasks.av_contrastive import AVContrastive, AVContrastiveConfig
from avssl.tasks.avs import AVSConfig, AVSegmenter
from avssl.tasks.binaural_multissl import BinauralMultiSSL, BinauralMultiSSLConfig
from avssl.tasks.carl import CARL, CARLConfig
from avssl.tasks.concur import ConCur, ConCurConfig
from avssl.tasks.constcl import ConSTCL, ConSTCLConfig
from avssl.tasks.cvrl import CVRL, CVRLConfig
from avssl.tasks.cyborgs import CYBORGS, CYBORGSConfig
from avssl.tasks.ezvsl import EZVSL, EZVSLConfig
from avssl.tasks.fame import FAME, FAMEConfig
from avssl.tasks.hcl import HCL, HCLConfig
from avssl.tasks.iboot import IBoot, IBootConfig
from avssl.tasks.image_multissl import ImageMultiSSL, ImageMultiSSLConfig
from avssl.tasks.image_ssl import ImageSSL, ImageSSLConfig
from avssl.tasks.lvs import LVS, LVSConfig
from avssl.tasks.maclr import MaCLR, MaCLRConfig
from avssl.tasks.mcl import MCL, MCLConfig
from avssl.tasks.previts import PreViTS, PreViTSConfig
from avssl.tasks.sadl import SaDL, SaDLConfig
from avssl.tasks.ssl_tie import SSLTIE, SSLTIEConfig
from avssl.tasks.video_moco import VideoMoCo, VideoMoCoConfig

TASKS: dict[str, tuple[type, Callable[[Any], nn.Module]]] = {
    "av_contrastive": (AVContrastiveConfig, AVContrastive),
    "lvs": (LVSConfig, LVS),
    "ezvsl": (EZVSLConfig, EZVSL),
    "ssl_tie": (SSLTIEConfig, SSLTIE),
    "avs": (AVSConfig, AVSegmenter),
    "binaural_multissl": (BinauralMultiSSLConfig, BinauralMultiSSL),
    "image_multissl": (ImageMultiSSLConfig, ImageMultiSSL),
    "image_ssl": (ImageSSLConfig, ImageSSL),
    "hcl": (HCLConfig, HCL),
    "cyborgs": (CYBORGSConfig, CYBORGS),
    "sadl": (SaDLConfig, SaDL),
    "video_moco": (VideoMoCoConfig, VideoMoCo),
    "maclr": (MaCLRConfig, MaCLR),
    "fame": (FAMEConfig, FAME),
    "mcl": (MCLConfig, MCL),
    "previts": (PreViTSConfig, PreViTS),
    "cvrl": (CVRLConfig, CVRL),
    "concur": (ConCurConfig, ConCur),
    "carl": (CARLConfig, CARL),
    "iboot": (IBootConfig, IBoot),
    "constcl": (ConSTCLConfig, ConSTCL),
}


def build_task(name: str, cfg: Any) -> nn.Module:
    """The task `name` built from its config dataclass."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; registered: {', '.join(sorted(TASKS))}")
    return TASKS[name][1](cfg)
