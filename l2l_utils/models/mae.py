"""MAE family: a ViT masked autoencoder (He et al., CVPR 2022) used as an I2I generator.

``MaskedAutoencoderViT`` is state-dict compatible with the public facebookresearch/mae checkpoints
(``mae_visualize_vit_large.pth``: config ``vit_large_patch16``) and numerically equal to the
reference ``models_mae.py`` (checked by ``tests/test_parity.py``); it is built on timm ``Block`` s,
which use fused ``scaled_dot_product_attention``.

``MAEGenerator`` wraps it behind the family interface: the hole of the mask (pixels) becomes the set
of removed patches, the encoder sees the visible patches only, the decoder predicts every patch,
and the output keeps the given pixels. Li et al. released no MAE code; this is our own
re-implementation of that setting (protocol reference, decision 20).
"""
from __future__ import annotations

from functools import partial

import numpy as np
import torch
from timm.layers import PatchEmbed
from timm.models.vision_transformer import Block
from torch import nn

from l2l_utils.models.base import I2IGenerator, init_vit_weights, load_state_dict_strict, resolve_config

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CONFIGS = {
    # CPU-sized model pretrained by this project on the embedded clip-art (checkpoints/mae_tiny_clipart.pt).
    "tiny": dict(img_size=64, patch_size=8, embed_dim=128, depth=6, num_heads=4,
                 decoder_embed_dim=96, decoder_depth=2, decoder_num_heads=4),
    # The public mae_visualize_vit_large(_ganloss).pth checkpoints.
    "vit_large_patch16": dict(img_size=224, patch_size=16, embed_dim=1024, depth=24, num_heads=16,
                              decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16),
}


