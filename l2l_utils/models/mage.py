"""VQ-GAN family: MAGE (Li et al., CVPR 2023), a masked token transformer over a frozen VQGAN tokenizer.

``MaskedGenerativeEncoderViT`` is state-dict compatible with the public ``mage-vitb-1600.pth``
(config ``vit_base_patch16``; top-level key ``'model'``, strict load) and numerically equal to
``models_mage.py`` of jpmorganchase/i2i_mage @ ae25285 (checked by ``tests/test_mage.py``). Facts of
that layout a re-implementation must keep (shared/reference-fixtures README):

* the frozen tokenizer is a submodule, so its 168 keys are saved under ``vqgan.``; the BERT-style
  ``token_emb`` carries the int64 buffer ``position_ids`` = arange(257);
* ``cls_token``, ``patch_embed``, ``pos_embed``, ``mask_token``, ``decoder_pos_embed`` and
  ``decoder_pred`` are in the checkpoint but unused in the forward pass;
* the vocabulary is codebook + 1000 class ids + [MASK]; the "class" token prepended to every
  sequence is the fixed ``fake_class_label`` = codebook_size + 76 (1100 at full size);
* dropped and masked positions are filled, in the decoder, with the decoder-embedded first token
  (``pad_with_cls_token``), not with ``mask_token``; logits come from ``mlm_layer`` tied at use time
  to the (detached) word embeddings; LayerNorm eps is 1e-6 except ``mlm_layer.ln`` (1e-5);
* attention logits are computed in fp32 with max subtraction (MAGE's own ``Attention``); dropout
  0.1 in the token embedding and the blocks (off in eval).

``MAGEGenerator`` is the family interface. A pixel hole becomes a token mask (every token touched
by the hole, dilated by ``token_margin`` tokens as testpaint.py does); the hole is filled with the
ImageNet mean before tokenising, so nothing hidden reaches the model. Generation is MaskGIT
iterative decoding (``testpaint.inpaint_image_mage_multisteps``) with explicit Gumbel noise.
"""
from __future__ import annotations

import argparse
import math
import os

import torch
import torch.nn.functional as F
from timm.layers import Mlp, PatchEmbed
from torch import nn

from l2l_utils.models.base import (I2IGenerator, init_vit_weights, load_state_dict_strict, resolve_config,
                                   use_fused_attention)
from l2l_utils.models.mae import IMAGENET_MEAN, sincos_pos_embed
from l2l_utils.models.vqgan import VQModel, build_vqgan

CONFIGS = {
    # CPU-sized model for tests and smoke runs: 64 px, VQGAN "tiny" (8x8 tokens, 512 codes).
    "tiny": dict(img_size=64, patch_size=8, embed_dim=128, depth=4, num_heads=4, decoder_embed_dim=128,
                 decoder_depth=2, decoder_num_heads=4, vqgan="tiny"),
    # The same transformer over VQGAN "tiny_f4": 16x16 tokens, the public model's sequence length (257).
    "tiny_f4": dict(img_size=64, patch_size=4, embed_dim=128, depth=4, num_heads=4, decoder_embed_dim=128,
                    decoder_depth=2, decoder_num_heads=4, vqgan="tiny_f4"),
    # mage_vit_base_patch16 with vqgan_jax_strongaug (the public mage-vitb-1600.pth).
    "vit_base_patch16": dict(img_size=256, patch_size=16, embed_dim=768, depth=12, num_heads=12,
                             decoder_embed_dim=768, decoder_depth=8, decoder_num_heads=16,
                             vqgan="maskgit_f16_1024"),
}
MAX_POSITIONS = 256 + 1  # hard-coded in the reference: 16x16 tokens + the class token
DROPOUT = 0.1  # token embedding, attention and MLP dropout of the reference
INIT_STD = 0.02  # the reference's initial std of embeddings, positions, [CLS] and [MASK]
# Initial scales for models trained for thousands of steps, not the reference's 1,600 ImageNet epochs
# (ours; the reference draws both at INIT_STD). The decoder sees every hole position as the same vector,
# the class token's (norm ~ sqrt(D)), plus its learned position: at INIT_STD that is ~2 % of it, so the
# hole's positions look alike after LayerNorm and are filled alike (colour blobs) until training has grown
# the positions; at std 1 position and content start level. The MLM head scores against the detached
# word embeddings, so its logits scale with D * std^2, 6x smaller at D = 128 than at 768: std 0.1 lets
# the tiny model's predictions sharpen (scripts/mage_memorisation_check.py --scaled-init; docs/mage_tiny.md).
SCALED_INIT = dict(word_init_std=0.1, decoder_pos_init_std=1.0)


