"""Diffusion family: Palette inpainting (Saharia et al. 2022) as an I2I generator.

``Network`` re-implements ``models/network.py`` of jpmorganchase/i2i_Palette-Image-to-Image-Diffusion-Models
@ aa0d310 (the i2i fork of Janspiry/Palette): a guided-diffusion ``UNet`` (``denoise_fn``) that predicts
the noise from ``cat([y_cond, y_t])`` and the continuous noise level gamma, the noise schedule buffers,
the i2i ``q_sample`` with its forget variant, ancestral ``p_sample`` and ``restoration``. Its state dict
is the public ``16_Network.pth`` layout: ``denoise_fn.*`` plus the 6 float32 schedule buffers, which
(as in the reference, where the checkpoint is strict-loaded after the schedule is registered)
override the json schedule. ``tests/test_palette.py`` checks parity with the reference fixtures.

``PaletteGenerator`` puts it behind the family interface (images in [0, 1], mapped to [-1, 1] inside;
mask 1 = hole). Every random draw (noise level, noise, condition noise) comes from an explicit
``torch.Generator`` or an explicit ``PaletteDraw`` so that teacher and student can see the same one.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from l2l_utils.models.base import I2IGenerator, load_state_dict_strict, resolve_config
from l2l_utils.models.unet import gamma_embedding, unet_from_config

SCHEDULE_BUFFERS = ("gammas", "sqrt_recip_gammas", "sqrt_recipm1_gammas", "posterior_log_variance_clipped",
                    "posterior_mean_coef1", "posterior_mean_coef2")

PLACES2_BETA_SCHEDULE = {
    "train": {"schedule": "linear", "n_timestep": 2000, "linear_start": 1e-6, "linear_end": 0.01},
    "test": {"schedule": "linear", "n_timestep": 2000, "linear_start": 1e-4, "linear_end": 0.09},
}

CONFIGS = {
    # CPU-sized (2.61M parameters) with the Places2 block layout: 64 px, 4 levels (widths 32/64/64/64),
    # 2 res-blocks, attention (2 heads of 32) only in the 8x8 middle block, so also 13 encoder feature
    # maps. Places2 schedule; on CPU sample with ``inpaint(steps=...)`` (respacing).
    "tiny": {"unet": dict(in_channel=6, out_channel=3, inner_channel=32, channel_mults=[1, 2, 2, 2], attn_res=[],
                          num_head_channels=32, res_blocks=2, dropout=0.0, image_size=64),
             "beta_schedule": PLACES2_BETA_SCHEDULE},
    # The shipped embedded model: "tiny" on 32 px (clip-art downsampled), so that sampling and unlearning
    # fit a 2-core CPU (a 64 px UNet forward costs ~4x more); levels 32/16/8/4, still 13 encoder maps.
    "tiny32": {"unet": dict(in_channel=6, out_channel=3, inner_channel=32, channel_mults=[1, 2, 2, 2], attn_res=[],
                            num_head_channels=32, res_blocks=2, dropout=0.0, image_size=32),
               "beta_schedule": PLACES2_BETA_SCHEDULE},
    # 16_Network.pth (config/inpainting_places2_unlearn*.json; dropout 0 as in the unlearn json).
    "places2_inpainting": {"unet": dict(in_channel=6, out_channel=3, inner_channel=64, channel_mults=[1, 2, 4, 8],
                                        attn_res=[16], num_head_channels=32, res_blocks=2, dropout=0.0,
                                        image_size=256),
                           "beta_schedule": PLACES2_BETA_SCHEDULE},
}


# --------------------------------------------------------------------------- noise schedules

def make_beta_schedule(schedule: str, n_timestep: int, linear_start: float = 1e-6, linear_end: float = 1e-2,
                       cosine_s: float = 8e-3) -> np.ndarray:
    """The reference's beta schedules, float64 (``models/network.py: make_beta_schedule``)."""
    if schedule == "linear":
        return np.linspace(linear_start, linear_end, n_timestep, dtype=np.float64)
    if schedule == "quad":
        return np.linspace(linear_start ** 0.5, linear_end ** 0.5, n_timestep, dtype=np.float64) ** 2
    if schedule in ("warmup10", "warmup50"):
        betas = linear_end * np.ones(n_timestep, dtype=np.float64)
        warmup = int(n_timestep * (0.1 if schedule == "warmup10" else 0.5))
        betas[:warmup] = np.linspace(linear_start, linear_end, warmup, dtype=np.float64)
        return betas
    if schedule == "const":
        return linear_end * np.ones(n_timestep, dtype=np.float64)
    if schedule == "jsd":  # 1/T, 1/(T-1), ..., 1
        return 1.0 / np.linspace(n_timestep, 1, n_timestep, dtype=np.float64)
    if schedule == "cosine":  # computed in torch float64 in the reference
        steps = torch.arange(n_timestep + 1, dtype=torch.float64) / n_timestep + cosine_s
        alphas = torch.cos(steps / (1 + cosine_s) * math.pi / 2).pow(2)
        alphas = alphas / alphas[0]
        return (1 - alphas[1:] / alphas[:-1]).clamp(max=0.999).numpy()
    raise ValueError(f"unknown beta schedule {schedule!r}")