def sincos_pos_embed(dim: int, grid: int) -> torch.Tensor:
    """Fixed 2-D sin-cos table with a zero row for the cls token, (1, 1+grid^2, dim).

    As in MAE: the first half of the channels encodes the column, the second the row; each half is
    [sin(pos*w_k)] ++ [cos(pos*w_k)], w_k = 10000^(-k/(dim/4)), computed in float64.
    """
    if dim % 4:
        raise ValueError(f"sin-cos position embedding needs dim divisible by 4, got {dim}")
    omega = 1.0 / 10000 ** (np.arange(dim // 4, dtype=np.float64) / (dim / 4))
    rows, cols = np.meshgrid(np.arange(grid, dtype=np.float64), np.arange(grid, dtype=np.float64), indexing="ij")

    def half(pos):
        angles = np.outer(pos.reshape(-1), omega)
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    table = np.concatenate([half(cols), half(rows)], axis=1)
    table = np.concatenate([np.zeros((1, dim)), table], axis=0)
    return torch.from_numpy(table).float().unsqueeze(0)


def masking_indices(noise: torch.Tensor, len_keep: int):
    """MAE's per-sample shuffle: patches with the smallest noise are kept.

    Returns ids_shuffle, ids_keep, ids_restore (all (B, L) / (B, len_keep) int64). The sort is
    stable, so a 0/1 noise keeps the 0-patches in their original order.
    """
    ids_shuffle = torch.argsort(noise, dim=1, stable=True)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    return ids_shuffle, ids_shuffle[:, :len_keep], ids_restore


class MaskedAutoencoderViT(nn.Module):
    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=1024, depth=24, num_heads=16,
                 decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16, mlp_ratio=4.0,
                 norm_pix_loss=False):
        super().__init__()
        norm_layer = partial(nn.LayerNorm, eps=1e-6)  # the reference factories pass eps=1e-6
        block = partial(Block, mlp_ratio=mlp_ratio, qkv_bias=True, norm_layer=norm_layer)
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        num_patches = self.patch_embed.num_patches
        grid = int(num_patches ** 0.5)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(sincos_pos_embed(embed_dim, grid), requires_grad=False)
        self.blocks = nn.ModuleList([block(embed_dim, num_heads) for _ in range(depth)])
        self.norm = norm_layer(embed_dim)

        self.decoder_embed = nn.Linear(embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_pos_embed = nn.Parameter(sincos_pos_embed(decoder_embed_dim, grid), requires_grad=False)
        self.decoder_blocks = nn.ModuleList([block(decoder_embed_dim, decoder_num_heads)
                                             for _ in range(decoder_depth)])
        self.decoder_norm = norm_layer(decoder_embed_dim)
        self.decoder_pred = nn.Linear(decoder_embed_dim, patch_size ** 2 * in_chans)
        self.patch_size, self.in_chans, self.norm_pix_loss = patch_size, in_chans, norm_pix_loss
        self._init_weights()

    def _init_weights(self):
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        init_vit_weights(self.modules())

    @property
    def num_patches(self) -> int:
        return self.patch_embed.num_patches

    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, L, p*p*C), channel-last inside a patch (reference order)."""
        p, c = self.patch_size, self.in_chans
        h = w = imgs.shape[2] // p
        x = imgs.reshape(imgs.shape[0], c, h, p, w, p)
        return torch.einsum("nchpwq->nhwpqc", x).reshape(imgs.shape[0], h * w, p * p * c)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        p, c = self.patch_size, self.in_chans
        h = w = int(x.shape[1] ** 0.5)
        x = torch.einsum("nhwpqc->nchpwq", x.reshape(x.shape[0], h, w, p, p, c))
        return x.reshape(x.shape[0], c, h * p, w * p)

    def forward_encoder(self, imgs: torch.Tensor, mask_ratio: float, noise: torch.Tensor | None = None,
                        generator: torch.Generator | None = None):
        """Encode the patches kept by ``noise`` (uniform random if None): (latent, mask, ids_restore).

        latent is (B, 1 + len_keep, D) with the cls token first; mask is (B, L), 1 = removed.
        """
        x = self.patch_embed(imgs) + self.pos_embed[:, 1:, :]
        B, L, D = x.shape
        len_keep = int(L * (1 - mask_ratio))
        if noise is None:
            noise = torch.rand(B, L, generator=generator, device=generator.device if generator else None)
            noise = noise.to(x.device)
        _, ids_keep, ids_restore = masking_indices(noise, len_keep)
        x = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, D))
        mask = torch.ones(B, L, device=x.device)
        mask[:, :len_keep] = 0
        mask = torch.gather(mask, 1, ids_restore)
        cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(B, -1, -1)
        x = torch.cat([cls, x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x), mask, ids_restore

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """Predict every patch, (B, L, p*p*C), in the input's normalised space."""
        x = self.decoder_embed(latent)
        B, L = ids_restore.shape
        mask_tokens = self.mask_token.expand(B, L + 1 - x.shape[1], -1)
        x_ = torch.cat([x[:, 1:, :], mask_tokens], dim=1)
        x_ = torch.gather(x_, 1, ids_restore.unsqueeze(-1).expand(-1, -1, x.shape[2]))
        x = torch.cat([x[:, :1, :], x_], dim=1) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:, :]

    def forward_loss(self, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error per patch, averaged over the removed patches only."""
        target = self.patchify(imgs)
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1e-6) ** 0.5
        per_patch = ((pred - target) ** 2).mean(dim=-1)
        return (per_patch * mask).sum() / mask.sum()

    def forward(self, imgs, mask_ratio=0.75, noise=None, generator=None):
        latent, mask, ids_restore = self.forward_encoder(imgs, mask_ratio, noise, generator)
        pred = self.forward_decoder(latent, ids_restore)
        return self.forward_loss(imgs, pred, mask), pred, mask


def build_mae(config: str | dict) -> MaskedAutoencoderViT:
    return MaskedAutoencoderViT(**resolve_config(config, CONFIGS, "MAE"))


class MAEGenerator(I2IGenerator):
    """An MAE as an I2I generator on images in [0, 1] (ImageNet normalisation happens inside)."""
    family = "mae"

    def __init__(self, mae: MaskedAutoencoderViT):
        super().__init__()
        self.mae = mae
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def image_size(self) -> int:
        return self.mae.patch_embed.img_size[0]

    @property
    def patch_size(self) -> int:
        return self.mae.patch_size

    def patch_mask(self, mask: torch.Tensor, batch: int) -> torch.Tensor:
        """Pixel hole -> (B, L) 0/1 patch mask: a patch is removed if any of its pixels is in the hole."""
        p = self.patch_size
        m = torch.nn.functional.max_pool2d(mask.float(), p).flatten(1).expand(batch, -1)
        counts = m.sum(dim=1)
        if not torch.all(counts == counts[0]):
            raise ValueError("every image of a batch must hide the same number of patches "
                             f"(got {sorted(set(counts.tolist()))}); draw masks with l2l_utils.masks")
        if counts[0] == 0 or counts[0] == m.shape[1]:
            raise ValueError("the mask hides no patch or every patch; MAE needs some of each")
        return m

    def _encode_masked(self, x: torch.Tensor, mask: torch.Tensor):
        m = self.patch_mask(mask, x.shape[0]).to(x.device)
        ratio = float(m[0].mean())
        return self.mae.forward_encoder((x - self.mean) / self.std, ratio, noise=m)

    def encode(self, x, mask):
        return self._encode_masked(x, mask)[0]

    def encoder_parameters(self):
        m = self.mae
        yield m.cls_token
        for module in (m.patch_embed, m.blocks, m.norm):
            yield from module.parameters()

    def decoder_parameters(self):
        m = self.mae
        yield m.mask_token
        for module in (m.decoder_embed, m.decoder_blocks, m.decoder_norm, m.decoder_pred):
            yield from module.parameters()

    def generative_loss(self, x, mask):
        latent, m, ids_restore = self._encode_masked(x, mask)
        return self.mae.forward_loss((x - self.mean) / self.std, self.mae.forward_decoder(latent, ids_restore), m)

    def reconstruct(self, x, mask):
        """The decoder's prediction of the whole image in [0, 1] (differentiable, not composited)."""
        return self.outputs(x, mask) * self.std + self.mean

    # unlearning interface (l2l_utils.models.base); the output space is the normalised image

    def outputs(self, x, mask, draw=None):
        """The decoder's whole-image prediction, (B, C, H, W), in the ImageNet-normalised pixel space."""
        latent, _, ids_restore = self._encode_masked(x, mask)
        return self.mae.unpatchify(self.mae.forward_decoder(latent, ids_restore))

    def target(self, x, mask, draw=None):
        return (x - self.mean) / self.std

    def noise_target(self, x, mask, generator):
        """NOISY LABEL's target: a noise image (``make_noise`` "normal", the default noise of OURS), normalised."""
        from l2l_utils.unlearn.objectives import make_noise  # the unlearn package imports the models
        return self.target(make_noise(x, "normal", generator), mask)

    def output_loss(self, pred, target, mask):
        """MAE's loss: per-patch MSE averaged over the removed patches (``forward_loss``)."""
        m = self.patch_mask(mask, pred.shape[0]).to(pred.device)
        return self.mae.forward_loss(target, self.mae.patchify(pred), m)

    @torch.no_grad()
    def inpaint(self, x, mask, generator=None):
        """MAE decoding is deterministic, so ``generator`` is accepted for the interface and unused."""
        out = self.reconstruct(x, mask).clamp(0, 1)
        return x * (1 - mask) + out * mask


def load_mae_checkpoint(path, config: str | dict) -> MAEGenerator:
    """Load an MAE checkpoint (ours, or the public ones with top-level key 'model') strictly."""
    import os
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MAE checkpoint {path} not found. For the imagenet profile download "
                                "mae_visualize_vit_large.pth from the facebookresearch/mae README.")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    state = ckpt.get("model", ckpt.get("state_dict", ckpt)) if isinstance(ckpt, dict) else ckpt
    model = build_mae(config)
    load_state_dict_strict(model, state, str(path))
    return MAEGenerator(model).eval()


