"""Minimal reimplementations of the released LVS / SSL-TIE / EZ-VSL models and test inputs, written from the
authors' repositories' module structure (hche11/Localizing-Visual-Sounds-the-Hard-Way model.py +
models/base_models.py + test.py + datasets/dataloader.py; jinxiang-liu/SSL-TIE models/model.py +
datasets/dataloader.py + main.py; stoneMo/EZ-VSL model.py + test.py + datasets.py), built from torchvision
ResNet-18 pieces, and the released file layouts, filled with seeded random values."""

from __future__ import annotations

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
import torchaudio
import torchvision
from PIL import Image
from scipy import signal
from torch import nn
from torchvision import transforms

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


class RefResNet(nn.Module):
    """LVS / SSL-TIE ``base_models.resnet18``: three stems (``conv1`` RGB, ``conv1_a`` spectrogram,
    ``conv1_flow``), ``layer4`` built with stride 1 (no dilation), an unused ``fc``; returns layer4's map."""

    def __init__(self, modal: str) -> None:
        super().__init__()
        tv = torchvision.models.resnet18()
        self.modal = modal
        self.conv1_a = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
        self.conv1 = tv.conv1
        self.conv1_flow = nn.Conv2d(6, 64, 7, 2, 3, bias=False)
        self.bn1, self.relu, self.maxpool = tv.bn1, tv.relu, tv.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = tv.layer1, tv.layer2, tv.layer3, tv.layer4
        self.layer4[0].conv1.stride = (1, 1)
        self.layer4[0].downsample[0].stride = (1, 1)
        self.avgpool, self.fc = tv.avgpool, tv.fc

    def forward(self, x):
        x = self.conv1_a(x) if self.modal == "audio" else self.conv1(x)
        x = self.maxpool(self.relu(self.bn1(x)))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class RefAVENet(nn.Module):
    """LVS ``AVENet`` (``ssl_tie=True``: SSL-TIE's, with its unused ``vision_fc1``, ``conv3``, ``norm3``);
    ``forward`` → the map A (B, 1, h, w)."""

    def __init__(self, ssl_tie: bool = False) -> None:
        super().__init__()
        self.imgnet, self.audnet = RefResNet("vision"), RefResNet("audio")
        self.avgpool = nn.AdaptiveMaxPool2d((1, 1))
        if ssl_tie:
            self.vision_fc1 = nn.Conv2d(1024, 512, kernel_size=(1, 1))
            self.conv3 = nn.Conv2d(1, 1, 1)
            self.norm3 = nn.BatchNorm2d(1)

    def forward(self, image, spec):
        img = F.normalize(self.imgnet(image), dim=1)
        aud = F.normalize(self.avgpool(self.audnet(spec)).view(image.shape[0], -1), dim=1)
        return torch.einsum("ncqa,nchw->nqa", [img, aud.unsqueeze(2).unsqueeze(3)]).unsqueeze(1)


class RefEZVSL(nn.Module):
    """EZ-VSL ``model.EZVSL``; ``forward`` → Savl (B, 7, 7) = the paired logits (cosine / tau)."""

    def __init__(self, tau: float = 0.03, dim: int = 512) -> None:
        super().__init__()
        self.tau = tau
        self.imgnet = torchvision.models.resnet18()
        self.imgnet.avgpool, self.imgnet.fc = nn.Identity(), nn.Identity()
        self.img_proj = nn.Conv2d(512, dim, kernel_size=(1, 1))
        self.audnet = torchvision.models.resnet18()
        self.audnet.conv1 = nn.Conv2d(1, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)
        self.audnet.avgpool, self.audnet.fc = nn.AdaptiveMaxPool2d((1, 1)), nn.Identity()
        self.aud_proj = nn.Linear(512, dim)

    def forward(self, image, spec):
        img = F.normalize(self.img_proj(self.imgnet(image).unflatten(1, (512, 7, 7))), dim=1)
        aud = F.normalize(self.aud_proj(self.audnet(spec)), dim=1)
        logits = torch.einsum("nchw,mc->nmhw", img, aud) / self.tau
        return logits[torch.arange(image.shape[0]), torch.arange(image.shape[0])]


def ogl_saliency(resnet: nn.Module, image):
    """EZ-VSL test.py's object saliency model: torchvision ResNet-18 → mean |feature| → (B, 1, 224, 224)."""
    body = nn.Sequential(*list(resnet.children())[:-2])
    feat = body(image).abs().mean(1, keepdim=True)
    return F.interpolate(feat, size=(224, 224), mode="bilinear", align_corners=True)


def normalize_img(value):
    """EZ-VSL utils.normalize_img."""
    vmin, vmax = value.min(), value.max()
    if not (vmax - vmin) == 0:
        value = (value - vmin) / (vmax - vmin)
    return value


