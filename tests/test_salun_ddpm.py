"""The tiny class-conditional DDPM and SalUn's generation objective (l2l_utils.salun_ddpm, protocol §6)."""
import pytest
import torch
from torch.nn import functional as F

from l2l_utils.io import atomic_torch_save
from l2l_utils.salun_ddpm import (TinyUNet, alphas_cumprod, ddpm_saliency_mask, guided_eps, load_ddpm, q_sample,
                                  sample, unlearn_class)


@pytest.fixture
def unet():
    torch.manual_seed(0)
    return TinyUNet(num_classes=3, width=8, emb=16)


def toy_images(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g) * 2 - 1, torch.arange(n) % 3


def test_schedule_and_forward_noising():
    abar = alphas_cumprod()
    assert len(abar) == 1000 and abar[0] == pytest.approx(1 - 1e-4) and abar[-1] < 1e-4
    x0, noise, t = torch.ones(2, 1, 4, 4), torch.randn(2, 1, 4, 4), torch.tensor([0, 999])
    x_t = q_sample(x0, t, noise, abar)
    assert torch.allclose(x_t[1], abar[999].sqrt() + (1 - abar[999]).sqrt() * noise[1])


def test_unet_shape_and_null_class(unet):
    x, y = toy_images(4)
    assert unet(x, torch.tensor([0, 10, 500, 999]), torch.tensor([0, 1, 2, 3])).shape == x.shape  # 3 = null


def test_guidance_combines_conditional_and_null_outputs(unet):
    x, y = toy_images(4)
    t = torch.tensor([5, 50, 500, 900])
    cond, uncond = unet(x, t, y), unet(x, t, torch.full_like(y, 3))
    assert torch.allclose(guided_eps(unet, x, t, y, 2.0), 3 * cond - 2 * uncond, atol=1e-5)


def test_sampling_is_seeded_and_in_range(unet):
    a = sample(unet, torch.tensor([0, 1, 2]), steps=4, seed=1, size=8)
    assert a.shape == (3, 1, 8, 8) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, sample(unet, torch.tensor([0, 1, 2]), steps=4, seed=1, size=8))
    assert not torch.equal(a, sample(unet, torch.tensor([0, 1, 2]), steps=4, seed=2, size=8))


def test_ddpm_mask_keeps_half_and_is_seeded(unet):
    x, y = toy_images()
    m1, m2 = ddpm_saliency_mask(unet, x, 0, seed=3), ddpm_saliency_mask(unet, x, 0, seed=3)
    kept = sum(v.sum() for v in m1.values())
    assert abs(kept - 0.5 * sum(v.numel() for v in m1.values())) <= 1
    assert all(torch.equal(m1[k], m2[k]) for k in m1)


def test_masked_unlearning_never_moves_masked_weights(unet):
    x, y = toy_images()
    before = {n: p.detach().clone() for n, p in unet.named_parameters()}
    mask = ddpm_saliency_mask(unet, x[y == 0], 0)
    unlearn_class(unet, x[y == 0], 0, x[y != 0], y[y != 0], steps=5, lr=1e-2, batch_size=4, mask=mask)
    for n, p in unet.named_parameters():
        frozen = mask[n] == 0
        assert torch.equal(p.detach()[frozen], before[n][frozen]), n
    assert any((p.detach() != before[n]).any() for n, p in unet.named_parameters())


def test_forget_term_pulls_the_forget_class_towards_the_next_class(unet):
    """With beta = 0 the objective only makes eps(x_t | c_f) match the stop-gradient eps(x_t | c_f + 1)."""
    x, y = toy_images()
    t, c_f, c_next = torch.full((4,), 300), torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    gap = lambda: F.mse_loss(unet(x[:4], t, c_f), unet(x[:4], t, c_next)).item()
    before = gap()
    unlearn_class(unet, x[y == 0], 0, x[y != 0], y[y != 0], steps=30, beta=0.0, lr=3e-3, batch_size=4)
    assert gap() < 0.5 * before


def test_checkpoints_load_strictly(tmp_path, unet):
    path = tmp_path / "ddpm.pt"
    config = {"num_classes": 3, "channels": 1, "width": 8, "emb": 16}
    atomic_torch_save({"config": config, "model": unet.state_dict()}, path)
    assert torch.equal(load_ddpm(path).inp.weight, unet.inp.weight)
    state = unet.state_dict()
    state["extra.weight"] = state.pop("inp.weight")
    atomic_torch_save({"config": config, "model": state}, path)
    with pytest.raises(KeyError, match="inp.weight"):
        load_ddpm(path)
