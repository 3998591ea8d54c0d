"""The one interface that joins generator families to unlearning methods.

Li et al. (ICLR 2024) write every I2I generator as h = D o E and unlearn by tuning E alone. A family
exposes exactly what the objectives need, with images in [0, 1] and masks as in ``l2l_utils.masks``:

* ``encode(x, mask)`` -- the embedding the unlearning loss is computed on (differentiable);
* ``encoder_parameters()`` / ``decoder_parameters()`` -- what unlearning trains / keeps frozen;
* ``generative_loss(x, mask)`` -- the family's own training loss (MAX LOSS / NOISY LABEL baselines);
* ``inpaint(x, mask, generator)`` -- batched generation of the hole, seeded explicitly.
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
