"""One parameter, ``profile``, picks the scale; every default that depends on it lives here.

* smoke    -- seconds per notebook on a 2-core CPU (CI, nbval);
* embedded -- the main job (`make reproduce`): shipped clip-art data and the shipped tiny MAE;
* fashion  -- the embedded scale on the shipped Fashion-MNIST (drawn as the clip-art), VQ-GAN family (03,
              06, 07) only: its tiny MAGE inpaints recognisable garments, the clip-art one not yet (docs/mage_tiny.md);
* places   -- full scale on GPUs for the diffusion family: Places365-Standard, the public Places2 Palette;
* imagenet -- full scale on GPUs: ILSVRC2012 folders, the public MAE ViT-L/16 checkpoint and the
              standard Inception / OpenCLIP metric backbones (paths are parameters).
"""
from __future__ import annotations

from pathlib import Path

from l2l_utils import PROJECT_ROOT
from l2l_utils.splits import (CLIPART_FORGET, CLIPART_PROXY, CLIPART_RETAIN, FASHION_FORGET, FASHION_PROXY,
                              FASHION_RETAIN, IMAGENET_FORGET, IMAGENET_RETAIN, PLACES_FORGET, PLACES_RETAIN)

_EMBEDDED = dict(
    dataset="clipart", data_root=None,
    forget=CLIPART_FORGET, retain=CLIPART_RETAIN, proxy=CLIPART_PROXY,
    images_per_class=None, test_images_per_class=None,
    mae_config="tiny", mae_checkpoint=str(PROJECT_ROOT / "checkpoints" / "mae_tiny_clipart.pt"),
    # 02_retrain_oracle: the step counts the shipped base models were pre-trained with (model cards)
    pretrain_steps=2500, mage_pretrain_steps=[2000, 6000], palette_pretrain_stages=[[3000, 2e-4], [4000, 5e-4]],
    oracle_images_per_class=None,  # all of each kept class, as the shipped models saw them
    # VQ-GAN family (03): the shipped tiny MAGE + tokenizer; MaskGIT decoding as testpaint.py (20 its, T 6).
    # mage_checkpoint None: the shipped checkpoints/mage_<mage_config>_clipart.pt ("tiny": 8x8 tokens;
    # "tiny_f4": 16x16 tokens, the public grid; ~9x the CPU time, and its transformer does not use the
    # context yet, so no profile's default: checkpoints/mage_tiny_f4_clipart.md).
    mage_config="tiny", mage_checkpoint=None,
    mage_num_iter=20, mage_temperature=6.0, mage_token_temperature=1.0,  # 1: the reference's sampling
    # Diffusion family (04): the shipped tiny Palette; alpha 0.1 is the protocol's diffusion preset
    # (decision 5); sampling on a respaced schedule of palette_sample_steps (None = all 2,000 steps).
    palette_config="tiny32", palette_checkpoint=str(PROJECT_ROOT / "checkpoints" / "palette_tiny_clipart.pt"),
    palette_sample_steps=50, palette_alpha=0.1, palette_eval_tasks=["center_0.5"],
    palette_unlearn_steps=200, palette_batch_size=16, palette_blr=3e-3,
    palette_unlearn_tasks=["center_0.25", "center_0.5", "outpaint_0.5"],  # boxes, as Palette's hybrid masks
    eval_tasks=["center_0.25", "center_0.5", "outpaint_0.5"],
    backbone="mobilenetv2", backbone_weights=None, feature_size=128,
    is_classifier=str(PROJECT_ROOT / "checkpoints" / "is_classifier_clipart.pt"), is_classifier_weights=None,
    unlearn_steps=300, batch_size=32, blr=3e-3, alpha=0.2, alphas=[0.2, 1.0],  # alphas: 00_quickstart's pair
    # 06_ablation: alpha = factor x the family's default (Table 3 analog); every noise type at the default.
    ablation_alpha_factors=[0.25, 1.0, 5.0, 25.0], noise_types=["normal", "uniform", "constant"],
    ablation_step_factors=[],  # and ours at these multiples of the profile's unlearning steps (default alpha)
    # 07_retain_availability: (real retain fraction, proxy-to-forget ratio); (0, 0) = no retain term.
    availability=[[1.0, 0.0], [0.25, 0.0], [0.0, 1.0], [0.0, 0.25], [0.0, 0.0]],
    eval_batch_size=256, device="cpu",
    coco_root=None, coco_images=None,  # proxy="coco": COCO train2017 as the proxy pool (full scale)
    # 01_theory_gaussian: the toy is the same at every profile; only steps and Monte Carlo samples scale.
    theory=dict(unlearn_steps=100, ascent_steps=600, record_every=1, mc_samples=400_000),
)

