"""The benchmark scripts run end to end on tiny inputs (their speed is measured by running them, not here)."""
import json

import pytest


@pytest.mark.parametrize("family", ["mage", "palette"])
def test_generation_benchmark_records_throughput_per_batch_size_with_provenance(family, tmp_path, project_module):
    bench = project_module("benchmarks", "bench_generation")
    bench.main(["--family", family, "--images", "4", "--batch-sizes", "1,4", "--steps", "3",
                "--out-dir", str(tmp_path)])
    result = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert {"device", "date", "commit", "torch"} <= set(result)
    assert [r["batch_size"] for r in result["rows"]] == [1, 4]
    first, second = result["rows"]
    assert second["speedup_vs_batch_1"] == pytest.approx(second["images_per_s"] / first["images_per_s"])
    assert all(r["images_per_s"] > 0 for r in result["rows"])


def test_unlearning_step_benchmark_counts_flops_and_times_steps(tmp_path, project_module):
    bench = project_module("benchmarks", "bench_unlearn_step")
    bench.main(["--family", "mae", "--batch-size", "2", "--steps", "1", "--out-dir", str(tmp_path)])
    row = json.loads(next(tmp_path.glob("*.json")).read_text())["rows"][0]
    assert row["flops_per_step"] > 0 and row["seconds_per_step"] > 0
    assert row["mfu"] is None  # no peak rate for a CPU: never a made-up utilisation


def test_fid_feature_benchmark_times_both_paths_with_provenance(tmp_path, project_module):
    bench = project_module("benchmarks", "bench_fid_features")
    bench.main(["--images", "20", "--repeats", "1", "--out-dir", str(tmp_path)])
    result = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert {"device", "date", "commit", "backbone"} <= set(result)
    assert [r["real_features"] for r in result["rows"]] == ["recomputed", "cached"]
    assert all(r["s_per_evaluation"] > 0 for r in result["rows"])


def test_pipeline_timings_read_papermills_records(tmp_path, project_module):
    import nbformat
    module = project_module("scripts", "pipeline_timings")
    nb = nbformat.v4.new_notebook()
    nb.metadata.papermill = {"start_time": "2026-11-22T21:50:13+00:00", "end_time": "2026-11-22T21:53:16+00:00",
                             "exception": None}
    path = tmp_path / "05_unlearn_mae.ipynb"
    nbformat.write(nb, path)
    assert module.notebook_seconds(path) == 183.0
    nb.metadata.papermill["exception"] = True  # a failed run has no wall time to report
    nbformat.write(nb, path)
    assert module.notebook_seconds(path) is None


def test_pipeline_timings_keep_a_rerun_of_some_notebooks_apart_from_the_whole_record(tmp_path, monkeypatch,
                                                                                     project_module):
    import nbformat
    module = project_module("scripts", "pipeline_timings")
    folder = tmp_path / "runs" / "embedded"
    folder.mkdir(parents=True)
    for name, end in (("03_unlearn_vqgan", "21:51:00"), ("06_ablation__mage", "21:52:00"), ("05_unlearn_mae", "21:53:00")):
        nb = nbformat.v4.new_notebook()
        nb.metadata.papermill = {"start_time": "2026-11-22T21:50:00+00:00", "end_time": f"2026-11-22T{end}+00:00"}
        nbformat.write(nb, folder / f"{name}.ipynb")
    saved = {}
    monkeypatch.setattr(module, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(module, "save", lambda name, result: saved.update({name: result}))
    module.main(["--runs", "*vqgan*", "*mage*", "--label", "mage", "--note", "rerun"])
    assert list(saved) == ["pipeline_embedded_mage_cpu"]
    assert saved["pipeline_embedded_mage_cpu"]["rows"] == [
        {"run": "03_unlearn_vqgan", "seconds": 60.0}, {"run": "06_ablation__mage", "seconds": 120.0},
        {"run": "sum", "seconds": 180.0}]
    with pytest.raises(SystemExit, match="go together"):  # a subset would overwrite the whole record
        module.main(["--runs", "*vqgan*", "--note", "rerun"])