def schedule_arrays(betas: np.ndarray, alphas: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The float64 numpy arithmetic of ``Network.set_new_noise_schedule`` (every intermediate).

    ``alphas`` defaults to 1 - betas, as in the reference; respacing passes the exact gamma ratios
    instead, because 1 - beta loses them when beta is within 1e-16 of 1 (late Places2 test steps).
    """
    alphas = 1.0 - betas if alphas is None else alphas
    gammas = np.cumprod(alphas, axis=0)
    gammas_prev = np.append(1.0, gammas[:-1])
    posterior_variance = betas * (1.0 - gammas_prev) / (1.0 - gammas)
    return {
        "betas": betas, "alphas": alphas, "gammas": gammas, "gammas_prev": gammas_prev,
        "sqrt_recip_gammas": np.sqrt(1.0 / gammas), "sqrt_recipm1_gammas": np.sqrt(1.0 / gammas - 1),
        "posterior_variance": posterior_variance,
        # clipped because the posterior variance is 0 at t = 0
        "posterior_log_variance_clipped": np.log(np.maximum(posterior_variance, 1e-20)),
        "posterior_mean_coef1": betas * np.sqrt(gammas_prev) / (1.0 - gammas),
        "posterior_mean_coef2": (1.0 - gammas_prev) * np.sqrt(alphas) / (1.0 - gammas),
    }


def schedule_buffers(arrays: dict[str, np.ndarray], device=None) -> dict[str, torch.Tensor]:
    """The 6 registered float32 buffers: ``torch.tensor(float64, dtype=float32)``.

    The Places2 test gammas are subnormal in float32 from index 1939 on; the cast keeps them
    (no flush-to-zero on CPU by default), and the tests compare them bit for bit.
    """
    return {k: torch.tensor(arrays[k], dtype=torch.float32, device=device) for k in SCHEDULE_BUFFERS}


def extract(a: torch.Tensor, t: torch.Tensor, ndim: int = 4) -> torch.Tensor:
    """a[t] reshaped to (B, 1, ..., 1) with ``ndim`` dimensions."""
    return a.gather(-1, t).reshape(t.shape[0], *([1] * (ndim - 1)))


def sample_noise_levels(gammas: torch.Tensor, t: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Training noise level gamma ~ U[G[t-1], G[t]] as (G[t] - G[t-1]) u + G[t-1], (B, 1).

    ``Network.forward`` of the reference, with its ``randint`` t and ``rand`` u made explicit.
    """
    lo, hi = extract(gammas, t - 1, 2), extract(gammas, t, 2)
    return ((hi - lo) * u + lo).view(t.shape[0], -1)


# --------------------------------------------------------------------------- the network

class Network(nn.Module):
    """Palette's ``Network`` (guided_diffusion module): ``denoise_fn`` + the 6 schedule buffers.

    The test-phase schedule of ``beta_schedule`` is registered at construction so that the
    state dict has the checkpoint layout; a loaded checkpoint then overrides it, exactly as the
    reference's strict load after ``set_new_noise_schedule`` does.
    """

    def __init__(self, unet: dict, beta_schedule: dict, module_name: str = "guided_diffusion"):
        super().__init__()
        if module_name != "guided_diffusion":
            raise ValueError(f"only the guided_diffusion UNet is implemented, not {module_name!r}")
        self.denoise_fn = unet_from_config(unet)
        self.beta_schedule = beta_schedule
        self.set_new_noise_schedule("test")

    def set_new_noise_schedule(self, phase: str = "train") -> None:
        """(Re-)register the buffers of ``beta_schedule[phase]`` on the module's device."""
        device = next(self.denoise_fn.parameters()).device
        betas = make_beta_schedule(**self.beta_schedule[phase])
        for name, value in schedule_buffers(schedule_arrays(betas), device).items():
            self.register_buffer(name, value)

    @property
    def num_timesteps(self) -> int:
        return self.gammas.shape[0]

    def schedule(self) -> dict[str, torch.Tensor]:
        """The registered schedule buffers by name (what ``p_sample`` uses by default)."""
        return {k: getattr(self, k) for k in SCHEDULE_BUFFERS}

    def respaced_schedule(self, steps: int) -> dict[str, torch.Tensor]:
        """The registered schedule restricted to ``steps`` evenly spaced noise levels.

        Keeps gamma at evenly spaced indices s_0 < ... < s_{K-1} (always the first and the last) and
        sets alpha'_i = gamma[s_i] / gamma[s_{i-1}], beta'_i = 1 - alpha'_i (Nichol & Dhariwal 2021,
        "respacing"); the posterior terms follow by the same float64 arithmetic. The UNet is
        conditioned on gamma itself, not on an index, so it needs no change. ``steps = T`` is the
        registered schedule itself. A CPU-profile option; the protocol samples all 2,000 steps.
        """
        n = self.num_timesteps
        if not 1 < steps <= n:
            raise ValueError(f"steps must be in [2, {n}], got {steps}")
        if steps == n:
            return self.schedule()
        idx = np.unique(np.round(np.linspace(0, n - 1, steps)).astype(np.int64))
        kept = self.gammas.detach().cpu().double().numpy()[idx]
        alphas = kept / np.append(1.0, kept[:-1])
        return schedule_buffers(schedule_arrays(1.0 - alphas, alphas), self.gammas.device)

    @staticmethod
    def q_sample(y_0, gammas, noise, labels=None):
        """Noisy targets (noisy, original) at noise level ``gammas`` (B, 1, 1, 1).

        original = sqrt(g) y0 + sqrt(1-g) n. ``labels`` (B,) is the i2i retain(+1)/forget(-1) label:
        noisy = sqrt(g) y0 (l+1)/2 + sqrt(1-g) n + (1 - sqrt(1-g)) n (1-l)/2, so a forget sample becomes
        the pure noise n; without labels noisy is original.
        """
        original = gammas.sqrt() * y_0 + (1 - gammas).sqrt() * noise
        if labels is None:
            return original, original
        lab = labels[:, None, None, None]
        noisy = (gammas.sqrt() * y_0 * (lab + 1.0) * 0.5 + (1 - gammas).sqrt() * noise
                 + (1 - (1 - gammas).sqrt()) * noise * (1.0 - lab) * 0.5)
        return noisy, original

    def p_terms(self, y_t, t, y_cond, schedule=None) -> dict[str, torch.Tensor]:
        """The reverse-step quantities: noise level, predicted noise, clamped y0, posterior mean/log-var."""
        s = schedule or self.schedule()
        noise_level = extract(s["gammas"], t, 2)
        eps = self.denoise_fn(torch.cat([y_cond, y_t], dim=1), noise_level)
        y_0_hat = (extract(s["sqrt_recip_gammas"], t) * y_t - extract(s["sqrt_recipm1_gammas"], t) * eps)
        y_0_hat = y_0_hat.clamp(-1.0, 1.0)
        mean = extract(s["posterior_mean_coef1"], t) * y_0_hat + extract(s["posterior_mean_coef2"], t) * y_t
        return {"noise_level": noise_level, "eps": eps, "y_0_hat": y_0_hat, "model_mean": mean,
                "model_log_variance": extract(s["posterior_log_variance_clipped"], t)}

    @staticmethod
    def step(terms: dict, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """mean + noise * exp(logvar / 2) if any t > 0 in the batch (then for every sample), else mean."""
        if bool((t > 0).any()):
            return terms["model_mean"] + noise * (0.5 * terms["model_log_variance"]).exp()
        return terms["model_mean"]

    @torch.no_grad()
    def p_sample(self, y_t, t, y_cond, noise=None, generator=None, schedule=None):
        """One ancestral step; ``noise`` defaults to a draw from ``generator`` (only if any t > 0)."""
        terms = self.p_terms(y_t, t, y_cond, schedule)
        if noise is None and bool((t > 0).any()):
            noise = randn_like(y_t, generator)
        return self.step(terms, t, noise)

    @torch.no_grad()
    def restoration(self, y_cond, y_t=None, y_0=None, mask=None, sample_num=8, noises=None, generator=None,
                    schedule=None):
        """Ancestral sampling from t = T-1 down to 0; returns (y_0 estimate, visuals).

        With ``mask``, the known region is re-pasted from ``y_0`` after every step. visuals =
        cat([initial y_t] + [y_t after each step with t % (T // sample_num) == 0]). ``noises[k]`` is the
        noise of the k-th step (t = T-1-k); without it noise comes from ``generator``.
        """
        s = schedule or self.schedule()
        n = s["gammas"].shape[0]
        if n <= sample_num:
            raise ValueError(f"num_timesteps ({n}) must be greater than sample_num ({sample_num})")
        interval = n // sample_num
        y_t = randn_like(y_cond, generator) if y_t is None else y_t
        visuals = [y_t]
        for k, i in enumerate(reversed(range(n))):
            t = torch.full((y_cond.shape[0],), i, device=y_cond.device, dtype=torch.long)
            y_t = self.p_sample(y_t, t, y_cond, None if noises is None else noises[k], generator, s)
            if mask is not None:
                y_t = y_0 * (1.0 - mask) + mask * y_t
            if i % interval == 0:
                visuals.append(y_t)
        return y_t, torch.cat(visuals, dim=0)


def randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """N(0, 1) shaped like x, drawn on the generator's device and moved to x's."""
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)


def build_network(config: str | dict) -> Network:
    config = resolve_config(config, CONFIGS, "Palette")
    return Network(unet=config["unet"], beta_schedule=config["beta_schedule"])


# --------------------------------------------------------------------------- family wrapper

@dataclass
class PaletteDraw:
    """The randomness of one noisy UNet input: noise level (B, 1), target noise and condition noise."""
    gammas: torch.Tensor
    noise: torch.Tensor
    cond_noise: torch.Tensor


class PaletteGenerator(I2IGenerator):
    """A Palette ``Network`` as an I2I generator on images in [0, 1] (Normalize(0.5, 0.5) inside).

    Encoder = ``cond_embed`` + ``input_blocks`` + ``middle_block`` of the UNet (its 13 feature maps at
    full size are the embedding); decoder = ``output_blocks`` + ``out``. ``cond_embed`` counts as
    encoder because in the reference ``fix_decoder`` run it is exactly what the feature loss reaches
    besides the input/middle blocks (Adam over all parameters, gradient only there), so it is trained
    there too; the protocol's "input blocks + middle block" names the blocks only.
    """
    family = "palette"

    def __init__(self, network: Network, sample_steps: int | None = None):
        super().__init__()
        self.network = network
        self.sample_steps = sample_steps  # None: every step of the registered schedule (the protocol)

    @property
    def unet(self):
        return self.network.denoise_fn

    @property
    def image_size(self) -> int:
        return self.unet.image_size

    def draw(self, x: torch.Tensor, generator: torch.Generator | None) -> PaletteDraw:
        """Reference training draw: t ~ U{1..T-1}, gamma ~ U[G[t-1], G[t]] (registered schedule), noises ~ N(0, I).

        The order of the draws (t, u, noise, condition noise) is fixed, so a seeded generator
        reproduces the whole draw.
        """
        b, device = x.shape[0], generator.device if generator is not None else x.device
        t = torch.randint(1, self.network.num_timesteps, (b,), generator=generator, device=device)
        u = torch.rand((b, 1), generator=generator, device=device)
        gammas = sample_noise_levels(self.network.gammas, t.to(x.device), u.to(x.device, x.dtype))
        return PaletteDraw(gammas, randn_like(x, generator), randn_like(x, generator))

    def _unet_input(self, x, mask, d: PaletteDraw, labels=None):
        """cat([y_cond, y_t]) with y_cond = y0 (1-m) + m n_c and y_t = noisy target inside the hole, y0 outside."""
        y_0 = x * 2 - 1
        y_cond = y_0 * (1 - mask) + mask * d.cond_noise
        noisy, original = self.network.q_sample(y_0, d.gammas.view(-1, 1, 1, 1), d.noise, labels)
        y_t = (original if labels is None else noisy) * mask + (1 - mask) * y_0
        return torch.cat([y_cond, y_t], dim=1)

    def encode(self, x, mask, generator: torch.Generator | None = None, draw: PaletteDraw | None = None,
               labels: torch.Tensor | None = None):
        """The 13 (full size) encoder feature maps of the noisy input at a drawn noise level.

        A diffusion embedding depends on a random noise level and noise, and the unlearning targets
        only make sense when teacher and student see the same ones, so one of ``draw`` (use
        ``self.draw(x, generator)`` once for both) or ``generator`` is required. With ``labels``
        (+1 retain / -1 forget) the noisy target is the i2i forget variant (the reference teacher's
        input); without, the plain noisy target (the reference student's input).
        """
        if draw is None:
            if generator is None:
                raise ValueError("Palette encode needs an explicit draw= (shared by teacher and student) "
                                 "or a generator=; see PaletteGenerator.draw")
            draw = self.draw(x, generator)
        return self.unet(self._unet_input(x, mask, draw, labels), draw.gammas, return_feat=True)

    def encoder_parameters(self):
        for module in (self.unet.cond_embed, self.unet.input_blocks, self.unet.middle_block):
            yield from module.parameters()

    def decoder_parameters(self):
        for module in (self.unet.output_blocks, self.unet.out):
            yield from module.parameters()

    def generative_loss(self, x, mask, generator: torch.Generator | None = None):
        """Palette's training loss: MSE(mask * noise, mask * predicted noise), mean over all elements.

        Draws from ``generator`` (the global RNG if None: training noise needs no pairing).
        """
        d = self.draw(x, generator)
        return self.output_loss(self.outputs(x, mask, d), self.target(x, mask, d), mask)

    # unlearning interface (l2l_utils.models.base); the output space is the predicted noise

    @staticmethod
    def _require(draw: PaletteDraw | None) -> PaletteDraw:
        if draw is None:
            raise ValueError("Palette needs an explicit draw= shared by teacher and student; "
                             "see PaletteGenerator.draw")
        return draw

    def embed(self, x, mask, draw=None):
        return self.encode(x, mask, draw=self._require(draw))

    def noise_embedding(self, x, noise, mask, draw=None):
        """The reference teacher's forget target (protocol §3, decision 10 default "code"): the hole of the
        noisy input is the draw's pure noise, while the condition and the known region still show x.
        ``noise`` (a noise image) is not used."""
        labels = -torch.ones(x.shape[0], device=x.device, dtype=x.dtype)
        return self.encode(x, mask, draw=self._require(draw), labels=labels)

    def outputs(self, x, mask, draw=None):
        """The predicted noise (B, 3, H, W) for the plain noisy input of ``draw``."""
        d = self._require(draw)
        return self.unet(self._unet_input(x, mask, d), d.gammas)

    def target(self, x, mask, draw=None):
        return self._require(draw).noise

    def noise_target(self, x, mask, generator):
        raise NotImplementedError(
            "NOISY LABEL is not implemented for Palette: the reference ('--learn_noise 1', 'Random label') "
            "replaces the forget *input* by pure noise and keeps the noise target, which is not a target "
            "substitution; use max_loss, retain_label, random_encoder or ours")

    def output_loss(self, pred, target, mask):
        """Palette's loss: MSE(mask * target, mask * predicted noise), mean over all elements."""
        return F.mse_loss(mask * target, mask * pred)

    @torch.no_grad()
    def inpaint(self, x, mask, generator: torch.Generator | None = None, steps: int | None = None):
        """Fill the hole by ancestral sampling on the registered (checkpoint) schedule, batched.

        As the reference test: y_cond = y0 (1-m) + m N(0, I), sampling starts from y_t = y_cond and the
        known region is re-pasted after every step. ``steps`` < T samples on a respaced schedule
        (``Network.respaced_schedule``; a CPU-profile option); None means ``self.sample_steps``. The
        result keeps the given pixels exactly.
        """
        return self.denoising_process(x, mask, generator, steps, frames=1)[-1]

    @torch.no_grad()
    def denoising_process(self, x, mask, generator: torch.Generator | None = None, steps: int | None = None,
                          frames: int = 8) -> torch.Tensor:
        """``inpaint`` with Palette's "Process" visuals, (K, B, 3, H, W) in [0, 1]: the start y_t, then
        y_t after every step whose index is a multiple of steps // frames (K is about frames + 1);
        the last frame is the inpainting."""
        steps = steps or self.sample_steps
        frames = min(frames, (steps or self.network.num_timesteps) - 1)  # restoration needs fewer than steps
        mask = mask.to(x.dtype).expand(x.shape[0], 1, *x.shape[2:])
        y_0 = x * 2 - 1
        y_cond = y_0 * (1 - mask) + mask * randn_like(y_0, generator)
        schedule = None if steps is None else self.network.respaced_schedule(steps)
        _, visuals = self.network.restoration(y_cond, y_t=y_cond, y_0=y_0, mask=mask, sample_num=frames,
                                              generator=generator, schedule=schedule)
        visuals = visuals.view(-1, *x.shape)
        return x * (1 - mask) + mask * ((visuals + 1) / 2).clamp(0, 1)


def load_palette_checkpoint(path, config: str | dict) -> PaletteGenerator:
    """Strict-load a Palette ``Network`` checkpoint (flat dict, e.g. the public ``16_Network.pth``).

    A ``module.`` prefix (DDP) is removed; ``teacher_denoise_fn.*`` keys (i2i unlearning runs) are dropped
    with a warning. The checkpoint's schedule buffers replace the config's test schedule.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Palette checkpoint {path} not found. For the places2 profile download "
                                "16_Network.pth (Places2 inpainting) from the i2i_Palette README.")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not a flat state dict (got {type(state).__name__})")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    teacher = [k for k in state if k.startswith("teacher_denoise_fn.")]
    if teacher:
        warnings.warn(f"{path}: dropping {len(teacher)} teacher_denoise_fn.* keys (frozen teacher copy saved by "
                      "an i2i unlearning run)")
        state = {k: v for k, v in state.items() if k not in set(teacher)}
    network = build_network(config)
    load_state_dict_strict(network, state, str(path))
    return PaletteGenerator(network).eval()


# --------------------------------------------------------------------------- reference parity

def _schedule_outputs(beta_schedule: dict) -> dict:
    out = {}
    for phase, cfg in beta_schedule.items():
        arrays = schedule_arrays(make_beta_schedule(**cfg))
        out[phase] = {"config": dict(cfg), "float64": {k: torch.from_numpy(v) for k, v in arrays.items()},
                      "buffers_float32": schedule_buffers(arrays), "num_timesteps": len(arrays["betas"])}
    return {"schedules": out}


@torch.no_grad()
def parity_outputs(case: dict) -> dict:
    """Every output of a reference-fixture Palette case (``parity.run_reference_case``).

    Two fixture kinds: a network case (config with ``unet``: palette_small*.pt) and a schedule case
    (config with ``beta_schedule`` only: palette_places2_schedules.pt).
    """
    cfg, inputs = case["config"], case["inputs"]
    if "unet" not in cfg:
        return _schedule_outputs(cfg["beta_schedule"])
    net = Network(cfg["unet"], cfg["beta_schedule"], cfg.get("module_name", "guided_diffusion"))
    load_state_dict_strict(net, case["state_dict"], "fixture state_dict")
    net.eval()
    unet = net.denoise_fn
    x_unet = torch.cat([inputs["cond"], inputs["unet_y_t"]], dim=1)
    noisy, original = net.q_sample(inputs["y_0"], inputs["q_sample_gammas"].view(-1, 1, 1, 1),
                                   inputs["q_noise"], inputs["q_labels"])
    train_gammas = schedule_buffers(schedule_arrays(make_beta_schedule(**cfg["beta_schedule"]["train"])))["gammas"]
    p_sample = {}
    for name, c in inputs["p_sample_cases"].items():
        terms = net.p_terms(c["y_t"], c["t"], inputs["cond"])
        p_sample[name] = {**terms, "sample": net.step(terms, c["t"], c["noise"])}
    r = inputs["restoration"]
    output, visuals = net.restoration(
        inputs["cond"], y_t=inputs["cond"], y_0=inputs["y_0"], mask=inputs["mask"], sample_num=r["sample_num"],
        noises=r["step_noises"],
        schedule=schedule_buffers(schedule_arrays(make_beta_schedule(**r["beta_schedule"]))))
    return {
        "unet_eps": unet(x_unet, inputs["unet_gammas"]),
        "unet_feats": unet(x_unet, inputs["unet_gammas"], return_feat=True),
        "gamma_embedding": gamma_embedding(inputs["unet_gammas"], unet.inner_channel),
        "q_sample_noisy": noisy, "q_sample_noisy_original": original,
        "train_sample_gammas": sample_noise_levels(train_gammas, inputs["train_t"], inputs["train_u"]),
        "p_sample": p_sample,
        "restoration": {"output": output, "visuals": visuals},
    }
