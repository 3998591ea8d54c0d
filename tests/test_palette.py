"""Palette (diffusion family): reference parity, schedules, checkpoint layout, family interface.

Parity tolerance rtol = atol = 1e-4 (float32 CPU), as in tests/test_parity.py. The fixtures were
recorded with 2 threads; with 1 thread the largest difference is p_sample(t=500).y_0_hat (~9e-5),
where sqrt_recipm1_gammas ~ 17 amplifies a ~5e-6 UNet difference (fixture README, "Tolerances").
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from l2l_utils import PROJECT_ROOT
from l2l_utils.masks import center_hole
from l2l_utils.models.palette import (CONFIGS, PaletteGenerator, build_network, load_palette_checkpoint,
                                      make_beta_schedule, schedule_arrays, schedule_buffers)
from l2l_utils.models.parity import run_reference_case
from test_parity import assert_matches_manifest, assert_outputs_match

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("name", ["palette_small.pt", "palette_small_attn.pt", "palette_places2_schedules.pt"])
def test_reference_parity(name):
    case = torch.load(FIXTURES / name, weights_only=True)
    expected = case.pop("outputs")
    assert_outputs_match(run_reference_case("palette", case), expected)


def test_parity_follows_the_case_not_the_shipped_file():
    """Another case of the same format (other widths, 3 levels, batch 3, attention everywhere) runs."""
    case = torch.load(FIXTURES / "palette_small_attn.pt", weights_only=True)
    case.pop("outputs")
    unet = dict(case["config"]["unet"], channel_mults=[1, 1, 2], attn_res=[1, 2, 4], res_blocks=2)
    torch.manual_seed(1)
    net = build_network({"unet": unet, "beta_schedule": case["config"]["beta_schedule"]})
    b = 3
    inputs = {k: (v.repeat(2, *([1] * (v.dim() - 1)))[:b] if isinstance(v, torch.Tensor) else v)
              for k, v in case["inputs"].items()}
    inputs["p_sample_cases"] = {k: {n: t.repeat(2, *([1] * (t.dim() - 1)))[:b] for n, t in c.items()}
                                for k, c in case["inputs"]["p_sample_cases"].items()}
    inputs["restoration"] = dict(case["inputs"]["restoration"],
                                 step_noises=case["inputs"]["restoration"]["step_noises"].repeat(1, 2, 1, 1, 1)[:, :b])
    out = run_reference_case("palette", {"config": dict(case["config"], unet=unet),
                                         "state_dict": net.state_dict(), "inputs": inputs})
    assert len(out["unet_feats"]) == 1 + 3 * 2 + 2 + 1
    assert out["restoration"]["visuals"].shape == (b * 4, 3, 16, 16)
    with torch.no_grad():
        eps = net.denoise_fn(torch.cat([inputs["cond"], inputs["unet_y_t"]], 1), inputs["unet_gammas"])
    torch.testing.assert_close(out["unet_eps"], eps)


def test_unsupported_unet_variant_is_refused():
    unet = dict(CONFIGS["tiny"]["unet"], use_scale_shift_norm=False)
    with pytest.raises(ValueError, match="use_scale_shift_norm=False is not supported"):
        build_network({"unet": unet, "beta_schedule": CONFIGS["tiny"]["beta_schedule"]})


def test_places2_schedules_bit_exact():
    """float64 arrays and float32 buffers of set_new_noise_schedule, incl. the subnormal test gammas."""
    ref = torch.load(FIXTURES / "palette_places2_schedules.pt", weights_only=True)["outputs"]["schedules"]
    for phase, want in ref.items():
        arrays = schedule_arrays(make_beta_schedule(**want["config"]))
        for key, exp in want["float64"].items():
            # np.log may differ by 1 ulp between numpy builds; everything else is bit-exact
            np.testing.assert_allclose(arrays[key], exp.numpy(), rtol=1e-15, atol=0, err_msg=f"{phase}.{key}")
        for key, exp in schedule_buffers(arrays).items():
            assert torch.equal(exp, want["buffers_float32"][key]), f"{phase}.{key}"
    test = ref["test"]["buffers_float32"]["gammas"]
    tiny = torch.finfo(torch.float32).tiny
    assert 0 < test[1999] < tiny and test[1938] >= tiny and test[1939] < tiny  # subnormal from 1939 on
    net = build_network("tiny")  # registers the test schedule; set_new_noise_schedule switches phase
    assert torch.equal(net.gammas, test)
    net.set_new_noise_schedule("train")
    assert torch.equal(net.gammas, ref["train"]["buffers_float32"]["gammas"])


def test_places2_network_matches_the_public_checkpoint_manifest():
    manifest = json.loads((FIXTURES / "palette_network_inpainting_places2__16_Network.json").read_text())
    with torch.device("meta"):
        net = build_network("places2_inpainting")
    assert_matches_manifest(net, manifest["keys"])
    assert sum(p.numel() for p in net.parameters()) == manifest["num_parameters"] == 62_641_347
    unet_cfg = manifest["architecture"]["config_from_json"]["unet"]
    assert {k: v for k, v in CONFIGS["places2_inpainting"]["unet"].items() if k != "dropout"} == \
        {k: v for k, v in unet_cfg.items() if k != "dropout"}
    json_schedule = manifest["architecture"]["config_from_json"]["beta_schedule"]
    assert CONFIGS["places2_inpainting"]["beta_schedule"] == json_schedule


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return PaletteGenerator(build_network("tiny")).eval()


def test_tiny32_config_is_the_shipped_checkpoints_architecture():
    state = torch.load(PROJECT_ROOT / "checkpoints" / "palette_tiny_clipart.pt", weights_only=True)
    built = build_network("tiny32").state_dict()
    assert built.keys() == state.keys() and all(v.shape == state[k].shape for k, v in built.items())


def test_encode_returns_the_encoder_feature_maps(tiny):
    x, mask = torch.rand(2, 3, 64, 64), center_hole(64, 0.5)
    feats = tiny.encode(x, mask, generator=torch.Generator().manual_seed(0))
    shapes = [tuple(f.shape) for f in feats]
    assert shapes == [(2, 32, 64, 64)] * 3 + [(2, 32, 32, 32)] + [(2, 64, 32, 32)] * 2 + [(2, 64, 16, 16)] * 3 \
        + [(2, 64, 8, 8)] * 4  # 12 input blocks + middle block, as the Places2 layout
    again = tiny.encode(x, mask, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(feats, again))
    draw = tiny.draw(x, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(feats, tiny.encode(x, mask, draw=draw)))
    assert ((draw.gammas > 0) & (draw.gammas < 1)).all() and draw.gammas.shape == (2, 1)
    with pytest.raises(ValueError, match="explicit draw"):
        tiny.encode(x, mask)


def test_forget_label_replaces_the_hole_by_pure_noise(tiny):
    x, mask = torch.rand(2, 3, 64, 64), center_hole(64, 0.5)
    draw = tiny.draw(x, torch.Generator().manual_seed(1))
    inp = tiny._unet_input(x, mask, draw, labels=torch.tensor([1.0, -1.0]))
    plain = tiny._unet_input(x, mask, draw)
    assert torch.equal(inp[0], plain[0])  # retain sample: the usual noisy target
    hole = mask[0].bool().expand(3, -1, -1)
    torch.testing.assert_close(inp[1, 3:][hole], draw.noise[1][hole])  # forget: y_t = noise in the hole
    assert torch.equal(inp[1, 3:][~hole], (x[1] * 2 - 1)[~hole])  # known region and condition unchanged


def test_encoder_and_decoder_parameters_partition_the_model(tiny):
    enc = {id(p) for p in tiny.encoder_parameters()}
    dec = {id(p) for p in tiny.decoder_parameters()}
    assert not enc & dec and enc | dec == {id(p) for p in tiny.parameters()}
    assert {id(p) for p in tiny.unet.cond_embed.parameters()} <= enc


def test_generative_loss_is_finite_and_reaches_the_decoder():
    torch.manual_seed(0)
    gen = PaletteGenerator(build_network("tiny"))
    loss = gen.generative_loss(torch.rand(2, 3, 64, 64), center_hole(64, 0.5), torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and gen.unet.out[2].weight.grad is not None


def test_inpaint_keeps_known_pixels_is_seeded_and_batched(tiny):
    x, mask = torch.rand(3, 3, 64, 64), center_hole(64, 0.5)
    out = tiny.inpaint(x, mask, torch.Generator().manual_seed(0), steps=3)
    keep = (1 - mask).bool().expand_as(x)
    assert torch.equal(out[keep], x[keep]) and not torch.equal(out[~keep], x[~keep])
    assert 0 <= out.min() and out.max() <= 1
    assert torch.equal(out, tiny.inpaint(x, mask, torch.Generator().manual_seed(0), steps=3))
    assert not torch.equal(out, tiny.inpaint(x, mask, torch.Generator().manual_seed(1), steps=3))
    per_mask = torch.zeros(3, 1, 64, 64)
    per_mask[1, :, :16] = 1  # per-sample masks in one batch
    out2 = tiny.inpaint(x, per_mask, torch.Generator().manual_seed(0), steps=2)
    assert torch.equal(out2[0], x[0]) and torch.equal(out2[1, :, 16:], x[1, :, 16:])


def test_respaced_schedule_keeps_evenly_spaced_noise_levels_and_chains_them(tiny):
    net = tiny.network
    s = net.respaced_schedule(5)
    idx = torch.linspace(0, net.num_timesteps - 1, 5).round().long()
    assert s["gammas"].shape == (5,)
    torch.testing.assert_close(s["gammas"], net.gammas[idx], rtol=1e-6, atol=0)  # float64 -> 32 round trip
    assert all(torch.isfinite(v).all() for v in s.values())
    # the DDPM posterior q(y_{i-1} | y_i, y_0) between consecutive kept levels (Ho et al. 2020, Eq. 7),
    # with alpha_i = gamma_i / gamma_{i-1}: the respaced chain skips the dropped levels
    g = net.gammas[idx].double()
    g_prev = torch.cat([torch.ones(1, dtype=g.dtype), g[:-1]])
    alpha = g / g_prev
    torch.testing.assert_close(s["posterior_mean_coef1"], ((1 - alpha) * g_prev.sqrt() / (1 - g)).float())
    torch.testing.assert_close(s["posterior_mean_coef2"], ((1 - g_prev) * alpha.sqrt() / (1 - g)).float())
    assert net.respaced_schedule(net.num_timesteps)["gammas"] is net.gammas
    for bad in (1, net.num_timesteps + 1):
        with pytest.raises(ValueError, match="steps must be"):
            net.respaced_schedule(bad)


def test_checkpoint_loading(tmp_path):
    torch.manual_seed(0)
    good = build_network("tiny").state_dict()
    good["gammas"] = good["gammas"] * 0.5  # checkpoint buffers override the config schedule
    torch.save({"module." + k: v for k, v in good.items()}, tmp_path / "ddp.pth")
    loaded = load_palette_checkpoint(tmp_path / "ddp.pth", "tiny").network.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in good.items())
    teacher = dict(good, **{"teacher_denoise_fn.out.2.bias": torch.zeros(3)})
    torch.save(teacher, tmp_path / "unlearned.pth")
    with pytest.warns(UserWarning, match="teacher_denoise_fn"):
        load_palette_checkpoint(tmp_path / "unlearned.pth", "tiny")
    bad = dict(good)
    bad.pop("gammas")
    bad["denoise_fn.extra.weight"] = torch.zeros(1)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=r"missing keys \[gammas\].*unexpected keys \[denoise_fn.extra.weight\]"):
        load_palette_checkpoint(tmp_path / "bad.pth", "tiny")
    with pytest.raises(ValueError, match="shape mismatches"):
        load_palette_checkpoint(tmp_path / "ddp.pth", {**CONFIGS["tiny"], "unet": {**CONFIGS["tiny"]["unet"],
                                                                                   "inner_channel": 64}})
    with pytest.raises(FileNotFoundError, match="16_Network.pth"):
        load_palette_checkpoint(tmp_path / "absent.pth", "places2_inpainting")
