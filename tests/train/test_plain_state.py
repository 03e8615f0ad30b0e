"""The plain resume-state codec: every kind of state the loop keeps round-trips exactly through JSON +
safetensors (tuples, int keys, arrays, 0-d tensors, NaN/inf), and unknown objects are refused."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from avssl.train.checkpoint import rng_state, set_rng_state
from avssl.train.plain_state import read_state, write_state


def test_optimizer_scheduler_and_odd_values_round_trip(tmp_path):
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(net.parameters(), lr=0.1, betas=(0.8, 0.9))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5**s)
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    sched.step()
    odd = {
        "t": (1, 2.5, None),
        3: "int key",
        "nan": math.nan,
        "inf": -math.inf,
        "arr": np.arange(4, dtype=np.uint32),
    }
    for name, state in (("opt", opt.state_dict()), ("sched", sched.state_dict()), ("odd", odd)):
        write_state(tmp_path, name, state)
    loaded = read_state(tmp_path, "opt")
    assert loaded["param_groups"][0]["betas"] == (0.8, 0.9) and set(loaded["state"]) == {0, 1}
    for k in (0, 1):
        for key, value in opt.state_dict()["state"][k].items():
            assert torch.equal(loaded["state"][k][key], value), key
    assert read_state(tmp_path, "sched") == sched.state_dict()
    back = read_state(tmp_path, "odd")
    assert (
        back["t"] == (1, 2.5, None)
        and back[3] == "int key"
        and math.isnan(back["nan"])
        and back["inf"] == -math.inf
    )
    assert back["arr"].dtype == np.uint32 and back["arr"].tolist() == [0, 1, 2, 3]
    with pytest.raises(TypeError, match="plain checkpoint"):
        write_state(tmp_path, "bad", {"f": object()})


def test_rng_states_round_trip_exactly(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    write_state(tmp_path, "rng", rng_state())
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    set_rng_state(read_state(tmp_path, "rng"))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_an_old_pickle_checkpoint_is_refused_with_one_line(tmp_path):
    (tmp_path / "scheduler.bin").write_bytes(b"\x80\x04.")
    with pytest.raises(FileNotFoundError, match="not a checkpoint of this avssl version"):
        read_state(tmp_path, "scheduler")
