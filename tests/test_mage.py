"""MAGE + MaskGIT VQGAN: reference parity, public-checkpoint layouts, and the family interface."""
import json
import math
from pathlib import Path

import pytest
import torch

from l2l_utils.masks import center_hole
from l2l_utils.models.mage import (CONFIGS, MAGEGenerator, build_mage, hole_tokens, load_mage_checkpoint,
                                   pad_class_column)
from l2l_utils.models.parity import run_reference_case
from l2l_utils.models.vqgan import CONFIGS as VQGAN_CONFIGS
from l2l_utils.models.vqgan import build_vqgan, load_vqgan_checkpoint
from test_parity import assert_matches_manifest, assert_outputs_match

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return MAGEGenerator(build_mage("tiny")).eval()


def test_reference_parity_on_every_output():
    case = torch.load(FIXTURES / "mage_small.pt", weights_only=True)
    expected = case.pop("outputs")
    assert_outputs_match(run_reference_case("mage", case), expected)


def test_token_masks_follow_the_reference_algorithm():
    case = torch.load(FIXTURES / "mage_small.pt", weights_only=True)
    skip = {"norm_layer", "norm_layer_eps", "norm_pix_loss"}
    model = build_mage({k: v for k, v in case["config"].items() if not k.startswith("_") and k not in skip})
    inp = case["inputs"]
    drop, masked = model.token_masks(inp["mask_noise"], inp["mask_rate"])
    assert torch.equal(drop, inp["token_drop_mask_raw"]) and torch.equal(masked, inp["token_all_mask_raw"])
    rate = model.sample_mask_rate(torch.Generator().manual_seed(1))
    assert 0.5 <= rate <= 1.0


def test_runner_follows_the_case_not_the_shipped_file(tiny):
    """Another case of the same format (tiny config, batch 3) runs, and agrees with the model's forward."""
    m = tiny.mage
    g = torch.Generator().manual_seed(5)
    x = torch.rand(3, 3, 64, 64, generator=g)
    drop, masked = m.token_masks(torch.rand(3, 64, generator=g), 0.7)
    ids = m.tokenize(x).clone()
    ids[:, :20] = m.mask_token_label
    inputs = {"imgs": x, "token_drop_mask_raw": drop, "token_all_mask_raw": masked,
              "decode_tokens": torch.randint(0, m.codebook_size, (3, 64), generator=g),
              "decode_step": {"token_indices": ids, "step": 10, "num_iter": 20, "choice_temperature": 6.0,
                              "unknown_number_in_the_beginning": 64,
                              "sample_gumbel": torch.rand(3, 64, m.codebook_size, generator=g),
                              "gumbel": torch.rand(3, 64, generator=g, dtype=torch.float64)}}
    cfg = {**CONFIGS["tiny"], "norm_layer_eps": 1e-6, "_mask_rate": 0.7}
    out = run_reference_case("mage", {"config": cfg, "state_dict": m.state_dict(), "inputs": inputs})
    with torch.no_grad():
        loss = m(x, drop, masked)
    torch.testing.assert_close(out["loss"], loss)
    assert out["encoder_latent"].shape == (3, 1 + 64 - 32, CONFIGS["tiny"]["embed_dim"])
    # 20 unknown tokens: floor(64 * cos(pi/2 * 11/20)) = 41 would re-mask all, so 20 - 1 are kept masked
    assert out["decode_step"]["mask_len"].tolist() == [[min(19, math.floor(64 * math.cos(math.pi / 2 * 11 / 20)))]] * 3
    k = m.codebook_size
    assert out["constants"]["fake_class_label"] == k + 76 and out["constants"]["mask_token_label"] == k + 1000


def _manifest(name):
    return json.loads((FIXTURES / name).read_text())


def test_vit_base_matches_the_public_mage_checkpoint_manifest():
    manifest = _manifest("mage_vit_base_patch16__mage-vitb-1600.json")
    with torch.device("meta"):
        model = build_mage("vit_base_patch16")
    assert_matches_manifest(model, manifest["keys"])
    assert model.state_dict()["token_emb.position_ids"].dtype == torch.int64
    floats = sum(v.numel() for v in model.state_dict().values() if v.is_floating_point())
    assert floats == manifest["num_float_elements_in_state_dict"]
    assert (model.fake_class_label, model.mask_token_label) == (1100, 2024)


def test_maskgit_vqgan_matches_the_public_tokenizer_manifest():
    manifest = _manifest("vqgan_maskgit_f16_1024__vqgan_jax_strongaug.json")
    with torch.device("meta"):
        model = build_vqgan("maskgit_f16_1024")
    assert_matches_manifest(model, manifest["keys"])
    assert sum(p.numel() for p in model.parameters()) == manifest["num_parameters"]