@torch.no_grad()
def parity_outputs(case: dict) -> dict:
    """Every output of the reference-fixture MAE case (``parity.run_reference_case``)."""
    from l2l_utils.models.parity import constructor_args
    cfg = case["config"]
    eps = cfg.get("norm_layer_eps", 1e-6)
    if eps != 1e-6:
        raise ValueError(f"our MAE uses LayerNorm eps 1e-6 (as the reference factories); fixture has {eps}")
    allowed = {"img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads", "decoder_embed_dim",
               "decoder_depth", "decoder_num_heads", "mlp_ratio", "norm_pix_loss"}
    model = MaskedAutoencoderViT(**constructor_args(cfg, allowed))
    load_state_dict_strict(model, case["state_dict"], "fixture state_dict")
    model.eval()
    x, noise = case["inputs"]["imgs"], case["inputs"]["noise"]
    ratio = float(case["inputs"]["mask_ratio"])
    len_keep = int(model.num_patches * (1 - ratio))
    ids_shuffle, ids_keep, _ = masking_indices(noise, len_keep)
    latent, mask, ids_restore = model.forward_encoder(x, ratio, noise=noise)
    pred = model.forward_decoder(latent, ids_restore)
    loss_with = {}
    for flag in (False, True):
        model.norm_pix_loss = flag
        loss_with[flag] = model.forward_loss(x, pred, mask)
    model.norm_pix_loss = bool(cfg.get("norm_pix_loss", False))
    return {
        "patch_embed": model.patch_embed(x), "ids_shuffle": ids_shuffle, "ids_keep": ids_keep,
        "latent": latent, "mask": mask, "ids_restore": ids_restore, "pred": pred,
        "loss": loss_with[model.norm_pix_loss], "loss_norm_pix_false": loss_with[False],
        "loss_norm_pix_true": loss_with[True], "target_patchified": model.patchify(x),
        "pred_unpatchified": model.unpatchify(pred),
    }
