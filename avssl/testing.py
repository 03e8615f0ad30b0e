"""Helpers for testing distributed code on CPU: run a function on N gloo processes and collect results.

    def scenario(rank: int, world: int) -> dict[str, Tensor]: ...   # module level (spawn pickles it)
    per_rank = run_gloo_ranks(scenario, tmp_path, world=2)           # [rank 0's dict, rank 1's dict]

Each process sets one torch thread, joins a gloo process group on a free localhost port, runs
`fn(rank=rank, world=world)` and saves the returned tensors (`torch.save`, loaded back with
weights_only=True). A process that fails or a run that exceeds `timeout` seconds fails loudly.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    """A TCP port free on localhost right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, fn: Callable[..., Any], world: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=timedelta(seconds=60),
    )
    try:
        torch.save(fn(rank=rank, world=world), Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def run_gloo_ranks(
    fn: Callable[..., Any], out_dir: str | Path, world: int = 2, timeout: float = 180
) -> list[Any]:
    """`fn(rank=r, world=world)` on `world` spawned gloo processes; returns their results in rank order."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    context = mp.start_processes(
        _rank_main,
        args=(fn, world, free_port(), str(out_dir)),
        nprocs=world,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + timeout
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                if process.is_alive():
                    process.kill()
            raise TimeoutError(f"{world}-process gloo run did not finish in {timeout:.0f} s")
    return [torch.load(out_dir / f"rank{r}.pt", weights_only=True) for r in range(world)]
