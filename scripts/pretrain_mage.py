"""Pre-train the tiny VQ-GAN-family base model on the embedded clip-art: tokenizer, then MAGE.

    python scripts/pretrain_mage.py   # -> checkpoints/vqgan_tiny_clipart.pt, mage_tiny_clipart.pt, .md, grid
    python scripts/pretrain_mage.py --config tiny_f4 ...   # the 16x16-token model: *_tiny_f4_clipart.*
"""
import argparse
import os
import platform
from itertools import accumulate

import torch

from l2l_utils import PROJECT_ROOT
from l2l_utils.data import ImageDataset, load_clipart, load_clipart_unlabelled
from l2l_utils.evaluate import baseline_hole_mse, generate, hole_mse, judged_accuracy, recognisability
from l2l_utils.io import atomic_torch_save
from l2l_utils.metrics import load_is_classifier
from l2l_utils.metrics.classifier import PERCEPTUAL_CHECKPOINT
from l2l_utils.models.mage import load_mage_checkpoint
from l2l_utils.pretrain_mage import (hole_token_log_frequencies, hole_token_nll, pretrain_mage, pretrain_vqgan,
                                    reconstruction_quality)

CARD = """# Model card: `mage_{name}.pt` (with its tokenizer `{tokenizer}`)

A tiny MAGE (Li et al., CVPR 2023: masked token transformer over a frozen VQGAN tokenizer),
pre-trained by this project {role}. It stands in for the public `mage-vitb-1600.pth` + `vqgan_jax_strongaug.ckpt` of the
`imagenet` profile; it is **not** that model and its numbers are not the paper's.
`mage_{name}.pt` holds the whole model (tokenizer under `vqgan.`, top-level key `model`, the
public layout); `{tokenizer}` is the tokenizer alone (flat state dict).

| field | tokenizer (`vqgan` config `{vq[config]}`) | token transformer (`mage` config `{mage[config]}`) |
| --- | --- | --- |
| parameters | {vq_params:,} | {mage_params:,} (without the tokenizer) |
| data | `data/clipart64.npz` train split, {vq[train_images]} images, all 12 classes | {mage_data}, + mirror images |
| objective | {vq[recon_loss]} reconstruction + VQ loss (beta 0.25), dead codes re-seeded every 100 steps; {vq_perceptual} | masked-token CE (label smoothing 0.1); masks: MAGE truncated-normal ratio or an evaluated view {mage[token_views]}{mage_init_note} |
| augmentation | horizontal flip, translation by up to 4 px | {mage_augmentation} |
| optimiser | Adam (0.5, 0.9), lr {vq[lr]}, {vq[warmup]} warm-up, cosine | AdamW (0.9, 0.95), lr {mage[lr]}, wd {mage[weight_decay]}{mage_optimiser_note}, {mage[warmup]} warm-up, cosine |
| steps x batch | {vq[steps]} x {vq[batch_size]} | {mage_stages} (each stage a new optimiser and schedule) |
| seed | {vq[seed]} | {mage[seed]} |
| training time | {vq[train_seconds]} s | {mage_seconds} s |

Transformer trained on (each stage): {mage_device}. Evaluated on: {machine}, torch {torch}, {threads} threads.

Held-out quality (test split, {test_images} images, [0, 1] pixels):

| measure | value |
| --- | --- |
| tokenizer reconstruction MSE / PSNR | {recon[recon_mse]:.4f} / {recon[recon_psnr]:.2f} dB |
| codebook use | {recon[codes_used]} of {recon[codebook_size]} codes, perplexity {recon[code_perplexity]:.1f} |
| colour kept (mean distance from grey, reconstructions / images) | {recon[colour_kept]:.2f} |
| MAGE centre-hole (r = 1/2) MSE, 20 decoding steps, seed 0 | {hole_mse_mage:.4f} |
| the same at token temperature 0.5 (ours; the reference and every profile sample at 1) | {hole_mse_mage_t05:.4f} |
| the same with no token margin (the hole's {hole_tokens_margin0} tokens regenerated, not {context[hole_tokens]}; every profile keeps the reference's margin 1) | {hole_mse_mage_margin0:.4f} |
| the same hole filled with its true tokens (a perfect transformer, `MAGEGenerator.true_token_fill`) | {hole_mse_true_tokens:.4f} |
| the same hole filled with the mean visible colour (a blur) | {hole_mse_mean_fill:.4f} |
| the same hole filled from another test image (real but context-blind) | {hole_mse_other_image:.4f} |
| transformer's NLL of the hole's {context[hole_tokens]} true tokens, nats / token (top-1 accuracy) | {context[model_nll]:.2f} ({context[model_top1]:.3f}) |
| the same tokens under their positions' training-split frequencies (context-blind) | {context[marginal_ce]:.2f} |

Recognisability: how often the in-domain classifier (`is_classifier_clipart.pt`; {judge_ground_truth:.1%} on the
whole test images) puts a filled test image in its class (MAGE at token temperature 1, seed 0, as the profiles sample).
A fill that continues the object lands between the blur and the whole image. Real content pasted without the context
shows what the right class scores (an image of its class) and what a wrong object costs (of another class).
No transformer over this tokenizer fills better than the hole's true tokens, decoded beside the
context's as inpainting decodes them (column "true tokens": a perfect transformer); the classifier
recognises the tokenizer's reconstruction of the whole test image {judge_reconstruction:.1%} of the time.

| view | MAGE fill | MAGE fill, margin 0 | true tokens | blur (mean visible colour) | grey (the model's input) | hole from an image of its class | hole from an image of another class |
| --- | --- | --- | --- | --- | --- | --- | --- |
{recognisability}

{notes}"""

