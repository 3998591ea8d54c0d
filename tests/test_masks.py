import pytest
import torch

from l2l_utils.masks import apply_mask, center_hole, make_mask, outpaint_border, parse_task, random_patch_mask


@pytest.mark.parametrize("ratio,side", [(0.25, 16), (0.5, 32)])
def test_center_hole_is_a_centred_square(ratio, side):
    m = center_hole(64, ratio)
    assert m.sum() == side * side
    rows = m[0, 0].sum(1).nonzero().flatten()
    assert rows.min() == (64 - side) // 2 and rows.max() == (64 + side) // 2 - 1


def test_outpaint_border_width():
    m = outpaint_border(64, 0.5)  # strips of int(64*0.5/2) = 16 px
    assert m[0, 0, 16:48, 16:48].sum() == 0
    assert m.sum() == 64 * 64 - 32 * 32


def test_random_patch_mask_hides_exact_patch_count_per_image():
    g = torch.Generator().manual_seed(0)
    m = random_patch_mask(5, 32, 8, 0.75, g)
    per_patch = m[:, 0, ::8, ::8]
    assert per_patch.flatten(1).sum(1).tolist() == [12.0] * 5
    # patch aligned: every 8x8 block is constant
    blocks = m.view(5, 1, 4, 8, 4, 8)
    assert torch.equal(blocks.amax((3, 5)), blocks.amin((3, 5)))
    assert not torch.equal(m[0], m[1])


def test_one_mask_applies_identically_to_image_and_noise():
    g = torch.Generator().manual_seed(0)
    x, noise = torch.rand(4, 3, 32, 32, generator=g), torch.rand(4, 3, 32, 32, generator=g)
    mask = make_mask("random_0.5", 4, 32, 8, g)
    tx, tn = apply_mask(x, mask), apply_mask(noise, mask)
    hole = mask.expand_as(x).bool()
    assert (tx[hole] == 0).all() and (tn[hole] == 0).all()
    assert torch.equal(tx[~hole], x[~hole]) and torch.equal(tn[~hole], noise[~hole])


@pytest.mark.parametrize("bad", ["center", "center_1.5", "blur_0.5", "center_x"])
def test_bad_task_names(bad):
    with pytest.raises(ValueError, match="bad task"):
        parse_task(bad)


def test_random_masks_need_an_explicit_generator():
    with pytest.raises(ValueError, match="torch.Generator"):
        make_mask("random_0.5", 2, 32, 8)
