"""VGGish loads AudioSet weights in torchvggish's format (github harritaylor/torchvggish): its `vggish-*.pth`
(features.* / embeddings.*), a whole torchvggish model's state dict (plus `pproc.pca_matrix`, `pproc.pca_means`)
and its PCA file (`pca_eigen_vectors`, `pca_means`); with `postprocess` the embeddings are PCA-whitened and
8-bit quantised exactly as torchvggish's Postprocessor (checked against a naive reimplementation)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from avssl.encoders import VGGishConfig, build_encoder

CONVS = {0: (64, 1), 3: (128, 64), 6: (256, 128), 8: (256, 256), 11: (512, 256), 13: (512, 512)}
LINEARS = {0: (4096, 512 * 4 * 6), 2: (4096, 4096), 4: (128, 4096)}


def _torchvggish_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded random values under torchvggish's key names and shapes (its VGGish model's state dict)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for i, (c_out, c_in) in CONVS.items():
        state[f"features.{i}.weight"] = (
            torch.randn(c_out, c_in, 3, 3, generator=gen) * (2.0 / (9 * c_in)) ** 0.5
        )
        state[f"features.{i}.bias"] = 0.01 * torch.randn(c_out, generator=gen)
    for i, (n_out, n_in) in LINEARS.items():
        state[f"embeddings.{i}.weight"] = torch.randn(n_out, n_in, generator=gen) * (2.0 / n_in) ** 0.5
        state[f"embeddings.{i}.bias"] = 0.01 * torch.randn(n_out, generator=gen)
    state["pproc.pca_matrix"] = torch.randn(128, 128, generator=gen) / 8
    state["pproc.pca_means"] = torch.randn(128, 1, generator=gen)
    return state


def _reference(state: dict[str, torch.Tensor], patches: torch.Tensor, pca: bool) -> torch.Tensor:
    """torchvggish's forward written out (without its final ReLU, which the TF model does not have) and its
    Postprocessor: PCA, clip to [-2, 2], round((x + 2) * 255 / 4)."""
    x = patches[:, None]
    for i in CONVS:
        x = F.relu(F.conv2d(x, state[f"features.{i}.weight"], state[f"features.{i}.bias"], padding=1))
        if i in (0, 3, 8, 13):
            x = F.max_pool2d(x, 2)
    x = x.transpose(1, 3).transpose(1, 2).contiguous().view(x.shape[0], -1)
    for i in LINEARS:
        x = F.linear(x, state[f"embeddings.{i}.weight"], state[f"embeddings.{i}.bias"])
        x = F.relu(x) if i != 4 else x
    if not pca:
        return x
    applied = torch.mm(state["pproc.pca_matrix"], x.T - state["pproc.pca_means"]).T
    return torch.round((applied.clamp(-2.0, 2.0) + 2.0) * (255.0 / 4.0))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("torchvggish")
    state = _torchvggish_state()
    torch.save(state, root / "torchvggish_model.pth")
    torch.save({k: v for k, v in state.items() if not k.startswith("pproc.")}, root / "vggish-10086976.pth")
    pca = {
        "pca_eigen_vectors": state["pproc.pca_matrix"].numpy(),
        "pca_means": state["pproc.pca_means"][:, 0].numpy(),
    }
    torch.save(pca, root / "vggish_pca_params.pth")
    return root, state


def _patches() -> torch.Tensor:
    return torch.randn(3, 96, 64, generator=torch.Generator().manual_seed(1))


def test_whole_torchvggish_state_dict_loads_and_pca_is_ignored_without_postprocess(files) -> None:
    root, state = files
    vggish = build_encoder(VGGishConfig(name="vggish", weights=str(root / "torchvggish_model.pth"))).eval()
    assert not any(k.startswith("pproc.") for k in vggish.state_dict())  # runs saved before keep loading
    with torch.no_grad():
        torch.testing.assert_close(vggish.embed_patches(_patches()), _reference(state, _patches(), False))


def test_postprocess_from_the_state_dict(files) -> None:
    root, state = files
    cfg = VGGishConfig(name="vggish", weights=str(root / "torchvggish_model.pth"), postprocess=True)
    vggish = build_encoder(cfg).eval()
    with torch.no_grad():
        ours = vggish.embed_patches(_patches())
    reference = _reference(state, _patches(), True)
    assert ours.min() >= 0 and ours.max() <= 255 and torch.equal(ours, ours.round())
    assert (ours != reference).float().mean() < 0.01  # rounding ties may flip by one step in float32
    assert (ours - reference).abs().max() <= 1


def test_postprocess_from_torchvggishs_pca_file(files) -> None:
    root, state = files
    cfg = VGGishConfig(
        name="vggish",
        weights=str(root / "vggish-10086976.pth"),
        postprocess=True,
        pca_params=str(root / "vggish_pca_params.pth"),
    )
    vggish = build_encoder(cfg).eval()
    torch.testing.assert_close(vggish.pproc.pca_matrix, state["pproc.pca_matrix"])
    torch.testing.assert_close(vggish.pproc.pca_means, state["pproc.pca_means"])
    with torch.no_grad():
        assert (vggish.embed_patches(_patches()) - _reference(state, _patches(), True)).abs().max() <= 1


def test_postprocess_without_pca_parameters_is_refused(files) -> None:
    root, _ = files
    cfg = VGGishConfig(name="vggish", weights=str(root / "vggish-10086976.pth"), postprocess=True)
    vggish = build_encoder(cfg)
    with pytest.raises(RuntimeError, match="PCA"):
        vggish.embed_patches(_patches())