# What each config is for, in the card's first sentence.
ROLES = {"tiny_clipart": "so that the `embedded` and `smoke` profiles of the VQ-GAN family run\noffline",
         "tiny_f4_clipart": "to test an earlier diagnosis of the `tiny` model (no profile uses it; see below)",
         "tiny_perceptual_clipart": "to test whether a tokenizer trained with a perceptual term makes the\n"
                                    "`tiny` model's fills recognisable (no profile uses it; see below)"}
# What each config's card says beyond its numbers (formatted with the same fields).
NOTES = {
    "tiny_clipart": """**Colour.** Without a perceptual or GAN loss, a tokenizer this small keeps shapes before colours.
The first shipped version (L1 reconstruction, GroupNorm with 32 groups, i.e. one channel a group at
this width: instance normalisation) kept 0.26 of the images' colour by the measure above. This one
uses 8 groups (`norm_groups`, a config field; the public tokenizer keeps 32 groups at 128 channels)
and an L2 reconstruction loss (`pretrain_vqgan(recon_loss=...)`). Unlearning acts on the transformer,
not on the tokenizer, so the tokenizer's limits bound how different two fills can look, not what
the unlearning does.

**The context it learns from (`--filled-context`).** Inpainting tokenizes the image with its hole
filled with grey (`MAGEGenerator.context_tokens`, as the reference's `testpaint.py`), and this
tokenizer's receptive field and GroupNorm span the whole image, so the fill changes 86 % of the
visible tokens at r = 1/2 (`scripts/mage_context_shift.py`). In the evaluated views (centre r = 1/4
and 1/2, outpainting r = 1/2) this transformer is therefore fed the tokens of the hole-filled image;
the targets stay the whole image's tokens (`pretrain_mage(filled_context=True)`). The transformer
shipped before it (this card at commit 67aec8c; every MAGE result up to that commit is of it) had the
same tokenizer, recipe, seed and steps but saw the whole image's tokens, i.e. never the context it
inpaints from. In brackets, its numbers: the hole's true tokens cost {context[model_nll]:.2f} nats a
token (5.70; the positions' frequencies {context[marginal_ce]:.2f}), top-1 {context[model_top1]:.1%}
(1.8 %); hole MSE {hole_mse_mage:.4f} (0.1398), below the blur's {hole_mse_mean_fill:.4f}; the classifier
recognises 48.5 / 33.8 / 19.6 % of its filled images. Held-out hole NLL during training:
{held_out_nll}; the training loss was still falling ({mage_loss_mid:.2f} at step {mage_step_mid},
{mage_loss_end:.2f} at step {mage[steps]}). 2-thread CPU training is not bit-reproducible: the first
run of the same command ended at 5.10 (`results/pretraining/mage_tiny_filled_context_cpu.json`).

**Recognisable colour, not objects.** The fills carry the context's colours and edges into the hole
(samples). In the centre the classifier recognises them a little more often than the blur and far
more often than a hole holding an object of another class, but at r = 1/2 less often than a hole
pasted from another image of the same class. Most of that gap is the tokenizer's: the classifier
recognises its blurred reconstructions poorly ({judge_reconstruction:.1%} of the whole test images), so
even the hole's true tokens (a perfect transformer) reach only {judged[center_0.5][true_tokens]:.1%}
at r = 1/2, where the fills reach {judged[center_0.5][generated]:.1%}. In the centre the measure is
near its ceiling; the pixels are not: the true tokens' hole MSE is {hole_mse_true_tokens:.4f}, the
fills' {hole_mse_mage:.4f}, the blur's {hole_mse_mean_fill:.4f}, and the fills do not continue the
objects ("true tokens" row of the samples). In outpainting the fills ({judged[outpaint_0.5][generated]:.1%})
are far below the true tokens ({judged[outpaint_0.5][true_tokens]:.1%}) and land between a wrong
object and the blur. A further 4,000 x 64 steps on 2.2x the images (`--resume --unlabelled`, not
shipped; `results/pretraining/mage_tiny_resume_unlabelled_cpu.json`) lower the hole NLL to 4.89 and
the hole MSE to 0.121, but the fills are recognised no more often (51.0 / 38.3 / 24.8 %).
Regenerating only the hole's tokens (no margin, column "margin 0") lowers the hole MSE to
{hole_mse_mage_margin0:.4f} but leaves the fills less recognisable. At token temperature 0.5 the draw
leans to the likely tokens (row "MAGE fill, T 0.5" of the samples).

**What did not help the old recipe** (whole-image context; each may deserve a retry with this one):
6,000 x 64 steps on an H100 (held-out hole NLL flat from step 3,000 at 5.65;
`results/pretraining/mage_gpu_runs.json`); tokenizing shifted and flipped images anew each step
(`--augment-images`, 5.61); 2.2x the images (`--unlabelled`: the train split plus 3,780 unlabelled
clip-art images, 5.66; `results/pretraining/mage_tiny_unlabelled_cpu.json`); and the reference's
16 x 16 grid at 64 px (config `tiny_f4`, its card). 512 codes at perplexity 300 are many to predict
from 3,091 training images.

Samples: `mage_tiny_clipart_samples.png`. Rebuild: the tokenizer (`python scripts/pretrain_mage.py
--threads 1` trains it first, with the same seed and recipe), then the transformer over it:
`python scripts/pretrain_mage.py --keep-tokenizer --filled-context --held-out-every 1000 --threads 2`.
""",
    "tiny_f4_clipart": """**What this model is for.** It tested an earlier diagnosis of the `tiny` model (too little context
on an 8 x 8 grid; the cause was the train/test context mismatch of `mage_tiny_clipart.md`, and this
transformer, trained on the whole image's tokens without `--filled-context`, has it too). Its tokenizer keeps the public model's geometry at 64 px: 4-px tokens on a 16 x 16 grid
(downsample 4, as 16-px tokens on 256 px), so the r = 1/2 hole with the reference's 1-token margin
regenerates {context[hole_tokens]} of 256 tokens and leaves 12 of 64 px on each side, as the reference
leaves 48 of 256; and half the codes (256). The transformer is the `tiny` one over a sequence four times
longer (257 positions, the reference's); a training image costs ~9x the CPU time (2.1 s a step of 32
against `tiny`'s 0.45 s a step of 64, 2 threads), so it saw far fewer images: {mage_stages} (the
`tiny` transformer: 6,000 x 64). **No profile uses
it**; `03_unlearn_vqgan` runs over it with `-p mage_config tiny_f4`.

**What it shows.** The tokenizer is the better half: reconstruction MSE {recon[recon_mse]:.4f}
({recon[recon_psnr]:.2f} dB; `tiny`: 0.0126, 19.01 dB) and colour kept {recon[colour_kept]:.2f} (`tiny`:
0.92); cards, flags and leaves are recognisable in the "tokenizer recon." row of the samples. The
transformer is not: its NLL of the hole's true tokens ({context[model_nll]:.2f} nats) is no better than
the positions' training frequencies ({context[marginal_ce]:.2f}), so its fills are texture drawn from
what hole positions usually hold (hole MSE {hole_mse_mage:.4f}, above the blur's {hole_mse_mean_fill:.4f}).
Its masked-token CE was still falling ({mage_loss_mid:.2f} at step {mage_step_mid}, {mage_loss_end:.2f} at
step {mage[steps]} of the last stage), but the second stage did not help the hole: after the first
(1,700 steps) this card's script measured a hole NLL of 5.15 and a hole MSE of 0.1445.

**Longer training does not fix it (H100, 2026-11-23, `results/pretraining/mage_gpu_runs.json`).** The
same transformer trained anew over this tokenizer for 10,000 x 64 steps (`--device cuda
--held-out-every 1000`) reaches its best held-out hole NLL at step 1,000 (5.18, the frequencies'
5.14) and then gets worse (5.38 at step 10,000) while its top-1 accuracy climbs from 2.5 % to 4.0 %
and its training loss (label-smoothed CE over random masks, not the same measure) falls to 3.75: it
learns the 3,091 training images' tokens, not what a context predicts. Tokenizing shifted and flipped
images anew every step (`--augment-images`) reaches 5.135 at step 1,000, level with the frequencies,
then over-fits as well (5.32 at step 10,000); 16,000 x 64 steps (no held-out log) end at 5.43. More training or this augmentation is
not the cure at this data size; the levers left are more images (`--unlabelled` adds the other
3,776 usable PNGs of `openclipart-png`; MAGE's pre-training needs no labels; untried on this config)
or a smaller transformer. None of these GPU models is shipped: each ends with a higher hole NLL than this one.

Samples: `mage_tiny_f4_clipart_samples.png`. Rebuild: `python scripts/pretrain_mage.py --config tiny_f4
--threads 2 --mage-steps 1700 --mage-batch-size 32`, then the same with `--resume --mage-steps 700`.
""",
    "tiny_perceptual_clipart": """**What this model is for.** The `tiny` card found its fills within a few points of its ceiling
in the centre, because the clip-art classifier recognises that tokenizer's blurred whole-image
reconstructions only 20.2 % of the time. This model is the `tiny` recipe with one change to the
tokenizer: its loss adds {vq[perceptual_weight]} x an LPIPS-style distance (Zhang et al. 2018, unit
layer weights; `metrics.classifier.feature_distance`) between the activations of the image and of its
reconstruction in a frozen clip-art classifier, as VQGAN (Esser et al. 2021) adds LPIPS over VGG
features, whose ImageNet weights are not offline. That classifier (`perceptual_classifier_clipart.pt`)
has the judge's architecture, data and recipe and another seed (test accuracy
{vq[perceptual_net][test_accuracy]:.1%}), so the judge's numbers above partly measure what the
tokenizer was trained to keep; the samples are the check by eye. The judge recognises this tokenizer's
whole reconstructions {judge_reconstruction:.1%} of the time (the `tiny` tokenizer's: 20.2 %); they
keep finer detail than that tokenizer's and pay in pixels (MSE above) and colour (over-saturated, with
coloured fringes: colour kept {recon[colour_kept]:.2f}). The transformer is trained with `--filled-context`
as the shipped `tiny`'s, in two stages of 3000 x 64 steps (the shipped one: one stage of 6000 x 64).
Held-out hole NLL during training: {held_out_nll}. No profile uses it (`03_unlearn_vqgan` would run over it
with `-p mage_checkpoint checkpoints/mage_tiny_perceptual_clipart.pt`; not run).

Samples: `mage_tiny_perceptual_clipart_samples.png`. Rebuild: `python scripts/pretrain_mage.py --name
tiny_perceptual_clipart --perceptual-weight {vq[perceptual_weight]} --filled-context --mage-steps 3000
--held-out-every 1000 --threads 2`, then `python scripts/pretrain_mage.py --name tiny_perceptual_clipart
--resume --filled-context --mage-steps 3000 --held-out-every 1000 --threads 2`.
""",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vq-steps", type=int, default=2000)
    ap.add_argument("--mage-steps", type=int, default=6000)
    ap.add_argument("--mage-batch-size", type=int, default=64)
    ap.add_argument("--mage-lr", type=float, default=1e-3, help="the transformer's peak learning rate")
    ap.add_argument("--config", default="tiny", choices=("tiny", "tiny_f4"),
                    help="tokenizer and transformer config (models/vqgan.py, models/mage.py)")
    ap.add_argument("--name", choices=sorted(NOTES),
                    help="names the files mage_<name>.pt, .md, ... and picks the card's notes (default <config>_clipart)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu",
                    help="where the transformer trains (e.g. cuda) and --held-out-every evaluates; the card's "
                         "evaluation runs on the CPU")
    ap.add_argument("--augment-images", action="store_true",
                    help="tokenize every batch anew after a random flip and shift (see pretrain_mage)")
    ap.add_argument("--filled-context", action="store_true",
                    help="in the evaluated views, feed the transformer the tokens of the hole-filled image, as "
                         "inpainting does (see pretrain_mage)")
    ap.add_argument("--reference-optimiser", action="store_true",
                    help="MAGE main_pretrain.py's optimiser details: no weight decay on biases and norms, gradient "
                         "norm clipped at 3 (see pretrain_mage; the shipped transformers were trained without)")
    ap.add_argument("--scaled-init", action="store_true",
                    help="a new transformer starts from models.mage.SCALED_INIT (see there; the shipped transformers "
                         "start from the reference's scales)")
    ap.add_argument("--unlabelled", action="store_true",
                    help="train the transformer on the train split plus data/clipart64_unlabelled.npz "
                         "(scripts/build_embedded_data.py --unlabelled); the tokenizer keeps the train split")
    ap.add_argument("--perceptual-weight", type=float, default=0.0,
                    help="add this x the LPIPS-style feature distance under checkpoints/"
                         "perceptual_classifier_clipart.pt to the tokenizer's loss (0: none, as shipped)")
    ap.add_argument("--held-out-every", type=int, default=0,
                    help="log the hole NLL on the test split every N transformer steps (0: never)")
    ap.add_argument("--out-dir", default=str(PROJECT_ROOT / "checkpoints"))
    ap.add_argument("--evaluate-only", action="store_true", help="re-evaluate the saved models, rewrite the card")
    ap.add_argument("--keep-tokenizer", action="store_true",
                    help="train only the transformer, over the tokenizer of the saved mage_<name>.pt (of "
                         "mage_<config>_clipart.pt while there is none)")
    ap.add_argument("--resume", action="store_true", help="continue training the saved transformer for "
                    "--mage-steps more steps (a new stage: new optimiser and lr schedule)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train, test = load_clipart("train"), load_clipart("test")
    mage_train = (ImageDataset.concat([train, load_clipart_unlabelled()], "clipart64/train+unlabelled")
                  if args.unlabelled else train)
    transformer_options = dict(lr=args.mage_lr, reference_optimiser=args.reference_optimiser,
                               scaled_init=args.scaled_init, device=args.device,
                               augment_images=args.augment_images, filled_context=args.filled_context,
                               held_out=test if args.held_out_every else None,
                               held_out_every=args.held_out_every)
    name = args.name or f"{args.config}_clipart"
    path = f"{args.out_dir}/mage_{name}.pt"

    if args.evaluate_only or args.keep_tokenizer or args.resume:
        saved = path if args.evaluate_only or args.resume or os.path.isfile(path) else \
            f"{args.out_dir}/mage_{args.config}_clipart.pt"
        meta = torch.load(saved, weights_only=True)["meta"]
        gen, vq_meta, mage_meta = load_mage_checkpoint(saved, args.config), meta["vqgan"], meta["mage"]
        vq = gen.mage.vqgan
    if args.keep_tokenizer or args.resume:
        earlier = mage_meta.pop("earlier_stages", []) + [mage_meta] if args.resume else []
        gen, mage_meta = pretrain_mage(mage_train, vq, args.config, steps=args.mage_steps,
                                       batch_size=args.mage_batch_size, seed=args.seed,
                                       init=gen if args.resume else None,
                                       **transformer_options)
        mage_meta["earlier_stages"] = earlier
    elif not args.evaluate_only:
        perceptual = load_is_classifier(PERCEPTUAL_CHECKPOINT) if args.perceptual_weight else None
        vq, vq_meta = pretrain_vqgan(train, args.config, steps=args.vq_steps, seed=args.seed,
                                     perceptual=perceptual, perceptual_weight=args.perceptual_weight)
        atomic_torch_save(vq.state_dict(), f"{args.out_dir}/vqgan_{name}.pt")
        gen, mage_meta = pretrain_mage(mage_train, vq, args.config, steps=args.mage_steps,
                                       batch_size=args.mage_batch_size, seed=args.seed,
                                       **transformer_options)
    recon = reconstruction_quality(vq, test)
    atomic_torch_save({"model": gen.mage.state_dict(), "config": mage_meta["config"],
                       "meta": {"vqgan": vq_meta, "mage": mage_meta, "recon": recon}}, path)

    out, masks = generate(gen, test.images, "center_0.5", batch_size=256, seed=0)
    gen.token_temperature = 0.5
    tempered, _ = generate(gen, test.images, "center_0.5", batch_size=256, seed=0)
    gen.token_temperature = 1.0
    gen.token_margin = 0
    unmargined, _ = generate(gen, test.images, "center_0.5", batch_size=256, seed=0)
    hole_tokens_margin0 = int(gen.token_mask(masks[:1], 1).sum())
    gen.token_margin = 1
    context = hole_token_nll(gen, test, hole_token_log_frequencies(gen, train))  # one baseline for every model
    ceiling = gen.true_token_fill(test.images, masks)
    judge, judged = load_is_classifier(), {}
    for task in ("center_0.25", "center_0.5", "outpaint_0.5"):
        filled, task_masks = (out, masks) if task == "center_0.5" else generate(gen, test.images, task, 256, seed=0)
        judged[task] = recognisability(judge, test, filled, task_masks)
        gen.token_margin = 0
        filled = unmargined if task == "center_0.5" else generate(gen, test.images, task, 256, seed=0)[0]
        judged[task]["margin0"] = judged_accuracy(judge, filled, test.labels)
        gen.token_margin = 1
        filled = ceiling if task == "center_0.5" else gen.true_token_fill(test.images, task_masks)
        judged[task]["true_tokens"] = judged_accuracy(judge, filled, test.labels)
    with torch.no_grad():
        judge_reconstruction = judged_accuracy(judge, gen.decode_tokens(gen.mage.tokenize(test.images)), test.labels)
    curve = mage_meta["loss_curve"]
    stages = mage_meta.get("earlier_stages", []) + [mage_meta]
    card = dict(vq=vq_meta, mage=mage_meta, recon=recon, test_images=len(test),
                mage_augmentation="horizontal flip, translation by up to 4 px, re-tokenized every step"
                if mage_meta.get("augment_images") else "horizontal flip",
                mage_data="its tokens" if mage_meta["train_images"] == len(train) else
                f"its tokens and those of {mage_meta['train_images'] - len(train)} unlabelled images "
                "(`clipart64_unlabelled.npz`)",
                mage_stages=", then ".join(f"{st['steps']} x {st['batch_size']}" for st in stages),
                mage_seconds=round(sum(st["train_seconds"] for st in stages), 1),
                vq_perceptual=f"+ {vq_meta['perceptual_weight']} x the LPIPS-style feature distance under "
                f"`perceptual_classifier_clipart.pt` (seed {vq_meta['perceptual_net']['seed']}, not the judge below); "
                "no GAN loss" if vq_meta.get("perceptual_weight") else
                "**no perceptual / GAN loss** (no weights offline)",
                mage_init_note="; started from `models.mage.SCALED_INIT`" if stages[0].get("scaled_init") else "",
                mage_optimiser_note=" (none on biases and norms), gradient norm clipped at 3"
                if mage_meta.get("reference_optimiser") else "",
                vq_params=sum(p.numel() for p in vq.parameters()),
                mage_params=sum(p.numel() for n, p in gen.mage.named_parameters() if not n.startswith("vqgan.")),
                hole_mse_mage=hole_mse(out, test.images, masks),
                hole_mse_mage_t05=hole_mse(tempered, test.images, masks),
                hole_mse_mage_margin0=hole_mse(unmargined, test.images, masks),
                hole_mse_true_tokens=hole_mse(ceiling, test.images, masks), judge_reconstruction=judge_reconstruction,
                judged=judged,
                hole_tokens_margin0=hole_tokens_margin0, context=context,
                mage_device=", ".join(st.get("device", "cpu") for st in stages),
                mage_step_mid=curve[len(curve) // 3]["step"], mage_loss_mid=curve[len(curve) // 3]["loss"],
                mage_loss_end=curve[-1]["loss"],
                **baseline_hole_mse(test.images, masks),
                judge_ground_truth=judged["center_0.5"]["ground_truth"],
                held_out_nll=", ".join(f"{p['model_nll']:.2f} at step {p['step'] + done:,}"  # steps since the start
                                       for st, done in zip(stages, accumulate((st["steps"] for st in stages), initial=0))
                                       for p in st.get("held_out_curve", [])) or "not logged",
                recognisability="\n".join(f"| {task} | {j['generated']:.1%} | {j['margin0']:.1%} | {j['true_tokens']:.1%} | {j['mean_fill']:.1%} | "
                                          f"{j['grey']:.1%} | {j['same_class']:.1%} | {j['other_class']:.1%} |"
                                          for task, j in judged.items()),
                machine=platform.processor() or platform.machine(), torch=torch.__version__,
                threads=torch.get_num_threads())
    with open(f"{args.out_dir}/mage_{name}.md", "w") as f:
        tokenizer = next(f"vqgan_{n}.pt" for n in (name, f"{args.config}_clipart")
                         if os.path.isfile(f"{args.out_dir}/vqgan_{n}.pt"))  # --keep-tokenizer: the config's
        f.write(CARD.format(**card, name=name, tokenizer=tokenizer, role=ROLES[name], notes=NOTES[name].format(**card)))

    import matplotlib
    matplotlib.use("Agg")
    from l2l_utils.masks import apply_mask
    from l2l_utils.plots import image_grid
    pick = slice(0, len(test), len(test) // 10)
    x = test.images[pick][:10]
    recon_x = vq.decode(vq.encode(x)[0]).clamp(0, 1)
    fig = image_grid({"input": apply_mask(x, masks[pick][:10], 0.5), "MAGE fill": out[pick][:10],
                      "MAGE fill, T 0.5": tempered[pick][:10], "MAGE fill, margin 0": unmargined[pick][:10],
                      "true tokens": ceiling[pick][:10], "tokenizer recon.": recon_x, "ground truth": x}, n=10,
                     title=f"tiny MAGE on held-out clip-art, centre hole r=1/2, seed {args.seed}")
    fig.savefig(f"{args.out_dir}/mage_{name}_samples.png", dpi=110, bbox_inches="tight",
                metadata={"Software": None})
    print({k: card[k] for k in ("hole_mse_mage", "hole_mse_mage_margin0", "hole_mse_true_tokens", "hole_mse_mean_fill",
                                "hole_mse_other_image", "judge_reconstruction", "context")}, judged)


if __name__ == "__main__":
    main()
