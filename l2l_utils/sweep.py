"""Run sets of papermill parameter files, locally or on a SLURM cluster through submitit.

    python -m l2l_utils.sweep configs/embedded/*.yaml                       # one after another, here
    python -m l2l_utils.sweep configs/imagenet/*.yaml --executor slurm --partition gpu --gpus 1

A config file is one run, i.e. one row of a paper table at one profile (``scripts/make_configs.py``
writes them)::

    notebook: 05_unlearn_mae.ipynb
    parameters: {profile: embedded, seed: 0, method: max_loss}

String parameters may name environment variables (``data_root: $IMAGENET_ROOT``).

Each job is one papermill run of ``notebooks/<notebook>`` into ``runs/<profile>/<config name>.ipynb``.
A finished run leaves ``runs/<profile>/<config name>.done`` and is skipped next time; an interrupted
one is simply run again, and its notebook resumes unlearning from its last checkpoint
(every notebook calls ``unlearn(..., resume=True)``).
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from l2l_utils import PROJECT_ROOT
from l2l_utils.runner import NOTEBOOK_DIR, run_notebook

RUNS_DIR = PROJECT_ROOT / "runs"


@dataclass
class Run:
    name: str
    notebook: Path
    parameters: dict = field(default_factory=dict)
    runs_dir: Path = RUNS_DIR

    @property
    def out_dir(self) -> Path:
        return self.runs_dir / self.parameters["profile"]

    @property
    def marker(self) -> Path:
        return self.out_dir / f"{self.name}.done"

    @property
    def done(self) -> bool:
        return self.marker.is_file()


def _expand(value, path: Path, key: str):
    """``$VAR`` / ``${VAR}`` in string parameters come from the environment (data roots, checkpoint dirs)."""
    if not isinstance(value, str):
        return value
    expanded = os.path.expandvars(value)
    if "$" in expanded:
        raise ValueError(f"{path}: parameter {key}={value!r} names an unset environment variable")
    return expanded


def load_run(path: str | Path, runs_dir: Path = RUNS_DIR, notebook_dir: Path = NOTEBOOK_DIR) -> Run:
    """A config file -> Run, with clear errors for what would otherwise fail inside a cluster job."""
    path = Path(path)
    spec = yaml.safe_load(path.read_text()) if path.is_file() else None
    if not isinstance(spec, dict) or set(spec) != {"notebook", "parameters"}:
        raise ValueError(f"{path}: expected a YAML mapping with exactly the keys 'notebook' and 'parameters'")
    params = spec["parameters"]
    if not isinstance(params, dict) or "profile" not in params:
        raise ValueError(f"{path}: 'parameters' must be a mapping that sets 'profile'")
    params = {k: _expand(v, path, k) for k, v in params.items()}
    notebook = notebook_dir / spec["notebook"]
    if not notebook.is_file():
        raise FileNotFoundError(f"{path}: notebook {notebook} not found")
    return Run(path.stem, notebook, dict(params), runs_dir)


def execute(run: Run) -> str:
    """One job: the papermill run of ``run`` unless it has finished before; returns the marker's path."""
    if not run.done:
        params = dict(run.parameters)
        profile, seed = params.pop("profile"), params.pop("seed", 0)
        executed = run_notebook(run.notebook, profile, seed, out_dir=run.out_dir, output_name=f"{run.name}.ipynb",
                                **params)
        run.marker.write_text(f"{executed}\n")
    return str(run.marker)


def submit(runs: list[Run], executor: str, folder: Path, **slurm) -> list[str]:
    """Run the pending ``runs``: 'local' in this process, 'submitit-local' as local submitit jobs,
    'slurm' as a SLURM job array (``slurm``: partition, gpus, timeout_min, cpus)."""
    pending = [r for r in runs if not r.done]
    if executor == "local":
        return [execute(r) for r in pending]
    import submitit
    ex = submitit.AutoExecutor(folder=str(folder), cluster="local" if executor == "submitit-local" else "slurm")
    params = {"timeout_min": slurm.get("timeout_min", 600), "cpus_per_task": slurm.get("cpus", 8)}
    if executor == "slurm":
        params.update(slurm_partition=slurm.get("partition"), gpus_per_node=slurm.get("gpus", 1))
    ex.update_parameters(**params)
    jobs = ex.map_array(execute, pending)
    return [job.result() for job in jobs]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("configs", nargs="+", help="config files (configs/<profile>/*.yaml)")
    ap.add_argument("--executor", choices=["local", "submitit-local", "slurm"], default="local")
    ap.add_argument("--partition")
    ap.add_argument("--gpus", type=int, default=1)
    ap.add_argument("--timeout-min", type=int, default=600)
    ap.add_argument("--runs-dir", default=str(RUNS_DIR))
    args = ap.parse_args(argv)
    runs = [load_run(p, Path(args.runs_dir)) for p in sorted(args.configs)]
    skipped = [r.name for r in runs if r.done]
    if skipped:
        print(f"finished before, skipped: {', '.join(skipped)}")
    for marker in submit(runs, args.executor, Path(args.runs_dir) / "submitit", partition=args.partition,
                         gpus=args.gpus, timeout_min=args.timeout_min):
        print(f"done: {marker}")


if __name__ == "__main__":
    main()
