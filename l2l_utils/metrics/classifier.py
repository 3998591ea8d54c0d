"""In-project classifier behind IS_domain.

The paper (Li et al., ICLR 2024) computes the Inception Score with an ImageNet Inception-v3 (VQ-GAN)
or a Places365 ResNet-50 (diffusion). Neither set of weights can be had offline, and IS needs
*logits over the data's own classes*, so we train a small CNN on the embedded clip-art training
split and report its score as IS_domain (never as plain IS). ``scripts/train_is_classifier.py``
produces the checkpoint; ``checkpoints/is_classifier_clipart.md`` is its model card.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from l2l_utils import PROJECT_ROOT

DEFAULT_CHECKPOINT = PROJECT_ROOT / "checkpoints" / "is_classifier_clipart.pt"
# The same recipe with another seed: the feature network of the tokenizer's perceptual term (feature_distance).
PERCEPTUAL_CHECKPOINT = PROJECT_ROOT / "checkpoints" / "perceptual_classifier_clipart.pt"


def _block(c_in: int, c_out: int, convs: int) -> nn.Sequential:
    """``convs`` 3x3 conv-BN-ReLU layers, then a 2x2 max-pool halving the side."""
    layers = []
    for i in range(convs):
        layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1, bias=False),
                   nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.MaxPool2d(2))


class DomainClassifier(nn.Module):
    """Small VGG-style CNN: 64x64 RGB in [0, 1] -> logits over ``num_classes`` (12 clip-art classes).

    Five blocks (16-32-64-128-256 channels with 1-1-2-2-1 convs, 64 -> 2 px), global average
    pooling, dropout, linear head: about 0.6 M parameters (~2.4 MB as float32, so the checkpoint can
    live in the repository). Narrow early layers keep a training step at ~0.1 s on 2 CPU cores.
    """

    def __init__(self, num_classes: int = 12, width: int = 16, dropout: float = 0.2):
        super().__init__()
        self.num_classes = num_classes
        self.input_size = 64  # the clip-art it is trained on
        widths, convs = [width * 2 ** i for i in range(5)], (1, 1, 2, 2, 1)
        self.features = nn.Sequential(*[_block(c_in, c_out, n) for c_in, c_out, n
                                        in zip([3] + widths[:-1], widths, convs)])
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(widths[-1], num_classes))
        # Inputs in [0, 1] are centred here so callers never need to know the training normalisation.
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 0.5), persistent=False)
        self.register_buffer("std", torch.full((1, 3, 1, 1), 0.5), persistent=False)

    def forward(self, images01: Tensor) -> Tensor:
        if images01.shape[-1] != self.input_size:  # e.g. the 32 px diffusion outputs: classify as trained
            images01 = nn.functional.interpolate(images01, size=self.input_size, mode="bilinear", align_corners=False)
        x = self.features((images01 - self.mean) / self.std)
        return self.head(x.mean(dim=(2, 3), keepdim=True))


def feature_distance(net: DomainClassifier, a: Tensor, b: Tensor) -> Tensor:
    """LPIPS-style distance between image batches (Zhang et al., CVPR 2018, eq. 1 with unit layer weights):
    each of ``net``'s five blocks' activations unit-normalised over channels, squared differences summed
    over channels, averaged over positions and images, summed over blocks. Differentiable in ``a`` and
    ``b``; ``net`` stays as it is (put it in eval mode, and freeze it, before training against it)."""
    ha, hb, total = (a - net.mean) / net.std, (b - net.mean) / net.std, a.new_zeros(())
    for block in net.features:
        ha, hb = block(ha), block(hb)
        total = total + (_unit(ha) - _unit(hb)).pow(2).sum(1).mean()
    return total


def _unit(h: Tensor) -> Tensor:
    return h / (h.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)


@torch.no_grad()
def predict_logits(model: nn.Module, images01: Tensor, batch_size: int = 256) -> Tensor:
    """Logits for every image, computed in eval mode and in batches."""
    model.eval()
    return torch.cat([model(images01[i:i + batch_size]) for i in range(0, len(images01), batch_size)])


def accuracy(model: nn.Module, images01: Tensor, labels: Tensor, batch_size: int = 256) -> float:
    """Top-1 accuracy; shared by the training script and the tests so both compute the same number."""
    return (predict_logits(model, images01, batch_size).argmax(1) == labels).float().mean().item()


def load_is_classifier(path: str | Path = DEFAULT_CHECKPOINT) -> DomainClassifier:
    """Load the IS_domain classifier saved by ``scripts/train_is_classifier.py``, in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IS classifier checkpoint {path} is missing; "
                                "create it with `python scripts/train_is_classifier.py`.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated file, pickle from elsewhere, ...
        raise RuntimeError(f"cannot read IS classifier checkpoint {path}: {err}") from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "class_names" not in ckpt:
        raise RuntimeError(f"{path} is not an IS classifier checkpoint: expected a dict with keys "
                           "'state_dict', 'class_names' and 'meta'.")
    model = DomainClassifier(num_classes=len(ckpt["class_names"]), **ckpt.get("meta", {}).get("arch", {}))
    missing, unexpected = model.load_state_dict(ckpt["state_dict"], strict=False)
    if missing or unexpected:
        raise RuntimeError(f"{path} does not match DomainClassifier: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
    model.class_names = list(ckpt["class_names"])
    model.meta = dict(ckpt.get("meta", {}))
    return model.eval()


class ImageNetInceptionClassifier(nn.Module):
    """torchvision Inception-v3 (IMAGENET1K_V1) logits for the ``imagenet`` profile's IS.

    The released MAGE evaluation feeds it CIFAR-10-normalised inputs; we use its own ImageNet
    normalisation (protocol decision 12). Inputs are (B, 3, H, W) in [0, 1], resized to 299.
    """

    def __init__(self, weights_path: str | Path | None = None):
        super().__init__()
        from torchvision.models import Inception_V3_Weights, inception_v3
        if weights_path is None:
            try:  # the usual torchvision download; offline it fails fast
                self.net = inception_v3(weights=Inception_V3_Weights.IMAGENET1K_V1)
            except Exception as err:
                raise RuntimeError("could not download torchvision's Inception-v3 IMAGENET1K_V1 weights "
                                   f"({err}); pass is_classifier_weights=<local inception_v3_google-*.pth>") from err
        else:
            if not Path(weights_path).is_file():
                raise FileNotFoundError(f"Inception-v3 classifier weights {weights_path} not found")
            self.net = inception_v3(weights=None, aux_logits=True, init_weights=False)
            self.net.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
        self.net.eval()
        self.register_buffer("mean", torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1), persistent=False)

    def forward(self, images01: Tensor) -> Tensor:
        x = nn.functional.interpolate(images01.float(), size=(299, 299), mode="bilinear", align_corners=False)
        return self.net((x - self.mean) / self.std)


