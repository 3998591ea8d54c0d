import json
from pathlib import Path

import pytest
import torch

from l2l_utils.masks import center_hole, make_mask
from l2l_utils.models.mae import CONFIGS, build_mae, load_mae_checkpoint, sincos_pos_embed
from test_parity import assert_matches_manifest

FIXTURES = Path(__file__).parent / "fixtures"


def test_patchify_roundtrip(micro_mae):
    x = torch.rand(2, 3, 32, 32)
    p = micro_mae.mae.patchify(x)
    assert p.shape == (2, 16, 8 * 8 * 3)
    assert torch.equal(micro_mae.mae.unpatchify(p), x)


def test_sincos_table_matches_its_definition():
    t = sincos_pos_embed(8, 3)[0]
    assert torch.equal(t[0], torch.zeros(8))
    # patch (row 1, col 2) = index 1*3+2 = 5 (+1 for cls); channels [0,4) encode the column
    col, row = 2.0, 1.0
    expect = torch.tensor([torch.sin(torch.tensor(col)), torch.sin(torch.tensor(col / 100)),
                           torch.cos(torch.tensor(col)), torch.cos(torch.tensor(col / 100)),
                           torch.sin(torch.tensor(row)), torch.sin(torch.tensor(row / 100)),
                           torch.cos(torch.tensor(row)), torch.cos(torch.tensor(row / 100))])
    torch.testing.assert_close(t[1 + 5], expect)


def test_encode_sees_only_visible_patches(micro_mae):
    x = torch.rand(3, 3, 32, 32)
    z = micro_mae.encode(x, center_hole(32, 0.5))  # hole = 2x2 of the 4x4 patches
    assert z.shape == (3, 1 + 12, 32)
    # the hidden pixels do not influence the embedding
    x2 = x.clone()
    x2[..., 8:24, 8:24] = torch.rand(3, 3, 16, 16)
    torch.testing.assert_close(micro_mae.encode(x2, center_hole(32, 0.5)), z)


def test_inpaint_keeps_given_pixels_and_fills_hole(micro_mae):
    x = torch.rand(2, 3, 32, 32)
    mask = center_hole(32, 0.5)
    out = micro_mae.inpaint(x, mask)
    keep = (1 - mask).bool().expand_as(x)
    assert torch.equal(out[keep], x[keep])
    assert not torch.equal(out[~keep], x[~keep])
    assert 0 <= out.min() and out.max() <= 1


def test_unequal_patch_counts_in_a_batch_are_rejected(micro_mae):
    mask = torch.zeros(2, 1, 32, 32)
    mask[0, :, :8, :8] = 1
    mask[1, :, :16, :8] = 1
    with pytest.raises(ValueError, match="same number of patches"):
        micro_mae.encode(torch.rand(2, 3, 32, 32), mask)


def test_encoder_and_decoder_parameters_partition_the_model(micro_mae):
    enc = {id(p) for p in micro_mae.encoder_parameters()}
    dec = {id(p) for p in micro_mae.decoder_parameters()}
    trainable = {id(p) for p in micro_mae.parameters() if p.requires_grad}
    assert not enc & dec
    assert enc | dec == trainable  # pos embeddings are fixed tables, neither


def test_generative_loss_is_finite_and_differentiable(micro_mae):
    g = torch.Generator().manual_seed(0)
    loss = micro_mae.generative_loss(torch.rand(2, 3, 32, 32), make_mask("random_0.75", 2, 32, 8, g))
    loss.backward()
    assert torch.isfinite(loss) and micro_mae.mae.decoder_pred.weight.grad is not None


def test_vit_large_matches_the_public_checkpoint_manifest():
    manifest = json.loads((FIXTURES / "mae_vit_large_patch16__mae_visualize_vit_large.json").read_text())
    with torch.device("meta"):
        model = build_mae("vit_large_patch16")
    assert_matches_manifest(model, manifest["keys"])
    assert sum(v.numel() for v in model.state_dict().values()) == manifest["num_float_elements_in_state_dict"]


def test_checkpoint_loading_names_bad_keys(tmp_path):
    torch.manual_seed(0)
    good = build_mae("tiny").state_dict()
    torch.save({"model": good}, tmp_path / "ok.pt")
    loaded = load_mae_checkpoint(tmp_path / "ok.pt", "tiny").mae.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in good.items())
    bad = dict(good)
    bad.pop("norm.weight")
    bad["extra.weight"] = torch.zeros(1)
    torch.save({"model": bad}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"missing keys \[norm.weight\].*unexpected keys \[extra.weight\]"):
        load_mae_checkpoint(tmp_path / "bad.pt", "tiny")
    with pytest.raises(ValueError, match="shape mismatches"):
        load_mae_checkpoint(tmp_path / "ok.pt", {**CONFIGS["tiny"], "embed_dim": 64})
    with pytest.raises(FileNotFoundError, match="mae_visualize_vit_large"):
        load_mae_checkpoint(tmp_path / "absent.pt", "vit_large_patch16")
