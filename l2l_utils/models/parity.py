"""Reproduce a reference-fixture case with our own models (``shared/reference-fixtures`` format).

``run_reference_case(family, case)`` builds our model from ``case["config"]`` (keys starting with
"_" are fixture parameters, not constructor arguments), loads ``case["state_dict"]`` strictly, and
returns a dict with the keys and nesting of the fixture's ``outputs``, each computed by our code.
Families register a runner in ``RUNNERS``.
"""
from __future__ import annotations

from typing import Callable

import torch

RUNNERS: dict[str, Callable[[dict], dict]] = {}


def register(family: str):
    def wrap(fn):
        RUNNERS[family] = fn
        return fn
    return wrap


def constructor_args(config: dict, allowed: set[str]) -> dict:
    return {k: v for k, v in config.items() if not k.startswith("_") and k in allowed}


@register("mae")
@torch.no_grad()
def run_mae_case(case: dict) -> dict:
    from l2l_utils.models.base import load_state_dict_strict
    from l2l_utils.models.mae import MaskedAutoencoderViT, masking_indices
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


def run_reference_case(family: str, case: dict) -> dict:
    if family not in RUNNERS:
        raise ValueError(f"no parity runner for family {family!r}; registered: {sorted(RUNNERS)}")
    if "outputs" in case:
        raise ValueError("pass the case without its 'outputs': they are what is being reproduced")
    return RUNNERS[family](case)
