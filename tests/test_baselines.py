"""The baselines of Li et al. (2024) and SalUn saliency on any method (l2l_utils.unlearn.baselines / loop):
protocol §4 (baselines, the (1+labels) bug, decision 2) and SalUn protocol §1 / decision 1."""
import copy

import pytest
import torch
import torch.nn.functional as F

import l2l_utils.unlearn.baselines as baselines
import l2l_utils.unlearn.loop as loop
from l2l_utils.data import synthetic_dataset
from l2l_utils.masks import center_hole
from l2l_utils.models.mae import IMAGENET_MEAN
from l2l_utils.models.mage import MAGEGenerator, build_mage
from l2l_utils.models.palette import PLACES2_BETA_SCHEDULE, PaletteGenerator, build_network
from l2l_utils.unlearn import METHODS, UnlearnConfig, build_objective, unlearn

BASELINES = ("max_loss", "noisy_label", "retain_label", "random_encoder")
TRAINS = {"ours": "encoder", "max_loss": "full", "noisy_label": "full", "retain_label": "full",
          "random_encoder": "encoder"}


def data(size):
    d = synthetic_dataset(n_per_class=6, num_classes=2, size=size)
    return d.subset(d.labels == 0), d.subset(d.labels == 1)


@pytest.fixture
def sets():
    return data(32)


def small_cfg(**kw):
    base = dict(steps=4, batch_size=4, blr=1e-2, tasks=("center_0.5", "random_0.5"), checkpoint_every=2)
    return UnlearnConfig(**{**base, **kw})


def micro_palette():
    torch.manual_seed(0)
    unet = dict(in_channel=6, out_channel=3, inner_channel=32, channel_mults=[1, 1], attn_res=[],
                num_head_channels=32, res_blocks=1, dropout=0.0, image_size=16)
    return PaletteGenerator(build_network({"unet": unet, "beta_schedule": PLACES2_BETA_SCHEDULE})).eval()


def named(model, params):
    ids = {id(p) for p in params}
    return {n for n, p in model.named_parameters() if id(p) in ids}


def test_the_methods_and_what_they_train():
    assert set(METHODS) == set(TRAINS)
    for method, trains in TRAINS.items():
        assert build_objective(method, torch.nn.Linear(1, 1), torch.nn.Linear(1, 1), 0.1).trains == trains


@pytest.mark.parametrize("method", ("ours",) + BASELINES)
def test_forget_term_acts_on_forget_samples_and_retain_term_on_retain_samples(micro_mae, sets, method):
    """The released VQ-GAN code put RETAIN LABEL's and RANDOM ENCODER's forget term on retain samples
    (weight 1 + label); here each term's gradient reaches only its own group (decision 2)."""
    forget, retain = sets
    teacher = copy.deepcopy(micro_mae)
    with torch.no_grad():  # off the original weights, so that every retain term has a gradient
        for p in micro_mae.parameters():
            p.add_(0.05 * torch.randn_like(p))
    obj = build_objective(method, micro_mae, teacher, alpha=1.0)
    x_r, x_f = retain.images[:2].clone().requires_grad_(), forget.images[:2].clone().requires_grad_()
    loss_r, loss_f = obj.terms(x_r, x_f, center_hole(32, 0.5), torch.Generator().manual_seed(0))

    def grads(loss):
        return [g if g is None else g.abs().sum() for g in torch.autograd.grad(loss, [x_r, x_f], allow_unused=True,
                                                                                  retain_graph=True)]
    r_on_r, r_on_f = grads(loss_r)
    f_on_r, f_on_f = grads(loss_f)
    assert r_on_f is None and r_on_r > 0
    assert f_on_r is None and f_on_f > 0


def test_max_loss_ascends_the_forget_generative_loss(micro_mae, sets):
    forget, retain = sets
    obj = build_objective("max_loss", micro_mae, copy.deepcopy(micro_mae), alpha=0.3)
    mask, x_r, x_f = center_hole(32, 0.5), retain.images[:2], forget.images[:2]
    loss, parts = obj(x_r, x_f, mask, torch.Generator().manual_seed(0))
    assert torch.allclose(parts["retain"], micro_mae.generative_loss(x_r, mask))
    assert torch.allclose(parts["forget"], micro_mae.generative_loss(x_f, mask))
    assert torch.allclose(loss, parts["retain"] - 0.3 * parts["forget"])


