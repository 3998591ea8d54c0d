"""FID, KID, IS and embedding cosine for generated-vs-ground-truth image sets.

Protocol after Li et al., ICLR 2024 ("Machine Unlearning for Image-to-Image Generative Models"):
every metric is computed separately on the retain and the forget set; FID between the generations
and their ground truth (the paper uses clean-fid), IS as mean +- std over 10 splits, and the "CLIP"
score as the mean cosine between each generation and its own ground truth. The statistics come from
torchmetrics (FrechetInceptionDistance / KernelInceptionDistance / InceptionScore) fed with
pre-computed features, so any ``FeatureBackbone`` and any classifier can be plugged in and reference
features can be cached.
"""
from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance


class _Precomputed(nn.Identity):
    """Identity 'feature extractor' so the torchmetrics metrics accept features instead of images."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features


def _quiet(metric_cls, **kwargs):
    """Build a torchmetrics metric without its 'saves all features in buffer' warning: our inputs are
    already-extracted features, held in memory by the caller anyway."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features in buffer.*")
        return metric_cls(**kwargs)


def _check_finite(name: str, x: Tensor) -> None:
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or Inf values")


def _check_features(real: Tensor, fake: Tensor) -> None:
    for name, f in (("real features", real), ("fake features", fake)):
        if f.ndim != 2:
            raise ValueError(f"{name} must be 2-D (N, D), got shape {tuple(f.shape)}")
        _check_finite(name, f)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature dimensions differ: {real.shape[1]} vs {fake.shape[1]}")


@torch.no_grad()
def extract_features(backbone: nn.Module, images01: Tensor, batch_size: int = 256) -> Tensor:
    """Backbone features of every image, computed in batches on the backbone's device; float32 on CPU."""
    if images01.ndim != 4:
        raise ValueError(f"expected (N, 3, H, W) images, got shape {tuple(images01.shape)}")
    device = next(backbone.parameters()).device
    backbone.eval()
    return torch.cat([backbone(images01[i:i + batch_size].to(device)).float().cpu()
                      for i in range(0, len(images01), batch_size)])


def fid_from_features(real: Tensor, fake: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (torchmetrics, float64 statistics)."""
    _check_features(real, fake)
    if len(real) < 2 or len(fake) < 2:
        raise ValueError(f"FID needs at least 2 samples per set, got {len(real)} and {len(fake)}")
    metric = FrechetInceptionDistance(feature=_Precomputed(real.shape[1]))
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def kid_from_features(real: Tensor, fake: Tensor, subset_size: int = 50, subsets: int = 50,
                      seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (mean, std over random subsets), torchmetrics' polynomial-kernel MMD.

    ``subset_size`` is clipped to the smaller set. torchmetrics draws subsets from the global RNG, so
    the draw runs under a forked RNG seeded with ``seed``: same seed, same value, caller's RNG untouched.
    """
    _check_features(real, fake)
    subset_size = min(subset_size, len(real), len(fake))
    if subset_size < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(real)} real and {len(fake)} fake")
    metric = _quiet(KernelInceptionDistance, feature=_Precomputed(real.shape[1]), subsets=subsets,
                    subset_size=subset_size)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def inception_score_from_logits(logits: Tensor, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """Inception Score exp(E KL(p(y|x) || p(y))) as (mean, std) over ``splits`` splits (torchmetrics).

    torchmetrics shuffles before splitting (as the paper's Places365 code does); the shuffle runs
    under a forked RNG seeded with ``seed`` so the score is deterministic.
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2-D (N, classes), got shape {tuple(logits.shape)}")
    _check_finite("logits", logits)
    if len(logits) < splits:
        raise ValueError(f"IS with {splits} splits needs at least {splits} samples, got {len(logits)}")
    metric = _quiet(InceptionScore, feature=nn.Identity(), splits=splits)
    metric.update(logits.double())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def embedding_cosine(gen_feats: Tensor, gt_feats: Tensor) -> float:
    """Mean cosine similarity between each generation's embedding and its own ground truth's.

    The analogue of the paper's "CLIP" score (OpenCLIP ViT-H-14 embeddings, paired by file name).
    """
    if gen_feats.shape != gt_feats.shape or gen_feats.ndim != 2:
        raise ValueError(f"paired features must have the same (N, D) shape, got {tuple(gen_feats.shape)} "
                         f"and {tuple(gt_feats.shape)}")
    _check_features(gt_feats, gen_feats)
    return float(torch.nn.functional.cosine_similarity(gen_feats.double(), gt_feats.double(), dim=1).mean())


def image_metrics(generated01: Tensor, ground_truth01: Tensor, backbone: nn.Module, classifier: nn.Module,
                  batch_size: int = 256, gt_features: Tensor | None = None) -> dict:
    """All image metrics of generations against their (paired) ground truth, as a flat dict.

    FID/KID/cosine use ``backbone`` features; IS uses ``classifier`` logits on the generations.
    ``gt_features`` (backbone features of ``ground_truth01``) may be passed to reuse a cache. The
    caller records ``backbone.name`` next to these numbers (FID_MNv2, IS_domain, ...).
    """
    for name, x in (("generated images", generated01), ("ground-truth images", ground_truth01)):
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"{name} must be (N, 3, H, W), got shape {tuple(x.shape)}")
        _check_finite(name, x)
    if len(generated01) != len(ground_truth01):
        raise ValueError(f"{len(generated01)} generated images but {len(ground_truth01)} ground-truth images; "
                         "they must be paired one to one")
    gen = extract_features(backbone, generated01, batch_size)
    if gt_features is None:
        gt_features = extract_features(backbone, ground_truth01, batch_size)
    elif gt_features.shape != gen.shape:
        raise ValueError(f"gt_features has shape {tuple(gt_features.shape)}, expected {tuple(gen.shape)}")
    device = next(classifier.parameters()).device
    classifier.eval()
    with torch.no_grad():
        logits = torch.cat([classifier(generated01[i:i + batch_size].to(device)).float().cpu()
                            for i in range(0, len(generated01), batch_size)])
    kid_mean, kid_std = kid_from_features(gt_features, gen)
    is_mean, is_std = inception_score_from_logits(logits, splits=min(10, len(logits)))
    result = {"fid": fid_from_features(gt_features, gen), "kid_mean": kid_mean, "kid_std": kid_std,
              "is_mean": is_mean, "is_std": is_std, "cosine": embedding_cosine(gen, gt_features),
              "n": len(generated01)}
    bad = [k for k, v in result.items() if not math.isfinite(v)]
    if bad:
        raise ValueError(f"non-finite metric values for {bad}: {result}")
    return result