class Attention(nn.Module):
    """Multi-head self-attention whose logits are fp32 even under autocast, max-subtracted before softmax
    (the reference); fused ``scaled_dot_product_attention`` on GPU (``base.ATTENTION``)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads, self.scale = num_heads, (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.attn_drop = nn.Dropout(DROPOUT)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(DROPOUT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        if use_fused_attention(x):  # GPU: one fused kernel, softmax accumulated in fp32 inside it
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop.p if self.training else 0.0,
                                               scale=self.scale)
        else:
            with torch.autocast(x.device.type, enabled=False):
                attn = (q.float() @ k.float().transpose(-2, -1)) * self.scale
            attn = (attn - attn.amax(dim=-1, keepdim=True)).softmax(dim=-1)
            x = self.attn_drop(attn) @ v
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(B, N, C)))


class Block(nn.Module):
    """Pre-norm transformer block; keys as timm's (norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU, drop=DROPOUT)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TokenEmbedding(nn.Module):
    """BERT embeddings: word + learned position, LayerNorm (eps 1e-6), dropout."""

    def __init__(self, vocab_size: int, dim: int, word_init_std: float = INIT_STD):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, dim)
        self.position_embeddings = nn.Embedding(MAX_POSITIONS, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=1e-6)
        self.dropout = nn.Dropout(DROPOUT)
        self.register_buffer("position_ids", torch.arange(MAX_POSITIONS).expand(1, -1).clone())
        nn.init.normal_(self.word_embeddings.weight, std=word_init_std)
        nn.init.normal_(self.position_embeddings.weight, std=INIT_STD)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = self.position_embeddings(self.position_ids[:, :ids.shape[1]])
        return self.dropout(self.LayerNorm(self.word_embeddings(ids) + pos))