def test_retain_label_forget_target_is_the_original_output_on_retain_images(micro_mae, sets):
    forget, retain = sets
    obj = build_objective("retain_label", micro_mae, copy.deepcopy(micro_mae), alpha=1.0)
    mask, x_r, x_f = center_hole(32, 0.5), retain.images[:2], forget.images[:2]
    loss_r, loss_f = obj.terms(x_r, x_f, mask, None)
    out_r, out_f = micro_mae.outputs(x_r, mask), micro_mae.outputs(x_f, mask)
    assert loss_r == 0  # original weights: the retain term is at its fixed point
    assert torch.allclose(loss_f, ((out_f - out_r) ** 2).mean())
    one = obj.terms(x_r[:1], x_f, mask, None)[1]  # a single retain sample is tiled (decision 18)
    assert torch.allclose(one, ((out_f - out_r[:1]) ** 2).mean())


def test_random_encoder_target_has_the_original_embeddings_batch_statistics(micro_mae, sets, monkeypatch):
    forget, retain = sets
    obj = build_objective("random_encoder", micro_mae, copy.deepcopy(micro_mae), alpha=1.0)
    mask, x_r, x_f = center_hole(32, 0.5), retain.images[:4], forget.images[:4]
    captured, real = {}, baselines.batch_gaussian

    def spy(like, stats, generator):
        captured["target"], captured["stats"] = real(like, stats, generator), stats
        return captured["target"]

    monkeypatch.setattr(baselines, "batch_gaussian", spy)
    obj.terms(x_r, x_f, mask, torch.Generator().manual_seed(0))
    both = torch.cat([micro_mae.encode(x_r, mask), micro_mae.encode(x_f, mask)])
    assert torch.equal(captured["stats"], both)
    assert captured["target"].shape == micro_mae.encode(x_f, mask).shape
    assert abs(captured["target"].mean() - both.mean()) < 0.1 * both.std()


def test_mae_output_interface_reproduces_its_generative_loss(micro_mae, sets):
    forget, _ = sets
    x, mask = forget.images[:3], center_hole(32, 0.5)
    pred = micro_mae.outputs(x, mask)
    assert pred.shape == x.shape
    assert torch.equal(micro_mae.output_loss(pred, micro_mae.target(x, mask), mask), micro_mae.generative_loss(x, mask))
    noise = micro_mae.noise_target(x, mask, torch.Generator().manual_seed(0))
    assert noise.shape == x.shape and not torch.allclose(noise, micro_mae.target(x, mask))


def test_mage_generative_loss_is_smoothed_ce_of_the_true_tokens_over_the_hole_with_hidden_pixels_unseen():
    torch.manual_seed(0)
    model = MAGEGenerator(build_mage("tiny")).eval()
    m = model.mage
    x, mask = torch.rand(2, 3, 64, 64), center_hole(64, 0.5)
    logits = model.outputs(x, mask)
    assert logits.shape[:2] == (2, 1 + m.seq_len)
    # by hand: [MASK] on the hole's tokens (+ margin) of the mean-filled image, MAGE's label-smoothed (0.1)
    # CE of the full image's tokens, averaged over those positions only (torch's label_smoothing is the same formula)
    hole = model.token_mask(mask, 2)
    filled = x * (1 - mask) + torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * mask
    tokens = m.input_tokens(m.tokenize(filled), hole)
    padded = torch.cat([torch.zeros_like(hole[:, :1]), hole], dim=1)
    by_hand = m.forward_decoder(m.forward_encoder(tokens), torch.zeros_like(padded), padded)
    torch.testing.assert_close(logits, by_hand, rtol=0, atol=0)
    expected = F.cross_entropy(by_hand[:, 1:, :m.codebook_size][hole], m.tokenize(x)[hole], label_smoothing=0.1)
    torch.testing.assert_close(model.generative_loss(x, mask), expected, rtol=1e-6, atol=0)  # summation order
    # nothing inside the hole reaches the model's input
    other = x * (1 - mask) + torch.rand_like(x) * mask
    assert torch.equal(model.outputs(other, mask), logits)
    ids = model.noise_target(x, mask, torch.Generator().manual_seed(0))
    assert ids.shape == (2, m.seq_len) and ids.min() >= 0 and ids.max() < m.codebook_size


