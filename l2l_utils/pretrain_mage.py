"""Pre-training of the tiny VQ-GAN-family base model the embedded profile ships: tokenizer, then MAGE.

The public ``vqgan_jax_strongaug.ckpt`` was trained with perceptual and adversarial losses on
ImageNet; offline there are no LPIPS/discriminator weights, so the tiny tokenizer is trained as a
VQ-VAE: L2 reconstruction plus the quantizer's codebook/commitment loss (van den Oord et al. 2017),
optionally plus an LPIPS-style distance under an in-domain classifier, with dead codes re-seeded from
the worst-quantised encoder outputs (re-seeding is a standard fix for codebook collapse, e.g. Dhariwal
et al. 2020, Jukebox). The token transformer is then trained as MAGE does (masked-token cross-entropy,
label smoothing 0.1) on the frozen tokenizer's ids, with masks drawn from MAGE's truncated-normal ratio
plus the inpainting/outpainting token masks it is evaluated on.
"""
from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from l2l_utils.data import ImageDataset
from l2l_utils.masks import make_mask
from l2l_utils.metrics.classifier import DomainClassifier, feature_distance
from l2l_utils.models.mage import SCALED_INIT, MAGEGenerator, build_mage
from l2l_utils.models.vqgan import VQModel, build_vqgan
from l2l_utils.pretrain import LossCurve, augment, cosine_lr, train_step
from l2l_utils.unlearn.loop import param_groups

EVAL_TASKS = ("center_0.25", "center_0.5", "outpaint_0.5")
REFERENCE_GRAD_CLIP = 3.0  # MAGE main_pretrain.py --grad_clip


@torch.no_grad()
def _reseed_dead_codes(vq: VQModel, usage: torch.Tensor, z: torch.Tensor) -> int:
    """Codes unused since the last call take the values of the batch's worst-quantised encoder outputs.

    The worst-served vectors, not random ones: random picks come mostly from the white background and
    left the first tokenizer we trained nearly colourless (colour deviation 1/3 of the images')."""
    dead = (usage == 0).nonzero().squeeze(1)
    if len(dead):
        error = vq.quantize.distances(z).min(dim=1).values
        worst = error.topk(min(len(dead), len(z))).indices
        vq.quantize.embedding.weight[dead[:len(worst)]] = z[worst]
    usage.zero_()
    return len(dead)


