"""Transformations T of the I2I unlearning paper (Li et al., ICLR 2024, Sec. 5): the partial view
a generator sees. A mask is a float tensor (B or 1, 1, H, W) with 1 on the pixels to generate
(the hole) and 0 on the pixels the generator is given.

The same mask tensor is applied to a real image and to the noise image that forms the forget
target, so both pass through the identical T (``apply_mask``).

Tasks are named as in the released evaluation CSVs: ``center_<r>`` (square hole of side r*H),
``outpaint_<r>`` (four border strips of width int(H*r/2)), and ``random_<r>`` (a fraction r of
patches, drawn per image; used for training, as in MAE pre-training).
"""
from __future__ import annotations

import torch

TASK_KINDS = ("center", "outpaint", "random")


def parse_task(task: str) -> tuple[str, float]:
    """'center_0.5' -> ('center', 0.5), with a clear error for anything else."""
    kind, _, ratio = task.partition("_")
    try:
        r = float(ratio)
    except ValueError:
        r = None
    if kind not in TASK_KINDS or r is None or not 0.0 < r < 1.0:
        raise ValueError(f"bad task {task!r}: expected '<kind>_<ratio>' with kind in {TASK_KINDS} "
                         "and 0 < ratio < 1, e.g. 'center_0.5'")
    return kind, r


def center_hole(size: int, ratio: float) -> torch.Tensor:
    """Centred square hole of side round(size*ratio): the paper's inpainting T (r = 1/4, 1/2)."""
    side = round(size * ratio)
    if not 0 < side < size:
        raise ValueError(f"ratio {ratio} gives a hole of side {side} in a {size}-pixel image")
    m = torch.zeros(1, 1, size, size)
    lo = (size - side) // 2
    m[..., lo:lo + side, lo:lo + side] = 1.0
    return m


def outpaint_border(size: int, ratio: float) -> torch.Tensor:
    """Four border strips of width int(size*ratio/2) to generate; the centre is given
    (released MAGE evaluation code, ``outpaint_<r>``)."""
    w = int(size * ratio / 2)
    if not 0 < w < size // 2:
        raise ValueError(f"ratio {ratio} gives a border of width {w} in a {size}-pixel image")
    m = torch.ones(1, 1, size, size)
    m[..., w:size - w, w:size - w] = 0.0
    return m


def random_patch_mask(batch: int, size: int, patch: int, ratio: float,
                      generator: torch.Generator) -> torch.Tensor:
    """Hide exactly round(L*ratio) of the L patches of each image, drawn independently per image."""
    if size % patch:
        raise ValueError(f"image size {size} is not a multiple of the patch size {patch}")
    grid = size // patch
    n_hide = round(grid * grid * ratio)
    order = torch.rand(batch, grid * grid, generator=generator).argsort(dim=1)
    hidden = torch.zeros(batch, grid * grid)
    hidden.scatter_(1, order[:, :n_hide], 1.0)
    return hidden.view(batch, 1, grid, grid).repeat_interleave(patch, 2).repeat_interleave(patch, 3)


def make_mask(task: str, batch: int, size: int, patch: int = 1,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """The mask of a named task, broadcast to ``batch`` images."""
    kind, r = parse_task(task)
    if kind == "center":
        return center_hole(size, r).expand(batch, -1, -1, -1)
    if kind == "outpaint":
        return outpaint_border(size, r).expand(batch, -1, -1, -1)
    if generator is None:
        raise ValueError("random masks need an explicit torch.Generator (no hidden global seed)")
    return random_patch_mask(batch, size, patch, r, generator)


def apply_mask(x: torch.Tensor, mask: torch.Tensor, fill: float | torch.Tensor = 0.0) -> torch.Tensor:
    """T(x): keep the given pixels, replace the hole by ``fill``."""
    if mask.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"mask {tuple(mask.shape)} does not match images {tuple(x.shape)}")
    return x * (1 - mask) + fill * mask
