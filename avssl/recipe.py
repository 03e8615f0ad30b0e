"""What every recipe script shares: argument parsing into its config, facts of the data derived into the
model config once (sample rate, normalisation), run-directory setup, the embedded synthetic default data."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from avssl import distributed
from avssl.config import ConfigError, load_config, save_config
from avssl.data.loader import DataConfig, build_dataset
from avssl.encoders.config import AudioFrontEndConfig, BinauralFrontEndConfig, FlowConfig, VGGishConfig
from avssl.transforms import pipeline_normalization
from avssl.transforms.batched import AppearanceConfig

# config sections restating a fact of the data: the waveform's rate, the frames' normalisation
RATE_SECTIONS = (AudioFrontEndConfig, BinauralFrontEndConfig, VGGishConfig)
NORMALIZATION_SECTIONS = (FlowConfig, AppearanceConfig)

T = TypeVar("T")


def recipe_arguments(argv: Sequence[str] | None) -> tuple[str | None, list[str]]:
    """`[--config FILE] key=value …` → (config file or None, overrides)."""
    parser = argparse.ArgumentParser(description="avssl recipe")
    parser.add_argument("--config", default=None, help="YAML file mirroring the recipe config")
    parser.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. train.max_steps=100")
    args = parser.parse_args(list(argv) if argv is not None else None)
    return args.config, args.overrides


def parse_recipe_args(schema: type[T], argv: Sequence[str] | None) -> T:
    """`--config FILE` plus `key=value` overrides → the validated recipe config (joins the launcher's
    process group first)."""
    config_file, overrides = recipe_arguments(argv)
    distributed.init_from_launcher()
    return derive_data_facts(load_config(schema, config_file, overrides))


def data_normalization(data: Any) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """``(mean, std)`` of the data's ``normalize`` step (``data.eval_transforms``, else ``data.transforms``);
    ConfigError when the two pipelines normalise differently."""
    train = pipeline_normalization(getattr(data, "transforms", []))
    evaluation = pipeline_normalization(getattr(data, "eval_transforms", []))
    if train is not None and evaluation is not None and train != evaluation:
        raise ConfigError(
            f"data.transforms normalises with {train} but data.eval_transforms with {evaluation}: they must agree"
        )
    return evaluation if evaluation is not None else train


def _sections(node: Any, key: str) -> Iterator[tuple[str, Any]]:
    """Every dataclass inside ``node`` (depth first, lists included) with its dotted config key."""
    if dataclasses.is_dataclass(node):
        yield key, node
        for f in dataclasses.fields(node):
            yield from _sections(getattr(node, f.name), f"{key}.{f.name}")
    elif isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            yield from _sections(item, f"{key}[{i}]")


def _derive(section: Any, key: str, fields: dict[str, tuple[str, Any]]) -> None:
    """Set each of ``fields`` (name → (data key, data value)) left at None; a different value is an error."""
    for name, (data_key, value) in fields.items():
        current = getattr(section, name)
        if current is None:
            setattr(section, name, value)
        elif current != value:
            raise ConfigError(
                f"config key '{key}.{name}' is {current!r} but '{data_key}' is {value!r}: it is the data's, "
                f"leave '{key}.{name}' unset"
            )


def derive_data_facts(cfg: T) -> T:
    """Fill the model config's restatements of data facts from ``cfg.data``, in place, and return ``cfg``.

    The sample rate of every audio front end is ``data.sample_rate`` and the ``mean``/``std`` that undo the
    frames' normalisation (RAFT input, SSL-TIE's on-device colour augmentation) are the data pipeline's
    ``normalize`` step: left unset (None) they are filled in, so the saved config states them; set to a
    different value they are a ConfigError naming both keys.
    """
    data = getattr(cfg, "data", None)
    if data is None:
        return cfg
    rate = getattr(data, "sample_rate", None)
    norm = data_normalization(data)
    for name in (f.name for f in dataclasses.fields(cfg) if f.name != "data"):
        for key, section in _sections(getattr(cfg, name), name):
            if isinstance(section, RATE_SECTIONS) and rate is not None:
                _derive(section, key, {"sample_rate": ("data.sample_rate", rate)})
            if isinstance(section, NORMALIZATION_SECTIONS) and norm is not None:
                where = "the normalize step of data.eval_transforms"
                _derive(section, key, {"mean": (where, tuple(norm[0])), "std": (where, tuple(norm[1]))})
    return cfg


def synthesize_if_empty(
    data: DataConfig, output_dir: Path, layout: str, n: int = 64, sizes: tuple[float, float] | None = None
) -> None:
    """With `data.root` empty, write (once, on the main process) a synthetic set in `layout` under the run
    directory and point `data.root` at it (`sizes`: the objects' size range, see `SynthSpec.sizes`)."""
    if data.root:
        return
    from avssl.data.synthetic.layouts import SynthSpec, write_synthetic

    root = output_dir / "synthetic"
    if distributed.rank() == 0 and not (root / "synth_gt.json").is_file():
        write_synthetic(layout, root, SynthSpec(n=n, num_classes=8, sizes=sizes))
    distributed.barrier()
    data.root, data.layout = str(root), layout


def prepare_run(cfg: Any, data: DataConfig, train: bool):
    """Save the resolved config into the run directory (main process), seed every RNG (so the model built
    next is the same on every run and process) and build the dataset."""
    from accelerate.utils import set_seed

    set_seed(cfg.train.seed)
    output_dir = Path(cfg.output_dir)
    if distributed.rank() == 0:
        save_config(cfg, output_dir / "config.yaml")
    return build_dataset(
        data, train=train, seed=cfg.train.seed, rank=distributed.rank(), world_size=distributed.world_size()
    )


def task_from_args(argv: Sequence[str] | None, default: str) -> str:
    """The task a recipe command line asks for: a `task=` override, else the YAML's `task`, else `default`."""
    from avssl.config import read_yaml

    config_file, overrides = recipe_arguments(argv)
    for item in overrides:
        if item.startswith("task="):
            return item.split("=", 1)[1]
    return str(read_yaml(config_file).get("task", default)) if config_file else default
