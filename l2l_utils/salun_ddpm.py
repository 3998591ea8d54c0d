"""SalUn for a class-conditional DDPM (protocol §1, §6): a tiny classifier-free-guided DDPM on
Fashion-MNIST, class-wise forgetting with the masked SalUn objective, and its baseline without the mask.

The paper's model is a 36 M-weight CIFAR-10 UNet trained for 800k iterations; ours is a sub-million-weight
UNet trained by the project in minutes on a CPU (``checkpoints/ddpm_fashion_mnist.md``). Everything else
follows §6: linear betas 1e-4..0.02, T = 1000, epsilon prediction, a learned null class for CFG with
condition drop 0.1, the forget term MSE(sg[eps(x_t | c')], eps(x_t | c_f)) with c' = (c_f + 1) mod C
(decision 14), the retain term as per-element mean with beta_elem = beta * C*H*W (decision 15).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from l2l_utils.unlearn.saliency import MaskedUpdate, saliency_mask

T_STEPS = 1000


def alphas_cumprod(T: int = T_STEPS) -> Tensor:
    """Linear beta schedule 1e-4 -> 0.02 over T steps (DDPM; protocol §6 "Base model")."""
    return torch.cumprod(1 - torch.linspace(1e-4, 0.02, T, dtype=torch.float64), 0).float()


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], 1)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(8, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.emb(e)[:, :, None, None]
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class TinyUNet(nn.Module):
    """eps_theta(x_t | t, y): a two-level UNet; class ``num_classes`` is the learned null class (CFG)."""

    def __init__(self, num_classes: int = 10, channels: int = 1, width: int = 32, emb: int = 128):
        super().__init__()
        self.num_classes, self.emb_dim = num_classes, emb
        self.time = nn.Sequential(nn.Linear(emb, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.label = nn.Embedding(num_classes + 1, emb)
        w1, w2 = width, 2 * width
        self.inp = nn.Conv2d(channels, w1, 3, padding=1)
        self.down1, self.down2 = ResBlock(w1, w1, emb), ResBlock(w1, w2, emb)
        self.mid = ResBlock(w2, w2, emb)
        self.up2, self.up1 = ResBlock(2 * w2, w1, emb), ResBlock(2 * w1, w1, emb)
        self.out = nn.Sequential(nn.GroupNorm(8, w1), nn.SiLU(), nn.Conv2d(w1, channels, 3, padding=1))

    def forward(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        e = self.time(timestep_embedding(t, self.emb_dim)) + self.label(y)
        h1 = self.down1(self.inp(x), e)
        h2 = self.down2(F.avg_pool2d(h1, 2), e)
        m = self.mid(F.avg_pool2d(h2, 2), e)
        u2 = self.up2(torch.cat([F.interpolate(m, scale_factor=2.0), h2], 1), e)
        u1 = self.up1(torch.cat([F.interpolate(u2, scale_factor=2.0), h1], 1), e)
        return self.out(u1)


def fashion_mnist_16(split: str) -> tuple[Tensor, Tensor, list[str]]:
    """The embedded Fashion-MNIST at 16x16, one channel in [-1, 1] (2x2 average of the 32-px padded images)."""
    from l2l_utils.data import load_fashion_mnist
    data = load_fashion_mnist(split, pad_to=32)
    return F.avg_pool2d(data.images[:, :1], 2) * 2 - 1, data.labels, data.class_names


def q_sample(x0: Tensor, t: Tensor, noise: Tensor, abar: Tensor) -> Tensor:
    a = abar.to(x0.device)[t].view(-1, 1, 1, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def _draw(x0: Tensor, g: torch.Generator, T: int = T_STEPS) -> tuple[Tensor, Tensor]:
    t = torch.randint(0, T, (len(x0),), generator=g)
    return t.to(x0.device), torch.randn(x0.shape, generator=g).to(x0.device)


def diffusion_loss(model: TinyUNet, x0: Tensor, y: Tensor, g: torch.Generator, abar: Tensor) -> Tensor:
    """The DDPM epsilon-MSE, a per-element mean (decision 15)."""
    t, noise = _draw(x0, g)
    return F.mse_loss(model(q_sample(x0, t, noise, abar), t, y), noise)


def train_ddpm(model: TinyUNet, images: Tensor, labels: Tensor, steps: int, seed: int = 0, batch_size: int = 128,
               lr: float = 2e-4, p_uncond: float = 0.1, log_every: int = 100) -> list[float]:
    """Adam, grad-norm clip 1.0, condition dropped to the null class with probability ``p_uncond``
    (protocol §6 "Base model"; no EMA: the released sampler uses raw weights, decision 16)."""
    g = torch.Generator().manual_seed(seed)
    abar = alphas_cumprod()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses, running = [], 0.0
    for step in range(steps):
        idx = torch.randint(0, len(labels), (batch_size,), generator=g)
        x0 = images[idx].flip(-1) if step % 2 else images[idx]  # the released trainer's random flip, alternated
        y = torch.where(torch.rand(batch_size, generator=g) < p_uncond, model.num_classes, labels[idx])
        loss = diffusion_loss(model, x0, y, g, abar)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running += loss.item()
        if (step + 1) % log_every == 0:
            losses.append(running / log_every)
            running = 0.0
    return losses


def guided_eps(model: TinyUNet, x: Tensor, t: Tensor, y: Tensor, w: float) -> Tensor:
    """Classifier-free guidance: (1 + w) eps(x | c) - w eps(x | null) (protocol §1/§6, w = 2)."""
    both = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, torch.full_like(y, model.num_classes)]))
    cond, uncond = both.chunk(2)
    return (1 + w) * cond - w * uncond


@torch.no_grad()
def sample(model: TinyUNet, labels: Tensor, steps: int, w: float = 2.0, seed: int = 0, eta: float = 1.0,
           size: int = 16, batch_size: int = 500) -> Tensor:
    """DDIM sampling (eta = 1 as the released sampler) on ``steps`` evenly spaced timesteps, guided with
    weight ``w``; returns images in [0, 1], (N, 1, size, size). The paper uses 1,000 steps; fewer here."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    abar = alphas_cumprod()
    ts = torch.linspace(T_STEPS - 1, 0, steps).round().long()
    out = []
    for start in range(0, len(labels), batch_size):
        y = labels[start:start + batch_size]
        x = torch.randn(len(y), 1, size, size, generator=g)
        for i, t in enumerate(ts):
            a_t = abar[t]
            a_prev = abar[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0)
            eps = guided_eps(model, x, t.repeat(len(y)), y, w)
            x0 = ((x - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-1, 1)
            sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
            x = a_prev.sqrt() * x0 + (1 - a_prev - sigma ** 2).clamp(min=0).sqrt() * eps
            if i + 1 < len(ts):
                x = x + sigma * torch.randn(x.shape, generator=g)
        out.append((x.clamp(-1, 1) + 1) / 2)
    return torch.cat(out)


def ddpm_saliency_mask(model: TinyUNet, forget_images: Tensor, forget_class: int, ratio: float = 0.5,
                       w: float = 2.0, batch_size: int = 128, seed: int = 0) -> dict[str, Tensor]:
    """The DDPM saliency mask (protocol §1 "DDPM"): eval mode, the forget class's images, antithetic
    timesteps t / T-1-t, the CFG output, per-image pixel-sum MSE; global top ``ratio``.

    Deviation: the released code clips each batch's gradient norm to 1 before summing; we sum raw
    batch gradients (equal-size batches, so this only reweights batches, not a global rescaling)."""
    model.eval()
    g = torch.Generator().manual_seed(seed)

    def loss(x0):
        half = torch.randint(0, T_STEPS, ((len(x0) + 1) // 2,), generator=g)
        t = torch.cat([half, T_STEPS - 1 - half])[:len(x0)]
        noise = torch.randn(x0.shape, generator=g)
        y = torch.full((len(x0),), forget_class)
        eps = guided_eps(model, q_sample(x0, t, noise, alphas_cumprod()), t, y, w)
        return ((eps - noise) ** 2).flatten(1).sum(1).mean()

    chunks = [forget_images[i:i + batch_size] for i in range(0, len(forget_images), batch_size)]
    return saliency_mask(dict(model.named_parameters()), loss, chunks, ratio)


def unlearn_class(model: TinyUNet, forget_images: Tensor, forget_class: int, retain_images: Tensor,
                  retain_labels: Tensor, steps: int, beta: float = 1e-3, lr: float = 1e-4, batch_size: int = 128,
                  mask: dict[str, Tensor] | None = None, seed: int = 0) -> list[dict[str, float]]:
    """SalUn's DDPM objective (protocol §6, ``--method rl --alpha 1e-3``), in place on ``model``.

    Each step: a forget batch, loss MSE(sg[eps(x_t | c')], eps(x_t | c_f)) with c' = (c_f + 1) mod C,
    plus beta_elem * the retain batch's eps-MSE, beta_elem = beta * C*H*W (decision 15). Adam, EMA off,
    norm clip 1.0 *after* masking. ``mask`` None is the unmasked baseline; with a mask, weights outside it
    never move (``MaskedUpdate``, decision 1)."""
    g = torch.Generator().manual_seed(seed)
    abar = alphas_cumprod()
    beta_elem = beta * forget_images[0].numel()
    target_class = (forget_class + 1) % model.num_classes
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    guard = MaskedUpdate(dict(model.named_parameters()), mask) if mask is not None else None
    model.train()
    history = []
    for _ in range(steps):
        xf = forget_images[torch.randint(0, len(forget_images), (batch_size,), generator=g)]
        idx = torch.randint(0, len(retain_labels), (batch_size,), generator=g)
        t, noise = _draw(xf, g)
        x_t = q_sample(xf, t, noise, abar)
        with torch.no_grad():
            target = model(x_t, t, torch.full_like(t, target_class))
        forget = F.mse_loss(model(x_t, t, torch.full_like(t, forget_class)), target)
        retain = diffusion_loss(model, retain_images[idx], retain_labels[idx], g, abar)
        opt.zero_grad(set_to_none=True)
        (forget + beta_elem * retain).backward()
        if guard is not None:
            guard.before_step()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if guard is not None:
            guard.after_step(opt)
        history.append({"forget": forget.item(), "retain": retain.item()})
    return history


def to_rgb01(images: Tensor) -> Tensor:
    """(N, 1, H, W) in [0, 1] -> (N, 3, H, W), the input of the project's classifiers and FID backbone."""
    return images.expand(-1, 3, -1, -1).contiguous()


@torch.no_grad()
def class_accuracy(classifier: nn.Module, images01: Tensor, labels: Tensor, batch_size: int = 500) -> float:
    classifier.eval()
    pred = torch.cat([classifier(to_rgb01(images01[i:i + batch_size])).argmax(1)
                      for i in range(0, len(labels), batch_size)])
    return 100.0 * (pred == labels).float().mean().item()


def load_ddpm(path, **config) -> TinyUNet:
    """A checkpoint saved by ``train_checkpoint``; loaded strictly (decision 2: list what does not match)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = TinyUNet(**{**state["config"], **config})
    missing, unexpected = model.load_state_dict(state["model"], strict=False)
    if missing or unexpected:
        raise KeyError(f"{path}: missing keys {missing}, unexpected keys {unexpected}")
    return model.eval()


def train_checkpoint(out, steps: int, seed: int = 0, width: int = 32) -> list[float]:
    """Train the base DDPM on the embedded Fashion-MNIST train split (16 px) and save it atomically."""
    from l2l_utils.io import atomic_torch_save
    images, labels, _ = fashion_mnist_16("train")
    torch.manual_seed(seed)
    model = TinyUNet(width=width)
    losses = train_ddpm(model, images, labels, steps, seed)
    atomic_torch_save({"config": {"num_classes": 10, "channels": 1, "width": width, "emb": model.emb_dim},
                       "model": model.state_dict(), "losses": losses, "steps": steps, "seed": seed}, out)
    return losses



def train_classifier16(images: Tensor, labels: Tensor, epochs: int, seed: int = 0) -> nn.Module:
    """The project's judge of generated images: a width-8 CIFAR-stem ResNet-18 (notebook 08's model) trained
    on the 16-px real images; it stands in for the paper's fine-tuned ResNet-34 (protocol §6 "Evaluation")."""
    from l2l_utils.classification.methods import train_from_scratch
    from l2l_utils.classification.settings import FASHION_MNIST_MEAN, FASHION_MNIST_STD
    settings = {"width": 8, "mean": FASHION_MNIST_MEAN, "std": FASHION_MNIST_STD, "device": "cpu", "augment": False,
                "eval_batch_size": 500}
    hp = {"epochs": epochs, "lr": 0.05, "schedule": "cosine", "batch_size": 64, "momentum": 0.9, "weight_decay": 5e-4}
    return train_from_scratch(settings, to_rgb01((images + 1) / 2), labels, 10, hp, seed)


def generation_metrics(model: TinyUNet, classifier: nn.Module, backbone: nn.Module, real_remaining: Tensor,
                       forget_class: int, cfg: dict, seed: int) -> tuple[dict[str, float], Tensor]:
    """UA: % of samples conditioned on the forget class that the classifier does *not* call that class
    (protocol §6); acc_remaining: classifier accuracy on samples of the other classes; FID (MobileNetV2
    substitute features) of those samples against real images of the other classes. Returns the samples
    too, ordered (forget class first, then the remaining classes)."""
    from l2l_utils.metrics import extract_features, fid_from_features
    remaining = [c for c in range(model.num_classes) if c != forget_class]
    labels = torch.cat([torch.full((cfg["n_forget_samples"],), forget_class),
                        torch.tensor(remaining).repeat_interleave(cfg["n_per_class_fid"])])
    images = sample(model, labels, cfg["ddim_steps"], cfg["guidance"], seed)
    nf = cfg["n_forget_samples"]
    fake = extract_features(backbone, to_rgb01(images[nf:]))
    real = extract_features(backbone, to_rgb01(real_remaining))
    return {"UA": 100.0 - class_accuracy(classifier, images[:nf], labels[:nf]),
            "acc_remaining": class_accuracy(classifier, images[nf:], labels[nf:]),
            "fid_MNv2": fid_from_features(real, fake)}, images


DDPM_SETTINGS = {
    "embedded": dict(checkpoint="checkpoints/ddpm_fashion_mnist16.pt", forget_class=1, classifier_epochs=3,
                     n_forget_samples=100, n_per_class_fid=50, n_real_per_class=200, ddim_steps=50, guidance=2.0,
                     unlearn_steps=150, lr=1e-4, beta=1e-3, batch_size=128, mask_ratio=0.5, feature_size=64),
}
DDPM_SETTINGS["smoke"] = dict(DDPM_SETTINGS["embedded"], classifier_epochs=1, n_forget_samples=10,
                              n_per_class_fid=4, n_real_per_class=8, ddim_steps=5, unlearn_steps=3, batch_size=16)


def get_ddpm_settings(profile: str, **overrides) -> dict:
    if profile not in DDPM_SETTINGS:
        raise ValueError(f"unknown profile {profile!r} for the DDPM notebook; choose from {sorted(DDPM_SETTINGS)} "
                         "(the paper-scale CIFAR-10 DDPM is not wired: it needs the 36 M-weight UNet, §6)")
    settings = {**DDPM_SETTINGS[profile], "profile": profile}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return settings


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="train the tiny Fashion-MNIST DDPM of notebook 09")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(train_checkpoint(args.out, args.steps, args.seed))