def test_palette_ours_shares_one_draw_between_teacher_and_student():
    """At the original weights the retain term is exactly 0 only if teacher and student see the same
    noise level and noise; the forget target is the i2i teacher input (hole = pure noise)."""
    model = micro_palette()
    obj = build_objective("ours", model, copy.deepcopy(model), alpha=1.0)
    x_r, x_f = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    loss_r, loss_f = obj.terms(x_r, x_f, center_hole(16, 0.5), torch.Generator().manual_seed(0))
    assert loss_r == 0 and loss_f > 0
    with pytest.raises(ValueError, match="draw"):
        model.outputs(x_r, center_hole(16, 0.5))
    with pytest.raises(NotImplementedError, match="NOISY LABEL"):
        model.noise_target(x_r, center_hole(16, 0.5), torch.Generator())


def test_palette_generative_loss_is_the_masked_noise_regression_of_palette():
    """Saharia et al. (2022) / the Palette code's training loss, by hand from one seeded draw."""
    model = micro_palette()
    x, mask = torch.rand(2, 3, 16, 16), center_hole(16, 0.5)
    g = torch.Generator().manual_seed(1)
    t = torch.randint(1, model.network.num_timesteps, (2,), generator=g)
    u = torch.rand((2, 1), generator=g)
    noise, cond_noise = torch.randn(x.shape, generator=g), torch.randn(x.shape, generator=g)
    lo, hi = model.network.gammas[t - 1], model.network.gammas[t]
    gamma = (lo + (hi - lo) * u.flatten()).view(-1, 1, 1, 1)
    y0 = 2 * x - 1
    y_cond = y0 * (1 - mask) + mask * cond_noise
    y_t = (gamma.sqrt() * y0 + (1 - gamma).sqrt() * noise) * mask + (1 - mask) * y0
    predicted = model.unet(torch.cat([y_cond, y_t], dim=1), gamma.view(-1))
    expected = ((mask * noise - mask * predicted) ** 2).mean()
    torch.testing.assert_close(model.generative_loss(x, mask, torch.Generator().manual_seed(1)), expected,
                               rtol=1e-6, atol=0)  # float32 summation order only


@pytest.mark.parametrize("method", ("ours",) + BASELINES)
def test_each_method_trains_what_the_protocol_says(micro_mae, sets, method):
    forget, retain = sets
    before = {k: v.clone() for k, v in micro_mae.state_dict().items()}
    model, history = unlearn(micro_mae, forget, retain, small_cfg(method=method, steps=2), progress=False)
    after = model.state_dict()
    moved = lambda names: any(not torch.equal(before[n], after[n]) for n in names)  # noqa: E731
    assert moved(named(model, model.encoder_parameters()))
    assert moved(named(model, model.decoder_parameters())) == (TRAINS[method] == "full")
    assert len(history) == 2 and all(torch.isfinite(torch.tensor(h["loss"])) for h in history)


def micro_mage():
    torch.manual_seed(0)
    return MAGEGenerator(build_mage("tiny")).eval()


FAMILY_RUNS = [("mage", m) for m in METHODS] + [("palette", m) for m in METHODS if m != "noisy_label"]


@pytest.mark.parametrize("family,method", FAMILY_RUNS)
def test_every_method_runs_with_saliency_on_mage_and_palette(family, method):
    """One step of each method (Palette has no NOISY LABEL) with a saliency mask: finite, and the
    decoder moves exactly for the full-model methods."""
    model, size = (micro_mage(), 64) if family == "mage" else (micro_palette(), 16)
    forget, retain = data(size)
    decoder = named(model, model.decoder_parameters())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = small_cfg(method=method, steps=1, batch_size=2, tasks=("center_0.5",), augment=False, saliency=0.5)
    _, history = unlearn(model, forget, retain, cfg, progress=False)
    assert torch.isfinite(torch.tensor(history[0]["loss"]))
    moved = any(not torch.equal(before[n], model.state_dict()[n]) for n in decoder)
    assert moved == (TRAINS[method] == "full")


