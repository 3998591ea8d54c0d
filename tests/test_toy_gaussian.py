"""The toy linear-Gaussian generator: its laws match simulation, its unlearning reaches the exact minimiser."""
import pytest
import torch

from l2l_utils import toy_gaussian as toy

SETTINGS = toy.theory_settings("smoke")


@pytest.fixture(scope="module")
def toy_model():
    return toy.build_toy(SETTINGS, seed=0)


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown profile 'nope'"):
        toy.theory_settings("nope")
    assert toy.theory_settings("smoke")["mc_samples"] < toy.theory_settings("embedded")["mc_samples"]


def test_original_model_is_a_fixed_point_and_losses_match_sampling(toy_model):
    classes, model, noise = toy_model
    retain, forget = classes["retain"], classes["forget"]
    assert toy.retain_loss(model, model.W0, model.b0, retain).item() == 0.0
    W, b = model.W0 + 0.01, model.b0 - 0.02
    g = torch.Generator().manual_seed(1)
    n = 200_000
    xr, _ = toy.sample_pipeline(model, W, b, retain, n, g)
    xf, _ = toy.sample_pipeline(model, W, b, forget, n, g)
    xn = noise.mean + torch.randn(n, len(noise.mean), generator=g, dtype=torch.float64) * noise.cov[0, 0].sqrt()
    M = model.M
    lr = (((W - model.W0) @ M @ xr.T).T + b - model.b0).pow(2).sum(1)
    lf = ((W @ M @ xf.T).T + b - (model.W0 @ M @ xn.T).T - model.b0).pow(2).sum(1)
    for samples, exact in ((lr, toy.retain_loss(model, W, b, retain)), (lf, toy.forget_loss(model, W, b, forget, noise))):
        assert abs(samples.mean() - exact) < 5 * samples.std() / n ** 0.5


def test_output_law_matches_simulation(toy_model):
    classes, model, _ = toy_model
    mi, se = toy.mc_output_mi(model, model.W0, model.b0, classes["forget"], 100_000, torch.Generator().manual_seed(2))
    assert abs(mi - toy.output_mi(model, model.W0, classes["forget"]).item()) < 5 * se
    assert toy.mc_output_cov_error(model, model.W0, model.b0, classes["retain"], 100_000,
                                   torch.Generator().manual_seed(3)) < 0.02


def test_descent_reaches_closed_form_and_forgets(toy_model):
    classes, model, noise = toy_model
    retain, forget = classes["retain"], classes["forget"]
    W, b, _ = toy.unlearn(model, retain, forget, noise, 0.2, steps=40, record_every=40)
    W_exact, b_exact = toy.closed_form_unlearn(model, retain, forget, noise, 0.2)
    assert torch.allclose(W, W_exact, atol=1e-6) and torch.allclose(b, b_exact, atol=1e-6)
    assert toy.output_mi(model, W, forget) < 0.01 * toy.output_mi(model, model.W0, forget)
    assert toy.retain_output_kl(model, W, b, retain) < 1e-3


def test_bound_chain_holds_along_descent(toy_model):
    classes, model, noise = toy_model
    record = lambda W, b: toy.bound_chain(model, W, b, classes["retain"], classes["forget"], noise)
    _, _, records = toy.unlearn(model, classes["retain"], classes["forget"], noise, 1.0, 20, 1, record)
    assert sum(toy.chain_violations(r) for r in records) == 0


def test_chain_violations_counts_a_broken_link():
    ok = dict.fromkeys([name for link in toy.CHAIN for name in link], 1.0)
    assert toy.chain_violations(ok) == 0
    assert toy.chain_violations({**ok, "retain_kl_out": 2.0}) == 1


def test_noise_kinds_share_the_minimiser_and_unknown_kind_fails(toy_model):
    classes, model, _ = toy_model
    train = toy.mixture(list(classes.values()))
    Ws = [toy.closed_form_unlearn(model, classes["retain"], classes["forget"], toy.noise_target(train, model.mask, k), 0.2)[0]
          for k in ("normal", "uniform", "constant")]
    assert torch.allclose(Ws[0], Ws[1]) and torch.allclose(Ws[0], Ws[2])
    with pytest.raises(ValueError, match="unknown noise kind"):
        toy.noise_target(train, model.mask, "salt")


def test_bias_path_kl_grows_quadratically(toy_model):
    classes, model, _ = toy_model
    k100, k1000 = toy.kl_along_bias_path(model, classes["forget"], [100.0, 1000.0])
    assert k1000 / k100 == pytest.approx(100, rel=0.01)


def test_uniform_noise_is_further_from_the_gaussian_by_the_entropy_gap():
    """S4: KL(U || N) = h(N) - h(U) = dim/2 ln(2 pi e / 12) for a unit-variance cube U and N(0, I)."""
    import math
    mean, se = toy.mc_uniform_gap(dim=4, n=200_000, generator=torch.Generator().manual_seed(0))
    assert abs(mean - 2 * math.log(2 * math.pi * math.e / 12)) < 5 * se


def test_growth_exponent_reads_the_power_of_a_growing_record():
    records = [{"step": s, "forget_kl": 3.0 * s ** 2} for s in range(0, 101, 10)]
    assert toy.growth_exponent(records) == pytest.approx(2.0)
    assert toy.growth_exponent([{**r, "forget_kl": 7.0} for r in records]) == pytest.approx(0.0)


def test_naive_ascent_drives_the_forget_kl_up_without_bound_and_drags_retain_along(toy_model):
    """S3: maximising KL(P_Xf || P_Xhat_f) has no maximiser; the retain outputs leave the original's."""
    classes, model, _ = toy_model
    records = toy.ascend_forget_kl(model, classes["forget"], classes["retain"], steps=200, record_every=20)
    kls = [r["forget_kl"] for r in records]
    assert all(b > a for a, b in zip(kls, kls[1:])) and kls[-1] > 10 * kls[0]
    assert toy.growth_exponent(records) > 0.5 and records[-1]["retain_kl"] > records[0]["retain_kl"]


def test_alpha_trades_forgetting_against_retain_fidelity(toy_model):
    """Eq. 10's alpha: a larger forget weight leaves less forget information and moves retain more."""
    classes, model, noise = toy_model
    rows = toy.alpha_sweep(model, classes["retain"], classes["forget"], noise, [0.01, 0.1, 1.0, 10.0])
    mi = [r["forget_mi"] for r in rows]
    retain = [r["retain_kl"] for r in rows]
    assert all(b < a for a, b in zip(mi, mi[1:])) and all(b > a for a, b in zip(retain, retain[1:]))
