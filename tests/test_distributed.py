"""avssl.distributed and the losses across 2 processes (gloo, CPU) against one process on the whole batch.

Every scenario runs in ``_run_scenarios``: once per rank on that rank's half of the batch inside two
spawned processes, and once in the test process (not distributed) on the concatenated batch. The
per-rank losses and the gradients are averaged over ranks as DDP does (all-reduce mean) and must equal
the single-process ones. A variant with a plain (no-grad) all-gather shows the comparison can fail.
"""

from __future__ import annotations

from unittest import mock

import pytest
import torch
from torch import Tensor, nn

from avssl import distributed
from avssl.losses import CrossModalInfoNCE, MoCoLoss, NTXent
from avssl.modules.momentum import MemoryQueue, ema_update, momentum_copy
from avssl.testing import run_gloo_ranks

WORLD = 2
GLOBAL_BATCH = 8
DIM_A, DIM_V, DIM = 6, 7, 5
MOCO_STEPS = 3  # queue of 16 with a global batch of 8: the third step wraps around
TOLERANCE = 1e-5

Results = dict[str, dict[str, Tensor]]


def _encoders() -> dict[str, nn.Module]:
    torch.manual_seed(0)  # identical initial weights in every process
    return {"audio": nn.Linear(DIM_A, DIM), "video": nn.Linear(DIM_V, DIM)}


def _data(step: int, part: slice) -> tuple[Tensor, Tensor, Tensor]:
    """Audio, video and a second video view of the global batch of ``step``, rows ``part``."""
    g = torch.Generator().manual_seed(100 + step)
    xa, xv = torch.randn(GLOBAL_BATCH, DIM_A, generator=g), torch.randn(GLOBAL_BATCH, DIM_V, generator=g)
    xv2 = xv + 0.3 * torch.randn(GLOBAL_BATCH, DIM_V, generator=g)
    return xa[part], xv[part], xv2[part]


def _averaged_grads(modules: dict[str, nn.Module]) -> dict[str, Tensor]:
    """DDP's gradient: the all-reduce mean of each parameter's gradient over ranks."""
    return {
        f"grad/{name}.{pname}": distributed.all_reduce_mean(p.grad)
        for name, module in modules.items()
        for pname, p in module.named_parameters()
        if p.grad is not None  # the same parameters on every rank, so the collectives stay in step
    }


def _contrastive(criterion: nn.Module, pair: str, part: slice) -> dict[str, Tensor]:
    encoders = _encoders()
    xa, xv, xv2 = _data(0, part)
    if pair == "audio-video":
        loss = criterion(encoders["audio"](xa), encoders["video"](xv))
    else:  # two views of the video
        loss = criterion(encoders["video"](xv), encoders["video"](xv2))
    loss.backward()
    return {"loss": distributed.all_reduce_mean(loss), **_averaged_grads({**encoders, "loss": criterion})}


def _moco(part: slice) -> dict[str, Tensor]:
    """Cross-modal MoCo: audio queries vs the video queue and vice versa, SGD + EMA between steps."""
    encoders = _encoders()
    keys = {name: momentum_copy(enc) for name, enc in encoders.items()}
    queues = {"audio": MemoryQueue(DIM, 16, seed=1), "video": MemoryQueue(DIM, 16, seed=2)}
    criterion = MoCoLoss(0.1)
    out: dict[str, Tensor] = {}
    for step in range(MOCO_STEPS):
        xa, xv, _ = _data(step, part)
        with torch.no_grad():
            k_a, k_v = keys["audio"](xa), keys["video"](xv)
        loss = criterion(encoders["audio"](xa), k_v, queues["video"].keys)
        loss = loss + criterion(encoders["video"](xv), k_a, queues["audio"].keys)
        queues["audio"].enqueue(k_a)
        queues["video"].enqueue(k_v)
        loss.backward()
        out[f"loss{step}"] = distributed.all_reduce_mean(loss)
        grads = _averaged_grads(encoders)
        out.update({f"{key}{step}": g for key, g in grads.items()})
        for name, queue in queues.items():
            out[f"queue/{name}{step}"] = queue.keys.clone()
            out[f"ptr/{name}{step}"] = queue.ptr.clone()
        with torch.no_grad():
            for name, module in encoders.items():  # the same SGD step on every rank keeps them in sync
                for pname, p in module.named_parameters():
                    p -= 0.5 * grads[f"grad/{name}.{pname}"]
                    p.grad = None
        for name in encoders:
            ema_update(keys[name], encoders[name], 0.9)
    return out


def _primitives(part: slice) -> dict[str, Tensor]:
    """gather_with_grad's forward and backward with rank-dependent weights, labels, reductions."""
    x = torch.arange(GLOBAL_BATCH * 2, dtype=torch.float32).reshape(GLOBAL_BATCH, 2)[part].requires_grad_()
    gathered = distributed.gather_with_grad(x)
    weights = torch.full_like(gathered, float(distributed.rank() + 1))
    weights[:, 1] = torch.arange(GLOBAL_BATCH, dtype=torch.float32)
    (weights * gathered).sum().backward()
    n_local = x.shape[0]
    return {
        "gathered": gathered.detach(),
        "grad": x.grad,
        "labels": distributed.local_labels(n_local),
        "eye": distributed.eye_rank(n_local),
        "mean": distributed.all_reduce_mean(torch.tensor([float(distributed.rank())])),
    }