def test_encode_is_the_masked_token_latent_and_ignores_hidden_pixels(tiny):
    x = torch.rand(2, 3, 64, 64)
    mask = center_hole(64, 0.5)  # 32 px = 4x4 tokens touched, 6x6 with the 1-token margin
    assert tiny.token_mask(mask, 2).sum(dim=1).tolist() == [36, 36]
    z = tiny.encode(x, mask)
    assert z.shape == (2, 1 + 64, CONFIGS["tiny"]["embed_dim"])
    x2 = x.clone()
    x2[..., 16:48, 16:48] = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(tiny.encode(x2, mask), z)


def test_parameter_groups_partition_the_trainable_model_and_vqgan_is_frozen(tiny):
    enc = {id(p) for p in tiny.encoder_parameters()}
    dec = {id(p) for p in tiny.decoder_parameters()}
    vq = {id(p) for p in tiny.mage.vqgan.parameters()}
    trainable = {id(p) for p in tiny.parameters() if p.requires_grad}
    assert not enc & dec and not (enc | dec) & vq
    assert enc | dec == trainable
    assert not any(p.requires_grad for p in tiny.mage.vqgan.parameters())
    assert {id(p) for p in tiny.mage.token_emb.parameters()} <= enc
    assert {id(p) for p in tiny.mage.mlm_layer.parameters()} <= dec


def test_generative_loss_is_finite_and_trains_the_transformer_only(tiny):
    tiny.zero_grad()
    loss = tiny.generative_loss(torch.rand(2, 3, 64, 64), center_hole(64, 0.5))
    loss.backward()
    assert torch.isfinite(loss)
    assert tiny.mage.mlm_layer.fc.weight.grad is not None and tiny.mage.blocks[0].attn.qkv.weight.grad is not None
    assert all(p.grad is None for p in tiny.mage.vqgan.parameters())
    tiny.zero_grad()


def test_inpaint_keeps_known_pixels_and_is_seeded(tiny):
    x = torch.rand(3, 3, 64, 64)
    mask = center_hole(64, 0.5)
    out = tiny.inpaint(x, mask, torch.Generator().manual_seed(0), num_iter=8)
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1
    keep = (1 - mask).bool().expand_as(x)
    assert torch.equal(out[keep], x[keep])
    again = tiny.inpaint(x, mask, torch.Generator().manual_seed(0), num_iter=8)
    assert torch.equal(out, again)
    other = tiny.inpaint(x, mask, torch.Generator().manual_seed(1), num_iter=8)
    assert not torch.equal(out, other)


def test_token_temperature_tempers_the_sampled_distribution(tiny):
    from l2l_utils.models.mage import decode_step, gumbel
    m, g = tiny.mage, torch.Generator().manual_seed(0)
    cur = torch.full((2, m.seq_len), m.mask_token_label)
    noise = gumbel((2, m.seq_len, m.codebook_size), g).float(), gumbel((2, m.seq_len), g)
    step = dict(step=0, num_iter=8, choice_temperature=6.0, sample_gumbel=noise[0], mask_gumbel=noise[1],
                num_tokens_total=m.seq_len)
    reference = decode_step(m, cur, **step)  # temperature 1: logits + Gumbel noise, testpaint.py's sampling
    assert torch.equal(reference["sampled_ids_raw"], (reference["logits"] + noise[0]).argmax(-1))
    assert not torch.equal(reference["sampled_ids_raw"], reference["logits"].argmax(-1))
    greedy = decode_step(m, cur, token_temperature=1e-6, **step)  # -> the most likely token everywhere
    assert torch.equal(greedy["sampled_ids_raw"], reference["logits"].argmax(-1))


def test_true_token_fill_is_what_a_transformer_predicting_the_true_tokens_inpaints(tiny, monkeypatch):
    m, x, mask = tiny.mage, torch.rand(2, 3, 64, 64), center_hole(64, 0.5)
    true = m.tokenize(x)
    oracle = torch.full((2, 1 + m.seq_len, m.vocab_size), -1e4)  # every hole token certain, beyond any Gumbel draw
    oracle[:, 1:].scatter_(-1, true.unsqueeze(-1), 1e4)
    monkeypatch.setattr(m, "forward_decoder", lambda *args: oracle)
    ceiling = tiny.true_token_fill(x, mask)
    assert torch.equal(tiny.inpaint(x, mask, torch.Generator().manual_seed(0), num_iter=8), ceiling)
    keep = (1 - mask).bool().expand_as(x)
    assert torch.equal(ceiling[keep], x[keep])
    whole = torch.ones(1, 1, 64, 64)  # every token regenerated: the tokenizer's reconstruction
    assert torch.equal(tiny.true_token_fill(x, whole), tiny.decode_tokens(true))


def test_inpaint_with_nothing_hidden_returns_the_input(tiny):
    x = torch.rand(1, 3, 64, 64)
    assert torch.equal(tiny.inpaint(x, torch.zeros(1, 1, 64, 64), torch.Generator().manual_seed(0)), x)


def test_pad_class_column():
    t = pad_class_column(torch.ones(2, 3), 0)
    assert t.tolist() == [[0, 1, 1, 1]] * 2


