"""The one interface that joins generator families to unlearning methods.

Li et al. (ICLR 2024) write every I2I generator as h = D o E and unlearn by tuning E alone. A family
exposes exactly what the objectives need, with images in [0, 1] and masks as in ``l2l_utils.masks``:

* ``encode(x, mask)`` -- the embedding the unlearning loss is computed on (differentiable);
* ``encoder_parameters()`` / ``decoder_parameters()`` -- what unlearning trains / keeps frozen (the
  MAX LOSS, NOISY LABEL and RETAIN LABEL baselines train both: protocol §4);
* ``generative_loss(x, mask)`` -- the family's own training loss (MAX LOSS / NOISY LABEL baselines);
* ``inpaint(x, mask, generator)`` -- batched generation of the hole, seeded explicitly.

The unlearning methods (``l2l_utils.unlearn``: ours and the four baselines of protocol §4) need a
little more, so that each of them is written once for every family:

* ``draw(x, generator)`` -- the randomness of one forward pass (diffusion: noise level and noise),
  drawn once and passed to teacher and student alike; ``None`` for deterministic families;
* ``embed(x, mask, draw)`` -- ``encode`` under a given draw;
* ``noise_embedding(x, noise, mask, draw)`` -- E(T n), the embedding OURS pulls forget samples to;
* ``outputs(x, mask, draw)`` -- the differentiable prediction in the family's own output space
  (MAE: the normalised image; MAGE: token logits; Palette: the predicted noise);
* ``target(x, mask, draw)`` / ``noise_target(x, mask, generator)`` -- the true training target in
  that space, and a noise one (NOISY LABEL);
* ``output_loss(pred, target, mask)`` -- the family's training loss of a prediction against a
  target, over the hole, so that ``output_loss(outputs(x), target(x))`` is ``generative_loss``.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import nn


class I2IGenerator(nn.Module):
    family: str = "base"

    def encode(self, x: torch.Tensor, mask: torch.Tensor):
        raise NotImplementedError

    def encoder_parameters(self) -> Iterator[nn.Parameter]:
        raise NotImplementedError

    def decoder_parameters(self) -> Iterator[nn.Parameter]:
        raise NotImplementedError

    def generative_loss(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def inpaint(self, x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    # -- interface extension for the unlearning methods (see the module docstring) -----------------

    def draw(self, x: torch.Tensor, generator: torch.Generator | None):
        """Deterministic families have no per-pass randomness to share."""
        return None

    def embed(self, x: torch.Tensor, mask: torch.Tensor, draw=None):
        return self.encode(x, mask)

    def noise_embedding(self, x: torch.Tensor, noise: torch.Tensor, mask: torch.Tensor, draw=None):
        """E(T n): the noise image seen through the same mask (Li et al. 2024, Eq. 10)."""
        return self.embed(noise, mask, draw)

    def outputs(self, x: torch.Tensor, mask: torch.Tensor, draw=None):
        raise NotImplementedError(f"{type(self).__name__} does not implement outputs(); "
                                  "the output-space baselines (max_loss, noisy_label, retain_label) need it")

    def target(self, x: torch.Tensor, mask: torch.Tensor, draw=None):
        raise NotImplementedError(f"{type(self).__name__} does not implement target(); max_loss needs it")

    def noise_target(self, x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator):
        raise NotImplementedError(f"{type(self).__name__} does not implement noise_target(); noisy_label needs it")

    def output_loss(self, pred, target, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement output_loss(); "
                                  "max_loss and noisy_label need it")

    def freeze_decoder(self) -> None:
        """The decoder of the unlearned model is the original one (h = D_0 o E)."""
        for p in self.decoder_parameters():
            p.requires_grad_(False)


def load_state_dict_strict(module: nn.Module, state_dict: dict, source: str) -> None:
    """Strict load whose error names the missing and unexpected keys and the shape mismatches."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
                    for k in set(own) & set(state_dict) if tuple(own[k].shape) != tuple(state_dict[k].shape))
    if missing or unexpected or shapes:
        def show(items):
            return ", ".join(items[:8]) + (f" ... (+{len(items) - 8})" if len(items) > 8 else "") or "none"
        raise ValueError(f"{source} does not fit {type(module).__name__}: missing keys [{show(missing)}]; "
                         f"unexpected keys [{show(unexpected)}]; shape mismatches [{show(shapes)}]. "
                         "Is this the checkpoint of the configured architecture?")
    module.load_state_dict(state_dict, strict=True)


def init_vit_weights(modules) -> None:
    """MAE/MAGE initialisation of a transformer's layers: Xavier-uniform linear weights, zero biases,
    unit LayerNorms (facebookresearch/mae ``_init_weights``)."""
    for m in modules:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def resolve_config(config: str | dict, known: dict[str, dict], family: str) -> dict:
    """A named configuration of ``known``, or the constructor arguments given as a dict."""
    if isinstance(config, str):
        if config not in known:
            raise ValueError(f"unknown {family} config {config!r}; known: {sorted(known)}")
        return known[config]
    return config


# "auto": fused F.scaled_dot_product_attention (flash / memory-efficient kernels) on CUDA, and the
# reference implementations' explicit fp32-logit attention elsewhere (the parity fixtures are CPU);
# "reference" / "fused" force one path everywhere (e.g. "reference" to check a GPU run against parity).
ATTENTION = {"backend": "auto"}


def use_fused_attention(x: torch.Tensor) -> bool:
    backend = ATTENTION["backend"]
    if backend not in ("auto", "reference", "fused"):
        raise ValueError(f"attention backend must be auto, reference or fused, got {backend!r}")
    return backend == "fused" or (backend == "auto" and x.is_cuda)
