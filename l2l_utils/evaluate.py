"""Batched generation on held-out forget / retain images and the paper's metrics on each set.

Li et al. (ICLR 2024, Tables 1-2) report FID, IS and CLIP cosine separately on the retain and the
forget test set, for each task (centre inpainting, outpainting). Here the feature backbone and the
IS classifier are parameters; the backbone name is part of every metric's key.
"""
from __future__ import annotations

import torch

from l2l_utils.data import ImageDataset
from l2l_utils.masks import apply_mask, make_mask
from l2l_utils.metrics import extract_features, image_metrics


def metric_name(metric: str, backbone: str) -> str:
    """Never drop the substitution from a name: fid -> fid_MNv2, is_mean -> is_mean_domain."""
    if metric.startswith(("fid", "kid", "cosine")):
        return f"{metric}_{backbone}"
    if metric.startswith("is_"):
        return f"{metric}_domain"
    return metric


@torch.no_grad()
def generate(model, images: torch.Tensor, task: str, batch_size: int = 128, seed: int = 0,
             device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Fill the hole of ``task`` in every image, a batch at a time (never image by image).

    Returns the outputs and the (N, 1, H, W) masks they were generated under."""
    g = torch.Generator().manual_seed(seed)
    size, patch = images.shape[-1], getattr(model, "patch_size", 1)
    out, masks = [], []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(device)
        mask = make_mask(task, len(x), size, patch, g).to(device)
        out.append(model.inpaint(x, mask, generator=g).cpu())
        masks.append(mask.expand(len(x), -1, -1, -1).cpu())
    return torch.cat(out), torch.cat(masks)


def hole_mse(generated: torch.Tensor, ground_truth: torch.Tensor, masks: torch.Tensor) -> float:
    """Mean squared error in [0, 1] pixels inside the holes: how faithfully the hidden content is
    reconstructed, the paper's definition of (not) forgetting, free of the features of the given region."""
    se = ((generated - ground_truth) ** 2 * masks).sum()
    return float(se / (masks.sum() * generated.shape[1]))


def evaluate(model, test_sets: dict[str, ImageDataset], tasks, backbone, classifier, batch_size: int = 128,
             seed: int = 0, device="cpu", feature_cache: dict | None = None) -> tuple[dict, dict]:
    """Metrics for every (task, set); returns (flat metrics, generated images).

    Keys are ``<task>/<set>/<metric>_<backbone>`` e.g. ``center_0.5/forget/fid_MNv2``. Ground-truth
    features are computed once per set and kept in ``feature_cache`` across calls; an entry holds the
    image tensor it was computed from and serves only that same tensor (not another set of that name).
    """
    cache = {} if feature_cache is None else feature_cache
    metrics, images = {}, {}
    for task in tasks:
        for name, data in test_sets.items():
            key = (name, backbone.name)
            if key not in cache or cache[key][0] is not data.images:
                cache[key] = (data.images, extract_features(backbone, data.images, batch_size))
            gen, masks = generate(model, data.images, task, batch_size, seed, device)
            images[(task, name)] = gen
            m = image_metrics(gen, data.images, backbone, classifier, batch_size, gt_features=cache[key][1])
            m["hole_mse"] = hole_mse(gen, data.images, masks)
            for metric, value in m.items():
                metrics[f"{task}/{name}/{metric_name(metric, backbone.name)}"] = value
    return metrics, images


def claim_check(metrics: dict, task: str, before: str = "original", after: str = "unlearned",
                backbone: str = "MNv2") -> dict:
    """The paper's qualitative claim in numbers: forget FID ratio, retain FID growth, retain cosine drop."""
    def get(model, subset, metric):
        return metrics[f"{model}/{task}/{subset}/{metric}_{backbone}"]
    return {
        "forget_fid_ratio": get(after, "forget", "fid") / get(before, "forget", "fid"),
        "retain_fid_growth": get(after, "retain", "fid") / get(before, "retain", "fid") - 1,
        "retain_cosine_drop": get(before, "retain", "cosine") - get(after, "retain", "cosine"),
        "forget_cosine_drop": get(before, "forget", "cosine") - get(after, "forget", "cosine"),
        "forget_hole_mse_ratio": (metrics[f"{after}/{task}/forget/hole_mse"]
                                  / metrics[f"{before}/{task}/forget/hole_mse"]),
        "retain_hole_mse_ratio": (metrics[f"{after}/{task}/retain/hole_mse"]
                                  / metrics[f"{before}/{task}/retain/hole_mse"]),
    }


def paper_rows(metrics: dict, models, tasks, backbone: str = "MNv2"):
    """The released evaluation CSVs' rows (protocol §7), one per (model, task), ``CKPT+config`` as
    ``<model>+<task>_``: (``FID_R | IS_R mean | IS_R std | FID_F | IS_F mean | IS_F std``,
    ``CLIP_R | CLIP_F``). Here FID and "CLIP" are on ``backbone`` features and IS on the profile's classifier."""
    import pandas as pd

    def get(model, task, subset, metric):
        return metrics[f"{model}/{task}/{subset}/{metric_name(metric, backbone)}"]
    fid_is, clip = [], []
    for model in models:
        for task in tasks:
            row, clip_row = {"CKPT+config": f"{model}+{task}_"}, {"CKPT+config": f"{model}+{task}_"}
            for subset, tag in (("retain", "R"), ("forget", "F")):
                row[f"FID_{tag}"] = get(model, task, subset, "fid")
                row[f"IS_{tag} mean"] = get(model, task, subset, "is_mean")
                row[f"IS_{tag} std"] = get(model, task, subset, "is_std")
                clip_row[f"CLIP_{tag}"] = get(model, task, subset, "cosine")
            fid_is.append(row)
            clip.append(clip_row)
    return pd.DataFrame(fid_is), pd.DataFrame(clip)


def baseline_fills(images: torch.Tensor, masks: torch.Tensor) -> dict[str, torch.Tensor]:
    """Context-blind fills a generator is compared with: the grey it is given, the mean visible colour of
    each image (a blur; hard for a sampler to beat in MSE) and the hole of the previous image in the
    split's order (real content, wrong context; in a split sorted by class, mostly of the same class)."""
    visible = 1 - masks
    mean = (images * visible).sum((2, 3), keepdim=True) / visible.sum((2, 3), keepdim=True)
    return {"grey": apply_mask(images, masks, 0.5), "mean_fill": apply_mask(images, masks, mean),
            "other_image": apply_mask(images, masks, images.roll(1, 0))}


def baseline_hole_mse(images: torch.Tensor, masks: torch.Tensor) -> dict:
    """The hole MSE of the blur and of another image's hole (``baseline_fills``)."""
    fills = baseline_fills(images, masks)
    return {f"hole_mse_{name}": hole_mse(fills[name], images, masks) for name in ("mean_fill", "other_image")}


def pasted_class_fills(data: ImageDataset, masks: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """Real content that ignores the context, with its class known: each image's hole filled from another
    image of the same class (``same_class``) and from an image of another class (``other_class``). The
    partners are drawn at random (seeded) among the images of the right class, so which class fills a
    hole does not depend on the split's order (a neighbour in a class-sorted split would share it)."""
    same = data.labels[:, None] == data.labels[None, :]
    draw = torch.rand(same.shape, generator=torch.Generator().manual_seed(seed))
    fills = {}
    for name, eligible in (("same_class", same & ~torch.eye(len(same), dtype=torch.bool)), ("other_class", ~same)):
        if not eligible.any(1).all():
            raise ValueError(f"a {name} fill needs a partner for every image: every class needs two images "
                             f"and the data two classes ({data.name}: labels {data.labels.unique().tolist()})")
        partners = draw.masked_fill(~eligible, -1.0).argmax(1)
        fills[name] = apply_mask(data.images, masks, data.images[partners])
    return fills


@torch.no_grad()
def judged_hits(judge, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Per image, whether the classifier ``judge`` puts it in its class (bool, N)."""
    return torch.cat([judge(images[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]
                      for i in range(0, len(images), batch_size)])


def judged_accuracy(judge, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 256) -> float:
    """Fraction of ``images`` the classifier ``judge`` puts in their class."""
    hits = judged_hits(judge, images, labels, batch_size)
    return int(hits.sum()) / len(hits)


def recognisability(judge, data: ImageDataset, generated: torch.Tensor, masks: torch.Tensor) -> dict:
    """'Inpaints recognisably' as a number: how often ``judge`` (a classifier of ``data``'s classes)
    recognises the class of the generated images, beside the ground truth, the grey and blurred holes of
    ``baseline_fills`` and the real content of ``pasted_class_fills``. A fill that continues the object
    should land between the blur and the ground truth; the same-class paste shows what real content of
    the right class scores without the context, the other-class paste what a wrong object costs."""
    blind = baseline_fills(data.images, masks)
    candidates = {"ground_truth": data.images, "generated": generated, "grey": blind["grey"],
                  "mean_fill": blind["mean_fill"], **pasted_class_fills(data, masks)}
    return {name: judged_accuracy(judge, images, data.labels) for name, images in candidates.items()}
