"""The frozen image tokenizer of the VQ-GAN family: a MaskGIT-architecture VQGAN.

MAGE (and the i2i unlearning code, jpmorganchase/i2i_mage @ ae25285) tokenises images with
``vqgan_jax_strongaug.ckpt``, a PyTorch port of the MaskGIT (Chang et al., CVPR 2022) JAX
tokenizer. It lives under taming's class names (``taming.models.vqgan.VQModel``) and key names,
but it is **not** the CompVis taming VQGAN, and a taming re-implementation does not load it:

* no attention anywhere (``attn_resolutions`` is accepted and ignored), no ``quant_conv`` /
  ``post_quant_conv``, so ``z_channels`` must equal the codebook dimension;
* ``Encoder.conv_in`` and every residual conv are ``bias=False``;
* when a residual block changes the width, its ``nin_shortcut`` is a 1x1 conv ``out -> out`` applied
  to the residual branch: ``out = nin_shortcut(h) + h`` (the input is dropped; LTH14/rcg issue #32
  shows the resulting [256, 256, 1, 1] shapes);
* the encoder downsamples by ``avg_pool2d(2)`` (no keys), the decoder upsamples by nearest x2 and a
  3x3 conv, and has ``num_res_blocks`` blocks per level (taming has one more);
* GroupNorm(32 groups, eps 1e-6) and swish everywhere; two residual blocks in each ``mid``.
  ``norm_groups`` (default 32) exists for narrow CPU configs only: at 32 channels, 32 groups is
  instance normalisation, which divides out each image's per-channel scale and with it the colour.

The quantizer is taming's ``VectorQuantizer2`` in its legacy form (beta = 0.25). Images are RGB in
[0, 1] with no normalisation; the token grid is ``H / 2**(len(ch_mult) - 1)``.
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from l2l_utils.models.base import load_state_dict_strict, resolve_config

CONFIGS = {
    # CPU-sized tokenizer for tests and the tiny MAGE: 64 px -> 8x8 tokens, 512 codes of dim 32; 8 norm groups
    # (32 groups at these widths would be instance normalisation, see the module docstring).
    "tiny": dict(embed_dim=32, n_embed=512,
                 ddconfig=dict(ch=32, ch_mult=[1, 1, 2, 2], num_res_blocks=1, z_channels=32, norm_groups=8)),
    # The tiny tokenizer on the public one's grid geometry: 64 px -> 16x16 tokens of 4 px (downsample 4, as
    # 256 px -> 16x16 at full size), 256 codes. The 8x8 grid of "tiny" leaves too little context (its card).
    "tiny_f4": dict(embed_dim=32, n_embed=256,
                    ddconfig=dict(ch=32, ch_mult=[1, 2, 2], num_res_blocks=1, z_channels=32, norm_groups=8)),
    # The public vqgan_jax_strongaug.ckpt (config/vqgan.yaml of MAGE): 256 px -> 16x16 tokens.
    "maskgit_f16_1024": dict(embed_dim=256, n_embed=1024,
                             ddconfig=dict(double_z=False, z_channels=256, resolution=256, in_channels=3, out_ch=3,
                                           ch=128, ch_mult=[1, 1, 2, 2, 4], num_res_blocks=2,
                                           attn_resolutions=[16], dropout=0.0)),
}


def group_norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=groups, num_channels=channels, eps=1e-6, affine=True)


def swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


class ResnetBlock(nn.Module):
    """GN-swish-conv3x3 twice (no conv bias); a width change adds ``nin_shortcut(h)``, not a projected x."""

    def __init__(self, in_channels: int, out_channels: int, groups: int):
        super().__init__()
        self.norm1 = group_norm(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.norm2 = group_norm(out_channels, groups)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(out_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        if hasattr(self, "nin_shortcut"):
            return self.nin_shortcut(h) + h
        return x + h


class Mid(nn.Module):
    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, groups)
        self.block_2 = ResnetBlock(channels, channels, groups)

    def forward(self, x):
        return self.block_2(self.block_1(x))


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Level(nn.Module):
    """One resolution: ``block`` (the residual blocks) and, in the decoder, an optional ``upsample``."""

    def __init__(self, widths: list[int], groups: int, upsample: bool = False):
        super().__init__()
        self.block = nn.ModuleList(ResnetBlock(a, b, groups) for a, b in zip(widths[:-1], widths[1:]))
        if upsample:
            self.upsample = Upsample(widths[-1])


def _check_ddconfig(double_z=False, dropout=0.0, attn_resolutions=None, resolution=None, **kept) -> dict:
    """Keep the arguments the MaskGIT architecture uses; refuse settings it cannot express.

    ``attn_resolutions`` and ``resolution`` are accepted so that taming-style configs load, and ignored.
    """
    if double_z or dropout:
        raise ValueError(f"the MaskGIT VQGAN has double_z=False and dropout=0 (got {double_z}, {dropout})")
    return kept


class Encoder(nn.Module):
    def __init__(self, ch: int, ch_mult, num_res_blocks: int, z_channels: int, in_channels: int = 3,
                 norm_groups: int = 32):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1, bias=False)
        widths = [ch] + [ch * m for m in ch_mult]
        self.down = nn.ModuleList(Level([widths[i]] + [widths[i + 1]] * num_res_blocks, norm_groups)
                                  for i in range(len(ch_mult)))
        self.mid = Mid(widths[-1], norm_groups)
        self.norm_out = group_norm(widths[-1], norm_groups)
        self.conv_out = nn.Conv2d(widths[-1], z_channels, 1)

    def forward(self, x):
        h = self.conv_in(x)
        for i, level in enumerate(self.down):
            for blk in level.block:
                h = blk(h)
            if i != len(self.down) - 1:
                h = F.avg_pool2d(h, 2)
        return self.conv_out(swish(self.norm_out(self.mid(h))))


class Decoder(nn.Module):
    def __init__(self, ch: int, ch_mult, num_res_blocks: int, z_channels: int, out_ch: int = 3,
                 norm_groups: int = 32):
        super().__init__()
        top = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, top, 3, padding=1)
        self.mid = Mid(top, norm_groups)
        levels, width_in = [], top
        for i in reversed(range(len(ch_mult))):
            width = ch * ch_mult[i]
            levels.insert(0, Level([width_in] + [width] * num_res_blocks, norm_groups, upsample=i != 0))
            width_in = width
        self.up = nn.ModuleList(levels)
        self.norm_out = group_norm(width_in, norm_groups)
        self.conv_out = nn.Conv2d(width_in, out_ch, 3, padding=1)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            for blk in level.block:
                h = blk(h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


class VectorQuantizer(nn.Module):
    """Nearest-codebook quantisation (taming ``VectorQuantizer2``, legacy loss, beta 0.25)."""

    def __init__(self, n_e: int, e_dim: int, beta: float = 0.25):
        super().__init__()
        self.n_e, self.e_dim, self.beta = n_e, e_dim, beta
        self.embedding = nn.Embedding(n_e, e_dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / n_e, 1.0 / n_e)

    def distances(self, z_flat: torch.Tensor) -> torch.Tensor:
        """|z|^2 + |e|^2 - 2 z.e for every code, (N, n_e); argmin ties go to the first index."""
        w = self.embedding.weight
        return (z_flat ** 2).sum(1, keepdim=True) + (w ** 2).sum(1) - 2 * z_flat @ w.t()

    def forward(self, z: torch.Tensor):
        """(B, e, h, w) -> straight-through z_q, loss, (None, None, indices (B*h*w,) row-major over b, h, w)."""
        z = z.permute(0, 2, 3, 1).contiguous()
        indices = self.distances(z.view(-1, self.e_dim)).argmin(dim=1)
        z_q = self.embedding(indices).view(z.shape)
        loss = torch.mean((z_q.detach() - z) ** 2) + self.beta * torch.mean((z_q - z.detach()) ** 2)
        z_q = z + (z_q - z).detach()
        return z_q.permute(0, 3, 1, 2).contiguous(), loss, (None, None, indices)

    def get_codebook_entry(self, indices: torch.Tensor, shape=None) -> torch.Tensor:
        """Codebook rows of ``indices``; with shape (B, h, w, e) they come back as (B, e, h, w)."""
        z_q = self.embedding(indices)
        if shape is not None:
            z_q = z_q.view(shape).permute(0, 3, 1, 2).contiguous()
        return z_q


class VQModel(nn.Module):
    """Encoder + codebook + decoder; key layout of ``vqgan_jax_strongaug.ckpt`` (168 keys at full size)."""

    def __init__(self, ddconfig: dict, n_embed: int, embed_dim: int):
        super().__init__()
        dd = _check_ddconfig(**ddconfig)
        if dd["z_channels"] != embed_dim:
            raise ValueError(f"no quant_conv in the MaskGIT VQGAN: z_channels ({dd['z_channels']}) "
                             f"must equal embed_dim ({embed_dim})")
        in_channels, out_ch = dd.pop("in_channels", 3), dd.pop("out_ch", 3)
        self.encoder = Encoder(**dd, in_channels=in_channels)
        self.decoder = Decoder(**dd, out_ch=out_ch)
        self.quantize = VectorQuantizer(n_embed, embed_dim)
        self.downsample_factor = 2 ** (len(dd["ch_mult"]) - 1)
        self.embed_dim = embed_dim

    def encode(self, x: torch.Tensor):
        return self.quantize(self.encoder(x))

    def decode(self, quant: torch.Tensor) -> torch.Tensor:
        return self.decoder(quant)

    def forward(self, x):
        quant, diff, _ = self.encode(x)
        return self.decode(quant), diff


def build_vqgan(config: str | dict) -> VQModel:
    return VQModel(**resolve_config(config, CONFIGS, "VQGAN"))


def load_vqgan_checkpoint(path, config: str | dict = "maskgit_f16_1024") -> VQModel:
    """Strict load of a tokenizer checkpoint, flat or wrapped in 'state_dict' (as ``VQModel.init_from_ckpt``)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"VQGAN checkpoint {path} not found. For the imagenet profile download "
                                "vqgan_jax_strongaug.ckpt (linked from the LTH14/mage README).")
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    model = build_vqgan(config)
    load_state_dict_strict(model, sd, str(path))
    return model.eval().requires_grad_(False)