@pytest.mark.parametrize("method", ("ours", "max_loss"))
def test_saliency_masked_weights_never_move_under_adamw_decay_and_momentum(micro_mae, sets, tmp_path, method):
    forget, retain = sets
    before = {n: p.detach().clone() for n, p in micro_mae.named_parameters()}
    ckpt = tmp_path / "run.pt"
    cfg = small_cfg(method=method, saliency=0.5, weight_decay=0.5)
    model, _ = unlearn(micro_mae, forget, retain, cfg, checkpoint=ckpt, progress=False)
    keep = torch.load(ckpt, weights_only=True)["saliency_mask"]
    total = sum(m.numel() for m in keep.values())
    assert sum(m.sum().item() for m in keep.values()) == round(0.5 * total)
    assert set(keep) == named(model, model.encoder_parameters() if TRAINS[method] == "encoder"
                              else [*model.encoder_parameters(), *model.decoder_parameters()])
    after = dict(model.named_parameters())
    for n, m in keep.items():
        assert torch.equal(after[n][~m], before[n][~m]), n
    assert sum((after[n][m] != before[n][m]).sum().item() for n, m in keep.items()) > 0.5 * sum(
        m.sum().item() for m in keep.values())


def test_saliency_mask_follows_the_method(micro_mae, sets, tmp_path):
    forget, retain = sets
    masks = {}
    for method in ("ours", "random_encoder"):
        ckpt = tmp_path / f"{method}.pt"
        unlearn(copy.deepcopy(micro_mae), forget, retain, small_cfg(method=method, steps=1, saliency=0.5),
                checkpoint=ckpt, progress=False)
        masks[method] = torch.load(ckpt, weights_only=True)["saliency_mask"]
    assert masks["ours"].keys() == masks["random_encoder"].keys()
    assert any(not torch.equal(masks["ours"][n], masks["random_encoder"][n]) for n in masks["ours"])


def test_resume_with_saliency_is_bit_identical(micro_mae, sets, tmp_path, monkeypatch, interrupt_on_call):
    forget, retain = sets
    cfg = small_cfg(method="retain_label", saliency=0.5)
    full, _ = unlearn(copy.deepcopy(micro_mae), forget, retain, cfg, progress=False)

    # augment runs twice per training step, never for the saliency pass: call 5 is in step 3
    real = interrupt_on_call(loop, "augment", 5)
    ckpt = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        unlearn(copy.deepcopy(micro_mae), forget, retain, cfg, checkpoint=ckpt, progress=False)
    monkeypatch.setattr(loop, "augment", real)
    assert torch.load(ckpt, weights_only=True)["step"] == 2

    def no_recompute(*a, **k):
        raise AssertionError("the resumed run must reuse the stored saliency mask")

    monkeypatch.setattr(loop, "saliency_mask_for", no_recompute)
    resumed, history = unlearn(copy.deepcopy(micro_mae), forget, retain, cfg, checkpoint=ckpt, resume=True,
                               progress=False)
    assert [h["step"] for h in history] == [1, 2, 3, 4]
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_a_checkpoint_from_before_saliency_still_resumes(micro_mae, sets, tmp_path):
    """Runs saved before ``method``-generic training had no ``saliency`` field: it was None."""
    forget, retain = sets
    ckpt = tmp_path / "old.pt"
    unlearn(copy.deepcopy(micro_mae), forget, retain, small_cfg(steps=2), checkpoint=ckpt, progress=False)
    state = torch.load(ckpt, weights_only=True)
    del state["config"]["saliency"], state["saliency_mask"]
    torch.save(state, ckpt)
    _, history = unlearn(copy.deepcopy(micro_mae), forget, retain, small_cfg(steps=2), checkpoint=ckpt, resume=True,
                         progress=False)
    assert [h["step"] for h in history] == [1, 2]


def test_bad_method_or_saliency_is_rejected():
    with pytest.raises(ValueError, match="unknown method 'gradient_ascent'.*max_loss"):
        UnlearnConfig(method="gradient_ascent")
    with pytest.raises(ValueError, match="unknown method"):
        build_objective("nope", torch.nn.Linear(1, 1), torch.nn.Linear(1, 1), 0.1)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="saliency"):
            UnlearnConfig(saliency=bad)
