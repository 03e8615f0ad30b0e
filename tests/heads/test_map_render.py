"""`model.render`: the rendered localization map (spatial softmax, then a Gaussian blur in map cells) against a
reference written with numpy / scipy, and the localization tasks returning it from `localize`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from avssl.config import from_dict
from avssl.heads.localization import MapRenderConfig, cosine_map, render_map
from avssl.tasks.ezvsl import EZVSL, EZVSLConfig
from avssl.tasks.lvs import LVS, LVSConfig
from avssl.tasks.ssl_tie import SSLTIE, SSLTIEConfig


def _reference(maps: np.ndarray, temperature: float | None, sigma: float) -> np.ndarray:
    out = []
    for m in maps.astype(np.float64):
        if temperature is not None:
            e = np.exp((m - m.max()) / temperature)
            m = e / e.sum()
        if sigma > 0:
            m = gaussian_filter(m, sigma, mode="constant", cval=0.0, truncate=4.0)
        out.append(m)
    return np.stack(out)


@pytest.mark.parametrize(
    "temperature, sigma", [(None, 0.0), (0.03, 0.0), (None, 1.5), (0.03, 2.0), (0.1, 3.0)]
)
def test_render_matches_numpy_scipy(temperature: float | None, sigma: float) -> None:
    maps = torch.rand(3, 14, 14, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    got = render_map(maps, MapRenderConfig(temperature, sigma)).numpy()
    np.testing.assert_allclose(got, _reference(maps.numpy(), temperature, sigma), rtol=1e-9, atol=1e-12)


def test_render_off_is_the_identity_and_softmax_keeps_the_order() -> None:
    maps = torch.randn(2, 7, 9)
    assert not MapRenderConfig().active
    assert render_map(maps, MapRenderConfig()) is maps
    soft = render_map(maps, MapRenderConfig(temperature=0.05))
    torch.testing.assert_close(soft.flatten(1).sum(1), torch.ones(2))
    assert torch.equal(soft.flatten(1).argsort(1), maps.flatten(1).argsort(1))


def test_blur_spreads_a_peak_into_a_disc_around_it() -> None:
    """The point of the rendering: a map right at its peak but noisy elsewhere keeps its upper half around
    the peak once rendered."""
    g = torch.Generator().manual_seed(1)
    maps = 0.1 * torch.rand(1, 14, 14, generator=g)
    maps[0, 3, 10] = 1.0
    rendered = render_map(maps, MapRenderConfig(temperature=0.03, blur_sigma=2.0))[0]
    upper = rendered >= rendered.flatten().median()
    yy, xx = torch.meshgrid(torch.arange(14), torch.arange(14), indexing="ij")
    distance = ((yy - 3) ** 2 + (xx - 10) ** 2).float().sqrt()
    assert distance[upper].max() < distance[~upper].min() + 1.5
    raw_upper = maps[0] >= maps[0].flatten().median()
    assert distance[raw_upper].max() > 8  # the raw map's upper half is scattered


@pytest.mark.parametrize("bad", [{"temperature": 0.0}, {"temperature": -1.0}, {"blur_sigma": -0.5}])
def test_bad_render_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match="render"):
        MapRenderConfig(**bad)


@pytest.mark.parametrize("name", ["lvs", "ezvsl", "ssl_tie"])
def test_tasks_localize_the_rendered_map(name: str) -> None:
    small = {
        "visual": {"name": "small", "output_stride": 16},
        "audio": {"name": "audio_small", "output_stride": 16},
    }
    kinds = {"lvs": (LVS, LVSConfig), "ezvsl": (EZVSL, EZVSLConfig), "ssl_tie": (SSLTIE, SSLTIEConfig)}
    task_cls, cfg_cls = kinds[name]
    extra = {"embed_dim": 32} if name == "ezvsl" else {}
    render = {"temperature": 0.05, "blur_sigma": 1.0}
    torch.manual_seed(0)
    task = task_cls(from_dict(cfg_cls, {**small, **extra, "render": render})).eval()
    assert isinstance(task.render, MapRenderConfig) and task.render.blur_sigma == 1.0
    g = torch.Generator().manual_seed(0)
    batch = {
        "video": torch.randn(2, 3, 1, 64, 64, generator=g),
        "audio": torch.randn(2, 1, 8000, generator=g),
    }
    with torch.no_grad():
        raw = cosine_map(task.visual_maps(task.frames(batch)), task.audio_embedding(batch["audio"]))
        torch.testing.assert_close(task.localize(batch), render_map(raw, MapRenderConfig(**render)))