PROFILES = {
    "smoke": {**_EMBEDDED, "images_per_class": 16, "test_images_per_class": 8, "eval_tasks": ["center_0.5"],
              "feature_size": 64, "unlearn_steps": 6, "batch_size": 8, "pretrain_steps": 4,
              "mage_pretrain_steps": [2, 1, 1], "palette_pretrain_stages": [[2, 2e-4]], "oracle_images_per_class": 16,
              "ablation_alpha_factors": [1.0, 5.0], "noise_types": ["normal", "constant"],
              "availability": [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]],
              "mage_num_iter": 6, "palette_sample_steps": 8, "palette_unlearn_steps": 4, "palette_batch_size": 4,
              "theory": dict(unlearn_steps=40, ascent_steps=120, record_every=2, mc_samples=20_000)},
    "embedded": _EMBEDDED,
    # The shipped Fashion-MNIST, 64 px dark on white, for the VQ-GAN family: the tiny MAGE of its positive
    # control (checkpoints/mage_tiny_fashion_mnist64.md); 300 train images of each class (the clip-art has
    # 257 on average) and 40 test images, as the clip-art's. No MAE, Palette or retraining at this profile.
    "fashion": {**_EMBEDDED, "dataset": "fashion_mnist64", "forget": FASHION_FORGET, "retain": FASHION_RETAIN,
                "proxy": FASHION_PROXY, "images_per_class": 300, "test_images_per_class": 40,
                "mae_checkpoint": None, "palette_checkpoint": None,
                "mage_checkpoint": str(PROJECT_ROOT / "checkpoints" / "mage_tiny_fashion_mnist64.pt"),
                # 4 x 300 steps is about the imagenet profile's 1,125: does ours forget given more steps?
                "ablation_step_factors": [4.0, 10.0],
                "is_classifier": str(PROJECT_ROOT / "checkpoints" / "is_classifier_fashion_mnist64.pt")},
    # Places365-Standard (04 only): the released code's 49 outdoor retain / 50 indoor forget classes and
    # the other 266 as proxy pool ("rest", loaded only for retain_set="proxy"), 200 train images per class
    # (its proxy run's count; all 5,000 of the real-retain run need ~200 GB as float32 in memory), all
    # 100 val images per class, the public Places2 Palette.
    "places": {**_EMBEDDED, "dataset": "places", "forget": PLACES_FORGET, "retain": PLACES_RETAIN, "proxy": "rest",
               "images_per_class": 200, "test_images_per_class": 100, "palette_config": "places2_inpainting",
               "palette_checkpoint": None, "palette_sample_steps": None, "backbone": "inception",
               "feature_size": 299, "is_classifier": "resnet50_places365", "eval_batch_size": 64,
               # released run: Adam lr 5e-5 at 12 images x 8 GPUs, 3 epochs; here lr = blr * 96 / 256 = 5e-5 on
               # 8 GPUs with 6 forget + 6 retain each, and 3 epochs of 2 x 10,000 images = 625 steps.
               "palette_batch_size": 6, "palette_blr": 1.33e-4, "palette_unlearn_steps": 625, "device": "cuda"},
    "imagenet": {**_EMBEDDED, "dataset": "imagenet", "forget": IMAGENET_FORGET, "retain": IMAGENET_RETAIN,
                 "proxy": [], "images_per_class": 100, "test_images_per_class": 50,
                 "mae_config": "vit_large_patch16", "mae_checkpoint": None,
                 "mage_config": "vit_base_patch16", "mage_checkpoint": None,
                 "backbone": "inception", "feature_size": 299, "is_classifier": "inception_v3",
                 "unlearn_steps": 1125, "batch_size": 32, "blr": 1e-4, "eval_batch_size": 64, "device": "cuda"},
}


def get_profile(name: str, **overrides) -> dict:
    """The profile's settings with notebook parameters laid over them (None = keep the default)."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose from {sorted(PROFILES)}")
    settings = dict(PROFILES[name])
    unknown = set(overrides) - set(settings)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)} for profile {name!r}")
    settings.update({k: v for k, v in overrides.items() if v is not None})
    for key in [k for k, v in settings.items() if k.endswith("_checkpoint") and v and not Path(v).is_absolute()]:
        settings[key] = str(PROJECT_ROOT / settings[key])  # papermill runs in notebooks/: root-relative paths
    if settings["dataset"] == "clipart" and settings["mage_checkpoint"] is None:
        settings["mage_checkpoint"] = str(PROJECT_ROOT / "checkpoints" / f"mage_{settings['mage_config']}_clipart.pt")
    settings["profile"] = name
    return settings
