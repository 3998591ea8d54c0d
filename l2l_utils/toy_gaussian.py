"""A toy linear-Gaussian image-to-image generator in which the paper's argument can be checked exactly.

"Images" are vectors x in R^d from class-conditional Gaussians; T keeps a fixed set of coordinates
(Tx = Mx, M a 0/1 diagonal); the encoder is E(x) = W M x + b + sigma_e xi and the frozen decoder
D(z) = V z + c + sigma_d eta (xi, eta standard normal). Every embedding and output law is Gaussian, so KL
divergences and mutual informations are closed forms (``l2l_utils.theory``). Setup and statements:
protocol §2.2 (S1-S9, our formalization [RECON]); the loss is the paper's (protocol §3, decision 6:
squared L2, retain mean + alpha * forget mean), in its expected value.

The classes are built so that retain and forget vary along different dominant subspaces (the paper's
setting: distinct image classes); a small isotropic variance floor keeps every covariance non-singular.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from l2l_utils.theory import DTYPE, gaussian_kl_t, linear_gaussian_mi_t

# The toy itself is the same at every profile; only the number of steps and samples scales.
TOY = {"d": 16, "observed": 11, "k": 10, "sigma_e": 0.1, "sigma_d": 0.1, "floor": 1e-5, "alpha": 0.2}
ALPHA_GRID = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0)  # decision 5's grid, widened
FLOOR_GRID = (1e-3, 1e-4, 1e-5, 1e-6)


def theory_settings(profile: str) -> dict:
    """The toy plus the profile's step and sample counts (``l2l_utils.profiles``, key "theory")."""
    from l2l_utils.profiles import get_profile
    return {**TOY, **get_profile(profile)["theory"]}


@dataclass(frozen=True)
class Gaussian:
    """A class-conditional image law N(mean, cov) (cov may be 0 only for a constant noise target)."""
    mean: torch.Tensor
    cov: torch.Tensor


@dataclass(frozen=True)
class ToyI2I:
    """The frozen parts of the generator: mask, decoder (V, c), noise levels, original encoder (W0, b0)."""
    mask: torch.Tensor  # (d,) of 0/1
    V: torch.Tensor     # (d, k)
    c: torch.Tensor     # (d,)
    W0: torch.Tensor    # (k, d), zero on masked columns
    b0: torch.Tensor    # (k,)
    sigma_e: float
    sigma_d: float

    @property
    def M(self) -> torch.Tensor:
        return torch.diag(self.mask)


# ---------------------------------------------------------------- data and the original model

def make_classes(d: int, observed: int, floor: float, seed: int) -> tuple[dict[str, Gaussian], torch.Tensor]:
    """Retain, forget and three proxy classes on blocks of a random orthonormal basis q_0..q_{d-1} of R^d.

    retain varies along q_0..q_2, forget along q_3, q_4. The proxies: ``proxy_span`` varies along the
    retain directions and along q_8, and its mean is the retain mean shifted along q_8, so its affine
    support contains the retain law's; ``proxy_dirs`` varies along the retain directions but has an
    unrelated mean; ``proxy_off`` varies along q_5..q_7. Returns the classes and the observed-coordinate mask.
    """
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=DTYPE))
    blocks = {"retain": [0, 1, 2], "forget": [3, 4], "proxy_span": [0, 1, 2, 8], "proxy_dirs": [0, 1, 2],
              "proxy_off": [5, 6, 7]}
    scales = {"retain": [1.5, 1.0, 0.7], "forget": [1.3, 0.9], "proxy_span": [0.8, 1.2, 1.0, 0.9],
              "proxy_dirs": [0.8, 1.2, 1.0], "proxy_off": [1.4, 1.0, 0.8]}
    means = {name: torch.randn(d, generator=g, dtype=DTYPE) for name in blocks}
    means["proxy_span"] = means["retain"] + 1.5 * Q[:, 8]
    classes = {}
    for name, cols in blocks.items():
        L = Q[:, cols] * torch.tensor(scales[name], dtype=DTYPE)
        classes[name] = Gaussian(means[name], L @ L.T + floor * torch.eye(d, dtype=DTYPE))
    mask = torch.zeros(d, dtype=DTYPE)
    mask[:observed] = 1.0
    return classes, mask


