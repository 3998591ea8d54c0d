"""Closed forms for Gaussians, in nats: KL divergence, entropy, mutual information.

These are the exact quantities the paper's argument is about (protocol §2.2, S1, S2, S4). With them, the
toy linear-Gaussian generator of ``l2l_utils.toy_gaussian`` can be checked exactly instead of estimated.

The public functions validate their input (shapes, symmetry, positive-definiteness) and return Python
floats. The ``*_t`` twins skip validation and return 0-d float64 tensors, so autograd can differentiate
through them (the notebook runs gradient ascent on a KL).

References: T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd ed. (2006):
Thm 8.4.1 (Gaussian entropy), §8.5-8.6 (relative entropy and mutual information of Gaussians).
"""
from __future__ import annotations

import math

import torch

DTYPE = torch.float64
# A covariance whose smallest eigenvalue is below RCOND * its largest is treated as singular: log-dets
# and inverses of such matrices are dominated by rounding error in float64.
RCOND = 1e-12
_SYMMETRY_TOL = 1e-9


def _as_tensor(value, name: str) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=DTYPE)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf")
    return t


def _check_cov(cov, name: str, dim: int | None = None) -> torch.Tensor:
    """A symmetric positive-definite (and not near-singular) matrix, or a ValueError saying why not."""
    cov = _as_tensor(cov, name)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {tuple(cov.shape)}")
    if dim is not None and cov.shape[0] != dim:
        raise ValueError(f"{name} must be {dim}x{dim} to match the mean, got {tuple(cov.shape)}")
    scale = cov.abs().max().clamp_min(1e-300)
    if (cov - cov.T).abs().max() > _SYMMETRY_TOL * scale:
        raise ValueError(f"{name} is not symmetric; pass (cov + cov.T) / 2 if the asymmetry is rounding")
    eig = torch.linalg.eigvalsh(cov)
    if eig[0] <= RCOND * eig[-1] or eig[-1] <= 0:
        raise ValueError(f"{name} is singular or near-singular (eigenvalues {eig[0].item():.3g} .. "
                         f"{eig[-1].item():.3g}, relative limit {RCOND:g}); a Gaussian with it has no "
                         "density — add a small variance floor (e.g. sigma^2 * I)")
    return cov


def _check_mean(mean, name: str) -> torch.Tensor:
    mean = _as_tensor(mean, name)
    if mean.ndim != 1:
        raise ValueError(f"{name} must be a vector, got shape {tuple(mean.shape)}")
    return mean


def logdet_t(cov: torch.Tensor) -> torch.Tensor:
    """log|cov| through a Cholesky factor (stable, differentiable)."""
    return 2 * torch.log(torch.diagonal(torch.linalg.cholesky(cov))).sum()


def gaussian_kl_t(mu0, cov0, mu1, cov1) -> torch.Tensor:
    """KL(N(mu0, cov0) || N(mu1, cov1)) as a tensor (S1), no validation."""
    chol1 = torch.linalg.cholesky(cov1)
    diff = (mu1 - mu0).unsqueeze(-1)
    trace = torch.cholesky_solve(cov0, chol1).diagonal().sum()
    maha = (diff * torch.cholesky_solve(diff, chol1)).sum()
    return 0.5 * (trace + maha - mu0.shape[-1] + logdet_t(cov1) - logdet_t(cov0))


def gaussian_entropy_t(cov: torch.Tensor) -> torch.Tensor:
    """h(N(., cov)) = 1/2 ln((2 pi e)^d |cov|) as a tensor, no validation."""
    return 0.5 * (cov.shape[-1] * math.log(2 * math.pi * math.e) + logdet_t(cov))


def linear_gaussian_mi_t(A, cov_x, cov_w) -> torch.Tensor:
    """I(X; AX + W) = 1/2 ln |cov_w + A cov_x A^T| / |cov_w| as a tensor (S2), no validation."""
    return 0.5 * (logdet_t(cov_w + A @ cov_x @ A.T) - logdet_t(cov_w))


def gaussian_kl(mu0, cov0, mu1, cov1) -> float:
    """KL(N(mu0, cov0) || N(mu1, cov1)) in nats; 0 iff the two Gaussians are equal (S1)."""
    mu0, mu1 = _check_mean(mu0, "mu0"), _check_mean(mu1, "mu1")
    if mu0.shape != mu1.shape:
        raise ValueError(f"mu0 and mu1 differ in shape: {tuple(mu0.shape)} vs {tuple(mu1.shape)}")
    cov0, cov1 = _check_cov(cov0, "cov0", len(mu0)), _check_cov(cov1, "cov1", len(mu0))
    return max(float(gaussian_kl_t(mu0, cov0, mu1, cov1)), 0.0)  # >= 0; clip rounding below zero


def gaussian_entropy(cov) -> float:
    """Differential entropy of N(., cov) in nats (the maximum over all laws with covariance cov, S4)."""
    return float(gaussian_entropy_t(_check_cov(cov, "cov")))


def gaussian_mi(cov_joint, dx: int) -> float:
    """I(X; Y) in nats for a jointly Gaussian (X, Y) whose first ``dx`` coordinates are X.

    I = 1/2 ln |cov_x| |cov_y| / |cov_joint|, i.e. h(X) + h(Y) - h(X, Y).
    """
    cov = _check_cov(cov_joint, "cov_joint")
    if not isinstance(dx, int) or not 0 < dx < cov.shape[0]:
        raise ValueError(f"dx must be an int in 1..{cov.shape[0] - 1} (both parts non-empty), got {dx!r}")
    mi = 0.5 * (logdet_t(cov[:dx, :dx]) + logdet_t(cov[dx:, dx:]) - logdet_t(cov))
    return max(float(mi), 0.0)


def linear_gaussian_mi(A, cov_x, cov_w) -> float:
    """I(X; AX + W) in nats for independent X ~ N(., cov_x), W ~ N(., cov_w) (S2).

    Infinite without channel noise, which is why ``cov_w`` must be positive-definite.
    """
    A = _as_tensor(A, "A")
    if A.ndim != 2:
        raise ValueError(f"A must be a matrix, got shape {tuple(A.shape)}")
    cov_x = _check_cov(cov_x, "cov_x", A.shape[1])
    cov_w = _check_cov(cov_w, "cov_w", A.shape[0])
    return max(float(linear_gaussian_mi_t(A, cov_x, cov_w)), 0.0)
