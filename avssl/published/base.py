"""What a published (author-released) model is to avssl: the released file's kind, where it comes from, the
run configuration that rebuilds its architecture with the authors' *reference* preprocessing, and the map
from the released parameter names to avssl's.

Each family module (:mod:`avssl.published.localization`, :mod:`avssl.published.avsbench`) contributes
entries; :data:`avssl.published.PUBLISHED` joins them (name → :class:`PublishedModel`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import Tensor


class CheckpointError(ValueError):
    """A released file that cannot be imported; the message names the file and what does not fit."""


@dataclass
class MappedState:
    """A released state dict renamed into avssl's task parameters.

    ``state``: avssl name → tensor (loaded with ``strict=True`` into the task the run config builds);
    ``mapped``: one line per renamed group for ``SOURCE.md`` (``"released prefix → avssl prefix (n tensors)"``);
    ``ignored``: released keys deliberately not used (momentum copies, optimiser state, …), reported too.
    """

    state: dict[str, Tensor]
    mapped: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Companion:
    """A second file some published models need besides the released checkpoint (EZ-VSL's object-guided
    localization runs a separate ImageNet ResNet-18; the AVSBench models run torchvggish's VGGish, which their
    checkpoints do not hold): given as ``--<name with dashes> FILE`` to ``avssl import-checkpoint``.
    ``map_state``: its flat state dict → avssl names (merged into the run's weights); ``configure(config)``:
    what the run config gains with it (in place); ``required``: the import fails without it (the model
    cannot run without those weights) instead of leaving the feature off."""

    help: str
    map_state: Callable[[dict[str, Tensor]], MappedState]
    configure: Callable[[dict], None]
    required: bool = False


@dataclass(frozen=True)
class PublishedModel:
    """One importable released model.

    ``kind``: the CLI name (``avssl import-checkpoint KIND FILE``); ``paper``: title and authors;
    ``source``: where the authors publish the file (for the README and ``SOURCE.md``); ``run_config()``:
    the run's ``config.yaml`` as a dict (``task``, ``model`` = the released architecture, ``data`` = the
    reference preprocessing, ``eval``); ``map_state(released)``: the flat released state dict (prefixes such
    as ``module.`` already stripped by the reader) → :class:`MappedState`, raising :class:`CheckpointError`
    naming the first key that does not fit; ``companions``: optional extra files by name (:class:`Companion`).
    """

    kind: str
    paper: str
    source: str
    run_config: Callable[[], dict]
    map_state: Callable[[dict[str, Tensor]], MappedState]
    companions: dict[str, Companion] = field(default_factory=dict)