def randomize(module: nn.Module, seed: int) -> nn.Module:
    """Seeded random values for every parameter and BatchNorm statistic (so eval-mode BN is not identity)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if name.endswith("num_batches_tracked"):
                tensor.fill_(7)
            elif name.endswith("running_var"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=gen))
            elif name.endswith(("running_mean", "bias")):
                tensor.copy_(0.1 * torch.randn(tensor.shape, generator=gen))
            elif tensor.ndim == 1:
                tensor.copy_(1 + 0.1 * torch.randn(tensor.shape, generator=gen))
            else:
                fan_in = tensor[0].numel()
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
    return module.eval()


def _optimizer_state(model: nn.Module) -> dict:
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    state = opt.state_dict()
    for p in model.parameters():
        p.grad = None
    return state


def released_file(kind: str, model: nn.Module) -> dict:
    """The dict each released file holds, as the authors' code saves it."""
    state = model.state_dict()
    if kind == "lvs":  # test.py reads checkpoint['model_state_dict'] into an nn.DataParallel model
        return {"model_state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 80}
    if kind == "ssl-tie":  # main.py saves model_without_dp.state_dict()
        optimizer = _optimizer_state(model)
        return {
            "epoch": 80,
            "state_dict": state,
            "best_miou": np.float64(0.81),
            "optimizer": optimizer,
            "iteration": 4000,
        }
    optimizer = _optimizer_state(model)  # EZ-VSL train.py, a DDP model
    return {
        "model": {f"module.{k}": v for k, v in state.items()},
        "optimizer": optimizer,
        "epoch": 20,
        "best_cIoU": np.float64(0.83),
        "best_Auc": np.float64(0.63),
    }


def reference_model(kind: str, seed: int = 0) -> nn.Module:
    model = {"lvs": lambda: RefAVENet(), "ssl-tie": lambda: RefAVENet(ssl_tie=True), "ezvsl": RefEZVSL}[
        kind
    ]()
    return randomize(model, seed)


# ------------------------------------------------------------------------------------------ test inputs


def frame_transform(kind: str):
    """The test image transform: LVS / SSL-TIE resize the shorter side + centre crop, EZ-VSL a square."""
    size = (224, 224) if kind == "ezvsl" else 224
    steps = [transforms.Resize(size, Image.BICUBIC)]
    if kind != "ezvsl":
        steps.append(transforms.CenterCrop(224))
    return transforms.Compose(
        [*steps, transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    )


def psd_spectrogram(samples: np.ndarray, rate: int) -> torch.Tensor:
    """LVS / EZ-VSL: clip, scipy spectrogram, log(+1e-7), ToTensor + Normalize(0, 12) → (1, F, T)."""
    samples = np.clip(samples, -1.0, 1.0)
    _, _, spectrogram = signal.spectrogram(samples, rate, nperseg=512, noverlap=274)
    return torch.from_numpy(np.log(spectrogram + 1e-7) / 12.0)[None].float()


def lvs_audio(path) -> torch.Tensor:
    samples, rate = sf.read(str(path))
    if samples.shape[0] < rate * 10:
        samples = np.tile(samples, int(rate * 10 / samples.shape[0]) + 1)
    return psd_spectrogram(samples[: rate * 10], rate)


def ezvsl_audio(path, dur: float = 3.0) -> torch.Tensor:
    """EZ-VSL's load_spectrogram: the centred 3 s (int16 / 32767 as its PyAV loader), tiled when short."""
    data, rate = sf.read(str(path), dtype="int16")
    audio = data.astype(np.float64) / np.iinfo(np.int16).max
    start = int(max(len(audio) / rate / 2 - dur / 2, 0) * rate)
    audio = np.clip(audio[start : start + int(dur * rate)], -1.0, 1.0)
    if audio.shape[0] < rate * dur:
        audio = np.tile(audio, int(rate * dur / audio.shape[0]) + 1)
    return psd_spectrogram(audio[: int(rate * dur)], rate)


def ssl_tie_audio(path) -> torch.Tensor:
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    samples = torch.from_numpy(data.T.copy())
    if samples.shape[1] < rate * 10:
        samples = samples.repeat(1, int(rate * 10 / samples.shape[1]) + 1)
    samples = samples[..., : rate * 10]
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=rate, n_fft=512, hop_length=239, n_mels=257, normalized=True
    )
    return torchaudio.transforms.AmplitudeToDB()(mel(samples))


def spectrogram_of(kind: str, wave: torch.Tensor, rate: int) -> torch.Tensor:
    """The reference spectrogram (B, 1, F, T) of a waveform batch (B, 1, S) already cut to the clip."""
    if kind == "ssl-tie":
        mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=rate, n_fft=512, hop_length=239, n_mels=257, normalized=True
        )
        return torchaudio.transforms.AmplitudeToDB()(mel(wave))
    return torch.stack([psd_spectrogram(w[0].double().numpy(), rate) for w in wave])
