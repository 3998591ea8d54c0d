"""Numerical parity with the reference implementations (shared/reference-fixtures).

Tolerance rtol = atol = 1e-4 on float32 CPU outputs, as the fixtures' README recommends: bit-exactness
needs the same op order and thread count; observed differences (timm 1.x fused attention vs
timm 0.3.2) are <= 1.1e-6. Integer and boolean outputs must match exactly.
"""
from pathlib import Path

import pytest
import torch

from l2l_utils.models.parity import run_reference_case

FIXTURES = Path(__file__).parent / "fixtures"


def assert_outputs_match(actual, expected, path=""):
    """Recursive comparison of fixture outputs: dicts by key, lists by position (Palette's
    ``unet_feats``), floats within the tolerance above, everything else exactly."""
    if isinstance(expected, dict):
        assert set(actual) == set(expected), f"{path}: keys differ"
        for key in expected:
            assert_outputs_match(actual[key], expected[key], f"{path}.{key}" if path else key)
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_outputs_match(a, e, f"{path}[{i}]")
    elif isinstance(expected, torch.Tensor) and expected.is_floating_point():
        assert actual.shape == expected.shape and actual.dtype == expected.dtype, path
        torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4, msg=path)
    elif isinstance(expected, torch.Tensor):
        assert actual.dtype == expected.dtype and torch.equal(actual, expected), path
    else:
        assert actual == expected, path


def assert_matches_manifest(model, keys: dict) -> None:
    """``model`` (built on the meta device) has exactly the manifest's keys and shapes, and a state
    dict of that layout loads strictly (int64 for ``position_ids`` buffers, float32 otherwise)."""
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == keys
    state = {k: torch.empty(shape, device="meta",
                            dtype=torch.int64 if k.endswith("position_ids") else torch.float32)
             for k, shape in keys.items()}
    model.load_state_dict(state, strict=True, assign=True)


@pytest.mark.parametrize("family,name", [("mae", "mae_small.pt")])
def test_reference_parity(family, name):
    case = torch.load(FIXTURES / name, weights_only=True)
    expected = case.pop("outputs")
    assert_outputs_match(run_reference_case(family, case), expected)


def test_case_with_outputs_or_unknown_family_is_refused():
    case = torch.load(FIXTURES / "mae_small.pt", weights_only=True)
    with pytest.raises(ValueError, match="without its 'outputs'"):
        run_reference_case("mae", case)
    with pytest.raises(ValueError, match="no parity runner"):
        run_reference_case("gan", {})


def test_runner_follows_the_case_not_the_shipped_file():
    """Another fixture of the same format (other config, batch and mask ratio) runs too."""
    from l2l_utils.models.mae import MaskedAutoencoderViT
    torch.manual_seed(3)
    cfg = dict(img_size=16, patch_size=4, in_chans=3, embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=16,
               decoder_depth=1, decoder_num_heads=2, mlp_ratio=2.0, norm_pix_loss=True, norm_layer_eps=1e-6)
    model = MaskedAutoencoderViT(**{k: v for k, v in cfg.items() if k != "norm_layer_eps"}).eval()
    x, noise = torch.randn(3, 3, 16, 16), torch.rand(3, 16)
    case = {"config": cfg, "state_dict": model.state_dict(), "inputs": {"imgs": x, "noise": noise, "mask_ratio": 0.5}}
    out = run_reference_case("mae", case)
    with torch.no_grad():
        loss, pred, mask = model(x, 0.5, noise=noise)
    assert out["latent"].shape == (3, 1 + 8, 32) and out["ids_keep"].shape == (3, 8)
    torch.testing.assert_close(out["pred"], pred)
    torch.testing.assert_close(out["loss"], loss)  # norm_pix_loss=True from the config
    assert torch.equal(out["mask"], mask)