class MlmLayer(nn.Module):
    """fc -> GELU -> LayerNorm (default eps 1e-5) -> dot with the word embeddings + bias."""

    def __init__(self, feat_dim: int, word_dim: int, vocab_size: int):
        super().__init__()
        self.fc = nn.Linear(feat_dim, word_dim)
        self.ln = nn.LayerNorm(word_dim)
        self.bias = nn.Parameter(torch.zeros(1, 1, vocab_size))

    def forward(self, x: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        return self.ln(F.gelu(self.fc(x))) @ word_embeddings.t() + self.bias


def pad_class_column(t: torch.Tensor, value) -> torch.Tensor:
    """(B, L) -> (B, 1+L) with ``value`` in column 0 (the class-token position)."""
    return torch.cat([torch.full_like(t[:, :1], value), t], dim=1)


def label_smoothing_ce(logits: torch.Tensor, target: torch.Tensor, smoothing: float = 0.1) -> torch.Tensor:
    """Per-element (1 - s) * NLL + s * mean(-log p) (the reference's LabelSmoothingCrossEntropy)."""
    logp = logits.log_softmax(dim=-1)
    nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return (1 - smoothing) * nll + smoothing * (-logp.mean(dim=-1))


class MaskedGenerativeEncoderViT(nn.Module):
    def __init__(self, img_size=256, patch_size=16, in_chans=3, embed_dim=1024, depth=24, num_heads=16,
                 decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16, mlp_ratio=4.0,
                 mask_ratio_min=0.5, mask_ratio_max=1.0, mask_ratio_mu=0.55, mask_ratio_std=0.25,
                 vqgan: str | dict = "maskgit_f16_1024", word_init_std: float = INIT_STD,
                 decoder_pos_init_std: float = INIT_STD):
        """``word_init_std`` and ``decoder_pos_init_std``: the initial scale of the word embeddings (which
        the MLM head also scores against) and of the decoder's learned positions; the reference's
        ``INIT_STD`` by default (see ``SCALED_INIT`` for the tiny models)."""
        super().__init__()
        self.vqgan: VQModel = build_vqgan(vqgan).requires_grad_(False)
        if self.vqgan.downsample_factor != patch_size:
            raise ValueError(f"patch_size {patch_size} must equal the VQGAN downsampling factor "
                             f"{self.vqgan.downsample_factor}: the position tables index the token grid")
        self.codebook_size = self.vqgan.quantize.n_e
        vocab_size = self.codebook_size + 1000 + 1
        self.fake_class_label = self.codebook_size + 1100 - 1024
        self.mask_token_label = vocab_size - 1
        self.token_emb = TokenEmbedding(vocab_size, embed_dim, word_init_std)
        self.mask_ratio_min, self.mask_ratio_max = mask_ratio_min, mask_ratio_max
        self.mask_ratio_mu, self.mask_ratio_std = mask_ratio_mu, mask_ratio_std

        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        self.grid = img_size // patch_size
        self.seq_len = self.grid ** 2
        if self.seq_len + 1 > MAX_POSITIONS:
            raise ValueError(f"{self.seq_len} tokens exceed the reference's {MAX_POSITIONS - 1} positions")
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(sincos_pos_embed(embed_dim, self.grid), requires_grad=False)
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)

        self.decoder_embed = nn.Linear(embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_pos_embed = nn.Parameter(sincos_pos_embed(decoder_embed_dim, self.grid), requires_grad=False)
        self.decoder_pos_embed_learned = nn.Parameter(torch.zeros(1, self.seq_len + 1, decoder_embed_dim))
        self.decoder_blocks = nn.ModuleList(Block(decoder_embed_dim, decoder_num_heads, mlp_ratio)
                                            for _ in range(decoder_depth))
        self.decoder_norm = nn.LayerNorm(decoder_embed_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(decoder_embed_dim, patch_size ** 2 * in_chans)
        self.mlm_layer = MlmLayer(decoder_embed_dim, embed_dim, vocab_size)
        self._init_weights(decoder_pos_init_std)

    def _init_weights(self, decoder_pos_init_std: float):
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        for p, std in ((self.cls_token, INIT_STD), (self.mask_token, INIT_STD),
                       (self.decoder_pos_embed_learned, decoder_pos_init_std)):
            nn.init.normal_(p, std=std)
        init_vit_weights(m for name, m in self.named_modules() if not name.startswith("vqgan"))

    @property
    def vocab_size(self) -> int:
        return self.mask_token_label + 1

    @torch.no_grad()
    def tokenize(self, imgs: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> codebook ids (B, L), row-major over the token grid."""
        _, _, (_, _, ids) = self.vqgan.encode(imgs)
        ids = ids.reshape(imgs.shape[0], -1)
        if ids.shape[1] != self.seq_len:
            raise ValueError(f"images of size {tuple(imgs.shape[-2:])} give {ids.shape[1]} tokens; "
                             f"this model expects {self.seq_len} ({self.grid}x{self.grid})")
        return ids

    def token_masks(self, noise: torch.Tensor, mask_rate: float):
        """The reference's drop / mask sets from uniform ``noise`` (B, L): (drop, all), float, 1 = chosen.

        ceil(L * mask_ratio_min) tokens with the smallest noise are dropped and ceil(L * mask_rate)
        masked, so the drop set is inside the mask set and every sample drops the same number.
        """
        L = noise.shape[1]
        sorted_noise = noise.sort(dim=1).values
        n_drop, n_mask = math.ceil(L * self.mask_ratio_min), math.ceil(L * mask_rate)
        drop = (noise <= sorted_noise[:, n_drop - 1:n_drop]).float()
        masked = (noise <= sorted_noise[:, n_mask - 1:n_mask]).float()
        return drop, masked

    def sample_mask_rate(self, generator: torch.Generator) -> float:
        """A draw of TruncNormal(mu, std) on [min, max] (scipy's truncnorm in the reference), by inverse CDF."""
        normal = torch.distributions.Normal(0.0, 1.0)
        lo = normal.cdf(torch.tensor((self.mask_ratio_min - self.mask_ratio_mu) / self.mask_ratio_std))
        hi = normal.cdf(torch.tensor((self.mask_ratio_max - self.mask_ratio_mu) / self.mask_ratio_std))
        u = torch.rand((), generator=generator, dtype=torch.float64, device=generator.device).cpu()
        return float(self.mask_ratio_mu + self.mask_ratio_std * normal.icdf((lo + u * (hi - lo)).float()))

    def input_tokens(self, gt_ids: torch.Tensor, token_all_mask: torch.Tensor) -> torch.Tensor:
        """(B, L) ids -> (B, 1+L): masked ids replaced by [MASK], the fake class id prepended."""
        ids = torch.where(token_all_mask.bool(), self.mask_token_label, gt_ids)
        return pad_class_column(ids, self.fake_class_label).long()

    def forward_encoder(self, token_indices: torch.Tensor, token_drop_mask: torch.Tensor | None = None):
        """Encode the non-dropped tokens of (B, 1+L) ids: (B, 1+L-dropped, D) after the final norm."""
        x = self.token_emb(token_indices)
        if token_drop_mask is not None and token_drop_mask.bool().any():
            keep = ~token_drop_mask.bool()
            counts = keep.sum(dim=1)
            if not torch.all(counts == counts[0]):
                raise ValueError("every sample must drop the same number of tokens")
            x = x[keep].reshape(x.shape[0], -1, x.shape[-1])
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward_decoder(self, latent: torch.Tensor, token_drop_mask: torch.Tensor,
                        token_all_mask: torch.Tensor) -> torch.Tensor:
        """Logits (B, 1+L, vocab). Dropped and masked positions get the decoder-embedded class token."""
        x = self.decoder_embed(latent)
        fill = x[:, :1].expand(-1, token_all_mask.shape[1], -1)
        keep = ~token_drop_mask.bool()
        x = fill.masked_scatter(keep.unsqueeze(-1), x)
        x = torch.where(token_all_mask.bool().unsqueeze(-1), fill, x) + self.decoder_pos_embed_learned
        for blk in self.decoder_blocks:
            x = blk(x)
        return self.mlm_layer(self.decoder_norm(x), self.token_emb.word_embeddings.weight.detach())

    def forward_loss(self, gt_indices: torch.Tensor, logits: torch.Tensor, token_all_mask: torch.Tensor):
        """Label-smoothed (0.1) CE over the codebook logits, averaged over the masked positions."""
        loss = label_smoothing_ce(logits[:, 1:, :self.codebook_size], gt_indices)
        mask = token_all_mask[:, 1:].float()
        return (loss * mask).sum() / mask.sum()

    def forward(self, imgs, token_drop_mask_raw, token_all_mask_raw):
        """The training loss with explicit (B, L) drop / mask sets (1 = dropped / masked)."""
        gt = self.tokenize(imgs)
        drop, masked = pad_class_column(token_drop_mask_raw, 0), pad_class_column(token_all_mask_raw, 0)
        latent = self.forward_encoder(self.input_tokens(gt, token_all_mask_raw), drop)
        return self.forward_loss(gt, self.forward_decoder(latent, drop, masked), masked)


def gumbel(shape, generator: torch.Generator) -> torch.Tensor:
    """Standard Gumbel(0, 1) noise in float64, -log(-log U), drawn from ``generator``."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64, device=generator.device)
    return -torch.log(-torch.log(u.clamp_min(torch.finfo(torch.float64).tiny)))


@torch.no_grad()
def decode_step(model: MaskedGenerativeEncoderViT, cur_ids: torch.Tensor, step: int, num_iter: int,
                choice_temperature: float, sample_gumbel: torch.Tensor, mask_gumbel: torch.Tensor,
                num_tokens_total: int, token_temperature: float = 1.0) -> dict:
    """One MaskGIT step of ``testpaint.inpaint_image_mage_multisteps`` with its randomness made explicit.

    ``cur_ids`` (B, L) holds [MASK] where unknown. The reference's ``Categorical(logits).sample()``
    is the equivalent Gumbel-max draw ``argmax(logits + sample_gumbel)`` and its ``np.random.gumbel``
    re-masking noise is ``mask_gumbel`` (float64). ``num_tokens_total`` is the reference's
    ``unknown_number_in_the_beginning`` (hard-coded 256 = every token). One generalisation: the
    number re-masked, ``mask_len``, is per sample; the reference applies the first sample's to the
    whole batch, which is the same whenever all samples hide the same number of tokens.
    ``token_temperature`` (ours; the reference samples at 1) divides the logits before sampling and
    before the confidences: below 1 the draw leans to the model's most likely tokens.
    """
    ratio = (step + 1) / num_iter
    mask_ratio = math.cos(math.pi / 2 * ratio)
    temperature = choice_temperature * (1 - ratio)
    token_indices = pad_class_column(cur_ids, model.fake_class_label)
    token_all_mask = token_indices == model.mask_token_label
    encoder_latent = model.forward_encoder(token_indices)
    logits = model.forward_decoder(encoder_latent, torch.zeros_like(token_all_mask), token_all_mask)
    logits = logits[:, 1:, :model.codebook_size] / token_temperature
    sampled_ids_raw = (logits + sample_gumbel.to(logits)).argmax(dim=-1)
    unknown = cur_ids == model.mask_token_label
    sampled_ids = torch.where(unknown, sampled_ids_raw, cur_ids)
    probs = logits.softmax(dim=-1).gather(-1, sampled_ids.unsqueeze(-1)).squeeze(-1)
    selected_probs = torch.where(unknown, probs.double(), 1e20).float()
    mask_len = torch.full_like(selected_probs[:, :1], math.floor(num_tokens_total * mask_ratio))
    mask_len = torch.clamp(torch.minimum(unknown.sum(dim=1, keepdim=True) - 1, mask_len), min=1)
    confidence = torch.log(selected_probs) + (temperature * mask_gumbel.to(cur_ids.device, torch.float64)).float()
    cut_off = confidence.sort(dim=-1).values.gather(1, mask_len.long() - 1)
    masking = confidence <= cut_off
    return {"encoder_latent": encoder_latent, "logits": logits, "sampled_ids_raw": sampled_ids_raw,
            "sampled_ids": sampled_ids, "selected_probs": selected_probs, "mask_len": mask_len,
            "confidence": confidence, "cut_off": cut_off, "masking": masking,
            "next_token_indices": torch.where(masking, model.mask_token_label, sampled_ids),
            "mask_ratio": mask_ratio, "temperature": temperature}


def build_mage(config: str | dict, **init) -> MaskedGenerativeEncoderViT:
    """``init``: ``word_init_std`` / ``decoder_pos_init_std`` (e.g. ``**SCALED_INIT``)."""
    return MaskedGenerativeEncoderViT(**resolve_config(config, CONFIGS, "MAGE"), **init)


def hole_tokens(mask: torch.Tensor, downsample: int, margin: int) -> torch.Tensor:
    """Pixel hole (1, 1, H, W) -> (1, L) bool: the tokens it touches on the grid of ``downsample``-px
    tokens, dilated by ``margin`` tokens (testpaint.py regenerates a one-token margin)."""
    m = F.max_pool2d(mask.float(), downsample)
    if margin:
        m = F.max_pool2d(m, 2 * margin + 1, stride=1, padding=margin)
    return m.flatten(1).bool()


class MAGEGenerator(I2IGenerator):
    """MAGE as an I2I generator on images in [0, 1] (no normalisation: the VQGAN takes [0, 1]).

    ``encode`` is the transformer encoder's output on the whole token sequence, (B, 1+L, D), with
    the hole's tokens set to [MASK] and **no token dropped**: the reference drops half of the tokens
    at training time (its (B, 129, 768) at full size), which would make the embedding random; here
    every position is present, (B, 257, 768) at full size. The VQGAN is frozen and belongs to
    neither parameter group.
    """
    family = "mage"

    def __init__(self, mage: MaskedGenerativeEncoderViT, token_margin: int = 1, num_iter: int = 20,
                 choice_temperature: float = 6.0, token_temperature: float = 1.0):
        super().__init__()
        self.mage = mage
        self.token_margin = token_margin
        self.num_iter, self.choice_temperature = num_iter, choice_temperature  # testpaint.py defaults
        self.token_temperature = token_temperature  # 1: testpaint.py's plain categorical sampling
        self.register_buffer("fill", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)

    @property
    def image_size(self) -> int:
        return self.mage.grid * self.patch_size

    @property
    def patch_size(self) -> int:
        """Pixels per token side: random training masks hide whole tokens."""
        return self.mage.vqgan.downsample_factor

    def token_mask(self, mask: torch.Tensor, batch: int) -> torch.Tensor:
        """Pixel hole -> (B, L) bool: tokens touched by the hole, dilated by ``token_margin`` tokens."""
        return hole_tokens(mask, self.mage.vqgan.downsample_factor, self.token_margin).expand(batch, -1)

    def context_tokens(self, x, mask):
        """Token ids (B, L) of ``x`` with its hole filled with the ImageNet mean: what the transformer
        sees around a hole. The tokenizer's GroupNorm and its receptive field span the whole 64-px image
        of the tiny models, so the fill changes most visible tokens too, not only the hole's."""
        return self.mage.tokenize(x * (1 - mask) + self.fill * mask)

    def _masked_input(self, x, mask):
        """(token ids (B, 1+L) of the hole-filled image with [MASK] on the hole, padded mask (B, 1+L))."""
        masked = pad_class_column(self.token_mask(mask, x.shape[0]).to(x.device), False)
        return self.mage.input_tokens(self.context_tokens(x, mask), masked[:, 1:]), masked

    def encode(self, x, mask):
        return self.mage.forward_encoder(self._masked_input(x, mask)[0])

    def encoder_parameters(self):
        """token_emb, blocks, norm (the released unlearning code's trained set). The MLM head reads the
        word embeddings at use time, so tuning them also moves the output logits: as in the reference."""
        m = self.mage
        for module in (m.token_emb, m.blocks, m.norm):
            yield from module.parameters()

    def decoder_parameters(self):
        encoder = {id(p) for p in self.encoder_parameters()}
        vqgan = {id(p) for p in self.mage.vqgan.parameters()}
        for p in self.mage.parameters():
            if p.requires_grad and id(p) not in encoder | vqgan:
                yield p

    def generative_loss(self, x, mask):
        """MAGE's masked-token loss with the hole's tokens masked; targets are the tokens of the full x."""
        return self.output_loss(self.outputs(x, mask), self.target(x, mask), mask)

    # unlearning interface (l2l_utils.models.base); the output space is the token logits

    def outputs(self, x, mask, draw=None):
        """Logits (B, 1+L, vocab) at every position: what the reference's RETAIN LABEL regresses
        (its B x 257 x 2025 logit MSE, protocol §4)."""
        token_indices, masked = self._masked_input(x, mask)
        latent = self.mage.forward_encoder(token_indices)
        return self.mage.forward_decoder(latent, torch.zeros_like(masked), masked)

    def target(self, x, mask, draw=None):
        return self.mage.tokenize(x)

    def noise_target(self, x, mask, generator):
        """NOISY LABEL's noise token ids, clip(round(N(mean, std^2)), 0, K-1) with the batch-scalar mean and
        std of the true ids (reference ``full_model_noise``, protocol §4)."""
        ids = self.target(x, mask).float()
        z = torch.randn(ids.shape, generator=generator, device=generator.device).to(ids.device)
        return (z * ids.std() + ids.mean()).round().clamp(0, self.mage.codebook_size - 1).long()

    def output_loss(self, pred, target, mask):
        """Label-smoothed CE of the codebook logits against target ids, over the hole's tokens."""
        masked = pad_class_column(self.token_mask(mask, pred.shape[0]).to(pred.device), False)
        return self.mage.forward_loss(target, pred, masked)

    @torch.no_grad()
    def inpaint(self, x, mask, generator=None, num_iter: int | None = None, choice_temperature: float | None = None,
                token_temperature: float | None = None):
        """Batched MaskGIT decoding of the hole's tokens, then the VQGAN decoder; known pixels are kept.

        As testpaint.py: cosine schedule, categorical sampling, Gumbel re-masking at temperature
        ``choice_temperature * (1 - step/num_iter)``, and a step is skipped while its mask ratio is
        at least the fraction of tokens to generate (per sample here), so a small hole runs only
        the last few of the ``num_iter`` steps. All noise comes from ``generator`` (seed 0 if None,
        as the reference). The pixel composite is the plain ``x*(1-mask) + gen*mask``. ``num_iter``,
        ``choice_temperature`` and ``token_temperature`` (see ``decode_step``) default to the
        generator's attributes.
        """
        m = self.mage
        num_iter = num_iter or self.num_iter
        choice_temperature = self.choice_temperature if choice_temperature is None else choice_temperature
        token_temperature = self.token_temperature if token_temperature is None else token_temperature
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        token_indices, masked = self._masked_input(x, mask)
        cur = token_indices[:, 1:].clone()
        sampled = cur.clone()
        rate = masked[:, 1:].float().mean(dim=1)
        for step in range(num_iter):
            active = (rate > math.cos(math.pi / 2 * (step + 1) / num_iter)).nonzero().squeeze(1)
            if active.numel() == 0:
                continue
            n = active.numel()
            out = decode_step(m, cur[active], step, num_iter, choice_temperature,
                              gumbel((n, m.seq_len, m.codebook_size), generator).float().to(x.device),
                              gumbel((n, m.seq_len), generator), m.seq_len, token_temperature)
            cur[active], sampled[active] = out["next_token_indices"], out["sampled_ids"]
        return x * (1 - mask) + self.decode_tokens(sampled) * mask

    def decode_tokens(self, ids):
        """Token ids (B, L) -> images (B, 3, H, W) in [0, 1], through the codebook and the VQGAN decoder."""
        vq = self.mage.vqgan
        shape = (ids.shape[0], self.mage.grid, self.mage.grid, vq.embed_dim)
        return vq.decode(vq.quantize.get_codebook_entry(ids.reshape(-1), shape)).clamp(0, 1)

    @torch.no_grad()
    def true_token_fill(self, x, mask):
        """What a perfect transformer would inpaint: the regenerated tokens (``token_mask``) set to the
        whole image's true tokens, the others kept from the hole-filled context, then decoded and
        composited as ``inpaint`` does. It bounds what any transformer can fill through this tokenizer
        and the reference's decoding scheme (the context tokens around the hole still saw the grey)."""
        hole = self.token_mask(mask, x.shape[0]).to(x.device)
        ids = torch.where(hole, self.mage.tokenize(x), self.context_tokens(x, mask))
        return x * (1 - mask) + self.decode_tokens(ids) * mask


def load_mage_checkpoint(path, config: str | dict = "vit_base_patch16") -> MAGEGenerator:
    """Strict load of a MAGE checkpoint (top-level key 'model', the frozen VQGAN under ``vqgan.``).

    Checkpoints written by MAGE's ``save_model`` also pickle ``args`` (an argparse.Namespace);
    that one class is allow-listed, everything else goes through the safe ``weights_only`` loader.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MAGE checkpoint {path} not found. For the imagenet profile download "
                                "mage-vitb-1600.pth (linked from the LTH14/mage README).")
    with torch.serialization.safe_globals([argparse.Namespace]):
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        keys = sorted(ckpt)[:8] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path} has no top-level 'model' entry (found {keys}); "
                         "is it a MAGE checkpoint? A bare tokenizer loads with vqgan.load_vqgan_checkpoint")
    model = build_mage(config)
    load_state_dict_strict(model, ckpt["model"], str(path))
    return MAGEGenerator(model).eval()


@torch.no_grad()
def parity_outputs(case: dict) -> dict:
    """Every output of the reference-fixture MAGE case (``parity.run_reference_case``)."""
    from l2l_utils.models.parity import constructor_args
    cfg, inp = case["config"], case["inputs"]
    eps = cfg.get("norm_layer_eps", 1e-6)
    if eps != 1e-6:
        raise ValueError(f"our MAGE uses LayerNorm eps 1e-6 (as mage_vit_base_patch16); fixture has {eps}")
    allowed = {"img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads", "decoder_embed_dim",
               "decoder_depth", "decoder_num_heads", "mlp_ratio", "mask_ratio_min", "mask_ratio_max",
               "mask_ratio_mu", "mask_ratio_std", "vqgan"}
    model = MaskedGenerativeEncoderViT(**constructor_args(cfg, allowed))
    load_state_dict_strict(model, case["state_dict"], "fixture state_dict")
    model.eval()
    vq, x = model.vqgan, inp["imgs"]
    B, L, e = x.shape[0], model.seq_len, vq.embed_dim

    h = vq.encoder(x)
    quant, emb_loss, (_, _, indices_flat) = vq.encode(x)
    two_best = vq.quantize.distances(h.permute(0, 2, 3, 1).reshape(-1, e)).topk(2, dim=1, largest=False).values
    entry = vq.quantize.get_codebook_entry(inp["decode_tokens"].reshape(-1), shape=(B, model.grid, model.grid, e))

    gt = indices_flat.reshape(B, L)
    drop = pad_class_column(inp["token_drop_mask_raw"], 0)
    masked = pad_class_column(inp["token_all_mask_raw"], 0)
    token_indices = model.input_tokens(gt, inp["token_all_mask_raw"])
    latent = model.forward_encoder(token_indices, drop)
    logits = model.forward_decoder(latent, drop, masked)

    ds = inp["decode_step"]
    step = decode_step(model, ds["token_indices"], int(ds["step"]), int(ds["num_iter"]),
                       float(ds["choice_temperature"]), ds["sample_gumbel"], ds["gumbel"],
                       int(ds["unknown_number_in_the_beginning"]))
    return {
        "vqgan_encoder_h": h, "vqgan_quant": quant, "vqgan_emb_loss": emb_loss,
        "vqgan_indices_flat": indices_flat, "vqgan_indices": gt,
        "vqgan_index_margin": (two_best[:, 1] - two_best[:, 0]).reshape(B, L),
        "vqgan_decode_of_quant": vq.decode(quant), "codebook_entry_of_decode_tokens": entry,
        "vqgan_decode_of_tokens": vq.decode(entry),
        "gt_indices": gt, "token_indices": token_indices, "token_drop_mask": drop, "token_all_mask": masked,
        "token_embeddings": model.token_emb(token_indices), "encoder_latent": latent,
        "decoder_logits": logits, "loss": model.forward_loss(gt, logits, masked),
        "decode_step": step,
        "constants": {"codebook_size": model.codebook_size, "vocab_size": model.vocab_size,
                      "mask_token_label": model.mask_token_label, "fake_class_label": model.fake_class_label,
                      "seq_len": L, "token_grid": [model.grid, model.grid]},
    }
