"""Architecture factory: torchvision backbones with grayscale input and a new head.

Every model takes float B × 1 × H × W images in [0, 1] and normalises them itself with
ImageNet statistics, so a checkpoint needs no separate preprocessing record. Grayscale is
either replicated to three channels (the pretrained first convolution is kept as is) or folded:
the first convolution's RGB kernels are summed into one channel, a third of the compute there.

Pretrained weights are torchvision's ImageNet files, read from a local file or directory (no
download): `weights=/models/resnet101-63fe2227.pth` or `weights=/models` (looks for the file
names in WEIGHT_FILES, the same names torchvision caches under $TORCH_HOME/hub/checkpoints).

`compile_model` wraps a model in torch.compile, as CUDA graphs ("reduce-overhead") when
`uses_cuda_graphs` allows; `configure_compile_cache` keeps inductor's compiled graphs in a
per-host folder under CXR_DATA_DIR, so that a second job on the host skips most of the compile.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, MutableMapping
from pathlib import Path

import torch
import torchvision
from torch import nn

from .config import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

WEIGHT_FILES = {
    "vgg16": ("vgg16-397923af.pth",),
    "resnet101": ("resnet101-cd907fc2.pth", "resnet101-63fe2227.pth"),
    "resnet50": ("resnet50-11ad3fa6.pth", "resnet50-0676ba61.pth"),
    "densenet121": ("densenet121-a639ec97.pth",),
    "efficientnet_b0": ("efficientnet_b0_rwightman-7f5810bc.pth",),
}


class TinyNet(nn.Module):
    """A few-thousand-parameter CNN for tests: same interface as the torchvision models."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            )

        self.features = nn.Sequential(block(3, 16), block(16, 32), block(32, 32))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


ARCHITECTURES: dict[str, Callable[[], nn.Module]] = {
    "vgg16": torchvision.models.vgg16,
    "resnet101": torchvision.models.resnet101,
    "resnet50": torchvision.models.resnet50,
    "densenet121": torchvision.models.densenet121,
    "efficientnet_b0": torchvision.models.efficientnet_b0,
    "tiny": TinyNet,
}

# dotted path of the final Linear layer in each architecture
HEADS = {
    "vgg16": "classifier.6",
    "resnet101": "fc",
    "resnet50": "fc",
    "densenet121": "classifier",
    "efficientnet_b0": "classifier.1",
    "tiny": "fc",
}


class Classifier(nn.Module):
    """Normalisation + channel handling + backbone: the whole model a checkpoint holds."""

    def __init__(self, backbone: nn.Module, channels: int):
        super().__init__()
        self.backbone = backbone
        self.channels = channels
        mean = torch.tensor(IMAGENET_MEAN if channels == 3 else (sum(IMAGENET_MEAN) / 3,))
        std = torch.tensor(IMAGENET_STD if channels == 3 else (sum(IMAGENET_STD) / 3,))
        self.register_buffer("mean", mean.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels == 3:
            x = x.expand(-1, 3, -1, -1)
        return self.backbone((x - self.mean) / self.std)


def resolve_weights(arch: str, weights: str) -> Path | None:
    """The weights file a config names, or None for random initialisation.

    Raises ConfigError naming the path looked for when it is missing: checked before any GPU
    time is spent.
    """
    if weights in ("", "none"):
        return None
    if arch not in WEIGHT_FILES:
        raise ConfigError(f"weights: no pretrained weights exist for arch {arch!r}; use none")
    path = Path(weights).expanduser()
    if path.is_file():
        return path
    if path.is_dir() or path.suffix not in (".pth", ".pt"):  # a folder, present or not
        for name in WEIGHT_FILES[arch]:
            if (path / name).is_file():
                return path / name
        raise ConfigError(missing_weights_message(arch, path))
    raise ConfigError(f"weights: {path} not found")


def missing_weights_message(arch: str, folder: Path) -> str:
    """Names the file torchvision publishes and the folder it was looked for in, so that the
    user can copy it there (README "Pretrained weights, offline")."""
    names = " or ".join(WEIGHT_FILES[arch])
    state = "" if folder.is_dir() else ", which does not exist,"
    return (f"weights: {folder / WEIGHT_FILES[arch][0]} not found: the folder {folder}{state} "
            f"needs the file {names}")  # fmt: skip


_DENSENET_OLD_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.\w+)$")