def mixture(classes: list[Gaussian]) -> Gaussian:
    """Mean and covariance of the equal-weight mixture of the classes."""
    mean = torch.stack([c.mean for c in classes]).mean(0)
    second = torch.stack([c.cov + torch.outer(c.mean, c.mean) for c in classes]).mean(0)
    return Gaussian(mean, second - torch.outer(mean, mean))


def fit_original(train: Gaussian, mask: torch.Tensor, k: int, sigma_e: float, sigma_d: float) -> ToyI2I:
    """The original generator: best rank-k linear reconstruction of x from Mx (reduced-rank regression).

    B = Cov(x, x_o) Cov(x_o)^-1 is the least-squares map; its fitted values are projected on their top-k
    principal directions U, so h0(x) = mu + U U^T B (x_o - mu_o) with V = U, W0 = U^T B, b0 = -W0 M mu.
    """
    obs = mask.bool()
    B = torch.linalg.solve(train.cov[obs][:, obs], train.cov[obs]).T  # (d, m)
    fitted = B @ train.cov[obs][:, obs] @ B.T
    U = torch.linalg.eigh(fitted).eigenvectors[:, -k:].flip(-1)
    W0 = torch.zeros(k, len(mask), dtype=DTYPE)
    W0[:, obs] = U.T @ B
    return ToyI2I(mask, U, train.mean.clone(), W0, -W0 @ (mask * train.mean), sigma_e, sigma_d)


def noise_target(train: Gaussian, mask: torch.Tensor, kind: str = "normal") -> Gaussian:
    """Moments of the forget target n, as in the code's ``--noise_type`` (protocol §3, decision 9).

    normal: mean and scalar std of the data; uniform: same mean and covariance (moments are all the
    expected loss sees); constant: the data mean, zero covariance.
    """
    d = len(mask)
    var = float(torch.trace(train.cov)) / d
    if kind in ("normal", "uniform"):
        return Gaussian(train.mean, var * torch.eye(d, dtype=DTYPE))
    if kind == "constant":
        return Gaussian(train.mean, torch.zeros(d, d, dtype=DTYPE))
    raise ValueError(f"unknown noise kind {kind!r}; use normal, uniform or constant")


def build_toy(settings: dict, seed: int, floor: float | None = None):
    """(classes, original model, normal noise target): the original is fitted on all five classes."""
    floor = settings["floor"] if floor is None else floor
    classes, mask = make_classes(settings["d"], settings["observed"], floor, seed)
    train = mixture(list(classes.values()))
    model = fit_original(train, mask, settings["k"], settings["sigma_e"], settings["sigma_d"])
    return classes, model, noise_target(train, mask)


# ---------------------------------------------------------------- exact laws of embeddings and outputs

def embedding_law(model: ToyI2I, W, b, x: Gaussian) -> Gaussian:
    """Z = W M x + b + sigma_e xi."""
    A = W @ model.M
    k = W.shape[0]
    return Gaussian(A @ x.mean + b, A @ x.cov @ A.T + model.sigma_e ** 2 * torch.eye(k, dtype=DTYPE))


def decode_law(model: ToyI2I, z: Gaussian) -> Gaussian:
    """X_hat = V Z + c + sigma_d eta: the frozen decoder applied to an embedding law."""
    d = len(model.c)
    return Gaussian(model.V @ z.mean + model.c, model.V @ z.cov @ model.V.T + model.sigma_d ** 2 * torch.eye(d, dtype=DTYPE))


def output_law(model: ToyI2I, W, b, x: Gaussian) -> Gaussian:
    return decode_law(model, embedding_law(model, W, b, x))


