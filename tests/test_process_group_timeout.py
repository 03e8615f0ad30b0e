"""`train.process_group_timeout_s` reaches the process group: rank 0 waiting at a barrier while rank 1 is
busy longer than the timeout fails with a timeout instead of hanging (2 processes under torchrun, gloo)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from avssl import distributed
    distributed.init_from_launcher(float(sys.argv[1]))
    if distributed.rank() == 1:
        time.sleep(float(sys.argv[2]))  # busy (an evaluation) longer than the timeout
    try:
        distributed.barrier()
    except Exception as err:  # the backend's timeout error
        print(f"rank {distributed.rank()} barrier failed: {type(err).__name__}", flush=True)
        sys.exit(3)
    print(f"rank {distributed.rank()} barrier passed", flush=True)
    """
)


def _run(tmp_path: Path, timeout_s: float, busy_s: float) -> subprocess.CompletedProcess:
    script = tmp_path / "barrier.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    return subprocess.run(
        [*cmd, str(script), str(timeout_s), str(busy_s)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )


@pytest.mark.parametrize("timeout_s, busy_s, passes", [(2.0, 12.0, False), (60.0, 3.0, True)])
def test_barrier_honours_the_configured_timeout(tmp_path, timeout_s, busy_s, passes):
    result = _run(tmp_path, timeout_s, busy_s)
    out = result.stdout + result.stderr
    if passes:
        assert result.returncode == 0, out
        assert "rank 0 barrier passed" in out and "rank 1 barrier passed" in out
    else:
        assert result.returncode != 0, out
        assert "rank 0 barrier failed" in out, out
