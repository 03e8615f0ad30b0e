"""The only module that calls ``torch.distributed``: rank queries and the collectives losses need.

Every function degrades to the identity when no process group is initialised (world size 1, rank 0),
so losses are written once and run unchanged on one CPU, one GPU or many processes.

Why a custom gather for contrastive losses
------------------------------------------
A contrastive loss with global negatives on rank ``r`` compares its ``B`` local rows with the columns of
all ``N = W * B`` samples of the ``W`` ranks. ``torch.distributed.all_gather`` (and
``accelerator.gather``) write into fresh tensors that autograd does not track: the gathered columns are
constants, so the gradient a rank's loss sends to the *other* ranks' samples (and, if the local slice is
taken from the gathered tensor, to its own) is silently dropped. The loss value is right; the gradient is
not. :func:`gather_with_grad` fixes this with a custom ``autograd.Function``:

* forward: all-gather along dim 0 -> ``(N, ...)``;
* backward: all-reduce (sum) the incoming ``(N, ...)`` gradient over ranks, return this rank's slice.

With per-rank loss ``L_r`` the sum over ranks of the incoming gradients is ``d(sum_r L_r) / d x_all``, so
rank ``s`` receives ``d(sum_r L_r) / d x_s`` for its own samples. After the DDP gradient average
(``1/W`` times the sum over ranks) every parameter holds ``d(mean_r L_r) / d theta``: if each rank's loss
is the mean over its local rows, that is exactly the gradient of the single-process loss on the
concatenated batch (tested in ``tests/test_distributed.py``).

All ranks must pass tensors of the same shape (equal per-rank batch: use ``drop_last=True``), and the
gathered tensor must reach the loss on every rank: its backward is a collective, so a rank that skips
it leaves the others waiting.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    """True when a ``torch.distributed`` process group is initialised (by torchrun / accelerate)."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's global rank; 0 when not distributed."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes; 1 when not distributed."""
    return dist.get_world_size() if is_distributed() else 1


def barrier() -> None:
    """Wait for every process (no-op when not distributed)."""
    if is_distributed():
        dist.barrier()


def broadcast_object(obj: object) -> object:
    """Rank 0's `obj` on every process (pickled over the process group: only for objects this run made,
    never for data read from disk); `obj` itself when not distributed."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def init_from_launcher(timeout_s: float | None = None) -> None:
    """Join the process group a launcher (torchrun, accelerate launch) set up through environment variables;
    nothing happens for a plain single process. Accelerate picks the backend (gloo on CPU, nccl on CUDA);
    without CUDA it must be told to use the CPU, or it ignores torchrun's environment. `timeout_s`: how long
    any collective may wait (None: the backend's default); it applies when this call creates the group."""
    from datetime import timedelta

    from accelerate import PartialState

    extra = {} if timeout_s is None else {"timeout": timedelta(seconds=timeout_s)}
    PartialState(cpu=not torch.cuda.is_available(), **extra)


def _all_gather_cat(x: Tensor) -> Tensor:
    """All-gather equally shaped tensors and concatenate them along dim 0 (rank order). No autograd."""
    x = x.contiguous()
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x)
    return torch.cat(parts, dim=0)


class _GatherWithGrad(torch.autograd.Function):
    """All-gather whose backward sums the gradient over ranks and returns this rank's slice."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor) -> Tensor:
        ctx.batch = x.shape[0]
        return _all_gather_cat(x)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_out: Tensor) -> Tensor:
        # Each rank holds the gradient of its own loss w.r.t. every rank's samples; summing them gives
        # d(sum_r L_r)/d x_all, of which this rank owns rows [rank*B, (rank+1)*B).
        grad = grad_out.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = rank() * ctx.batch
        return grad[start : start + ctx.batch]


def gather_with_grad(x: Tensor) -> Tensor:
    """All-gather ``x`` (B, ...) from every rank into (W*B, ...), rank-major, keeping gradients.

    The gradient reaching the gathered tensor on every rank is summed and this rank's slice flows back
    into ``x`` (see the module docstring for why this reproduces the single-process gradient).
    Identity when not distributed.
    """
    if world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)


def all_gather_no_grad(x: Tensor) -> Tensor:
    """All-gather ``x`` (B, ...) into (W*B, ...), rank-major, detached: for queues and metrics only."""
    x = x.detach()
    if world_size() == 1:
        return x
    return _all_gather_cat(x)


def all_reduce_mean(x: Tensor) -> Tensor:
    """Mean of ``x`` over ranks (a new, detached tensor; integer inputs become float). For metrics."""
    out = x.detach().clone()
    if not out.is_floating_point():
        out = out.float()
    if world_size() == 1:
        return out
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / world_size()


def all_reduce_sum(x: Tensor) -> Tensor:
    """Sum of ``x`` over ranks (a new, detached tensor): the global statistics of a sharded batch (SwAV's
    Sinkhorn normalisation)."""
    out = x.detach().clone()
    if world_size() > 1:
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def local_labels(batch_size: int, device: torch.device | str | None = None) -> Tensor:
    """Column index of each local row's positive among gathered columns: ``arange(B) + rank * B``.

    Row ``i`` of rank ``r`` is global sample ``r * B + i`` of the rank-major gathered batch.
    """
    return torch.arange(batch_size, device=device) + rank() * batch_size


def eye_rank(batch_size: int, device: torch.device | str | None = None) -> Tensor:
    """Boolean (B, W*B) mask, True at (i, rank*B + i): the local rows' own columns among gathered ones."""
    mask = torch.zeros(batch_size, batch_size * world_size(), dtype=torch.bool, device=device)
    rows = torch.arange(batch_size, device=device)
    mask[rows, local_labels(batch_size, device)] = True
    return mask


@torch.no_grad()
def shuffle_across_ranks(x: Tensor) -> tuple[Tensor, Tensor]:
    """MoCo's shuffling BN (He et al., "Momentum Contrast for Unsupervised Visual Representation Learning",
    CVPR 2020, Sec. 3.3): the global batch (W*B, ...) is permuted (rank 0 draws the permutation, broadcast
    to all) and every rank gets B samples of the shuffled batch, so a key encoder's per-rank BatchNorm
    statistics are not those of the query's sub-batch. Returns (this rank's shuffled (B, ...), the inverse
    permutation for :func:`unshuffle_across_ranks`). Identity (and ``arange``) when not distributed."""
    batch = x.shape[0]
    if world_size() == 1:
        return x, torch.arange(batch, device=x.device)
    gathered = _all_gather_cat(x.detach())
    perm = torch.randperm(gathered.shape[0], device=x.device)
    dist.broadcast(perm, src=0)
    return gathered[perm[rank() * batch : (rank() + 1) * batch]], torch.argsort(perm)


@torch.no_grad()
def unshuffle_across_ranks(x: Tensor, inverse: Tensor) -> Tensor:
    """Undo :func:`shuffle_across_ranks` on an output (B, ...) computed from the shuffled batch: this rank's
    own samples, in their original order."""
    batch = x.shape[0]
    if world_size() == 1:
        return x
    gathered = _all_gather_cat(x.detach())
    return gathered[inverse[rank() * batch : (rank() + 1) * batch]]