def kl(p: Gaussian, q: Gaussian) -> torch.Tensor:
    return gaussian_kl_t(p.mean, p.cov, q.mean, q.cov)


def retain_output_kl(model: ToyI2I, W, b, retain: Gaussian) -> torch.Tensor:
    """KL(P_Xhat_r of the original || P_Xhat_r of (W, b)): how much the retain outputs moved."""
    return kl(output_law(model, model.W0, model.b0, retain), output_law(model, W, b, retain))


def output_mi(model: ToyI2I, W, x: Gaussian) -> torch.Tensor:
    """I(X; X_hat): the channel X -> V W M X + (V sigma_e xi + sigma_d eta) (S2)."""
    d = len(model.c)
    noise = model.sigma_e ** 2 * model.V @ model.V.T + model.sigma_d ** 2 * torch.eye(d, dtype=DTYPE)
    return linear_gaussian_mi_t(model.V @ W @ model.M, x.cov, noise)


def embedding_mi(model: ToyI2I, W, x: Gaussian) -> torch.Tensor:
    """I(X; Z) for Z = W M X + b + sigma_e xi (S2)."""
    return linear_gaussian_mi_t(W @ model.M, x.cov, model.sigma_e ** 2 * torch.eye(W.shape[0], dtype=DTYPE))


# ---------------------------------------------------------------- the paper's loss and unlearning

def retain_loss(model: ToyI2I, W, b, retain: Gaussian) -> torch.Tensor:
    """L_R = E||(W - W0) M x_r + b - b0||^2 = ||mean||^2 + tr(cov) of the embedding difference."""
    D = (W - model.W0) @ model.M
    diff = D @ retain.mean + b - model.b0
    return diff @ diff + torch.trace(D @ retain.cov @ D.T)


def forget_loss(model: ToyI2I, W, b, forget: Gaussian, noise: Gaussian) -> torch.Tensor:
    """L_F = E||W M x_f + b - W0 M n - b0||^2 with n independent of x_f (the teacher sees only noise)."""
    A, A0 = W @ model.M, model.W0 @ model.M
    diff = A @ forget.mean + b - A0 @ noise.mean - model.b0
    return diff @ diff + torch.trace(A @ forget.cov @ A.T) + torch.trace(A0 @ noise.cov @ A0.T)


