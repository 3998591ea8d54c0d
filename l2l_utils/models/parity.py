"""Reproduce a reference-fixture case with our own models (``shared/reference-fixtures`` format).

``run_reference_case(family, case)`` builds our model from ``case["config"]`` (keys starting with
"_" are fixture parameters, not constructor arguments), loads ``case["state_dict"]`` strictly, and
returns a dict with the keys and nesting of the fixture's ``outputs``, each computed by our code.
Each family module defines ``parity_outputs(case) -> dict``; ``FAMILY_MODULES`` maps family names
to those modules.
"""
from __future__ import annotations

import importlib

FAMILY_MODULES = {"mae": "l2l_utils.models.mae", "mage": "l2l_utils.models.mage",
                  "palette": "l2l_utils.models.palette"}


def constructor_args(config: dict, allowed: set[str]) -> dict:
    """The constructor arguments of a fixture config (keys starting with "_" are fixture parameters)."""
    return {k: v for k, v in config.items() if not k.startswith("_") and k in allowed}


def run_reference_case(family: str, case: dict) -> dict:
    if family not in FAMILY_MODULES:
        raise ValueError(f"no parity runner for family {family!r}; known: {sorted(FAMILY_MODULES)}")
    if "outputs" in case:
        raise ValueError("pass the case without its 'outputs': they are what is being reproduced")
    try:
        module = importlib.import_module(FAMILY_MODULES[family])
    except ModuleNotFoundError as err:
        raise NotImplementedError(f"the {family} family is not implemented yet ({err})") from err
    return module.parity_outputs(case)