def _run_scenarios(world: int, rank: int) -> Results:
    n_local = GLOBAL_BATCH // world
    part = slice(rank * n_local, (rank + 1) * n_local)
    results: Results = {
        "infonce": _contrastive(CrossModalInfoNCE(0.1), "audio-video", part),
        "infonce_learnable_one_way": _contrastive(
            CrossModalInfoNCE(0.07, learnable_temperature=True, symmetric=False), "audio-video", part
        ),
        "ntxent": _contrastive(NTXent(0.1), "video-video", part),
        "moco": _moco(part),
    }
    if world > 1:
        results["primitives"] = _primitives(part)
        with mock.patch.object(distributed, "gather_with_grad", distributed.all_gather_no_grad):
            results["infonce_plain_gather"] = _contrastive(CrossModalInfoNCE(0.1), "audio-video", part)
            results["ntxent_plain_gather"] = _contrastive(NTXent(0.1), "video-video", part)
    return results


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Results], Results]:
    per_rank = run_gloo_ranks(_run_scenarios, tmp_path_factory.mktemp("distributed"), world=WORLD)
    return per_rank, _run_scenarios(world=1, rank=0)


def _assert_same(got: dict[str, Tensor], want: dict[str, Tensor]) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert torch.allclose(got[key], value, atol=TOLERANCE, rtol=0), (key, (got[key] - value).abs().max())


@pytest.mark.parametrize("scenario", ["infonce", "infonce_learnable_one_way", "ntxent", "moco"])
def test_two_ranks_match_one_process(runs: tuple[list[Results], Results], scenario: str) -> None:
    per_rank, single = runs
    for rank_results in per_rank:  # losses and grads are all-reduced: every rank holds the global ones
        _assert_same(rank_results[scenario], single[scenario])


def test_moco_queues_identical_and_wrap(runs: tuple[list[Results], Results]) -> None:
    per_rank, single = runs
    for step in range(MOCO_STEPS):
        for name in ("audio", "video"):
            key = f"queue/{name}{step}"
            assert torch.equal(per_rank[0]["moco"][key], per_rank[1]["moco"][key])
            assert torch.allclose(per_rank[0]["moco"][key], single["moco"][key], atol=TOLERANCE)
            assert int(per_rank[1]["moco"][f"ptr/{name}{step}"]) == (step + 1) * GLOBAL_BATCH % 16


@pytest.mark.parametrize("scenario", ["infonce", "ntxent"])
def test_plain_all_gather_gives_a_different_gradient(
    runs: tuple[list[Results], Results], scenario: str
) -> None:
    per_rank, single = runs
    plain = per_rank[0][f"{scenario}_plain_gather"]
    assert torch.allclose(plain["loss"], single[scenario]["loss"], atol=TOLERANCE)  # the value is right
    worst = max((plain[k] - single[scenario][k]).abs().max().item() for k in plain if k.startswith("grad/"))
    assert worst > 1e-3  # ... but the gradient through the other ranks' columns is lost


def test_primitives_across_ranks(runs: tuple[list[Results], Results]) -> None:
    per_rank, _ = runs
    full = torch.arange(GLOBAL_BATCH * 2, dtype=torch.float32).reshape(GLOBAL_BATCH, 2)
    n_local = GLOBAL_BATCH // WORLD
    for rank, res in enumerate(r["primitives"] for r in per_rank):
        assert torch.equal(res["gathered"], full)
        rows = torch.arange(rank * n_local, (rank + 1) * n_local)
        # d/dx_s of sum_r (w_r * gathered): column 0 has weight r + 1 on rank r, summed = 1 + 2
        assert torch.equal(res["grad"], torch.stack([torch.full((n_local,), 3.0), 2.0 * rows.float()], 1))
        assert torch.equal(res["labels"], rows)
        assert torch.equal(res["eye"], torch.eye(GLOBAL_BATCH, dtype=torch.bool)[rows])
        assert torch.equal(res["mean"], torch.tensor([0.5]))


def test_single_process_degrades_to_identity() -> None:
    assert not distributed.is_distributed()
    assert (distributed.rank(), distributed.world_size()) == (0, 1)
    x = torch.randn(3, 2, requires_grad=True)
    assert distributed.gather_with_grad(x) is x
    gathered = distributed.all_gather_no_grad(x)
    assert torch.equal(gathered, x) and not gathered.requires_grad
    assert torch.equal(distributed.local_labels(3), torch.arange(3))
    assert torch.equal(distributed.eye_rank(3), torch.eye(3, dtype=torch.bool))
    mean = distributed.all_reduce_mean(torch.tensor([2, 4]))
    assert mean.dtype == torch.float32 and torch.equal(mean, torch.tensor([2.0, 4.0]))
