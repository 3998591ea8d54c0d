"""Result files and fingerprints (l2l_utils.io): what resuming and the evaluation cache rely on."""
import json
import math

import torch

from l2l_utils.io import fingerprint, read_json, write_json


def test_result_files_are_deterministic_and_have_no_nan(tmp_path):
    obj = {"b": torch.tensor(0.5), "a": [float("nan"), math.inf, 1.0], "c": {"x": torch.tensor(2)}}
    first = write_json(obj, tmp_path / "r.json").read_text()
    assert write_json(dict(reversed(list(obj.items()))), tmp_path / "s.json").read_text() == first
    assert json.loads(first) == {"a": [None, None, 1.0], "b": 0.5, "c": {"x": 2}}  # strict JSON parses it
    assert read_json(tmp_path / "r.json") == json.loads(first)


def test_fingerprint_follows_every_byte_and_every_name():
    state = {"w": torch.zeros(4), "b": torch.ones(2)}
    assert fingerprint(state) == fingerprint({k: v.clone() for k, v in state.items()})
    nudged = {"w": torch.zeros(4), "b": torch.ones(2)}
    nudged["w"][3] = 1e-30
    assert fingerprint(nudged) != fingerprint(state)
    assert fingerprint({"v": state["w"], "b": state["b"]}) != fingerprint(state)  # a renamed key
    assert fingerprint(state, 0) != fingerprint(state, 1)  # settings are part of the key