def pretrain_vqgan(train: ImageDataset, config: str = "tiny", steps: int = 1500, batch_size: int = 32,
                   lr: float = 1e-3, warmup: int = 100, reseed_every: int = 100, seed: int = 0,
                   log_every: int = 50, recon_loss: str = "l2", perceptual: DomainClassifier | None = None,
                   perceptual_weight: float = 0.0) -> tuple[VQModel, dict]:
    """Reconstruction + VQ loss, plus ``perceptual_weight`` x the LPIPS-style ``feature_distance`` under
    the frozen classifier ``perceptual`` when given (VQGAN's LPIPS term, Esser et al. 2021, with an
    in-domain network since no VGG weights are offline; no GAN term). ``recon_loss`` "l2":
    with L1 alone our first tiny tokenizers learnt near-grey reconstructions (the L1 optimum of a
    region whose colour the codes cannot pin down is its channel-wise median, grey on white clip-art);
    L2 punishes a wrong colour over a whole region harder and kept visibly more colour in short trials."""
    if recon_loss not in ("l1", "l2"):
        raise ValueError(f"recon_loss must be 'l1' or 'l2', got {recon_loss!r}")
    if (perceptual is None) != (perceptual_weight == 0):
        raise ValueError("give a perceptual network and a non-zero perceptual_weight together, or neither")
    if perceptual is not None:
        perceptual.eval().requires_grad_(False)  # BN statistics and weights stay the classifier's
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    vq = build_vqgan(config).train()
    opt = torch.optim.Adam(vq.parameters(), lr=lr, betas=(0.5, 0.9))  # taming's VQGAN betas
    usage = torch.zeros(vq.quantize.n_e, dtype=torch.long)
    curve, reseeded, start = LossCurve(log_every), [], time.time()
    for step in tqdm(range(steps), desc="pretrain VQGAN"):
        x = augment(train.images[torch.randint(len(train), (batch_size,), generator=g)], g)
        z = vq.encoder(x)
        quant, q_loss, (_, _, ids) = vq.quantize(z)
        error = vq.decode(quant) - x
        loss = (error.abs() if recon_loss == "l1" else error ** 2).mean() + q_loss
        if perceptual is not None:
            loss = loss + perceptual_weight * feature_distance(perceptual, error + x, x)
        curve.add(step, train_step(opt, loss, cosine_lr(step, steps, warmup, lr), step, "VQGAN"))
        usage += torch.bincount(ids, minlength=vq.quantize.n_e)
        if (step + 1) % reseed_every == 0 and step + 1 < steps * 0.8:  # let the codebook settle at the end
            flat = z.detach().permute(0, 2, 3, 1).reshape(-1, vq.embed_dim)
            reseeded.append({"step": step + 1, "codes": _reseed_dead_codes(vq, usage, flat)})
    meta = {"config": config, "steps": steps, "batch_size": batch_size, "lr": lr, "warmup": warmup, "seed": seed,
            "recon_loss": recon_loss, "perceptual_weight": perceptual_weight,
            "perceptual_net": getattr(perceptual, "meta", None), "train_images": len(train),
            "train_seconds": round(time.time() - start, 1),
            "loss_curve": curve.points, "reseeded_codes": reseeded}
    return vq.eval().requires_grad_(False), meta


@torch.no_grad()
def reconstruction_quality(vq: VQModel, data: ImageDataset, batch_size: int = 256) -> dict:
    """Held-out reconstruction MSE / PSNR in [0, 1] pixels, how much of the codebook is used, and the
    colour kept: mean |pixel - its grey level| of the reconstructions against that of the images."""
    se, colour, colour_true, counts = 0.0, 0.0, 0.0, torch.zeros(vq.quantize.n_e)
    for i in range(0, len(data), batch_size):
        x = data.images[i:i + batch_size]
        quant, _, (_, _, ids) = vq.encode(x)
        rec = vq.decode(quant).clamp(0, 1)
        se += ((rec - x) ** 2).sum().item()
        colour += (rec - rec.mean(1, keepdim=True)).abs().sum().item()
        colour_true += (x - x.mean(1, keepdim=True)).abs().sum().item()
        counts += torch.bincount(ids, minlength=vq.quantize.n_e)
    mse = se / data.images.numel()
    p = counts / counts.sum()
    perplexity = float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum()))
    return {"recon_mse": mse, "recon_psnr": float(10 * torch.log10(torch.tensor(1.0 / mse))),
            "codes_used": int((counts > 0).sum()), "codebook_size": vq.quantize.n_e,
            "code_perplexity": perplexity, "colour_kept": colour / colour_true}


