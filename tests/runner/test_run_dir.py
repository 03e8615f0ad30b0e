"""The run directory is claimed before a recipe trains: a lock (one run at a time, stale locks taken over),
the same config on resume (one line naming what differs), and train.resume=false never restarts a run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from avssl.runner.args import parse_recipe
from avssl.runner.run_dir import LOCK_FILE, RESUME_FREE_KEYS, claim_run_dir, identity, release_lock
from avssl.runner.specs import recipe_schema


def _cfg(run: Path, *overrides: str):
    return parse_recipe([f"output_dir={run}", *overrides], "av_contrastive", recipe_schema)


def _fake_checkpoint(run: Path) -> None:
    step = run / "checkpoints" / "step_5"
    step.mkdir(parents=True)
    (step / "train_state.json").write_text("{}")


def test_a_resume_with_another_config_is_refused_naming_the_keys(tmp_path):
    claim_run_dir(_cfg(tmp_path, "optim.lr=0.001"), tmp_path)
    release_lock(tmp_path)
    with pytest.raises(SystemExit) as err:
        claim_run_dir(_cfg(tmp_path, "optim.lr=0.01", "train.batch_size=4"), tmp_path)
    line = str(err.value)
    assert "\n" not in line and "optim.lr (0.001 -> 0.01)" in line and "train.batch_size" in line
    assert not (tmp_path / LOCK_FILE).exists()  # a refused claim leaves no lock behind
    # the keys a resume may change do not count
    claim_run_dir(_cfg(tmp_path, "optim.lr=0.001", "train.max_steps=7", "data.num_workers=0"), tmp_path)
    release_lock(tmp_path)


def test_the_world_size_is_part_of_the_identity(tmp_path):
    cfg = _cfg(tmp_path)
    assert identity(cfg, 1)["config_hash"] == identity(cfg, 2)["config_hash"]
    from avssl.runner.run_dir import identity_mismatch

    assert "world size (2 -> 1)" in identity_mismatch(identity(cfg, 2), identity(cfg, 1))
    assert all(not k.startswith(RESUME_FREE_KEYS) for k in identity(cfg, 1)["config"])


def test_resume_false_refuses_a_dir_holding_a_run_and_deletes_nothing(tmp_path):
    claim_run_dir(_cfg(tmp_path), tmp_path)
    release_lock(tmp_path)
    _fake_checkpoint(tmp_path)
    with pytest.raises(SystemExit, match="train.resume=false"):
        claim_run_dir(_cfg(tmp_path, "train.resume=false"), tmp_path)
    assert (tmp_path / "checkpoints" / "step_5" / "train_state.json").is_file()
    # without a checkpoint, resume=false starts afresh (and may use another config)
    fresh = tmp_path / "fresh"
    claim_run_dir(_cfg(fresh, "optim.lr=0.5"), fresh)
    release_lock(fresh)
    claim_run_dir(_cfg(fresh, "train.resume=false", "optim.lr=0.25"), fresh)
    release_lock(fresh)
    assert json.loads((fresh / "run.json").read_text())["config"]["optim.lr"] == 0.25


def test_a_second_run_into_a_locked_dir_fails_and_a_stale_lock_is_taken_over(tmp_path):
    claim_run_dir(_cfg(tmp_path), tmp_path)
    with pytest.raises(SystemExit, match=f"in use by process {os.getpid()}"):
        claim_run_dir(_cfg(tmp_path), tmp_path)
    release_lock(tmp_path)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname()}))
    claim_run_dir(_cfg(tmp_path), tmp_path)  # the killed run's lock is stale
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    release_lock(tmp_path)
    assert not (tmp_path / LOCK_FILE).exists()


def test_the_runner_refuses_before_touching_the_run(tmp_path, monkeypatch):
    """Through `run_recipe`: a changed config, resume=false on a run and a held lock stop before the run
    directory is prepared (config.yaml is not overwritten, nothing trains)."""
    import avssl.runner.run as run_module

    monkeypatch.setattr(run_module, "_prepare", lambda cfg: pytest.fail("the run directory was prepared"))
    claim_run_dir(_cfg(tmp_path, "optim.lr=0.001"), tmp_path)
    release_lock(tmp_path)
    (tmp_path / "config.yaml").write_text("the first run's\n")
    with pytest.raises(SystemExit, match=r"optim.lr \(0.001 -> 0.002\)"):
        run_module.run_recipe([f"output_dir={tmp_path}", "optim.lr=0.002"], "av_contrastive")
    _fake_checkpoint(tmp_path)
    with pytest.raises(SystemExit, match="train.resume=false"):
        run_module.run_recipe(
            [f"output_dir={tmp_path}", "optim.lr=0.001", "train.resume=false"], "av_contrastive"
        )
    claim_run_dir(_cfg(tmp_path, "optim.lr=0.001"), tmp_path)
    with pytest.raises(SystemExit, match="in use by process"):
        run_module.run_recipe([f"output_dir={tmp_path}", "optim.lr=0.001"], "av_contrastive")
    release_lock(tmp_path)
    assert (tmp_path / "config.yaml").read_text() == "the first run's\n"
