"""Writes that never leave a half-written file behind: write to a temp file, then rename."""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path

import torch


def file_sha256(path) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks (checkpoints can be gigabytes)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _atomic_write(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results and checkpoints are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_torch_save(obj, path) -> Path:
    return _atomic_write(path, lambda f: torch.save(obj, f))


def _clean(value):
    """JSON-safe: tensors/numpy scalars to floats, non-finite floats to None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def write_json(obj: dict, path) -> Path:
    """Deterministic JSON (sorted keys, fixed float repr) so equal results give equal files."""
    text = json.dumps(_clean(obj), indent=2, sort_keys=True) + "\n"
    return _atomic_write(path, lambda f: f.write(text.encode()))


def read_json(path) -> dict:
    return json.loads(Path(path).read_text())


def fingerprint(*parts) -> str:
    """sha256 (16 hex digits) over tensors' bytes, state dicts' names and tensors, and the repr of
    anything else: what identifies a model's weights or an evaluation's inputs."""
    h = hashlib.sha256()
    for part in parts:
        tensors = part.items() if isinstance(part, dict) else [("", part)] if torch.is_tensor(part) else None
        if tensors is None:
            h.update(repr(part).encode())
            continue
        for key, value in tensors:
            h.update(key.encode())
            h.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]
