"""The conda route and the pip route install the same thing."""
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_wraps_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == ["-r requirements.txt", "-e ."]
    assert "pip" in env["dependencies"] and any(str(d).startswith("python=") for d in env["dependencies"])


def test_torch_is_pinned_exactly():
    lines = [l.split("#")[0].strip() for l in (ROOT / "requirements.txt").read_text().splitlines()]
    assert "torch==2.14.1" in lines and "torchvision==0.29.1" in lines
    for needed in ("papermill", "nbval", "ipywidgets", "seaborn", "jupyterlab", "timm", "torchmetrics"):
        assert any(l.split("=")[0].split("<")[0].split(">")[0] == needed for l in lines), needed
