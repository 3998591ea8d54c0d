"""Run the notebooks in order through papermill: ``python -m l2l_utils.runner --profile embedded``.

Executed copies go to ``runs/<profile>/``; each notebook writes its own ``results/<profile>/*.json``
and figures. A failing notebook stops the run with papermill's error (its partial copy is kept).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from l2l_utils import PROJECT_ROOT

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"


def notebooks(pattern: str = "[0-9][0-9]_*.ipynb") -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob(pattern))


def run_notebook(path: Path, profile: str, seed: int = 0, out_dir: Path | None = None,
                 output_name: str | None = None, **params) -> Path:
    import papermill as pm
    out_dir = Path(out_dir or PROJECT_ROOT / "runs" / profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / (output_name or path.name)
    pm.execute_notebook(str(path), str(out), parameters={"profile": profile, "seed": seed, **params},
                        kernel_name="python3", cwd=str(path.parent), progress_bar=False)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default="embedded")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="[0-9][0-9]_*.ipynb", help="glob of notebooks to run")
    args = ap.parse_args(argv)
    for nb in notebooks(args.only):
        start = time.time()
        run_notebook(nb, args.profile, args.seed)
        print(f"{nb.name}: {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
