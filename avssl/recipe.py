"""What every recipe script shares: argument parsing into its config, run-directory setup, the embedded
synthetic default data, and the final model export."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from avssl import distributed
from avssl.config import load_config, save_config
from avssl.data.loader import DataConfig, build_dataset

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
    return load_config(schema, config_file, overrides)


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
