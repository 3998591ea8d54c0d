"""The guided-diffusion UNet of Palette, conditioned on the continuous noise level gamma.

State-dict compatible with ``models/guided_diffusion_modules/unet.py`` of
jpmorganchase/i2i_Palette-Image-to-Image-Diffusion-Models @ aa0d310 (itself adapted from
openai/guided-diffusion) with the defaults in force for the public Places2 checkpoint:
FiLM conditioning (``use_scale_shift_norm=True``), ResBlocks that down/up-sample
(``resblock_updown=True``), heads-first ("legacy") QKV attention. Other settings of those switches
are rejected by ``unet_from_config`` rather than silently built differently.

Facts that matter for parity (see shared/reference-fixtures/README.md, "Architecture facts"):

* the second input is gamma (cumulative alpha in (0, 1]), embedded as [cos(g f_k), sin(g f_k)],
  f_k = exp(-ln(10000) k / half), then ``cond_embed`` = Linear, SiLU, Linear (4 x inner_channel);
* GroupNorm has 32 groups, eps 1e-5, and runs in float32;
* ``attn_res`` lists *downsample rates*, not pixel resolutions;
* ``forward(..., return_feat=True)`` returns every ``input_blocks`` output plus the
  ``middle_block`` output: the encoder features of the i2i unlearning objective.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from l2l_utils.models.base import use_fused_attention


class GroupNorm32(nn.GroupNorm):
    """32-group GroupNorm computed in float32 whatever the input dtype (guided-diffusion)."""

    def __init__(self, channels: int):
        super().__init__(32, channels)

    def forward(self, x):
        return super().forward(x.float()).type(x.dtype)


def gamma_embedding(gammas: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of the continuous noise level, (B,) -> (B, dim): [cos | sin] halves."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = gammas[:, None].float() * freqs.to(gammas.device)[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class ResBlock(nn.Module):
    """Residual block with FiLM conditioning: h = GN(h) * (1 + scale) + shift.

    With ``down``/``up`` the block also halves (average pool) or doubles (nearest) the resolution
    of both branches, between the input norm/activation and the input conv, as in guided-diffusion.
    """

    def __init__(self, channels: int, emb_channels: int, dropout: float, out_channels: int | None = None,
                 up: bool = False, down: bool = False):
        super().__init__()
        out_channels = out_channels or channels
        self.in_layers = nn.Sequential(GroupNorm32(channels), nn.SiLU(),
                                       nn.Conv2d(channels, out_channels, 3, padding=1))
        self.resample = "up" if up else "down" if down else None
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels))
        self.out_layers = nn.Sequential(GroupNorm32(out_channels), nn.SiLU(), nn.Dropout(dropout),
                                        nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip_connection = (nn.Identity() if out_channels == channels
                                else nn.Conv2d(channels, out_channels, 1))

    def _resample(self, x):
        if self.resample == "up":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        if self.resample == "down":
            return F.avg_pool2d(x, kernel_size=2, stride=2)
        return x

    def forward(self, x, emb):
        h = self.in_layers[:-1](x)
        h = self.in_layers[-1](self._resample(h))
        x = self._resample(x)
        scale, shift = self.emb_layers(emb).type(h.dtype)[..., None, None].chunk(2, dim=1)
        h = self.out_layers[0](h) * (1 + scale) + shift
        return self.skip_connection(x) + self.out_layers[1:](h)


class AttentionBlock(nn.Module):
    """Spatial self-attention; the qkv channels are split heads first ([h0: q,k,v | h1: ...]).

    q and k are each scaled by ch^-1/4 before the product and the softmax runs in float32
    (guided-diffusion ``QKVAttentionLegacy``); fused ``scaled_dot_product_attention`` on GPU
    (``base.ATTENTION``).
    """

    def __init__(self, channels: int, num_heads: int = 1, num_head_channels: int = -1):
        super().__init__()
        if num_head_channels != -1:
            if channels % num_head_channels:
                raise ValueError(f"{channels} channels are not divisible by num_head_channels={num_head_channels}")
            num_heads = channels // num_head_channels
        self.num_heads = num_heads
        self.norm = GroupNorm32(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def forward(self, x, emb=None):
        b, c, *spatial = x.shape
        x = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(x))
        ch = c // self.num_heads
        q, k, v = qkv.reshape(b * self.num_heads, 3 * ch, -1).split(ch, dim=1)
        if use_fused_attention(x):  # GPU: one fused kernel with the same overall 1/sqrt(ch) scale
            h = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
            h = h.transpose(1, 2).reshape(b, c, -1)
        else:
            scale = 1 / math.sqrt(math.sqrt(ch))
            weight = torch.einsum("bct,bcs->bts", q * scale, k * scale)
            weight = torch.softmax(weight.float(), dim=-1).type(weight.dtype)
            h = torch.einsum("bts,bcs->bct", weight, v).reshape(b, c, -1)
        return (x + self.proj_out(h)).reshape(b, c, *spatial)


class EmbedSequential(nn.Sequential):
    """A UNet stage: every layer gets the conditioning embedding except plain convs."""

    def forward(self, x, emb):
        for layer in self:
            x = layer(x) if isinstance(layer, nn.Conv2d) else layer(x, emb)
        return x


class UNet(nn.Module):
    """guided-diffusion UNet (Palette variant). Keys and construction order follow the reference.

    Encoder: ``input_blocks`` (a stem conv, then per level ``res_blocks`` ResBlocks and, except at
    the last level, a down-sampling ResBlock) and ``middle_block`` [ResBlock, Attention, ResBlock].
    Decoder: ``output_blocks`` (per level ``res_blocks + 1`` ResBlocks on the concatenated skip,
    the last one of each level but the first followed by an up-sampling ResBlock) and ``out``.
    """

    def __init__(self, image_size: int, in_channel: int, inner_channel: int, out_channel: int, res_blocks: int,
                 attn_res, dropout: float = 0.0, channel_mults=(1, 2, 4, 8), num_heads: int = 1,
                 num_head_channels: int = -1):
        super().__init__()
        self.image_size, self.inner_channel = image_size, inner_channel
        emb_dim = 4 * inner_channel
        self.cond_embed = nn.Sequential(nn.Linear(inner_channel, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))

        def res(ch_in, ch_out=None, **updown):
            return ResBlock(ch_in, emb_dim, dropout, ch_out, **updown)

        def attn(ch):
            return AttentionBlock(ch, num_heads, num_head_channels)

        ch = stem = int(channel_mults[0] * inner_channel)
        self.input_blocks = nn.ModuleList([EmbedSequential(nn.Conv2d(in_channel, ch, 3, padding=1))])
        skip_chans, ds = [ch], 1
        for level, mult in enumerate(channel_mults):
            for _ in range(res_blocks):
                layers = [res(ch, int(mult * inner_channel))]
                ch = int(mult * inner_channel)
                if ds in attn_res:
                    layers.append(attn(ch))
                self.input_blocks.append(EmbedSequential(*layers))
                skip_chans.append(ch)
            if level != len(channel_mults) - 1:
                self.input_blocks.append(EmbedSequential(res(ch, down=True)))
                skip_chans.append(ch)
                ds *= 2

        self.middle_block = EmbedSequential(res(ch), attn(ch), res(ch))

        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mults))):
            for i in range(res_blocks + 1):
                layers = [res(ch + skip_chans.pop(), int(mult * inner_channel))]
                ch = int(mult * inner_channel)
                if ds in attn_res:
                    layers.append(attn(ch))
                if level and i == res_blocks:
                    layers.append(res(ch, up=True))
                    ds //= 2
                self.output_blocks.append(EmbedSequential(*layers))

        self.out = nn.Sequential(GroupNorm32(ch), nn.SiLU(), nn.Conv2d(stem, out_channel, 3, padding=1))

    def embed(self, gammas: torch.Tensor) -> torch.Tensor:
        """Conditioning vector of the noise levels, (B,) or (B, 1) -> (B, 4 * inner_channel)."""
        return self.cond_embed(gamma_embedding(gammas.view(-1), self.inner_channel))

    def forward(self, x: torch.Tensor, gammas: torch.Tensor, return_feat: bool = False):
        """Predicted noise (B, out_channel, H, W), or with ``return_feat`` the encoder feature list."""
        emb = self.embed(gammas)
        h, hs = x.float(), []
        for block in self.input_blocks:
            h = block(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        if return_feat:
            return hs + [h]
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h.type(x.dtype))


# The reference UNet switches that the public checkpoint leaves at their defaults; this
# implementation builds exactly that variant and refuses a config that asks for another one.
REFERENCE_FIXED_ARGS = {"conv_resample": True, "use_checkpoint": False, "use_fp16": False,
                        "num_heads_upsample": -1, "use_scale_shift_norm": True, "resblock_updown": True,
                        "use_new_attention_order": False}


def unet_from_config(config: dict) -> UNet:
    """Build a UNet from a reference json ``unet`` block (as in Palette's config files)."""
    config = dict(config)
    for key, value in REFERENCE_FIXED_ARGS.items():
        given = config.pop(key, value)
        if given != value:
            raise ValueError(f"UNet {key}={given!r} is not supported: only the public-checkpoint variant "
                             f"{key}={value!r} is implemented")
    return UNet(**config)
