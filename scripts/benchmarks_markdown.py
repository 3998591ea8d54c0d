"""Render every recorded benchmark (results/benchmarks/*.json) as the tables of docs/benchmarks.md.

    python scripts/benchmarks_markdown.py > docs/benchmarks.md
"""
from l2l_utils import PROJECT_ROOT
from l2l_utils.io import read_json

HEADER = """# Benchmarks

Written by `python scripts/benchmarks_markdown.py > docs/benchmarks.md` from `results/benchmarks/*.json`;
each JSON is written by the script named under its table and records the device, date and commit. Ratios
compare rows of one run on one machine; absolute images/s are only comparable on the same device.

**Not measured yet: every GPU figure** (full-size MAE ViT-L/16, MAGE ViT-B/16 + VQGAN, Palette 256 px:
step time, peak memory, MFU in bf16, batched generation). No GPU was lent to the sessions that wrote
this page; the same scripts take `--device cuda` and the full-size configs, and report MFU only where
the device's peak bf16 rate is known. The full-size configs did run on the CPU (random weights of the
real shapes, batch 1, `*_vit_large_patch16_cpu`, `*_vit_base_patch16_cpu`, `*_places2_inpainting_cpu`):
that checks the code path and counts the FLOPs of a step; it says nothing about GPU speed.
"""

WHAT = {  # result-name prefix -> (what was measured, the script that measures it)
    "generation_mage": ("MAGE MaskGIT inpainting (centre hole r = 1/2) through `evaluate.generate`, batched vs "
                        "batch size 1", "benchmarks/bench_generation.py --family mage"),
    "generation_palette": ("Palette ancestral sampling (centre hole r = 1/2) through `evaluate.generate`, batched "
                           "vs batch size 1", "benchmarks/bench_generation.py --family palette"),
    "fid_features": ("One metric evaluation (`image_metrics`: features of the fills, IS logits, FID, KID, cosine) "
                     "with the real images' features recomputed vs cached", "benchmarks/bench_fid_features.py"),
    "pipeline": ("Wall time of each executed notebook (papermill's start/end records), `runs/<profile>/`",
                 "scripts/pipeline_timings.py"),
    "unlearn_step": ("One unlearning step (method `ours`, teacher + student, forward + backward): time, FLOPs "
                     "counted by torch's FlopCounterMode, MFU against the dense bf16 peak (GPU only)",
                     "benchmarks/bench_unlearn_step.py"),
}
SETTINGS = ("family", "config", "task", "num_iter", "steps", "images", "image_size", "backbone", "peak_bf16_tflops",
            "profile", "note")


def cell(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def main():
    print(HEADER)
    for path in sorted((PROJECT_ROOT / "results" / "benchmarks").glob("*.json")):
        r = read_json(path)
        what, script = next((v for k, v in WHAT.items() if path.stem.startswith(k)), ("", "?"))
        settings = {k: r[k] for k in SETTINGS if k in r}
        print(f"## `{path.stem}`\n\n{what}.\n")
        print(f"device {r['device']} ({r['device_name']}, {r['threads']} threads), torch {r['torch']}, "
              f"{r['date']}, commit {r['commit']}; settings {settings}; `python {script}`\n")
        columns = list(r["rows"][0])
        print("| " + " | ".join(columns) + " |\n|" + " --- |" * len(columns))
        for row in r["rows"]:
            print("| " + " | ".join(cell(row[c]) for c in columns) + " |")
        print()


if __name__ == "__main__":
    main()
