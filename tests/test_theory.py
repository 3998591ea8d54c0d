"""Closed forms of l2l_utils.theory against independent routes: torch.distributions, scipy, Monte Carlo.

Monte Carlo tolerance: 5 standard errors of the sample mean (a false alarm about once in 1.7 million).
"""
import math

import numpy as np
import pytest
import scipy.stats
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from l2l_utils.theory import gaussian_entropy, gaussian_kl, gaussian_mi, linear_gaussian_mi

D = torch.float64


def random_cov(d, seed, floor=0.1):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(d, d, generator=g, dtype=D)
    return A @ A.T / d + floor * torch.eye(d, dtype=D)


def random_mean(d, seed):
    return torch.randn(d, generator=torch.Generator().manual_seed(seed), dtype=D)


@pytest.mark.parametrize("seed", range(5))
def test_kl_matches_torch_distributions(seed):
    d = 2 + seed
    p = MultivariateNormal(random_mean(d, seed), random_cov(d, seed))
    q = MultivariateNormal(random_mean(d, seed + 10), random_cov(d, seed + 10))
    assert gaussian_kl(p.mean, p.covariance_matrix, q.mean, q.covariance_matrix) == pytest.approx(
        kl_divergence(p, q).item(), rel=1e-10)


def test_kl_matches_monte_carlo():
    d = 4
    p = MultivariateNormal(random_mean(d, 1), random_cov(d, 1))
    q = MultivariateNormal(random_mean(d, 2), random_cov(d, 2))
    g = torch.Generator().manual_seed(3)
    x = p.mean + torch.randn(200_000, d, generator=g, dtype=D) @ torch.linalg.cholesky(p.covariance_matrix).T
    ratio = p.log_prob(x) - q.log_prob(x)
    se = ratio.std().item() / math.sqrt(len(ratio))
    exact = gaussian_kl(p.mean, p.covariance_matrix, q.mean, q.covariance_matrix)
    assert abs(ratio.mean().item() - exact) < 5 * se


@pytest.mark.parametrize("seed", range(5))
def test_entropy_matches_scipy_and_torch(seed):
    d = 1 + seed
    cov = random_cov(d, seed)
    h = gaussian_entropy(cov)
    assert h == pytest.approx(scipy.stats.multivariate_normal(cov=cov.numpy()).entropy(), rel=1e-10)
    assert h == pytest.approx(MultivariateNormal(torch.zeros(d, dtype=D), cov).entropy().item(), rel=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_mi_is_sum_of_entropies_minus_joint(seed):
    d, dx = 5, 2
    cov = random_cov(d, seed)
    route = gaussian_entropy(cov[:dx, :dx]) + gaussian_entropy(cov[dx:, dx:]) - gaussian_entropy(cov)
    assert gaussian_mi(cov, dx) == pytest.approx(route, rel=1e-10)


def test_scalar_mi_is_minus_half_log_one_minus_rho_squared():
    rho = 0.8
    assert gaussian_mi(np.array([[1.0, rho], [rho, 1.0]]), 1) == pytest.approx(-0.5 * math.log(1 - rho ** 2), rel=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_linear_gaussian_mi_matches_joint_covariance(seed):
    dx, dy = 3, 4
    A = torch.randn(dy, dx, generator=torch.Generator().manual_seed(seed), dtype=D)
    cx, cw = random_cov(dx, seed), random_cov(dy, seed + 1)
    joint = torch.cat([torch.cat([cx, cx @ A.T], 1), torch.cat([A @ cx, A @ cx @ A.T + cw], 1)])
    assert linear_gaussian_mi(A, cx, cw) == pytest.approx(gaussian_mi(joint, dx), rel=1e-9)


def test_linear_gaussian_mi_matches_monte_carlo():
    dx, dy, n = 3, 2, 200_000
    g = torch.Generator().manual_seed(7)
    A = torch.randn(dy, dx, generator=g, dtype=D)
    cx, cw = random_cov(dx, 3), random_cov(dy, 4)
    x = torch.randn(n, dx, generator=g, dtype=D) @ torch.linalg.cholesky(cx).T
    y = x @ A.T + torch.randn(n, dy, generator=g, dtype=D) @ torch.linalg.cholesky(cw).T
    cond = MultivariateNormal(torch.zeros(dy, dtype=D), cw).log_prob(y - x @ A.T)
    marg = MultivariateNormal(torch.zeros(dy, dtype=D), A @ cx @ A.T + cw).log_prob(y)
    ratio = cond - marg
    se = ratio.std().item() / math.sqrt(n)
    assert abs(ratio.mean().item() - linear_gaussian_mi(A, cx, cw)) < 5 * se


def test_identical_distributions_and_independence_give_zero():
    cov, mu = random_cov(3, 0), random_mean(3, 0)
    assert gaussian_kl(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-12)
    block = torch.block_diag(random_cov(2, 1), random_cov(3, 2))
    assert gaussian_mi(block, 2) == pytest.approx(0.0, abs=1e-12)
    assert linear_gaussian_mi(torch.zeros(2, 3, dtype=D), cov, random_cov(2, 3)) == pytest.approx(0.0, abs=1e-12)


def test_near_singular_covariance_is_a_clear_error():
    v = torch.tensor([[1.0], [2.0], [3.0]], dtype=D)
    singular = v @ v.T + 1e-14 * torch.eye(3, dtype=D)
    with pytest.raises(ValueError, match="near-singular"):
        gaussian_entropy(singular)
    with pytest.raises(ValueError, match="near-singular"):
        gaussian_kl(torch.zeros(3), singular, torch.zeros(3), torch.eye(3))
    with pytest.raises(ValueError, match="cov_w"):
        linear_gaussian_mi(torch.eye(3), torch.eye(3), torch.zeros(3, 3))  # noise-free channel: MI infinite


@pytest.mark.parametrize("call, message", [
    (lambda: gaussian_kl(torch.zeros(2), torch.eye(3), torch.zeros(2), torch.eye(2)), "cov0 must be 2x2"),
    (lambda: gaussian_kl(torch.zeros(2), torch.eye(2), torch.zeros(3), torch.eye(3)), "differ in shape"),
    (lambda: gaussian_entropy(torch.tensor([[1.0, 0.5], [0.0, 1.0]])), "not symmetric"),
    (lambda: gaussian_entropy(torch.ones(3)), "square matrix"),
    (lambda: gaussian_entropy(torch.tensor([[float("nan")]])), "NaN"),
    (lambda: gaussian_mi(torch.eye(3), 3), "dx must be"),
    (lambda: linear_gaussian_mi(torch.ones(2, 3), torch.eye(2), torch.eye(2)), "cov_x must be 3x3"),
])
def test_bad_input_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()
