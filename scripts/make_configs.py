"""Write configs/<profile>/*.yaml: one papermill run per paper-table row (method x family) and profile.

    python scripts/make_configs.py     # then: python -m l2l_utils.sweep configs/embedded/*.yaml

Rows follow Li et al. (ICLR 2024) Tables 1-2 (Original is every run's "original" column), plus
Ours (proxy D_R) where the profile has proxy classes and, new here, Ours + SalUn saliency (0.5).
Full-scale configs read data and checkpoints from environment variables.
"""
import shutil

import yaml

from l2l_utils import PROJECT_ROOT
from l2l_utils.profiles import PROFILES

FAMILIES = {  # notebook, profiles it runs at, full-scale inputs
    "03_unlearn_vqgan.ipynb": {"imagenet": {"data_root": "$IMAGENET_ROOT",
                                            "mage_checkpoint": "$CKPT_DIR/mage-vitb-1600.pth"}},
    "04_unlearn_diffusion.ipynb": {"places": {"data_root": "$PLACES_ROOT",
                                              "palette_checkpoint": "$CKPT_DIR/16_Network.pth",
                                              "is_classifier_weights": "$CKPT_DIR/resnet50_places365.pth.tar"}},
    "05_unlearn_mae.ipynb": {"imagenet": {"data_root": "$IMAGENET_ROOT",
                                          "mae_checkpoint": "$CKPT_DIR/mae_visualize_vit_large.pth"}},
}
ROWS = {"ours": {}, "max_loss": {"method": "max_loss"}, "noisy_label": {"method": "noisy_label"},
        "retain_label": {"method": "retain_label"}, "random_encoder": {"method": "random_encoder"},
        "ours+proxy": {"retain_set": "proxy"}, "ours+salun0.5": {"saliency": 0.5}}
NOT_IMPLEMENTED = {("04_unlearn_diffusion.ipynb", "noisy_label")}  # see PaletteGenerator.noise_target


def main():
    out = PROJECT_ROOT / "configs"
    shutil.rmtree(out, ignore_errors=True)
    for notebook, full_scale in FAMILIES.items():
        for profile, inputs in {"smoke": {}, "embedded": {}, **full_scale}.items():
            for row, params in ROWS.items():
                if (notebook, row) in NOT_IMPLEMENTED or (row.endswith("proxy") and not PROFILES[profile]["proxy"]):
                    continue
                name = notebook.removesuffix(".ipynb") + ("" if row == "ours" else f"__{row}")
                path = out / profile / f"{name}.yaml"
                path.parent.mkdir(parents=True, exist_ok=True)
                spec = {"notebook": notebook, "parameters": {"profile": profile, "seed": 0, **inputs, **params}}
                path.write_text(yaml.safe_dump(spec, sort_keys=False))
    print(f"{sum(1 for _ in out.glob('*/*.yaml'))} configs in {out}")


if __name__ == "__main__":
    main()
