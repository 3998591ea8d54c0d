"""SalUn weight saliency (Fan et al., ICLR 2024), generic over models: classifiers, DDPMs, I2I encoders.

Protocol §1: the mask is m_S = 1(|grad_theta l_f(theta; D_f)| at theta_o >= gamma), with gamma chosen so
that the global top ``ratio`` (0.5 in every published command, i.e. gamma = the global median) of
|g| is kept, ranked over all chosen parameters concatenated, not per layer. Unlearning then updates only
salient weights: theta_u = m * (theta_o + delta) + (1 - m) * theta_o.

Three pieces, each usable alone:

* :func:`forget_gradients` -- the signed per-batch gradients of any forget-loss closure, summed over
  the batches (as ``generate_mask.py``), with no optimizer step (decision 3);
* :func:`topk_mask` -- the hard 0/1 mask of the largest |g| (decision 3: the *largest*, exactly k);
* :class:`MaskedUpdate` -- keeps non-salient weights exactly at theta_o during training (decision 1).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn


def forget_gradients(params: dict[str, nn.Parameter], loss_fn: Callable[[object], Tensor],
                     batches: Iterable) -> dict[str, Tensor]:
    """Sum over ``batches`` of d loss_fn(batch) / d params at the current weights.

    ``loss_fn`` must build the graph through ``params``; the caller picks the model mode (SalUn's
    classifier uses ``eval()``, protocol §1 "Computation"). ``.grad`` fields are left untouched.
    """
    names = list(params)
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    count = 0
    for batch in batches:
        grads = torch.autograd.grad(loss_fn(batch), [params[n] for n in names], allow_unused=True)
        for n, g in zip(names, grads):
            if g is not None:
                total[n] += g.detach()
        count += 1
    if count == 0:
        raise ValueError("forget_gradients got no batches: the forget set is empty")
    return total


def topk_mask(scores: dict[str, Tensor], ratio: float = 0.5) -> dict[str, Tensor]:
    """1 where |score| is among the global top ``ratio`` fraction, else 0 (float tensors, same shapes).

    Exactly round(ratio * total) entries are kept; ties at the threshold are broken by position
    (``torch.topk``), so the count never depends on ties.
    """
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must be in (0, 1], got {ratio}")
    flat = torch.cat([s.detach().abs().flatten().float() for s in scores.values()])
    k = max(1, round(ratio * flat.numel()))
    keep = torch.zeros_like(flat)
    keep[torch.topk(flat, k, sorted=False).indices] = 1.0
    mask, start = {}, 0
    for name, s in scores.items():
        mask[name] = keep[start:start + s.numel()].view_as(s).to(s.device)
        start += s.numel()
    return mask


def saliency_mask(params: dict[str, nn.Parameter], loss_fn: Callable[[object], Tensor], batches: Iterable,
                  ratio: float = 0.5) -> dict[str, Tensor]:
    """The SalUn mask: :func:`topk_mask` of :func:`forget_gradients` (protocol §1)."""
    return topk_mask(forget_gradients(params, loss_fn, batches), ratio)


def mask_fraction(mask: dict[str, Tensor]) -> float:
    return float(sum(m.sum() for m in mask.values()) / sum(m.numel() for m in mask.values()))


class MaskedUpdate:
    """Train so that weights where the mask is 0 never move (protocol §1, decision 1).

    Masking gradients alone is not enough: SGD weight decay and momentum, or AdamW's decoupled
    decay, still move masked weights (the leak of ISSUE #32). So, around each optimizer step:

    * :meth:`before_step` zeroes masked gradients (call it before any norm clipping, so clipping
      sees only the salient part -- "clip after masking");
    * :meth:`after_step` writes theta_o back into masked coordinates and zeroes their optimizer
      state (momentum buffers, Adam moments), so nothing carries over into later steps.

    ``leaky=True`` reproduces the paper-era behaviour (gradient masking only), for comparison.
    """

    def __init__(self, params: dict[str, nn.Parameter], mask: dict[str, Tensor], leaky: bool = False):
        missing = set(params) - set(mask)
        if missing:
            raise KeyError(f"the mask has no entry for parameters {sorted(missing)}")
        self.params = params
        self.keep = {n: mask[n].to(p.device, torch.bool) for n, p in params.items()}
        self.original = {n: p.detach().clone() for n, p in params.items()}
        self.leaky = leaky

    def before_step(self) -> None:
        for n, p in self.params.items():
            if p.grad is not None:
                p.grad.masked_fill_(~self.keep[n], 0.0)

    @torch.no_grad()
    def after_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.leaky:
            return
        for n, p in self.params.items():
            frozen = ~self.keep[n]
            p.copy_(torch.where(frozen, self.original[n], p))
            for value in optimizer.state.get(p, {}).values():
                if torch.is_tensor(value) and value.shape == p.shape:
                    value.masked_fill_(frozen, 0.0)