def _augmented_moments(model: ToyI2I, x: Gaussian) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and second moment of u = [M x; 1], the input of the affine encoder theta = [W | b]."""
    m = torch.cat([model.mask * x.mean, torch.ones(1, dtype=DTYPE)])
    S = torch.zeros(len(m), len(m), dtype=DTYPE)
    S[:-1, :-1] = model.M @ x.cov @ model.M
    return m, S + torch.outer(m, m)


def closed_form_unlearn(model: ToyI2I, retain: Gaussian, forget: Gaussian, noise: Gaussian, alpha: float):
    """The exact minimiser of L_R + alpha L_F: theta (S_r + alpha S_f) = theta0 (S_r + alpha m_n m_f^T).

    Solved on the observed coordinates and the bias (the masked columns of W get no gradient and keep W0).
    """
    m_r, S_r = _augmented_moments(model, retain)
    m_f, S_f = _augmented_moments(model, forget)
    m_n, _ = _augmented_moments(model, noise)
    theta0 = torch.cat([model.W0, model.b0[:, None]], 1)
    sel = torch.cat([model.mask.bool(), torch.tensor([True])])
    lhs = (S_r + alpha * S_f)[sel][:, sel]
    rhs = (theta0 @ (S_r + alpha * torch.outer(m_n, m_f)))[:, sel]
    theta = theta0.clone()
    theta[:, sel] = torch.linalg.solve(lhs, rhs.T).T
    return theta[:, :-1], theta[:, -1]


def unlearn(model: ToyI2I, retain: Gaussian, forget: Gaussian, noise: Gaussian, alpha: float, steps: int,
            record_every: int, record=None):
    """Minimise L_R + alpha L_F from (W0, b0) by conjugate-gradient descent on autograd gradients.

    Why not plain gradient descent: the variance floor makes the quadratic ill-conditioned (curvature
    ratio ~1e6), so steps of 1/L would need about a million iterations. Conjugate gradients use the same
    gradients, take the exact step along each direction (the loss is quadratic, so the curvature along p
    is grad(theta + p) - grad(theta)), and reach ``closed_form_unlearn``'s minimiser in a few hundred.
    ``record(W, b)`` is called every ``record_every`` steps and at the end; returns (W, b, records).
    """
    def grad(theta):
        theta = theta.detach().requires_grad_(True)
        W, b = theta[:, :-1], theta[:, -1]
        loss = retain_loss(model, W, b, retain) + alpha * forget_loss(model, W, b, forget, noise)
        return torch.autograd.grad(loss, theta)[0]

    theta = torch.cat([model.W0, model.b0[:, None]], 1)
    g = grad(theta)
    p = -g
    records = []
    for step in range(steps + 1):
        if record is not None and (step % record_every == 0 or step == steps):
            records.append({"step": step, **record(theta[:, :-1], theta[:, -1])})
        curvature = ((grad(theta + p) - g) * p).sum()
        if step == steps or curvature <= 0:  # converged to rounding: no descent direction left
            continue
        theta = theta + (g * g).sum() / curvature * p
        g_new = grad(theta)
        p = -g_new + ((g_new * (g_new - g)).sum() / (g * g).sum()).clamp_min(0) * p  # Polak-Ribiere
        g = g_new
    return theta[:, :-1], theta[:, -1], records


def ascend_forget_kl(model: ToyI2I, forget: Gaussian, retain: Gaussian, steps: int, record_every: int, lr: float = 0.05):
    """The naive objective: maximise KL(P_Xf || P_Xhat_f) over (W, b) with Adam (S3).

    Records the forget KL and the retain-output KL to the original model; the KL grows without bound.
    """
    W = model.W0.clone().requires_grad_(True)
    b = model.b0.clone().requires_grad_(True)
    opt = torch.optim.Adam([W, b], lr=lr, maximize=True)
    retain0 = output_law(model, model.W0, model.b0, retain)
    records = []
    for step in range(steps + 1):
        objective = kl(forget, output_law(model, W, b, forget))
        if step % record_every == 0 or step == steps:
            with torch.no_grad():
                records.append({"step": step, "forget_kl": objective.item(),
                                "retain_kl": kl(retain0, output_law(model, W, b, retain)).item()})
        if step == steps:
            break
        opt.zero_grad()
        objective.backward()
        opt.step()
    return records


def kl_along_bias_path(model: ToyI2I, forget: Gaussian, ts) -> list[float]:
    """KL(P_Xf || P_Xhat_f) at b = b0 + t u (u the first embedding axis): exactly quadratic in t (S3)."""
    u = torch.zeros_like(model.b0)
    u[0] = 1.0
    return [kl(forget, output_law(model, model.W0, model.b0 + t * u, forget)).item() for t in ts]


# ---------------------------------------------------------------- the bound chain (S6, S7, S8)

def bound_chain(model: ToyI2I, W, b, retain: Gaussian, forget: Gaussian, noise: Gaussian) -> dict[str, float]:
    """Every term of the chains that tie the L2 losses to output-space divergences.

    retain: KL_out <= KL_emb (S6, data processing through the fixed decoder) <= L_R / (2 sigma_e^2) (S7);
    shared covariance (S8): 1/2 D^T S0^-1 D <= |D|^2 / (2 lmin(S0)) <= L_R / (2 lmin(S0)), D = mean shift.
    forget: KL(P_Xhat_f || P_Xhat_n) <= KL(P_Zf || P_Zn) <= L_F / (2 sigma_e^2), n the noise target.
    """
    s2 = model.sigma_e ** 2
    z0, z = embedding_law(model, model.W0, model.b0, retain), embedding_law(model, W, b, retain)
    L_R = retain_loss(model, W, b, retain)
    delta = z.mean - z0.mean
    lmin = torch.linalg.eigvalsh(z0.cov)[0]
    zf, zn = embedding_law(model, W, b, forget), embedding_law(model, model.W0, model.b0, noise)
    out = {
        "retain_kl_out": kl(decode_law(model, z0), decode_law(model, z)),
        "retain_kl_emb": kl(z0, z),
        "retain_s7_bound": L_R / (2 * s2),
        "shared_cov_kl": 0.5 * delta @ torch.linalg.solve(z0.cov, delta),
        "shared_cov_l2_bound": delta @ delta / (2 * lmin),
        "shared_cov_loss_bound": L_R / (2 * lmin),
        "forget_kl_out": kl(decode_law(model, zf), decode_law(model, zn)),
        "forget_kl_emb": kl(zf, zn),
        "forget_s7_bound": forget_loss(model, W, b, forget, noise) / (2 * s2),
        "L_R": L_R,
    }
    return {k: float(v) for k, v in out.items()}


CHAIN = [("retain_kl_out", "retain_kl_emb"), ("retain_kl_emb", "retain_s7_bound"),
         ("shared_cov_kl", "shared_cov_l2_bound"), ("shared_cov_l2_bound", "shared_cov_loss_bound"),
         ("forget_kl_out", "forget_kl_emb"), ("forget_kl_emb", "forget_s7_bound")]


def chain_violations(record: dict, rtol: float = 1e-9) -> int:
    """How many links lhs <= rhs of CHAIN fail in one record (beyond float64 rounding)."""
    return sum(record[lhs] > record[rhs] + rtol * (1 + abs(record[rhs])) for lhs, rhs in CHAIN)


# ---------------------------------------------------------------- Monte Carlo: an independent route

def sample_pipeline(model: ToyI2I, W, b, x: Gaussian, n: int, generator: torch.Generator):
    """Draw x, push it through the noisy encoder and decoder: (x, x_hat), each (n, d)."""
    xs = x.mean + torch.randn(n, len(x.mean), generator=generator, dtype=DTYPE) @ torch.linalg.cholesky(x.cov).T
    z = xs @ (W @ model.M).T + b + model.sigma_e * torch.randn(n, W.shape[0], generator=generator, dtype=DTYPE)
    xhat = z @ model.V.T + model.c + model.sigma_d * torch.randn(n, len(model.c), generator=generator, dtype=DTYPE)
    return xs, xhat


def _mean_and_se(values: torch.Tensor) -> tuple[float, float]:
    return values.mean().item(), (values.std() / len(values) ** 0.5).item()


def _log_density(law: Gaussian, samples: torch.Tensor) -> torch.Tensor:
    return torch.distributions.MultivariateNormal(law.mean, law.cov).log_prob(samples)


def mc_output_mi(model: ToyI2I, W, b, x: Gaussian, n: int, generator) -> tuple[float, float]:
    """I(X; X_hat) = E[ln p(x_hat | x) - ln p(x_hat)] from simulated pairs: (estimate, standard error)."""
    xs, xhat = sample_pipeline(model, W, b, x, n, generator)
    d = len(model.c)
    noise = model.sigma_e ** 2 * model.V @ model.V.T + model.sigma_d ** 2 * torch.eye(d, dtype=DTYPE)
    cond = torch.distributions.MultivariateNormal(torch.zeros(d, dtype=DTYPE), noise)
    cond_mean = xs @ (model.V @ W @ model.M).T + model.V @ b + model.c
    return _mean_and_se(cond.log_prob(xhat - cond_mean) - _log_density(output_law(model, W, b, x), xhat))


def mc_output_kl(model: ToyI2I, p_params, q_params, x: Gaussian, n: int, generator) -> tuple[float, float]:
    """KL(P || Q) between the output laws of two encoders on x, from outputs simulated under P."""
    _, xhat = sample_pipeline(model, *p_params, x, n, generator)
    p, q = output_law(model, *p_params, x), output_law(model, *q_params, x)
    return _mean_and_se(_log_density(p, xhat) - _log_density(q, xhat))


def mc_output_cov_error(model: ToyI2I, W, b, x: Gaussian, n: int, generator) -> float:
    """Relative Frobenius error of the sampled output covariance against the closed form."""
    _, xhat = sample_pipeline(model, W, b, x, n, generator)
    exact = output_law(model, W, b, x).cov
    return (torch.linalg.matrix_norm(torch.cov(xhat.T) - exact) / torch.linalg.matrix_norm(exact)).item()


def mc_uniform_gap(dim: int, n: int, generator) -> tuple[float, float]:
    """KL(U || N) for U uniform on a cube with identity covariance and N(0, I), from samples of U.

    S4 says it equals h(N) - h(U) = dim/2 ln(2 pi e / 12): the Gaussian has the larger entropy.
    """
    half = 3 ** 0.5  # U[-sqrt 3, sqrt 3] has unit variance
    u = (2 * torch.rand(n, dim, generator=generator, dtype=DTYPE) - 1) * half
    log_u = -dim * torch.log(torch.tensor(2 * half, dtype=DTYPE))
    normal = torch.distributions.Normal(torch.zeros((), dtype=DTYPE), torch.ones((), dtype=DTYPE))
    return _mean_and_se(log_u - normal.log_prob(u).sum(1))


# ---------------------------------------------------------------- sweeps shown in the notebook

def growth_exponent(records: list[dict], key: str = "forget_kl") -> float:
    """Slope of ln KL against ln step over the second half of an ascent (> 0: still growing)."""
    late = [r for r in records if r["step"] >= records[-1]["step"] / 2 and r["step"] > 0]
    x = torch.log(torch.tensor([r["step"] for r in late], dtype=DTYPE))
    y = torch.log(torch.tensor([r[key] for r in late], dtype=DTYPE))
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())


def alpha_sweep(model: ToyI2I, retain: Gaussian, forget: Gaussian, noise: Gaussian, alphas) -> list[dict]:
    """Forget MI and retain-output KL at the exact minimiser for each alpha (the trade-off curve)."""
    rows = []
    for alpha in alphas:
        W, b = closed_form_unlearn(model, retain, forget, noise, alpha)
        rows.append({"alpha": alpha, "forget_mi": output_mi(model, W, forget).item(),
                     "retain_kl": retain_output_kl(model, W, b, retain).item()})
    return rows


def proxy_sweep(model: ToyI2I, classes: dict[str, Gaussian], noise: Gaussian, alpha: float, proxies) -> list[dict]:
    """Unlearn with each proxy class standing in for the retain data; judge on the true retain class."""
    rows = []
    for name in proxies:
        W, b = closed_form_unlearn(model, classes[name], classes["forget"], noise, alpha)
        rows.append({"retain_data": name, "forget_mi": output_mi(model, W, classes["forget"]).item(),
                     "true_retain_kl": retain_output_kl(model, W, b, classes["retain"]).item()})
    return rows


def floor_sweep(settings: dict, seed: int, floors) -> list[dict]:
    """Residual forget MI ratio and retain KL at alpha as the classes' overlap (variance floor) varies."""
    rows = []
    for floor in floors:
        classes, model, noise = build_toy(settings, seed, floor)
        forget, retain = classes["forget"], classes["retain"]
        W, b = closed_form_unlearn(model, retain, forget, noise, settings["alpha"])
        rows.append({"floor": floor, "mi_ratio": (output_mi(model, W, forget) / output_mi(model, model.W0, forget)).item(),
                     "retain_kl": retain_output_kl(model, W, b, retain).item()})
    return rows