def get_is_classifier(name_or_path: str | Path, weights_path: str | Path | None = None) -> nn.Module:
    """``"inception_v3"`` / ``"resnet50_places365"`` (the paper's ImageNet / Places classifiers) or the
    path of an in-domain checkpoint."""
    if str(name_or_path) == "inception_v3":
        return ImageNetInceptionClassifier(weights_path).eval()
    if str(name_or_path) == "resnet50_places365":
        return Places365ResNetClassifier(weights_path).eval()
    return load_is_classifier(name_or_path)


class Places365ResNetClassifier(nn.Module):
    """ResNet-50-Places365 logits (CSAILVision ``resnet50_places365.pth.tar``) for the ``places`` profile's IS,
    as the i2i Palette evaluation: resize 256, centre crop 224, ImageNet normalisation.

    The weights are not in torchvision; ``weights_path`` is the CSAIL checkpoint (``{'state_dict': ...}``
    with DataParallel's ``module.`` prefix) or a plain torchvision-layout state dict with 365 classes.
    """

    def __init__(self, weights_path: str | Path | None):
        super().__init__()
        from torchvision.models import resnet50
        if weights_path is None or not Path(weights_path).is_file():
            raise FileNotFoundError(f"ResNet-50-Places365 weights {weights_path} not found; pass "
                                    "is_classifier_weights=<resnet50_places365.pth.tar> (CSAILVision/places365)")
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
        self.net = resnet50(num_classes=365)
        self.net.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
        self.net.eval()
        self.register_buffer("mean", torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1), persistent=False)

    def forward(self, images01: Tensor) -> Tensor:
        x = nn.functional.interpolate(images01.float(), size=(256, 256), mode="bilinear", align_corners=False)
        x = x[..., 16:240, 16:240]
        return self.net((x - self.mean) / self.std)