def test_checkpoint_loading_is_strict_with_clear_errors(tmp_path, tiny):
    good = tiny.mage.state_dict()
    torch.save({"model": good, "epoch": 3}, tmp_path / "ok.pth")
    loaded = load_mage_checkpoint(tmp_path / "ok.pth", "tiny").mage.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in good.items())
    bad = {k: v for k, v in good.items() if not k.startswith("vqgan.")}
    bad["extra.weight"] = torch.zeros(1)
    torch.save({"model": bad}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=r"missing keys \[vqgan\..*unexpected keys \[extra.weight\]"):
        load_mage_checkpoint(tmp_path / "bad.pth", "tiny")
    torch.save(good, tmp_path / "flat.pth")
    with pytest.raises(ValueError, match="no top-level 'model'"):
        load_mage_checkpoint(tmp_path / "flat.pth", "tiny")
    with pytest.raises(FileNotFoundError, match="mage-vitb-1600"):
        load_mage_checkpoint(tmp_path / "absent.pth")


def test_tokenizer_checkpoint_flat_or_wrapped(tmp_path, tiny):
    sd = tiny.mage.vqgan.state_dict()
    torch.save({"state_dict": sd}, tmp_path / "wrapped.ckpt")
    torch.save(sd, tmp_path / "flat.ckpt")
    for name in ("wrapped.ckpt", "flat.ckpt"):
        vq = load_vqgan_checkpoint(tmp_path / name, "tiny")
        assert torch.equal(vq.quantize.embedding.weight, sd["quantize.embedding.weight"])
    with pytest.raises(ValueError, match="shape mismatches"):
        load_vqgan_checkpoint(tmp_path / "flat.ckpt", {**VQGAN_CONFIGS["tiny"], "n_embed": 256})


@pytest.mark.parametrize("config, grid, regenerated", [("tiny", 8, 36), ("tiny_f4", 16, 100),
                                                       ("vit_base_patch16", 16, 100)])
def test_token_grid_and_regenerated_hole_per_config(config, grid, regenerated):
    """The r = 1/2 centre hole with the reference's 1-token margin regenerates 100 of 256 tokens on the
    public 16 x 16 grid; "tiny_f4" keeps that geometry at 64 px, "tiny" (8 x 8) regenerates 36 of 64."""
    cfg = CONFIGS[config]
    downsample = 2 ** (len(VQGAN_CONFIGS[cfg["vqgan"]]["ddconfig"]["ch_mult"]) - 1)
    assert downsample == cfg["patch_size"] and cfg["img_size"] // downsample == grid
    mask = center_hole(cfg["img_size"], 0.5)
    assert hole_tokens(mask, downsample, margin=1).shape == (1, grid * grid)
    assert int(hole_tokens(mask, downsample, margin=1).sum()) == regenerated
    assert int(hole_tokens(mask, downsample, margin=0).sum()) == (grid // 2) ** 2


def test_the_scaled_init_changes_only_the_word_and_decoder_position_scales_and_separates_the_hole_positions():
    from l2l_utils.models.mage import INIT_STD, SCALED_INIT
    models = {}
    for name, init in (("reference", {}), ("scaled", SCALED_INIT)):
        torch.manual_seed(0)
        models[name] = build_mage("tiny", **init)
    reference, scaled = (dict(models[k].named_parameters()) for k in ("reference", "scaled"))
    changed = {"token_emb.word_embeddings.weight": SCALED_INIT["word_init_std"],
               "decoder_pos_embed_learned": SCALED_INIT["decoder_pos_init_std"]}
    for name, p in reference.items():
        if name in changed:  # the same draws, rescaled: the seeded stream is not shifted
            torch.testing.assert_close(scaled[name], p * changed[name] / INIT_STD)
            assert scaled[name].std().item() == pytest.approx(changed[name], rel=0.05)
        else:
            assert torch.equal(scaled[name], p), name
    # What the decoder's first block sees at the 36 hole positions of a centre r = 1/2 hole: every one is
    # the class token's vector plus its position, so at the reference's scale they are nearly one vector;
    # at the scaled one content and position are level, cosine ~1/2 between independent positions.
    gen = MAGEGenerator(models["reference"])
    hole = gen.token_mask(center_hole(64, 0.5), 1)[0]
    for name, model in models.items():
        model.eval()  # no dropout
        latent = model.forward_encoder(model.input_tokens(torch.zeros(1, model.seq_len, dtype=torch.long),
                                                          hole.unsqueeze(0).float()))
        x = model.decoder_embed(latent)[:, :1] + model.decoder_pos_embed_learned[:, 1:][:, hole]
        x = model.decoder_blocks[0].norm1(x)[0]
        cos = torch.nn.functional.cosine_similarity(x.unsqueeze(0), x.unsqueeze(1), dim=-1)
        off_diagonal = cos[~torch.eye(len(x), dtype=torch.bool)]
        assert (off_diagonal.min() > 0.99) if name == "reference" else (off_diagonal.mean() < 0.75), name
