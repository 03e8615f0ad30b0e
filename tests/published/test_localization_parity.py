"""Imported LVS / EZ-VSL / SSL-TIE checkpoints reproduce the authors' forward pass and test input.

Each released file is written in its authors' layout (nesting, ``module.`` prefixes, optimizer, numpy scalars)
from a reference model with seeded random values (tests/published/reference_models.py, written from the
reference code's module structure); ``import_checkpoint`` turns it into a run, and ``load_run`` + ``localize``
must give the reference forward's map to 1e-5 on the same waveform and frame. The test input (frame tensor,
spectrogram) of the run's evaluation dataset must equal the reference's on real encoded files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from avssl.data.synthetic.layouts import SynthSpec, write_synthetic
from avssl.evaluation.localization_predict import benchmark_dataset
from avssl.inference.load import load_run, run_frame_input
from avssl.published import CheckpointError
from avssl.published.importer import import_checkpoint

sys.path.insert(0, str(Path(__file__).parent))  # tests are imported with importlib (pyproject addopts)
import reference_models as ref  # noqa: E402

KINDS = ("lvs", "ezvsl", "ssl-tie")
CLIP_S = {"lvs": 10.0, "ezvsl": 3.0, "ssl-tie": 10.0}


def write_release(kind: str, path: Path, seed: int = 0, legacy: bool = False) -> torch.nn.Module:
    model = ref.reference_model(kind, seed)
    torch.save(ref.released_file(kind, model), path, _use_new_zipfile_serialization=not legacy)
    return model


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """{kind: (reference model, run dir)}: every kind released, then imported."""
    root = tmp_path_factory.mktemp("published")
    out = {}
    for kind in KINDS:
        model = write_release(kind, root / f"{kind}.pth", legacy=kind == "lvs")  # LVS: PyTorch 1.3's format
        out[kind] = (model, import_checkpoint(kind, root / f"{kind}.pth", root / f"run_{kind}").run)
    return out


def _inputs(kind: str, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    image = torch.randn(2, 3, 224, 224, generator=gen)
    wave = (0.3 * torch.randn(2, 1, int(CLIP_S[kind] * 16000), generator=gen)).clamp(-1, 1)
    return image, wave


@pytest.mark.parametrize("kind", KINDS)
@torch.no_grad()
def test_imported_map_equals_the_reference_forward(kind, imported):
    model, run = imported[kind]
    task, config = load_run(run)
    image, wave = _inputs(kind)
    ours = task.localize({"video": image[:, :, None], "audio": wave})
    spec = ref.spectrogram_of(kind, wave, 16000)
    if kind == "ezvsl":
        theirs = model(image, spec) * model.tau  # Savl is the cosine map / tau
    else:
        theirs = model(image, spec)[:, 0]
    assert ours.shape == theirs.shape == ((2, 7, 7) if kind == "ezvsl" else (2, 14, 14))
    assert theirs.std() > 0.01  # a map, not a constant
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=0), (ours - theirs).abs().max()
    assert config["data"]["eval_input"] is not None and config["eval"]["rule"] == (
        "ge" if kind == "ezvsl" else "gt"
    )


@torch.no_grad()
def test_ezvsl_object_guided_map_equals_the_reference(imported, tmp_path):
    model, _ = imported["ezvsl"]
    path = tmp_path / "ezvsl.pth"
    torch.save(ref.released_file("ezvsl", model), path)
    imagenet = ref.randomize(__import__("torchvision").models.resnet18(), seed=5)
    torch.save(imagenet.state_dict(), tmp_path / "resnet18.pth")
    run = import_checkpoint("ezvsl", path, tmp_path / "run", {"ogl_weights": tmp_path / "resnet18.pth"}).run
    task, config = load_run(run)
    assert config["eval"]["ogl_alpha"] == 0.4
    image, wave = _inputs("ezvsl", seed=3)
    ours = task.localize_ogl({"video": image[:, :, None], "audio": wave}, alpha=0.4)
    spec = ref.spectrogram_of("ezvsl", wave, 16000)
    av = torch.nn.functional.interpolate(
        model(image, spec)[:, None], (224, 224), mode="bilinear", align_corners=True
    )
    obj = ref.ogl_saliency(imagenet, image)
    for i in range(2):
        pred_av, pred_obj = ref.normalize_img(av[i, 0].numpy()), ref.normalize_img(obj[i, 0].numpy())
        theirs = ref.normalize_img(pred_av * 0.4 + pred_obj * (1 - 0.4))
        assert np.abs(ours[i].numpy() - theirs).max() <= 1e-5


@pytest.fixture(scope="module")
def flickr(tmp_path_factory):
    """A Flickr-SoundNet layout of real encoded files: non-square jpgs and 16 kHz wavs of 4 s and 2 s."""
    root = write_synthetic("flickr", tmp_path_factory.mktemp("flickr"), SynthSpec(n=2, seed=0))
    ids = sorted(p.stem for p in (root / "frames").glob("*.jpg"))
    for k, item in enumerate(ids):
        frame = root / "frames" / f"{item}.jpg"
        Image.open(frame).convert("RGB").resize((300 + 17 * k, 210)).save(frame, quality=90)
        audio, rate = sf.read(str(root / "audio" / f"{item}.wav"), dtype="float32")
        sf.write(
            str(root / "audio" / f"{item}.wav"), audio[: int(rate * (4 - 2 * k))], rate, subtype="PCM_16"
        )
    return root, ids


REFERENCE_AUDIO = {"lvs": ref.lvs_audio, "ezvsl": ref.ezvsl_audio, "ssl-tie": ref.ssl_tie_audio}


@pytest.mark.parametrize("kind", KINDS)
@torch.no_grad()
def test_test_input_equals_the_reference_on_real_files(kind, imported, flickr):
    root, ids = flickr
    task, config = load_run(imported[kind][1])
    dataset = benchmark_dataset("flickr", str(root), config["data"])
    for index, item in enumerate(dataset.items):
        sample = dataset[index]
        image = Image.open(item.path).convert("RGB")
        expected = ref.frame_transform(kind)(image)
        assert torch.equal(sample["video"][:, 0], expected), kind
        assert torch.equal(run_frame_input(config)(torch.from_numpy(np.array(image))[None])[0], expected)
        ours = task.audio_encoder.frontend(sample["audio"][None])[0]
        theirs = REFERENCE_AUDIO[kind](item.audio_path)
        assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
        tolerance = 2e-5 if kind == "ezvsl" else 1e-5  # EZ-VSL scales int16 by 1/32767, avssl by 1/32768
        assert (ours - theirs).abs().max() <= tolerance * max(1.0, theirs.abs().max()), kind


def test_architecture_options_keep_their_released_strides(imported):
    task, _ = load_run(imported["lvs"][1])
    assert task.visual_encoder.layer4[0].conv1.stride == (1, 1)
    assert task.visual_encoder.layer4[1].conv1.dilation == (1, 1)  # stride 1 without dilation, as released
    task, _ = load_run(imported["ezvsl"][1])
    assert task.visual_encoder.layer4[0].conv1.stride == (2, 2)


def test_source_md_reports_the_file_and_what_was_not_used(imported, tmp_path):
    run = imported["ssl-tie"][1]
    source = (run / "SOURCE.md").read_text()
    digest = __import__("hashlib").sha256((run.parent / "ssl-tie.pth").read_bytes()).hexdigest()
    assert (
        f"sha256 `{digest}`" in source
        and "jinxiang-liu/SSL-TIE" in source
        and digest in (run / "config.yaml").read_text()
    )
    assert "vision_fc1.weight" in source and "optimizer" in source and "best_miou = 0.81" in source
    assert "imgnet.* → visual_encoder.*" in source and "audnet.* → audio_encoder.*" in source
    lvs = (imported["lvs"][1] / "SOURCE.md").read_text()
    assert "model_state_dict" in lvs and "imgnet.conv1_a.weight" in lvs and "epoch = 80" in lvs
    assert (run / "model" / "config.yaml").read_text() == (run / "config.yaml").read_text()


# ------------------------------------------------------------------------------------- bad released files


def _one_line(err: Exception) -> str:
    text = str(err)
    assert "\n" not in text
    return text


def test_truncated_file_is_one_clear_error(imported, tmp_path):
    good = tmp_path / "good.pth"
    write_release("ssl-tie", good)
    for name, cut in (("zip.pth", 0.5), ("zip_tail.pth", 0.99)):
        data = good.read_bytes()
        (tmp_path / name).write_bytes(data[: int(len(data) * cut)])
        with pytest.raises(CheckpointError) as info:
            import_checkpoint("ssl-tie", tmp_path / name, tmp_path / f"run_{name}")
        assert str(tmp_path / name) in _one_line(info.value) and "truncated or corrupt" in str(info.value)
        assert not (tmp_path / f"run_{name}").exists()
    legacy = tmp_path / "legacy.pth"
    write_release("lvs", legacy, legacy=True)
    data = legacy.read_bytes()
    legacy.write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        import_checkpoint("lvs", legacy, tmp_path / "run_legacy")


def test_wrong_kind_names_the_key_and_the_kind_it_looks_like(tmp_path):
    path = tmp_path / "ssl_tie.pth"
    write_release("ssl-tie", path)
    with pytest.raises(CheckpointError) as info:
        import_checkpoint("lvs", path, tmp_path / "run")
    message = _one_line(info.value)
    assert str(path) in message and "'vision_fc1" in message and "'ssl-tie' checkpoint" in message
    ezvsl = tmp_path / "ezvsl.pth"
    write_release("ezvsl", ezvsl)
    with pytest.raises(CheckpointError, match=r"not a 'ssl-tie' checkpoint.*'ezvsl'"):
        import_checkpoint("ssl-tie", ezvsl, tmp_path / "run2")


def test_missing_key_and_wrong_shape_name_the_released_key(tmp_path):
    model = ref.reference_model("lvs")
    released = ref.released_file("lvs", model)
    del released["model_state_dict"]["module.audnet.layer3.1.bn2.running_var"]
    torch.save(released, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError) as info:
        import_checkpoint("lvs", tmp_path / "missing.pth", tmp_path / "run")
    assert "missing key 'audnet.layer3.1.bn2.running_var'" in _one_line(info.value)
    released = ref.released_file("ezvsl", ref.reference_model("ezvsl"))
    released["model"]["module.img_proj.weight"] = torch.zeros(128, 512, 1, 1)
    torch.save(released, tmp_path / "shape.pth")
    with pytest.raises(CheckpointError, match=r"key 'img_proj.weight' has shape \(128, 512, 1, 1\)"):
        import_checkpoint("ezvsl", tmp_path / "shape.pth", tmp_path / "run")


class Pickled:
    """Stands for an object a training script pickled along with its weights."""


def test_pickled_code_is_refused_without_running_it(tmp_path):
    released = ref.released_file("lvs", ref.reference_model("lvs"))
    released["args"] = Pickled()
    torch.save(released, tmp_path / "code.pth")
    with pytest.raises(CheckpointError, match=r"pickles .*Pickled, code that would have to run"):
        import_checkpoint("lvs", tmp_path / "code.pth", tmp_path / "run")


def test_existing_out_is_never_overwritten(imported, tmp_path):
    path = tmp_path / "lvs.pth"
    write_release("lvs", path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "mine.txt").write_text("keep")
    from avssl.config import ConfigError

    with pytest.raises(ConfigError, match="exists and is not empty"):
        import_checkpoint("lvs", path, tmp_path / "run")
    assert (tmp_path / "run" / "mine.txt").read_text() == "keep"


def test_numpy_scalars_of_numpy_1_and_2_files_are_read(tmp_path):
    from avssl.published.reader import read_released

    released = ref.released_file("ssl-tie", ref.reference_model("ssl-tie"))
    torch.save(released, tmp_path / "np2.pth", _use_new_zipfile_serialization=False)
    data = (tmp_path / "np2.pth").read_bytes()
    assert b"numpy._core" in data
    (tmp_path / "np1.pth").write_bytes(data.replace(b"numpy._core", b"numpy.core"))  # as numpy 1 pickled them
    for name in ("np1.pth", "np2.pth"):
        read = read_released(tmp_path / name)
        assert "best_miou = 0.81" in read.other and read.container == "state_dict" and len(read.state) > 200
