"""How far apart an encoder keeps the forget and the retain images: a diagnostic of the encoder-only
objective of Li et al. (ICLR 2024, Eq. 10), which must move every forget image's latent to the
original's latent of noise while leaving every retain image's latent where it was. If the nearest
retain image sits much closer to a forget image than the noise target does, a smooth encoder cannot
do the one without the other.
"""
from __future__ import annotations

import numpy as np
import torch

from l2l_utils.unlearn.objectives import embedding_mse, make_noise


@torch.no_grad()
def encoder_latents(model, images: torch.Tensor, mask: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """``model.encode`` of ``images`` under ``mask`` (one mask for all, (1, 1, H, W)), batch by batch on the
    model's device: (N, tokens, width) float32 on the CPU, the latent the objective's squared error is
    taken over (token models: MAE, MAGE)."""
    device = next(model.parameters()).device
    parts = [model.encode(x.to(device), mask.to(device).expand(len(x), -1, -1, -1)) for x in images.split(batch_size)]
    if not all(isinstance(z, torch.Tensor) and z.dim() == 3 for z in parts):
        raise ValueError(f"{type(model).__name__}.encode does not give one (batch, tokens, width) latent")
    return torch.cat(parts).float().cpu()


def mean_squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(len(a), len(b)) mean squared differences per feature: the objective's ``embedding_mse`` per pair."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    sq = (a * a).sum(1, keepdim=True) + (b * b).sum(1) - 2 * a @ b.T
    return (sq / a.shape[1]).clamp_min(0).float()


def nearest_distance(a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """For each row of ``a``, the mean squared distance to its nearest row of ``b`` (``b`` None: of
    ``a``, itself left out)."""
    d = mean_squared_distances(a, a if b is None else b)
    if b is None:
        d.fill_diagonal_(float("inf"))
    return d.min(dim=1).values


def probe_accuracy(train_a: torch.Tensor, train_b: torch.Tensor, test_a: torch.Tensor, test_b: torch.Tensor,
                   seed: int = 0) -> float:
    """Balanced accuracy on the test rows of a logistic regression fitted to tell ``train_a`` from
    ``train_b`` (features standardised on the training rows): 0.5 is chance, 1 a clean linear split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def stack(a, b):
        return torch.cat([a, b]).numpy(), np.r_[np.zeros(len(a)), np.ones(len(b))]

    x, y = stack(train_a, train_b)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, random_state=seed)).fit(x, y)
    x_test, y_test = stack(test_a, test_b)
    return float(balanced_accuracy_score(y_test, probe.predict(x_test)))


def noise_target(original, forget_images: torch.Tensor, mask: torch.Tensor, seed: int = 0,
                 batch_size: int = 256) -> torch.Tensor:
    """E_0(T n): the original's latents of normal noise images shaped like ``forget_images`` (one seeded
    draw, the objective's ``make_noise``), where the forget term sends the forget images' latents."""
    noise = make_noise(forget_images, "normal", torch.Generator().manual_seed(seed))
    return encoder_latents(original, noise, mask, batch_size)


def heldout_terms(models: dict, original, data: dict, mask: torch.Tensor, seed: int = 0,
                  batch_size: int = 256) -> dict[str, dict]:
    """The objective's two terms on the held-out images, for each unlearned model of ``models`` (name ->
    model) against their ``original``: did what the encoder learnt on the training images carry over to
    unseen ones? ``heldout_forget_term`` = mean ||E(T x_f) - E_0(T n)||^2, ``heldout_retain_term`` = mean
    ||E(T x_r) - E_0(T x_r)||^2. The original's targets are encoded once for all models."""
    target = noise_target(original, data["forget_test"].images, mask, seed, batch_size)
    kept = encoder_latents(original, data["retain_test"].images, mask, batch_size)

    def terms(model):
        def moved(d):
            return encoder_latents(model, d.images, mask, batch_size)
        return {"heldout_forget_term": float(embedding_mse(moved(data["forget_test"]), target)),
                "heldout_retain_term": float(embedding_mse(moved(data["retain_test"]), kept))}

    return {name: terms(model) for name, model in models.items()}


def separability(model, data: dict, mask: torch.Tensor, seed: int = 0, batch_size: int = 256) -> dict:
    """The diagnostic for one model under one mask, from ``load_experiment_data``'s sets:

    * ``noise_target_distance``: mean over held-out forget images of the distance from their latent to
      the latent of their noise image (the objective's forget term before any step);
    * ``nearest_retain_distance`` / ``nearest_forget_distance``: mean over held-out forget images of the
      distance to the nearest held-out retain / other forget image's latent;
    * ``probe_latent`` / ``probe_pixels``: how well a linear probe trained on the train split tells
      forget from retain images on the test split, from the mean of the latent over its tokens / from the
      visible pixels (the hole zeroed, area-pooled to 16 x 16)."""
    def latents(d):
        return encoder_latents(model, d.images, mask, batch_size)

    def visible_pixels(d):
        return torch.nn.functional.adaptive_avg_pool2d(d.images * (1 - mask), 16).flatten(1)

    forget, retain = latents(data["forget_test"]), latents(data["retain_test"])
    target = noise_target(model, data["forget_test"].images, mask, seed, batch_size)
    return {"noise_target_distance": float(embedding_mse(forget, target)),
            "nearest_retain_distance": float(nearest_distance(forget, retain).mean()),
            "nearest_forget_distance": float(nearest_distance(forget).mean()),
            "probe_latent": probe_accuracy(latents(data["forget_train"]).mean(1), latents(data["retain_train"]).mean(1),
                                           forget.mean(1), retain.mean(1), seed),
            "probe_pixels": probe_accuracy(*[visible_pixels(data[f"{g}_{s}"]) for s in ("train", "test")
                                             for g in ("forget", "retain")], seed)}