@torch.no_grad()
def tokenize_all(tokenize, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """``tokenize`` (images -> (B, L) ids) over ``images`` in batches."""
    return torch.cat([tokenize(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])


@torch.no_grad()
def hole_token_log_frequencies(gen: MAGEGenerator, train: ImageDataset, task: str = "center_0.5",
                               ids: torch.Tensor | None = None) -> torch.Tensor:
    """Log-frequencies of the codes at the hole's token positions of ``task`` over ``train`` (add-1/2
    smoothed): the context-blind guess :func:`hole_token_nll` compares a model with. They depend on the
    tokenizer and the images counted only, which no unlearning method touches, so one table of them
    serves every model over the same tokenizer. ``ids``: ``train``'s tokens if already computed
    (:func:`tokenize_all`), so that several tasks tokenize the images once."""
    m = gen.mage
    hole = gen.token_mask(make_mask(task, 1, gen.image_size), 1)[0]
    ids = tokenize_all(m.tokenize, train.images) if ids is None else ids
    counts = 0.5 + torch.bincount(ids.cpu()[:, hole].flatten(), minlength=m.codebook_size)
    return (counts / counts.sum()).log()


@torch.no_grad()
def hole_token_nll(gen: MAGEGenerator, test: ImageDataset, log_frequencies: torch.Tensor, task: str = "center_0.5",
                   batch_size: int = 256) -> dict:
    """How much the visible context tells the transformer about the hole's tokens, in nats per token on
    ``test``: the model's NLL of the true tokens (and its top-1 accuracy) against the cross-entropy of the
    context-blind ``log_frequencies`` (:func:`hole_token_log_frequencies`). A model that uses its context
    scores well below the frequencies; one that does not fills the hole with draws from them."""
    m = gen.mage
    mask = make_mask(task, 1, gen.image_size).to(test.images.device)
    hole = gen.token_mask(mask, 1)[0]
    log_frequencies = log_frequencies.to(test.images.device)
    nll, frequency_ce, correct, n = 0.0, 0.0, 0, 0
    for i in range(0, len(test), batch_size):
        x = test.images[i:i + batch_size]
        true = m.tokenize(x)[:, hole]
        logp = gen.outputs(x, mask.expand(len(x), -1, -1, -1))[:, 1:, :m.codebook_size][:, hole].log_softmax(-1)
        nll -= logp.gather(-1, true.unsqueeze(-1)).sum().item()
        frequency_ce -= log_frequencies[true].sum().item()
        correct += int((logp.argmax(-1) == true).sum())
        n += true.numel()
    return {"task": task, "hole_tokens": int(hole.sum()), "model_nll": nll / n, "marginal_ce": frequency_ce / n,
            "model_top1": correct / n}


def pretrain_mage(train: ImageDataset, vq: VQModel, config: str = "tiny", steps: int = 3000,
                  batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.05, warmup: int = 200,
                  seed: int = 0, log_every: int = 50, init: MAGEGenerator | None = None, device: str = "cpu",
                  augment_images: bool = False, held_out: ImageDataset | None = None, held_out_every: int = 1000,
                  filled_context: bool = False, reference_optimiser: bool = False,
                  scaled_init: bool = False) -> tuple[MAGEGenerator, dict]:
    """Train MAGE's token transformer over the frozen tokenizer ``vq`` (its weights are copied in).
    ``init``: continue from this model's transformer instead (a new optimiser and learning-rate schedule).
    ``device``: where the steps run (the draws stay on the seeded CPU generator); the model returns on the CPU.
    ``augment_images``: tokenize each batch anew after a random flip and a shift of up to 4 px (the
    tokenizer's own augmentation) instead of reusing the fixed tokens of the images and their mirror
    images. A shift that is not a multiple of the token size changes every token, so the transformer
    sees many token sequences per image. ``held_out``: every ``held_out_every`` steps, log
    :func:`hole_token_nll` on it (a diagnosis of over-fitting; nothing is selected by it).
    ``filled_context``: in the evaluated views, the visible tokens are those of the image with its hole
    filled (:meth:`MAGEGenerator.context_tokens`), what inpainting feeds the transformer, instead of the
    whole image's; the targets stay the whole image's tokens. ``reference_optimiser``: as MAGE's
    ``main_pretrain.py``, no weight decay on biases and norm weights (timm's ``add_weight_decay``) and the
    gradient norm clipped at 3; False (the shipped models' recipe): decay on every weight, no clipping.
    ``scaled_init``: a new transformer starts from ``models.mage.SCALED_INIT`` instead of the reference's
    initial scales (the shipped models' recipe)."""
    if scaled_init and init is not None:
        raise ValueError("scaled_init sets the initial weights of a new transformer; init continues a trained one")
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    gen = init if init is not None else MAGEGenerator(build_mage(config, **(SCALED_INIT if scaled_init else {})))
    m = gen.mage
    m.vqgan.load_state_dict(vq.state_dict())
    n_sequences = 2 * len(train)  # every training image and its mirror image
    size = m.vqgan.downsample_factor * m.grid
    pixel_views = [make_mask(t, 1, size) for t in EVAL_TASKS]
    token_views = [gen.token_mask(v, 1).to(device) for v in pixel_views]
    if not augment_images:  # their tokens, computed once: the tokenizer is frozen
        images = torch.cat([train.images, train.images.flip(-1)])
        ids = tokenize_all(m.tokenize, images).to(device)
        if filled_context:
            view_ids = [tokenize_all(lambda x: gen.context_tokens(x, v), images).to(device) for v in pixel_views]
    if held_out is not None:
        log_frequencies = hole_token_log_frequencies(gen, train, ids=None if augment_images else ids[:len(train)])
        held_out = ImageDataset(held_out.images.to(device), held_out.labels, held_out.class_names, held_out.name)
    pixel_views = [v.to(device) for v in pixel_views]
    gen.to(device)
    held_out_curve = []
    params = {n: p for n, p in m.named_parameters() if p.requires_grad and not n.startswith("vqgan.")}
    groups = param_groups(params, weight_decay, named_biases=True) if reference_optimiser else list(params.values())
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.95))
    grad_clip = REFERENCE_GRAD_CLIP if reference_optimiser else None
    m.train()
    curve, start = LossCurve(log_every), time.time()
    for step in tqdm(range(steps), desc="pretrain MAGE"):
        pick = torch.randint(n_sequences, (batch_size,), generator=g)
        rows = pick.to(device)
        if augment_images:  # the same draw picks the image; augment() does the flipping
            with torch.no_grad():
                batch = augment(train.images[pick % len(train)], g).to(device)
                gt = m.tokenize(batch)
        else:
            gt = ids[rows]
        context = gt
        view = int(torch.randint(len(token_views) + 1, (1,), generator=g))
        if view < len(token_views):  # one of the evaluated inpainting/outpainting views
            masked = token_views[view].expand(batch_size, -1).float()
            if filled_context:
                with torch.no_grad():
                    context = (gen.context_tokens(batch, pixel_views[view]) if augment_images
                               else view_ids[view][rows])
        else:  # MAGE's own masking, ratio ~ TruncNormal(0.55, 0.25) on [0.5, 1]
            noise = torch.rand(batch_size, m.seq_len, generator=g).to(device)
            masked = m.token_masks(noise, m.sample_mask_rate(g))[1]
        padded = torch.cat([torch.zeros_like(masked[:, :1]), masked], dim=1)
        latent = m.forward_encoder(m.input_tokens(context, masked))
        loss = m.forward_loss(gt, m.forward_decoder(latent, torch.zeros_like(padded), padded), padded)
        curve.add(step, train_step(opt, loss, cosine_lr(step, steps, warmup, lr), step, "MAGE", grad_clip))
        if held_out is not None and (step + 1) % held_out_every == 0:
            held_out_start = time.time()
            held_out_curve.append({"step": step + 1, **hole_token_nll(gen.eval(), held_out, log_frequencies)})
            m.train()
            start += time.time() - held_out_start  # train_seconds counts training only
    on_gpu = str(device).startswith("cuda")
    meta = {"config": config, "steps": steps, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
            "warmup": warmup, "seed": seed, "train_images": len(train), "token_views": list(EVAL_TASKS),
            "train_seconds": round(time.time() - start, 1),
            "device": torch.cuda.get_device_name(device) if on_gpu else str(device), "augment_images": augment_images,
            "filled_context": filled_context, "reference_optimiser": reference_optimiser,
            "scaled_init": scaled_init, "loss_curve": curve.points,
            "held_out_curve": held_out_curve}
    return gen.eval().cpu(), meta
