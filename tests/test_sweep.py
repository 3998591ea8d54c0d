"""Sweeps: config files -> papermill runs, locally and through submitit's local executor; finished runs are skipped."""
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from l2l_utils.sweep import load_run, main, submit


@pytest.fixture
def tiny_notebook(tmp_path):
    """A parameterised notebook that appends a line to a file: how often it ran is countable."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = new_notebook(cells=[new_code_cell('profile = "smoke"\nseed = 0\nout = ""\nword = ""', metadata={"tags": ["parameters"]}),
                             new_code_cell("with open(out, 'a') as f:\n    f.write(f'{word} {profile} {seed}\\n')")],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, folder / "07_toy.ipynb")
    return folder


def _config(folder, name, **params):
    path = folder / f"{name}.yaml"
    lines = "\n".join(f"  {k}: {v}" for k, v in params.items())
    path.write_text(f"notebook: 07_toy.ipynb\nparameters:\n  profile: smoke\n{lines}\n")
    return path


def test_local_sweep_runs_each_config_once_and_skips_finished_runs(tmp_path, tiny_notebook):
    out = tmp_path / "log.txt"
    configs = [_config(tmp_path, n, seed=i, out=str(out), word=n) for i, n in enumerate(["a", "b"])]
    runs = [load_run(c, tmp_path / "runs", tiny_notebook) for c in configs]
    submit(runs, "local", tmp_path / "jobs")
    assert sorted(out.read_text().splitlines()) == ["a smoke 0", "b smoke 1"]
    assert all(r.done for r in runs) and (tmp_path / "runs" / "smoke" / "a.ipynb").is_file()
    submit(runs, "local", tmp_path / "jobs")  # finished: nothing runs again
    assert len(out.read_text().splitlines()) == 2


def test_submitit_local_executor_runs_the_job(tmp_path, tiny_notebook):
    out = tmp_path / "log.txt"
    run = load_run(_config(tmp_path, "c", out=str(out), word="c"), tmp_path / "runs", tiny_notebook)
    markers = submit([run], "submitit-local", tmp_path / "jobs", timeout_min=5, cpus=1)
    assert out.read_text() == "c smoke 0\n" and markers == [str(run.marker)]


def test_bad_configs_fail_before_anything_is_submitted(tmp_path, tiny_notebook):
    bad = tmp_path / "bad.yaml"
    bad.write_text("notebook: 07_toy.ipynb\n")
    with pytest.raises(ValueError, match="exactly the keys"):
        load_run(bad, notebook_dir=tiny_notebook)
    bad.write_text("notebook: 07_toy.ipynb\nparameters: {seed: 1}\n")
    with pytest.raises(ValueError, match="profile"):
        load_run(bad, notebook_dir=tiny_notebook)
    bad.write_text("notebook: 99_missing.ipynb\nparameters: {profile: smoke}\n")
    with pytest.raises(FileNotFoundError, match="99_missing"):
        load_run(bad, notebook_dir=tiny_notebook)


def test_shipped_configs_are_valid_runs_named_like_their_result_files(monkeypatch):
    from l2l_utils import PROJECT_ROOT
    from l2l_utils.experiment import result_name, variant_name
    from l2l_utils.profiles import get_profile
    from l2l_utils.study import FAMILIES
    from l2l_utils.unlearn import UnlearnConfig
    configs = sorted((PROJECT_ROOT / "configs").glob("*/*.yaml"))
    assert configs, "configs/ is empty: run scripts/make_configs.py"
    with pytest.raises(ValueError, match="unset environment variable"):
        load_run(next(p for p in configs if p.parent.name == "imagenet"))
    for var in ("IMAGENET_ROOT", "PLACES_ROOT", "CKPT_DIR"):
        monkeypatch.setenv(var, "/data")
    for path in configs:
        run = load_run(path)
        p = run.parameters
        assert p["profile"] == path.parent.name
        if "family" in p:  # a family sweep (06, 07): its result file is named by the family
            assert run.name == run.notebook.stem + ("" if p["family"] == "mae" else f"__{p['family']}")
            continue
        ucfg = UnlearnConfig(method=p.get("method", "ours"), saliency=p.get("saliency"), seed=p["seed"])
        family = next(f for f, notebook in FAMILIES.items() if notebook == run.notebook.stem)
        cfg = get_profile(p["profile"], **{k: v for k, v in p.items() if k.startswith(f"{family}_")})
        assert result_name(variant_name(run.notebook.stem, cfg, family), ucfg, p.get("retain_set", "real")) == run.name
    with pytest.raises(SystemExit):
        main(["--executor", "nowhere", str(configs[0])])
