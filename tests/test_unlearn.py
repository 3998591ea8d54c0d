import copy
import math

import pytest
import torch

import l2l_utils.unlearn.loop as loop
from l2l_utils.data import synthetic_dataset
from l2l_utils.unlearn import NonFiniteLossError, OursObjective, UnlearnConfig, embedding_mse, make_noise, unlearn
from l2l_utils.masks import center_hole


@pytest.fixture
def sets():
    data = synthetic_dataset(n_per_class=6, num_classes=2, size=32)
    return data.subset(data.labels == 0), data.subset(data.labels == 1)


def small_cfg(**kw):
    base = dict(steps=4, batch_size=4, blr=1e-2, tasks=("center_0.5", "random_0.5"), checkpoint_every=2)
    return UnlearnConfig(**{**base, **kw})


def test_noise_types():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, 16, 16) * 0.5
    # 6,144 values: the standard error of a mean is std / 78, i.e. <= 0.004 here; bounds are ~5 SE.
    # Clipping N(mean 0.25, sd 0.145) to [0, 1] cuts ~4 % of the mass: the sd shrinks by a few per cent.
    normal = make_noise(x, "normal", g)
    assert normal.shape == x.shape and 0 <= normal.min() and normal.max() <= 1
    assert abs(normal.mean().item() - x.mean().item()) < 0.01
    assert 0.9 * x.std() < normal.std() <= x.std()
    assert torch.all(make_noise(x, "constant", g) == x.mean())
    u = make_noise(x, "uniform", g)
    assert abs(u.mean().item() - 0.5) < 0.02 and abs(u.std().item() - 12 ** -0.5) < 0.01
    with pytest.raises(ValueError, match="unknown noise"):
        make_noise(x, "pink", g)


def test_embedding_mse_sums_over_feature_maps():
    a, b = torch.zeros(2, 4), torch.ones(2, 4)
    assert embedding_mse(a, b) == 1.0
    assert embedding_mse([a, a], [b, 2 * b]) == 1.0 + 4.0


def test_original_model_is_a_fixed_point_of_the_retain_term(micro_mae):
    obj = OursObjective(micro_mae, copy.deepcopy(micro_mae), alpha=0.5)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    _, parts = obj(x, torch.rand(2, 3, 32, 32), center_hole(32, 0.5), g)
    assert parts["retain"] == 0 and parts["forget"] > 0


@pytest.mark.parametrize("noise_type", ["normal", "uniform", "constant"])
def test_ours_forget_term_is_the_distance_to_the_originals_embedding_of_noise(micro_mae, sets, noise_type):
    """Li et al. (2024) Eq. 10, forget part: ||E(T x_f) - E_0(T n)||^2 with n a noise image of the chosen
    type, the same mask T, and E_0 the frozen original encoder (not the student)."""
    forget, retain = sets
    teacher = copy.deepcopy(micro_mae)
    with torch.no_grad():  # the student is no longer the original: its embedding must not be the target
        micro_mae.mae.norm.bias.add_(0.1)
    obj = OursObjective(micro_mae, teacher, alpha=1.0, noise_type=noise_type)
    x_r, x_f, mask = retain.images[:2], forget.images[:2], center_hole(32, 0.5)
    _, loss_f = obj.terms(x_r, x_f, mask, torch.Generator().manual_seed(4))
    noise = make_noise(x_f, noise_type, torch.Generator().manual_seed(4))  # the MAE draws nothing else
    with torch.no_grad():
        expected = ((micro_mae.encode(x_f, mask) - teacher.encode(noise, mask)) ** 2).mean()
        other = "uniform" if noise_type != "uniform" else "normal"
        other_noise = make_noise(x_f, other, torch.Generator().manual_seed(4))
        wrong = ((micro_mae.encode(x_f, mask) - teacher.encode(other_noise, mask)) ** 2).mean()
    torch.testing.assert_close(loss_f, expected, rtol=1e-6, atol=0)
    assert abs(loss_f - wrong) > 1e-4 * expected


def test_forget_term_targets_forget_images_and_retain_term_retain_images(micro_mae, sets):
    """Each term's gradient flows only through the samples it is meant for."""
    forget, retain = sets
    teacher = copy.deepcopy(micro_mae)
    with torch.no_grad():  # move the student off the fixed point so that the retain term has a gradient
        micro_mae.mae.norm.bias.add_(0.1)
    obj = OursObjective(micro_mae, teacher, alpha=1.0)
    x_r, x_f = retain.images[:2].clone().requires_grad_(), forget.images[:2].clone().requires_grad_()
    loss_r, loss_f = obj.terms(x_r, x_f, center_hole(32, 0.5), torch.Generator().manual_seed(0))
    gr_r, gr_f = torch.autograd.grad(loss_r, [x_r, x_f], allow_unused=True)
    assert gr_f is None and gr_r.abs().sum() > 0
    ff_r, ff_f = torch.autograd.grad(loss_f, [x_r, x_f], allow_unused=True)
    assert ff_r is None and ff_f.abs().sum() > 0