def _load_imagenet(model: nn.Module, path: Path) -> None:
    state = torch.load(path, map_location="cpu", weights_only=True)
    # torchvision's DenseNet files predate a module rename: "norm.1" is now "norm1"
    state = {_DENSENET_OLD_KEY.sub(r"\1\2", k): v for k, v in state.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"weights: {path} does not fit this architecture ({first})") from None


def _replace(model: nn.Module, dotted: str, module: nn.Module) -> None:
    parent_name, _, child = dotted.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def _fold_first_conv(model: nn.Module) -> None:
    """Swap the first 3-channel convolution for a 1-channel one with the summed kernels."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d) and module.in_channels == 3:
            conv = nn.Conv2d(
                1, module.out_channels, module.kernel_size, module.stride, module.padding,
                module.dilation, module.groups, module.bias is not None,
            )  # fmt: skip
            with torch.no_grad():
                conv.weight.copy_(module.weight.sum(dim=1, keepdim=True))
                if module.bias is not None:
                    conv.bias.copy_(module.bias)
            _replace(model, name, conv)
            return
    raise ValueError("no 3-channel convolution to fold")


def build_model(
    arch: str, num_outputs: int, weights: str = "none", grayscale: str = "replicate"
) -> Classifier:
    """Backbone (pretrained when asked), grayscale handling, and a fresh head of num_outputs."""
    if arch not in ARCHITECTURES:
        raise ConfigError(f"arch: {arch!r} is not one of {tuple(ARCHITECTURES)}")
    backbone = ARCHITECTURES[arch]()
    path = resolve_weights(arch, weights)
    if path is not None:
        _load_imagenet(backbone, path)
    old = backbone.get_submodule(HEADS[arch])
    _replace(backbone, HEADS[arch], nn.Linear(old.in_features, num_outputs))
    if grayscale == "fold":
        _fold_first_conv(backbone)
        return Classifier(backbone, channels=1)
    return Classifier(backbone, channels=3)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DDP and torch.compile wrappers (what a checkpoint stores)."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def uses_cuda_graphs(
    compile_: bool, cuda_graphs: bool, device: torch.device, deterministic: bool, world_size: int
) -> bool:
    """Whether the compiled step is captured as CUDA graphs. Deterministic runs stay eager
    about kernels (no graphs, no autotuning); DDP's bucketed all-reduce does not fit a graph."""
    return compile_ and cuda_graphs and device.type == "cuda" and not deterministic \
        and world_size == 1  # fmt: skip


def compile_model(model: nn.Module, cuda_graphs: bool = False) -> nn.Module:
    """torch.compile with the default inductor settings, or "reduce-overhead" (CUDA graphs).
    Not "max-autotune": it compiles for minutes and picks kernels by timing them."""
    return torch.compile(model, mode="reduce-overhead" if cuda_graphs else None)


def compile_cache_dir(data_dir: str | Path) -> Path:
    """Inductor's cache for this host: compiled kernels fit the host's GPUs and compilers, and
    a data folder may be shared between hosts."""
    return Path(data_dir) / "cache" / "inductor" / socket.gethostname()


def configure_compile_cache(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """Turn inductor's FX-graph cache on and, when CXR_DATA_DIR is set, keep it (and the Triton
    kernels inductor caches beside it) under `compile_cache_dir`. A TORCHINDUCTOR_CACHE_DIR the
    operator set wins. Returns the folder in use (None: torch's default under /tmp)."""
    data_dir = environ.get("CXR_DATA_DIR")
    if data_dir and not environ.get("TORCHINDUCTOR_CACHE_DIR"):
        folder = compile_cache_dir(data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    import torch._inductor.config as inductor_config  # only a compiling run needs inductor

    inductor_config.fx_graph_cache = True
    return environ.get("TORCHINDUCTOR_CACHE_DIR")
