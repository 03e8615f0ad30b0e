"""Helpers for testing distributed code on CPU: run a function on N gloo processes and collect results.

    def scenario(rank: int, world: int) -> dict[str, Tensor]: ...   # module level (spawn pickles it)
    per_rank = run_gloo_ranks(scenario, tmp_path, world=2)           # [rank 0's dict, rank 1's dict]

Each process sets one torch thread, joins a gloo process group on a free localhost port, runs
`fn(rank=rank, world=world)` and saves the returned tensors (`torch.save`, loaded back with
weights_only=True). A process that fails or a run that exceeds `timeout` seconds fails loudly.

And for running a recipe script as a user does (`python`, `torchrun`, `accelerate launch` on CPU):

    proc = launch_recipe("torchrun", RECIPE, ["--config", CONFIG, f"output_dir={run}", ...])
    kill_after_step(proc, run, 12)                # SIGKILL launcher + workers once step 12 is logged
    finish(launch_recipe("torchrun", RECIPE, same_args))   # the same command resumes
    logged_losses(run)                            # {step: loss} of RUN/metrics.jsonl
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

LAUNCHERS = ("python", "torchrun", "accelerate")


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


def launch_recipe(
    launcher: str, recipe: str | Path, args: list[str], processes: int = 2, cwd: str | Path | None = None
) -> subprocess.Popen:
    """Start `recipe` (a script path) with `args` as a user would: `python`, or `processes` gloo processes
    under `torchrun` / `accelerate launch --multi_gpu` (one torch thread each), in a session of its own;
    stdout and stderr merged into `proc.stdout`."""
    if launcher not in LAUNCHERS:
        raise ValueError(f"launcher must be one of {LAUNCHERS}, got {launcher!r}")
    port = str(free_port())
    bin_dir = Path(sys.executable).parent
    prefix = {
        "python": [sys.executable],
        "torchrun": [str(bin_dir / "torchrun"), "--nproc_per_node", str(processes), "--master_port", port],
        "accelerate": [
            str(bin_dir / "accelerate"),
            "launch",
            "--multi_gpu",
            "--num_processes",
            str(processes),
        ]
        + ["--main_process_port", port],
    }[launcher]
    return subprocess.Popen(
        [*prefix, str(recipe), *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    """Wait for a launch; its output, or an AssertionError with the output's tail if it failed."""
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def logged_losses(run: str | Path) -> dict[int, float]:
    """{step: loss} of a run's metrics log (a resumed run's log keeps the resumed values)."""
    from avssl.train.logging import read_metrics

    return {m["step"]: m["loss"] for m in read_metrics(run) if "loss" in m}


def kill_after_step(proc: subprocess.Popen, run: str | Path, step: int, timeout: float = 600) -> None:
    """SIGKILL `proc` and every process under it once `run` has logged `step`; an AssertionError if it exits
    first or logs nothing that far within `timeout` seconds. The whole tree, not `proc`'s process group:
    torchrun (and so `accelerate launch`) starts each worker in a session of its own, and a worker that
    outlives its launcher trains on to the end, writing the run directory the resumed run is reading."""
    try:
        import psutil  # a test-only dependency: the `dev` extra
    except ImportError as err:
        raise ImportError("kill_after_step needs psutil: pip install 'avssl[dev]'") from err

    from avssl.train.logging import read_metrics

    deadline = time.time() + timeout
    while not any(m.get("step", 0) >= step for m in read_metrics(run)):
        assert proc.poll() is None, f"exited before step {step}: " + proc.stdout.read()[-3000:]
        assert time.time() < deadline, f"step {step} not logged in {timeout:.0f} s"
        time.sleep(0.05)
    launcher = psutil.Process(proc.pid)
    for process in [launcher, *launcher.children(recursive=True)]:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    proc.communicate(timeout=60)  # returns once no killed process holds the output pipe


def assert_resume_is_exact(
    recipe: Path, args: Callable[[Path], list[str]], tmp: Path, cwd: Path, steps: int = 16, kill_at: int = 12
) -> tuple[dict, dict]:
    """Run `recipe` with `args(run)` uninterrupted, and again SIGKILLed once step `kill_at` is logged, then
    resumed by the same command; assert the resumed run logged every step's loss and saved every model
    tensor as the uninterrupted one did (within 1e-5). `args` must checkpoint before `kill_at`. Returns the
    two runs' model state (uninterrupted, resumed) for the task's own checks."""
    from safetensors.torch import load_file

    full, cut = tmp / "full", tmp / "cut"
    finish(launch_recipe("python", recipe, args(full), cwd=cwd))
    kill_after_step(launch_recipe("python", recipe, args(cut), cwd=cwd), cut, kill_at)
    assert any((cut / "checkpoints").glob("step_*")), "no checkpoint before the kill"
    finish(launch_recipe("python", recipe, args(cut), cwd=cwd))
    a, b = logged_losses(full), logged_losses(cut)
    assert sorted(b) == list(range(1, steps + 1))
    for step in range(1, steps + 1):  # the steps run twice: the log keeps the resumed values
        assert abs(b[step] - a[step]) <= 1e-5, (step, a[step], b[step])
    x, y = load_file(full / "model" / "model.safetensors"), load_file(cut / "model" / "model.safetensors")
    assert x.keys() == y.keys()
    for key in x:
        assert (x[key].double() - y[key].double()).abs().max() <= 1e-5, key
    return x, y