def test_only_the_encoder_moves(micro_mae, sets):
    forget, retain = sets
    before = {k: v.clone() for k, v in micro_mae.state_dict().items()}
    model, history = unlearn(micro_mae, forget, retain, small_cfg(), progress=False)
    after = model.state_dict()
    dec = {n for n, p in model.named_parameters() if any(p is q for q in model.decoder_parameters())}
    enc = {n for n, p in model.named_parameters() if any(p is q for q in model.encoder_parameters())}
    assert all(torch.equal(before[n], after[n]) for n in dec)
    assert any(not torch.equal(before[n], after[n]) for n in enc)
    assert torch.equal(before["mae.pos_embed"], after["mae.pos_embed"])
    assert len(history) == 4 and history[0]["retain"] == 0.0


def test_learning_rate_warms_up_linearly_then_falls_by_half_cosine():
    """The released code's schedule (protocol §3): per-step linear warm-up over 5/6 of the run, then
    half a cosine from the base lr to 0."""
    cfg = UnlearnConfig(steps=12)  # warm-up: the first 10 steps
    lrs = [loop.lr_at(s, cfg, 2.0) for s in range(12)]
    assert lrs[:10] == pytest.approx([2.0 * (s + 1) / 10 for s in range(10)])
    assert lrs[10:] == pytest.approx([2.0, 2.0 * 0.5 * (1 + math.cos(math.pi / 2))])


def test_optimiser_scales_the_lr_with_the_global_batch_and_spares_biases_and_norms_weight_decay(
        micro_mae, sets, monkeypatch):
    forget, retain = sets
    made = []

    class SpyAdamW(torch.optim.AdamW):
        def __init__(self, groups, **kw):
            super().__init__(groups, **kw)
            made.append(self)

    monkeypatch.setattr(torch.optim, "AdamW", SpyAdamW)
    cfg = small_cfg(steps=1, blr=1e-3, weight_decay=0.05)
    unlearn(micro_mae, forget, retain, cfg, progress=False)
    (opt,) = made
    assert opt.defaults["lr"] == pytest.approx(1e-3 * 2 * cfg.batch_size / 256)  # forget + retain images, 1 process
    decay = {g["weight_decay"]: g["params"] for g in opt.param_groups}
    assert set(decay) == {0.05, 0.0}
    assert decay[0.05] and all(p.ndim >= 2 for p in decay[0.05])
    assert decay[0.0] and all(p.ndim < 2 for p in decay[0.0])
    encoder = {id(p) for p in micro_mae.encoder_parameters()}
    assert {id(p) for g in opt.param_groups for p in g["params"]} == encoder  # OURS trains the encoder only


def test_forget_term_decreases(micro_mae, sets):
    forget, retain = sets
    _, history = unlearn(micro_mae, forget, retain, small_cfg(steps=30, alpha=1.0, warmup_fraction=0.1, blr=0.2,
                                                              tasks=("center_0.5",)), progress=False)
    first, last = sum(h["forget"] for h in history[:5]), sum(h["forget"] for h in history[-5:])
    assert last < 0.7 * first


def test_resume_continues_bit_identically(micro_mae, sets, tmp_path, monkeypatch, interrupt_on_call):
    forget, retain = sets
    full, _ = unlearn(copy.deepcopy(micro_mae), forget, retain, small_cfg(), progress=False)

    real = interrupt_on_call(loop, "make_mask", 3)  # one mask per step: dies in step 3
    ckpt = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        unlearn(copy.deepcopy(micro_mae), forget, retain, small_cfg(), checkpoint=ckpt, progress=False)
    monkeypatch.setattr(loop, "make_mask", real)
    assert torch.load(ckpt, weights_only=True)["step"] == 2
    resumed, history = unlearn(copy.deepcopy(micro_mae), forget, retain, small_cfg(), checkpoint=ckpt,
                               resume=True, progress=False)
    assert [h["step"] for h in history] == [1, 2, 3, 4]
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    with pytest.raises(ValueError, match="another config"):
        unlearn(copy.deepcopy(micro_mae), forget, retain, small_cfg(alpha=0.9), checkpoint=ckpt, resume=True,
                progress=False)
    other_base = copy.deepcopy(micro_mae)  # e.g. a re-trained shipped model under the same run name
    with torch.no_grad():
        next(other_base.parameters()).add_(1e-3)
    with pytest.raises(ValueError, match="another base model"):
        unlearn(other_base, forget, retain, small_cfg(), checkpoint=ckpt, resume=True, progress=False)
    with pytest.raises(ValueError, match="other forget/retain images"):  # e.g. another retain subset
        unlearn(copy.deepcopy(micro_mae), forget, retain.subset(torch.arange(len(retain) - 1)), small_cfg(),
                checkpoint=ckpt, resume=True, progress=False)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(micro_mae, sets, tmp_path):
    forget, retain = sets
    ckpt = tmp_path / "run.pt"
    unlearn(copy.deepcopy(micro_mae), forget, retain, small_cfg(), checkpoint=ckpt, progress=False)
    good = ckpt.read_bytes()
    poisoned = forget.subset(torch.arange(len(forget)))
    poisoned.images[:] = float("nan")
    with pytest.raises(NonFiniteLossError, match="last good checkpoint"):
        unlearn(copy.deepcopy(micro_mae), poisoned, retain, small_cfg(), checkpoint=ckpt, progress=False)
    assert ckpt.read_bytes() == good


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="unknown method"):
        UnlearnConfig(method="gradient_ascent")
    with pytest.raises(ValueError, match="alpha"):
        OursObjective(torch.nn.Linear(1, 1), torch.nn.Linear(1, 1), alpha=-1)
