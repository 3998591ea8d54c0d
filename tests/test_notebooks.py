"""Every notebook follows the conventions and runs top to bottom at the smoke profile."""
import json
import math

import nbformat
import pytest

from l2l_utils import PROJECT_ROOT
from l2l_utils.runner import notebooks, run_notebook

NOTEBOOKS = notebooks()


def test_there_are_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert names[0] == "00_quickstart.ipynb" and "05_unlearn_mae.ipynb" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs_and_with_conventions(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert "parameters" in nb.cells[1].metadata.get("tags", [])
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} has outputs"


def _finite_metrics(path):
    result = json.loads(path.read_text())
    values = result["metrics"].values()
    assert values and all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
    assert result["meta"]["profile"] == "smoke"
    return result


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_at_smoke_profile(path, tmp_path):
    if path.stem == "10_analysis":  # figures from the other notebooks' results, no metrics of its own
        captions = PROJECT_ROOT / "figures" / "smoke" / "10_captions.md"
        captions.unlink(missing_ok=True)
        run_notebook(path, "smoke", out_dir=tmp_path)
        assert "Profile smoke" in captions.read_text()
        return
    result = PROJECT_ROOT / "results" / "smoke" / f"{path.stem}.json"
    result.unlink(missing_ok=True)  # the file checked below must be this run's
    run_notebook(path, "smoke", out_dir=tmp_path)
    _finite_metrics(result)


@pytest.mark.notebook
def test_same_profile_and_seed_give_identical_results(tmp_path):
    nb = next(p for p in NOTEBOOKS if p.name == "05_unlearn_mae.ipynb")
    result = PROJECT_ROOT / "results" / "smoke" / f"{nb.stem}.json"
    texts = []
    runs = PROJECT_ROOT / "runs" / "smoke"
    for run in range(2):
        # a fresh run: no unlearning checkpoint to resume, no cached evaluation, no earlier result file
        for stale in [*runs.glob("05_unlearn_mae_*.pt"), *runs.glob("eval_cache/*.pt"), result]:
            stale.unlink(missing_ok=True)
        run_notebook(nb, "smoke", out_dir=tmp_path / str(run))
        texts.append(result.read_text())
    assert texts[0] == texts[1]
