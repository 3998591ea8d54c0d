"""Write configs/<profile>/*.yaml: one papermill run per paper-table row (method x family) and profile.

    python scripts/make_configs.py     # then: python -m l2l_utils.sweep configs/embedded/*.yaml

Rows: ``l2l_utils.study.TABLE_ROWS`` (Li et al. ICLR 2024 Tables 1-2, plus Ours + SalUn saliency 0.5),
the proxy row only where the profile has proxy classes.
Also, at smoke and embedded, the retrain oracle (02) and the family sweeps of 06_ablation and
07_retain_availability for every family (the MAE ones are the notebooks' defaults, which
`make reproduce` runs anyway), and at fashion the VQ-GAN family's 06 and 07. Full-scale configs read
data and checkpoints from environment variables.
"""
import shutil

import yaml

from l2l_utils import PROJECT_ROOT
from l2l_utils.profiles import PROFILES, get_profile
from l2l_utils.study import FAMILIES as STUDY_FAMILIES
from l2l_utils.study import table_rows

FAMILIES = {  # notebook, profiles it runs at, full-scale inputs
    "03_unlearn_vqgan.ipynb": {"fashion": {},  # the embedded scale, over a tiny MAGE that inpaints recognisably
                               "imagenet": {"data_root": "$IMAGENET_ROOT",
                                            "mage_checkpoint": "$CKPT_DIR/mage-vitb-1600.pth"}},
    "04_unlearn_diffusion.ipynb": {"places": {"data_root": "$PLACES_ROOT",
                                              "palette_checkpoint": "$CKPT_DIR/16_Network.pth",
                                              "is_classifier_weights": "$CKPT_DIR/resnet50_places365.pth.tar"}},
    "05_unlearn_mae.ipynb": {"imagenet": {"data_root": "$IMAGENET_ROOT",
                                          "mae_checkpoint": "$CKPT_DIR/mae_visualize_vit_large.pth"}},
}
FAMILY_OF = {f"{notebook}.ipynb": family for family, notebook in STUDY_FAMILIES.items()}
SWEEPS = ("02_retrain_oracle.ipynb", "06_ablation.ipynb", "07_retain_availability.ipynb")
EXTRA_SEEDS = (1, 2)


def main():
    out = PROJECT_ROOT / "configs"
    shutil.rmtree(out, ignore_errors=True)
    for notebook, full_scale in FAMILIES.items():
        for profile, inputs in {"smoke": {}, "embedded": {}, **full_scale}.items():
            for row, params in table_rows(FAMILY_OF[notebook], with_proxy=bool(PROFILES[profile]["proxy"])).items():
                name = notebook.removesuffix(".ipynb") + ("" if row == "ours" else f"__{row}")
                path = out / profile / f"{name}.yaml"
                path.parent.mkdir(parents=True, exist_ok=True)
                spec = {"notebook": notebook, "parameters": {"profile": profile, "seed": 0, **inputs, **params}}
                path.write_text(yaml.safe_dump(spec, sort_keys=False))
    for seed in EXTRA_SEEDS:  # mean +- std where runs are cheap: every MAE row at embedded (~3 min a run)
        for row, params in table_rows("mae", with_proxy=True).items():
            spec = {"notebook": "05_unlearn_mae.ipynb", "parameters": {"profile": "embedded", "seed": seed, **params}}
            path = out / "embedded" / f"05_unlearn_mae__{row}+seed{seed}.yaml"
            path.write_text(yaml.safe_dump(spec, sort_keys=False))
    for notebook in SWEEPS:
        for profile in ("smoke", "embedded", "fashion"):
            cfg = get_profile(profile)
            if notebook == "02_retrain_oracle.ipynb" and cfg["dataset"] != "clipart":
                continue  # retraining is for the clip-art only (experiment._retrained)
            for family in [f for f in STUDY_FAMILIES if cfg[f"{f}_checkpoint"] is not None]:  # the profile's models
                name = notebook.removesuffix(".ipynb") + ("" if family == "mae" else f"__{family}")
                spec = {"notebook": notebook, "parameters": {"profile": profile, "seed": 0, "family": family}}
                (out / profile / f"{name}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    print(f"{sum(1 for _ in out.glob('*/*.yaml'))} configs in {out}")


if __name__ == "__main__":
    main()
